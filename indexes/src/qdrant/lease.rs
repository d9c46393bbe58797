//! The write lease: one point of the state collection naming the writer and when its lease expires.
//!
//! Taking it is a conditional upsert (`update_filter`: replace the point only when it is expired or already
//! ours; insert it when there is none), then a read-back: whoever the point names holds the lease. A writer
//! renews it every third of its length from a background task; a crashed writer's lease simply expires, so
//! no collection stays locked forever. A writer that finds its lease taken over (it was stalled past the
//! expiry) refuses every further write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qdrant_client::qdrant::{self, Condition, Filter, PointId, Range};

use super::state::{self, point_id};
use super::Conn;
use crate::Error;

fn lease_id() -> u64 {
    point_id("lease")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A held write lease, renewed in the background until released.
pub(crate) struct Lease {
    holder: String,
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Who holds the lease now, and for how much longer, if anyone does.
fn current(conn: &Conn) -> Result<Option<(String, String, i64)>, Error> {
    let Some(payload) = state::get(conn, lease_id())? else {
        return Ok(None);
    };
    let holder = payload
        .get("holder")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let who = payload
        .get("who")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let expires = payload.get("expires_ms").and_then(|v| v.as_i64()).unwrap_or(0);
    Ok((expires > now_ms()).then_some((holder, who, expires - now_ms())))
}

fn locked(conn: &Conn, who: &str, remaining_ms: i64) -> Error {
    Error::Leased {
        location: conn.location.clone(),
        holder: who.to_owned(),
        remaining_s: (remaining_ms.max(0) as u64).div_ceil(1000),
    }
}

/// Writes the lease for `holder` if it is free, expired or already `holder`'s.
fn claim(conn: &Conn, holder: &str, who: &str, length: Duration) -> Result<(), Error> {
    let expires = now_ms() + length.as_millis() as i64;
    let free_or_mine = Filter::should([
        Condition::range(
            "expires_ms",
            Range {
                lt: Some(now_ms() as f64),
                ..Default::default()
            },
        ),
        Condition::matches("holder", holder.to_owned()),
    ]);
    state::put(
        conn,
        vec![(
            lease_id(),
            serde_json::json!({"kind": "lease", "holder": holder, "who": who, "expires_ms": expires}),
        )],
        Some(free_or_mine),
    )
}

impl Lease {
    /// Takes the lease, or fails with [`Error::Leased`] naming the writer that holds it.
    pub(crate) fn acquire(conn: &Conn, length: Duration) -> Result<Lease, Error> {
        let holder = format!(
            "{:016x}",
            point_id(&format!(
                "{}:{}:{:?}",
                std::process::id(),
                now_ms(),
                std::thread::current().id()
            ))
        );
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let who = format!("rag pid {} on {}", std::process::id(), host.trim());
        let length = length.max(Duration::from_secs(3));
        claim(conn, &holder, &who, length)?;
        match current(conn)? {
            Some((h, _, _)) if h == holder => {}
            Some((_, other, remaining)) => return Err(locked(conn, &other, remaining)),
            None => {
                return Err(Error::Storage(format!(
                    "{}: the write lease could not be taken (it expired at once: are the clocks far apart?)",
                    conn.location
                )))
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let client = conn.client.clone();
            let state = conn.state.clone();
            let lost = lost.clone();
            let holder = holder.clone();
            conn.rt.spawn(async move {
                let mut tick = tokio::time::interval(length / 3);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tick.tick() => {}
                    }
                    let expires = now_ms() + length.as_millis() as i64;
                    let mine = Filter::must([Condition::matches("holder", holder.clone())]);
                    let payload =
                        serde_json::json!({"kind": "lease", "holder": holder, "who": who, "expires_ms": expires});
                    let Ok(payload) = qdrant_client::Payload::try_from(payload) else {
                        continue;
                    };
                    let request = qdrant::UpsertPoints {
                        collection_name: state.clone(),
                        wait: Some(true),
                        points: vec![qdrant::PointStruct {
                            id: Some(PointId::from(lease_id())),
                            payload: payload.into(),
                            vectors: Some(qdrant::Vectors::from(vec![1.0f32])),
                        }],
                        ordering: Some(super::strong()),
                        update_filter: Some(mine),
                        ..Default::default()
                    };
                    // A failed renewal is retried at the next tick; the lease holds until it expires.
                    if client.upsert_points(request).await.is_err() {
                        continue;
                    }
                    let get = qdrant::GetPoints {
                        collection_name: state.clone(),
                        ids: vec![PointId::from(lease_id())],
                        with_payload: Some(true.into()),
                        read_consistency: state::consistent(),
                        ..Default::default()
                    };
                    if let Ok(reply) = client.get_points(get).await {
                        let still_mine = reply.result.first().is_some_and(|p| {
                            p.payload
                                .get("holder")
                                .and_then(|v| v.as_str())
                                .is_some_and(|h| *h == holder)
                        });
                        if !still_mine {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        Ok(Lease {
            holder,
            lost,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Fails when another writer holds an unexpired lease.
    pub(crate) fn check_free(conn: &Conn) -> Result<(), Error> {
        match current(conn)? {
            Some((_, who, remaining)) => Err(locked(conn, &who, remaining)),
            None => Ok(()),
        }
    }

    /// Fails once the lease was lost (another writer took it over after it expired).
    pub(crate) fn check(&self, location: &str) -> Result<(), Error> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::Storage(format!(
                "{location}: this writer's lease expired and another writer took the collection over; \
                 nothing more is written (run the ingest again)"
            )));
        }
        Ok(())
    }

    /// Stops renewing and deletes the lease point if it is still ours.
    pub(crate) fn release(mut self, conn: &Conn) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = conn.rt.block_on(task);
        }
        let mine = Filter::must([
            Condition::has_id([PointId::from(lease_id())]),
            Condition::matches("holder", self.holder.clone()),
        ]);
        let _ = state::delete(conn, qdrant::PointsSelector::from(mine));
    }
}
