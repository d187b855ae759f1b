//! Fault injection for the crash-safety test: with `GRACE_FAULT=POINT:N` in the environment the
//! process kills itself (SIGKILL: no clean-up, like a power cut) the N-th time it reaches POINT.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The points a training passes, in the order of an epoch.
pub const POINTS: [&str; 4] = [
    // after an optimiser step: mid-epoch
    "step",
    // best.safetensors written to its temporary file, not yet renamed
    "best",
    // the checkpoint written to its temporary file, not yet renamed
    "checkpoint",
    // after the checkpoint: between epochs
    "epoch",
];

fn plan() -> Option<&'static (String, usize)> {
    static PLAN: OnceLock<Option<(String, usize)>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let v = std::env::var("GRACE_FAULT").ok()?;
        let parsed = v.split_once(':').and_then(|(p, n)| Some((p.to_string(), n.parse().ok()?)));
        if parsed.as_ref().is_none_or(|(p, _)| !POINTS.contains(&p.as_str())) {
            eprintln!("warning: GRACE_FAULT={v} ignored: expected POINT:N with POINT one of {POINTS:?}");
            return None;
        }
        parsed
    })
    .as_ref()
}

/// Marks `point`; kills the process when the fault plan says so. A no-op without `GRACE_FAULT`.
pub fn point(point: &str) {
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    if let Some((at, n)) = plan() {
        if at == point && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            kill_self();
        }
    }
}

fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid with a valid signal number has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
