//! Log records of the XDP datapath (aya-log) into this process's log.
//!
//! The datapath writes records only on rare drop paths, at most one per drop
//! reason per CPU per second (`vpc-ebpf/src/log_limit.rs`): `debug` for a
//! frame on a port without an ENI, `warn` for a failed redirect. They travel
//! through the `AYA_LOGS` ring buffer; [`forward`] (async) or
//! [`forward_blocking`] reads it and hands each record to the `log` crate,
//! whose logger in the daemon is tracing-log's `LogTracer`, so the records
//! end up in the `tracing` log with target `vpc_ebpf::<module>`.
//!
//! [`crate::datapath::Datapath::load`] opens the ring buffer; take it with
//! [`crate::datapath::Datapath::take_logger`].
use std::{
    convert::Infallible,
    io,
    os::fd::{AsFd, AsRawFd},
    panic::{self, AssertUnwindSafe},
};

use aya::Ebpf;
use thiserror::Error;
use tokio::io::{Interest, unix::AsyncFd};

/// A `log::Log` that passes each record to the logger installed in the
/// `log` crate when the record arrives (not when the datapath was loaded),
/// if `log::max_level()` allows its level. So the daemon may install its
/// logger before or after loading the datapath.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalLog;

impl log::Log for GlobalLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && log::logger().enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::max_level() {
            log::logger().log(record);
        }
    }

    fn flush(&self) {
        log::logger().flush();
    }
}

/// Reader of the datapath's log ring buffer, writing to [`GlobalLog`].
pub type EbpfLogger = aya_log::EbpfLogger<GlobalLog>;

/// Errors of the eBPF log reader.
#[derive(Debug, Error)]
pub enum EbpfLogError {
    /// The object has no usable `AYA_LOGS` ring buffer.
    #[error("cannot open the eBPF log ring buffer: {0}")]
    Init(#[from] aya_log::Error),
    /// Waiting for records failed.
    #[error("cannot wait for eBPF log records: {0}")]
    Wait(#[from] io::Error),
    /// A record could not be decoded (aya-log panics on one; it was skipped).
    #[error("an eBPF log record could not be decoded and was skipped (aya-log and aya-log-ebpf versions differ?)")]
    Malformed,
}

/// Takes the log ring buffer out of a loaded object. Call it after the
/// programs are loaded: they then hold the map themselves.
pub fn init(ebpf: &mut Ebpf) -> Result<EbpfLogger, EbpfLogError> {
    Ok(aya_log::EbpfLogger::init_with_logger(ebpf, GlobalLog)?)
}

/// Hands every record waiting in the ring buffer to the `log` crate, without
/// blocking. A record aya-log cannot decode is skipped (its panic is caught)
/// and reported as [`EbpfLogError::Malformed`] once the others were read.
pub fn drain(logger: &mut EbpfLogger) -> Result<(), EbpfLogError> {
    let mut malformed = false;
    // aya-log's flush panics on a malformed record; the ring buffer item is
    // consumed while unwinding, so flushing again resumes after it. The
    // loop ends because each panic consumes one record.
    while panic::catch_unwind(AssertUnwindSafe(|| logger.flush())).is_err() {
        malformed = true;
    }
    if malformed { Err(EbpfLogError::Malformed) } else { Ok(()) }
}

/// Forwards the datapath's log records to the `log` crate as they arrive,
/// for the life of the task: `tokio::spawn(ebpf_log::forward(logger))`.
/// Needs a Tokio runtime with IO enabled. Returns only if waiting fails;
/// undecodable records are reported with `tracing::error!` and skipped.
pub async fn forward(logger: EbpfLogger) -> Result<Infallible, EbpfLogError> {
    // SAFETY: the fd is the ring buffer's, owned by `logger`, which the
    // AsyncFd owns: it stays open and the same for the AsyncFd's lifetime.
    let mut fd = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    loop {
        let mut guard = fd.readable_mut().await?;
        if let Err(e) = drain(guard.get_inner_mut()) {
            tracing::error!("{e}");
        }
        // Edge-triggered: a record submitted after the drain above has
        // raised a new readiness event, which clear_ready keeps.
        guard.clear_ready();
    }
}

/// Like [`forward`], for a thread without a Tokio runtime: blocks in poll(2)
/// until records arrive, forever (returns only if poll fails).
pub fn forward_blocking(mut logger: EbpfLogger) -> Result<Infallible, EbpfLogError> {
    loop {
        let mut pollfd = libc::pollfd { fd: logger.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `pollfd` is one valid, initialised pollfd that outlives the
        // call, and `logger` keeps its fd open meanwhile.
        let n = unsafe { libc::poll(&mut pollfd, 1, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if let Err(e) = drain(&mut logger) {
            tracing::error!("{e}");
        }
    }
}
