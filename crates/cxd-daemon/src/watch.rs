//! Watching a working tree: non-recursive OS watches on every non-ignored directory.
