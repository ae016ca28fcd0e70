//! The answerer of an `exec`'d command's connect() in a container whose
//! supervisor may hand it sockets of the host's network namespace (the
//! `-p` bypass): the container's processes could pass one (SCM_RIGHTS)
//! to the command, which is not under the init's filter. The command
//! installs a filter of its own (bind and connect, `Calls::SOCKETS`) and
//! sends its listener here; `bypass::exec_guard` answers, as the
//! supervisor does for the container's processes.
//!
//! It joins the container's user namespace, where it has every
//! capability (as the supervisor): a connect it makes for the command on
//! a unix socket takes the command's root, cwd and credentials there
//! (`connector`). Non-dumpable, as the exec helper: the container's root
//! may not ptrace a process that runs our binary.
//!
//! A process of its own, not a thread of the waiting `burrow exec`: the
//! command's children may outlive it, and `exec -d` waits for nothing.
//! It holds nothing of its caller (no fd but its channel, no terminal)
//! and ends when the listener reports that no task is left under the
//! filter (POLLHUP), or when the command never sent one.

use std::os::fd::AsRawFd;

use anyhow::Context;
use nix::unistd::ForkResult;

use super::channel::{self, Channel, Msg};
use crate::sys;

/// Start the answerer for sockets of the namespace `host_cookie`, in the
/// user namespace `userns` (the container's); the returned end is the
/// command's, to send its listener on (`send`). Forks: call it while
/// single-threaded.
pub(super) fn spawn(host_cookie: u64, userns: std::fs::File) -> anyhow::Result<Channel> {
    let (ours, theirs) = channel::pair()?;
    match sys::fork().context("fork the exec's socket guard")? {
        ForkResult::Child => {
            drop(theirs);
            // Without it, the command's unix connects would fail (EPERM):
            // none is made unchecked.
            let joined = nix::sys::prctl::set_dumpable(false)
                .and_then(|()| nix::sched::setns(&userns, nix::sched::CloneFlags::CLONE_NEWUSER));
            drop(userns);
            if let Err(e) = joined {
                tracing::debug!("exec socket guard: join the user namespace: {e}");
            }
            serve(ours, host_cookie);
            sys::exit_now(0)
        }
        ForkResult::Parent { .. } => Ok(theirs),
    }
}

/// In the command, once confined: hand the filter's listener over.
pub(super) fn send(to: &Channel, listener: &impl AsRawFd) -> anyhow::Result<()> {
    to.send_with_fd(&Msg::IdsListener, Some(listener.as_raw_fd()))
        .context("hand the socket calls' listener to burrow")
}

fn serve(from: Channel, host_cookie: u64) {
    // Our caller's locks, pipes and terminal are not ours to keep: its
    // output would not end while we live.
    let keep = from.as_raw_fd();
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd > 2 && *fd != keep)
            .collect();
        for fd in fds {
            let _ = nix::unistd::close(fd);
        }
    }
    let _ = nix::unistd::setsid();
    crate::proc::stdio_to_null();
    let _ = std::env::set_current_dir("/");
    // Found by name in `ps`.
    let _ = nix::sys::prctl::set_name(c"burrow-exec-net");
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Ok(Some((Msg::IdsListener, Some(listener)))) = from.recv() {
        drop(from);
        let base = super::ids::creds::Creds::new(0, 0, vec![]);
        let answer = super::bypass::exec_guard(host_cookie);
        super::ids::server::serve(listener, base, Some(answer));
    }
}
