//! A counting global allocator for the property tests: it records the largest single
//! allocation made on the current thread and forwards everything to the system allocator
//! unchanged. A test binary installs it with
//! `#[global_allocator] static ALLOC: PeakAlloc = PeakAlloc;`.

// Implementing `GlobalAlloc` is the only way to see the largest single allocation a decoder
// makes; the implementation only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, recording the largest allocation made on each thread.
pub struct PeakAlloc;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = PEAK.try_with(|p| {
        if size > p.get() {
            p.set(size);
        }
    });
}

// SAFETY: every call is forwarded to `System` with the caller's own arguments; the only
// addition is recording a size in a const-initialised thread-local `Cell` (no allocation).
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Forget the largest allocation seen so far on this thread.
pub fn reset() {
    PEAK.with(|p| p.set(0));
}

/// The largest single allocation made on this thread since the last [`reset`].
pub fn peak() -> usize {
    PEAK.with(Cell::get)
}

/// Run `f` and return its result with the largest single allocation it made on this thread.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    reset();
    let out = f();
    (out, peak())
}
