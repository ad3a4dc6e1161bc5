//! Which worker thread the current code runs on.
//!
//! The gateway serves with one single-threaded runtime per core (`dualrpc serve`): a
//! request is read, executed and answered on one thread, with no hand-off between threads.
//! For that to hold upstream too, each worker keeps its own upstream connections — a
//! connection is driven by the runtime that opened it, and a request on another worker's
//! connection would cross threads twice. An endpoint therefore holds one HTTP client per
//! *slot*; a thread uses the slot [`set_current`] gave it (slot 0 unless told otherwise:
//! tests, the library on a multi-threaded runtime, the main thread's health loop).

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Makes the current thread use client slot `slot` (a worker calls this once at start).
pub fn set_current(slot: usize) {
    SLOT.with(|s| s.set(slot));
}

/// The current thread's slot, within [`slots`].
pub(crate) fn current() -> usize {
    SLOT.with(Cell::get) % slots()
}

static SLOTS: OnceLock<usize> = OnceLock::new();

/// How many client slots an endpoint keeps: slot 0 plus one per worker — one per core
/// unless [`reserve`] said otherwise before the first pool was built.
pub fn slots() -> usize {
    *SLOTS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()) + 1)
}

/// Sizes the slots for `workers` worker threads (plus slot 0). Call it before building
/// any pool; returns false if the slots were already sized (then workers beyond them
/// share slots: correct, but their upstream connections cross threads).
pub fn reserve(workers: usize) -> bool {
    SLOTS.set(workers.max(1) + 1).is_ok()
}
