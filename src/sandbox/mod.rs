//! The launcher: user namespace and id maps, mounts, pivot_root, and the
//! confinement applied before exec.

pub mod caps;
pub mod idmap;
pub mod landlock;
pub mod masks;
pub mod seccomp;
