//! Answering one request under a generation slot, for both `/v1/ask` and `/v1/chat/completions`: on the
//! blocking pool, stopped by a client that went away, by shutdown or by the request timeout; a panic is an
//! error, not a crash. The endpoints differ only in how they frame what comes out.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::StreamExt as _;

use super::{blocking, ApiError, DropFlag, Shared};
use crate::generate::Flow;
use crate::prompt::Exchange;
use crate::retrieve::Passage;
use crate::{Answer, SearchOptions};

/// What to answer: the question, what to retrieve for, the history, the search options.
pub(crate) struct Job {
    pub(crate) question: String,
    pub(crate) query: String,
    pub(crate) history: Vec<Exchange>,
    pub(crate) options: SearchOptions,
}

/// How a streamed answer is framed as Server-Sent Events.
pub(crate) trait Framing: Send + 'static {
    /// Events before any text (the passages given to the model).
    fn start(&mut self, passages: &[Passage]) -> Vec<Event>;
    /// One piece of text.
    fn delta(&mut self, piece: &str) -> Event;
    /// The checked answer, last.
    fn done(&mut self, shared: &Shared, answer: &Answer) -> Vec<Event>;
    /// An error in the error shape.
    fn error(&mut self, body: Value) -> Event;
}

/// Answers `job` and returns the answer (not streamed). The work stops at its next token when the client
/// goes away (this future is dropped), at shutdown, or when the request timeout passes (504).
pub(crate) async fn whole(shared: &Arc<Shared>, permit: OwnedSemaphorePermit, job: Job) -> Result<Answer, ApiError> {
    let gone = Arc::new(AtomicBool::new(false));
    let _flag = DropFlag(gone.clone());
    let work = shared.clone();
    tokio::time::timeout(
        shared.options.request_timeout,
        blocking(move || {
            let _permit = permit;
            let answer = work
                .searcher
                .answer(
                    &job.question,
                    &job.query,
                    &job.history,
                    &job.options,
                    &mut |_| {},
                    &mut |_| {
                        if gone.load(Ordering::SeqCst) || work.stopping.load(Ordering::SeqCst) {
                            Flow::Stop
                        } else {
                            Flow::Continue
                        }
                    },
                )
                .map_err(ApiError::engine)?;
            work.metrics.answer(&answer.timings);
            Ok(answer)
        }),
    )
    .await
    .map_err(|_| ApiError::timeout())?
}

/// Answers `job` as a stream of events framed by `framing`; generation stops at the next token (or the next
/// part of the prompt pass) once the client is gone (the stream's receiver is dropped), at shutdown, or past
/// the request timeout.
pub(crate) fn streamed(
    shared: &Arc<Shared>,
    permit: OwnedSemaphorePermit,
    job: Job,
    mut framing: impl Framing,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let work = shared.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let deadline = Instant::now() + work.options.request_timeout;
        let send = |event: Event| tx.send(event).is_ok();
        let framing = std::cell::RefCell::new(&mut framing);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            work.searcher.answer(
                &job.question,
                &job.query,
                &job.history,
                &job.options,
                &mut |passages| {
                    for event in framing.borrow_mut().start(passages) {
                        send(event);
                    }
                },
                &mut |piece| {
                    // An empty piece is a poll (the prompt pass, or text held back): the client is still there
                    // when the stream's receiver is.
                    let go_on = !work.stopping.load(Ordering::SeqCst)
                        && Instant::now() < deadline
                        && if piece.is_empty() {
                            !tx.is_closed()
                        } else {
                            send(framing.borrow_mut().delta(piece))
                        };
                    if go_on {
                        Flow::Continue
                    } else {
                        Flow::Stop
                    }
                },
            )
        }));
        let mut framing = framing.borrow_mut();
        match outcome {
            Ok(Ok(answer)) => {
                work.metrics.answer(&answer.timings);
                for event in framing.done(&work, &answer) {
                    send(event);
                }
            }
            Ok(Err(e)) => {
                send(framing.error(ApiError::engine(e).body()));
            }
            Err(_) => {
                tracing::error!("a request panicked while answering");
                send(framing.error(ApiError::internal("internal error").body()));
            }
        }
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(Ok::<_, Infallible>);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
