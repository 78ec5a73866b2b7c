//! A global allocator for the libFuzzer binaries that aborts the run, with the input saved, the
//! moment the heap's live bytes pass a bound.
//!
//! libFuzzer's own `-malloc_limit_mb` needs the sanitizers' malloc hooks, which a stable build
//! without AddressSanitizer does not have, so only `-rss_limit_mb` works there: it samples the
//! peak RSS once a second, and a reader that briefly holds a few hundred MB for a 2 kB input
//! passes unseen until one input crosses the whole limit (CI's short run met such a DICOM input
//! at 2.1 GB, 2026-12-01; no run here saw it). Counting live bytes at every allocation catches
//! it at the allocation that crosses the bound, with a backtrace-worthy abort, and lets a target
//! set a bound that fits its format: an uncompressed format has no reason to hold many times
//! its input's size, a gzip-compressed one may legitimately inflate ~1,000-fold.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, aborting the process when more than `LIMIT` bytes are live.
pub struct HeapLimit<const LIMIT: usize> {
    live: AtomicUsize,
}

impl<const LIMIT: usize> HeapLimit<LIMIT> {
    /// An allocator with nothing live yet.
    pub const fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
        }
    }

    /// Counts `size` more bytes live; past the bound, says so on stderr and aborts (libFuzzer
    /// saves the input as a crash). The message is a fixed string: formatting would allocate.
    fn grow(&self, size: usize) {
        let live = self.live.fetch_add(size, Ordering::Relaxed) + size;
        if live > LIMIT {
            let _ = std::io::stderr().write_all(
                b"sss-fuzz: the heap passed the target's bound (HeapLimit): an input made a \
                  reader hold far more than its size\n",
            );
            std::process::abort();
        }
    }
}

impl<const LIMIT: usize> Default for HeapLimit<LIMIT> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter is kept beside it.
unsafe impl<const LIMIT: usize> GlobalAlloc for HeapLimit<LIMIT> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.grow(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            self.grow(new_size - layout.size());
        } else {
            self.live
                .fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
