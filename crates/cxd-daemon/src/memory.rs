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
