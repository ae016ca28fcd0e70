//! Emulated ids in single-id mode: only one id (the user, as root) is
//! mapped into the container, yet its processes may take any uid and gid.
//! The set*id and get*id calls go to the supervisor by seccomp user
//! notification (`filter`), which keeps each task's credentials by the
//! kernel's rules (`creds`) and answers for it (`server`). The kernel's
//! own credential never changes: to it, every process stays the one
//! mapped id. This is for software that drops privileges (apt, su,
//! daemons), not a boundary between the container's users.
//!
//! The container init installs the filter last before execve and passes
//! the listener to the supervisor (`Msg::IdsListener`), which serves it on
//! a thread for as long as that run's processes live.

pub mod access;
pub mod creds;
pub mod filter;
pub mod owners;
pub mod procfs;
pub mod server;
pub mod stat32;

use std::os::fd::OwnedFd;

use anyhow::Context;

/// The oldest kernel the emulation works on: user notification came in
/// 5.0, letting a noted call run (SECCOMP_USER_NOTIF_FLAG_CONTINUE, for
/// execve and prctl) in 5.5. Older kernels keep the faked chown alone.
pub const MIN_KERNEL: (u32, u32) = (5, 5);

/// Whether this kernel can emulate ids.
pub fn available() -> bool {
    let release = crate::sys::kernel_release();
    crate::sandbox::confine::seccomp::profile::parse_kernel(&release)
        .is_some_and(|v| v >= MIN_KERNEL)
}

/// Install the notify filter of `calls` on the calling thread and return
/// its listener. Needs no_new_privs or CAP_SYS_ADMIN, like any filter.
pub fn install(calls: filter::Calls) -> anyhow::Result<OwnedFd> {
    crate::sys::seccomp_set_notify_filter(&filter::program(calls))
        .context("install the supervisor's notify filter")
}

/// What answers a socket call sent to the supervisor (`filter::Call::
/// Socket`), given the listener, the notification and the call.
pub type OnSocket = std::sync::Arc<
    dyn Fn(&std::sync::Arc<OwnedFd>, &libc::seccomp_notif, filter::SockCall) -> Reply + Send + Sync,
>;

/// An `OnSocket`'s answer.
#[derive(Debug)]
pub enum Reply {
    /// Ok(Some(v)) makes the call return v, Ok(None) lets the kernel run
    /// it, Err fails it.
    Now(Result<Option<i64>, nix::errno::Errno>),
    /// Answered by another thread, later (a connect made for the caller,
    /// which may block).
    Later,
}

/// Serve `listener` on a new thread, starting every process from `base`;
/// socket calls go to `on_socket` (none: the kernel runs them).
pub fn spawn(
    listener: OwnedFd,
    base: creds::Creds,
    on_socket: Option<OnSocket>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("burrow-ids".into())
        .spawn(move || server::serve(listener, base, on_socket))
        .context("start the id emulation thread")?;
    Ok(())
}

/// For unit tests: run `child` in a forked child under the notify filter
/// of `calls` (no_new_privs set), its calls answered by `server::serve`
/// on a thread of ours, from root's ids, socket calls to `on_socket`.
#[cfg(test)]
pub(crate) fn in_served_child(
    calls: filter::Calls,
    on_socket: Option<OnSocket>,
    child: impl FnOnce() -> Result<(), crate::sys::ChildFailure>,
) -> Result<(), crate::sys::ChildFailure> {
    use crate::sandbox::channel::{self, Msg};
    use crate::sys::ChildFailure;
    use std::os::fd::AsRawFd;
    let (ours, theirs) = channel::pair().unwrap();
    let server = std::thread::spawn(move || {
        if let Ok(Some((_, Some(fd)))) = ours.recv() {
            server::serve(fd, creds::Creds::new(0, 0, vec![]), on_socket);
        }
    });
    let r = crate::sys::in_child(move || {
        nix::sys::prctl::set_no_new_privs().map_err(|e| ChildFailure::new("nnp", e))?;
        let l =
            install(calls).map_err(|_| ChildFailure::new("install", nix::errno::Errno::last()))?;
        theirs
            .send_with_fd(&Msg::IdsListener, Some(l.as_raw_fd()))
            .map_err(|_| ChildFailure::new("send", nix::errno::Errno::EIO))?;
        child()
    });
    server.join().unwrap();
    r
}
