//! Fault injection for the crash tests (debug builds only): with
//! `VPC_FAULT_KILL_AT=<step>` in its environment, a daemon kills itself
//! with SIGKILL (what `kill -9` does: no destructor, no flush) the first
//! time an armed process passes [`point`]`(step)`. The daemon arms it once
//! its start-up converge is done, so the step is hit by an API action.
//!
//! Steps, in the order an action passes them:
//! - a new port: `port:claimed` (namespace recorded, not made),
//!   `port:namespace` (made, no veth), `port:veth` (veth made, no alias,
//!   address or route), `port:configured` (its instance end configured);
//! - the maps: `install:maps` (written, programs not yet attached),
//!   `install:attached`;
//! - a port removed: `remove:link` (router end deleted, namespace not),
//!   `remove:namespace` (namespace deleted, its record not);
//! - the service: `commit:installed` (kernel changed, store not),
//!   `commit:stored` (committed, not yet durable).
//!
//! Release builds compile [`point`] to nothing.

/// The environment variable naming the step to die at.
pub const ENV: &str = "VPC_FAULT_KILL_AT";

/// Every step [`point`] is called with.
pub const STEPS: &[&str] = &[
    "port:claimed",
    "port:namespace",
    "port:veth",
    "port:configured",
    "install:maps",
    "install:attached",
    "remove:link",
    "remove:namespace",
    "commit:installed",
    "commit:stored",
];

#[cfg(debug_assertions)]
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, [`point`] kills the process at the step [`ENV`] names.
pub fn arm() {
    #[cfg(debug_assertions)]
    ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The step [`ENV`] names, read once.
#[cfg(debug_assertions)]
fn target() -> Option<&'static str> {
    static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    TARGET.get_or_init(|| std::env::var(ENV).ok().filter(|s| !s.is_empty())).as_deref()
}

/// Kills the process with SIGKILL if it is armed and [`ENV`] names `step`.
pub fn point(step: &'static str) {
    debug_assert!(STEPS.contains(&step), "fault step {step} is not listed in STEPS");
    #[cfg(debug_assertions)]
    if ARMED.load(std::sync::atomic::Ordering::SeqCst) && target() == Some(step) {
        eprintln!("fault injection: killed at {step} ({ENV})");
        // SAFETY: kill(2) on our own pid with a constant signal touches no
        // memory; SIGKILL cannot be caught, so nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
