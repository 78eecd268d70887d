//! What changed since the last review, as git trees in a private index and object store.
