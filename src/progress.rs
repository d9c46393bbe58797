//! [`Progress`]: how long-running library calls report progress without printing anything themselves.

/// Receives progress of a long-running operation; the CLI draws it as a bar, a service can log it.
///
/// Calls come from the thread doing the work; implementations must be cheap.
pub trait Progress: Send + Sync {
    /// A new phase starts: `label` says what is counted, `total` how many units are expected (0 if unknown).
    fn start(&self, label: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The expected total changed (for example once all files are parsed).
    fn set_total(&self, _total: u64) {}
    /// A line worth showing the user (for example a skipped file).
    fn note(&self, _message: &str) {}
    /// The phase is over.
    fn finish(&self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// A cancellation flag shared between the caller (a Ctrl-C handler, a service's request) and long-running
/// library calls, which check it between units of work and stop cleanly: ingest commits what is done, a model
/// download kills the fetch and leaves nothing half-written.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A flag not yet raised.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Raises the flag (async-signal-safe: one atomic store).
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
