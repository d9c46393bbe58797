//! [`Batching`]: concurrent one-text calls (the query embeddings of a server's searches) share model calls.
//!
//! A call that finds the model idle embeds everything queued so far (its own text and whatever other threads
//! queued while the previous batch ran) in one call, and hands each caller its vector; at low load a call is
//! embedded alone at once, so nothing waits for a batch to fill. Calls with several texts (ingest) go straight
//! to the model: they are batches already.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::Embedder;
use crate::error::{Error, Result};

/// Most queued texts embedded in one call.
const MAX_BATCH: usize = 32;

/// An embedder whose one-text calls from many threads are batched together.
pub struct Batching {
    inner: Arc<dyn Embedder>,
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    next_id: u64,
    queue: Vec<(u64, String)>,
    results: HashMap<u64, std::result::Result<Vec<f32>, String>>,
    /// A caller is running a batch through the model.
    running: bool,
}

impl Batching {
    /// Batches `inner`'s one-text calls.
    pub fn new(inner: Arc<dyn Embedder>) -> Batching {
        Batching {
            inner,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One model call, exactly one vector per text, panics caught.
    fn run(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<f32>>, String> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.embed(texts))) {
            Ok(Ok(vectors)) if vectors.len() == texts.len() => Ok(vectors),
            Ok(Ok(vectors)) => Err(format!(
                "embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the embedder panicked".into()),
        }
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.queue.push((id, text.to_owned()));
        loop {
            if let Some(result) = state.results.remove(&id) {
                return result.map_err(Error::Embed);
            }
            if state.running {
                state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // The model is idle: this caller runs the queue (its own text is in it) and wakes the others.
            state.running = true;
            let take = state.queue.len().min(MAX_BATCH);
            let batch: Vec<(u64, String)> = state.queue.drain(..take).collect();
            drop(state);
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let results = match self.run(&texts) {
                Ok(vectors) => vectors.into_iter().map(Ok).collect(),
                // One text the model refuses fails its own caller only: the batch is run again text by text.
                Err(_) if texts.len() > 1 => texts.iter().map(|t| self.run(&[t]).map(|mut v| v.remove(0))).collect(),
                Err(e) => vec![Err(e)],
            };
            state = self.lock();
            state.running = false;
            for ((id, _), result) in batch.iter().zip(results) {
                state.results.insert(*id, result);
            }
            self.done.notify_all();
        }
    }
}

impl Embedder for Batching {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        match texts {
            [one] => Ok(vec![self.embed_one(one)?]),
            _ => self.inner.embed(texts),
        }
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts model calls; each takes a while, so concurrent callers queue behind it.
    struct Slow {
        calls: AtomicUsize,
        largest: AtomicUsize,
    }

    impl Embedder for Slow {
        fn model_id(&self) -> &str {
            "slow"
        }
        fn dim(&self) -> usize {
            2
        }
        fn max_tokens(&self) -> usize {
            16
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(texts.len(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            if texts.contains(&"fail") {
                return Err(Error::Embed("no".into()));
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn describe(&self) -> String {
            "slow".into()
        }
    }

    #[test]
    fn concurrent_single_texts_share_calls_and_each_gets_its_own_vector() {
        let slow = Arc::new(Slow {
            calls: AtomicUsize::new(0),
            largest: AtomicUsize::new(0),
        });
        let batching = Arc::new(Batching::new(slow.clone()));
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let batching = batching.clone();
                std::thread::spawn(move || {
                    let text = "x".repeat(i + 1);
                    let vector = batching.embed(&[text.as_str()]).unwrap();
                    assert_eq!(vector, vec![vec![(i + 1) as f32, 1.0]]);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let calls = slow.calls.load(Ordering::SeqCst);
        assert!(calls < 40, "{calls} model calls for 40 texts: nothing was batched");
        assert!(slow.largest.load(Ordering::SeqCst) <= MAX_BATCH);
        // A text the model refuses fails its own call only, and the next call works.
        assert!(batching.embed(&["fail"]).is_err());
        assert_eq!(batching.embed(&["ab"]).unwrap(), vec![vec![2.0, 1.0]]);
        // Several texts go straight through.
        assert_eq!(batching.embed(&["a", "bcd"]).unwrap().len(), 2);
    }
}
