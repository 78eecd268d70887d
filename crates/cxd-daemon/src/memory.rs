//! Handing freed memory back to the OS after a burst of work, so a daemon that lives for weeks
//! returns to its idle size (glibc keeps freed heap pages otherwise).

/// Return free heap memory to the OS where the allocator supports it (glibc); a no-op elsewhere.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Heap arenas the allocator may use (glibc): one per thread by default, each keeping its own
/// freed pages, so a snapshot on one blocking thread and a walk on another leave two heaps
/// behind. The daemon's threads mostly wait; two arenas serve them without contention.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: i32 = 2;

/// Cap the allocator's arenas at two (glibc; a no-op elsewhere). Call before any thread
/// starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets a tunable of the allocator; it takes no pointers of ours.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
