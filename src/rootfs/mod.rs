//! Root file system drivers: the trees a container sees as `/`.
//! `driver` says which one a container gets, from what the host allows
//! (`host`).
//!
//! `fuse` is our own overlay file system served over FUSE, for machines
//! where the kernel's overlayfs cannot be mounted in a user namespace.

pub mod driver;
pub mod fuse;
pub mod host;
pub mod lookup;
