//! The launcher: user namespace and id maps, mounts, pivot_root, and the
//! confinement applied before exec.
//!
//! Confinement, in the order the container init applies it:
//! 1. `masks`: MASKED and READ_ONLY paths go into the mount plan (skipped
//!    with `--privileged`).
//! 2. `caps::apply(&CapSet)` once the mounts are done (they need
//!    CAP_SYS_ADMIN in the namespace).
//! 3. no_new_privs (unless `no-new-privileges=false`), then
//!    `landlock::apply(&plan, nnp)`, which reports what the kernel could
//!    not enforce.
//! 4. `seccomp::install(&prog, spec_allow)` last, right before execve; the
//!    program comes from `seccomp::program(..)` in the parent, before fork,
//!    so compiling (or the cache lookup) is not on the child's path.
//!    Without no_new_privs, install before step 2 instead (the kernel then
//!    needs CAP_SYS_ADMIN, which step 2 may drop).

pub mod caps;
pub mod idmap;
pub mod landlock;
pub mod masks;
pub mod seccomp;
