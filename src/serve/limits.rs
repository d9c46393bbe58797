//! Generation slots with a bounded queue: `slots` answers at once, `queue` waiting, the rest refused at once
//! (429 with `Retry-After`), never left hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

#[derive(Clone)]
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
}

/// Counts a request as waiting while it lives (also when the client goes away while it waits).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    pub(crate) fn new(slots: usize, queue: usize) -> Slots {
        Slots {
            permits: Arc::new(Semaphore::new(slots.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue,
        }
    }

    /// A slot now, or after waiting in the queue; `Err(429)` at once when the queue is full.
    pub(crate) async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::busy(2));
        }
        let _waiting = Waiting(self.waiting.clone());
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the server is shutting down"))
    }

    /// Requests waiting for a slot now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Slots free now.
    pub(crate) fn free(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_is_refused_at_once_and_a_freed_slot_is_taken() {
        let slots = Arc::new(Slots::new(1, 1));
        let first = slots.acquire().await.unwrap();
        let queued = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire().await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert_eq!(slots.waiting(), 1);
        let refused = slots.acquire().await.unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert_eq!(refused.retry_after, Some(2));
        drop(first);
        queued.await.unwrap().unwrap();
        assert_eq!(slots.waiting(), 0);
        assert_eq!(slots.free(), 1);
    }
}
