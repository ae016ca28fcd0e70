//! The FUSE overlay as a container's root, served from the supervisor's
//! side (DESIGN.md, Processes).
//!
//! Once in its user namespace with the maps written, the supervisor makes
//! a private mount namespace and forks the server: a child in that user
//! and mount namespace that opens /dev/fuse, mounts the merged tree on
//! the container's `merged` dir and serves it on threads. The supervisor
//! stays single-threaded (it forks the init after this); the server forks
//! nothing. The init's mount namespace is copied from the supervisor's,
//! so it finds the tree mounted and pivots into it; `exec` joins the
//! init's namespace and sees the same tree.
//!
//! Nothing is mounted where the user's other processes can see it: when
//! the last process of those namespaces ends, the kernel drops the mount.
//! The server dies with the supervisor (parent-death signal), and the
//! supervisor ends the container if the server dies first.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::mount::{umount2, MntFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::channel::{self, Channel, Msg};
use super::mounts::{mountpoints, MountOp, MountPlan};
use crate::error::EXIT_BURROW;
use crate::rootfs::fuse::{self, FuseOverlayConfig};
use crate::sys;

/// The running server, seen from the supervisor.
pub(super) struct FuseServer {
    pid: Pid,
    /// Our end of its channel: it hangs up when the server exits.
    chan: Channel,
    merged: PathBuf,
    /// Set once it was reaped (it died, or was stopped).
    ended: Option<String>,
}

/// What the plan asks the supervisor to serve, if anything.
fn wanted(plan: &MountPlan) -> Option<FuseOverlayConfig> {
    plan.ops.iter().find_map(|op| match op {
        MountOp::FuseOverlay {
            lower,
            upper,
            work,
            single_id,
        } => Some(FuseOverlayConfig {
            lowers: mountpoints::with_layer(lower),
            upper: upper.clone(),
            work: work.clone(),
            single_id: *single_id,
        }),
        _ => None,
    })
}

/// Whether the plan's root is our FUSE overlay (served by `start`).
pub(super) fn serves(plan: &MountPlan) -> bool {
    plan.ops
        .iter()
        .any(|op| matches!(op, MountOp::FuseOverlay { .. }))
}

/// When the plan's root is our FUSE overlay: a private mount namespace for
/// the supervisor, and the server mounted on `merged` in it. Returns once
/// the tree is mounted.
pub(super) fn start(plan: &MountPlan, merged: &Path) -> anyhow::Result<Option<FuseServer>> {
    let Some(cfg) = wanted(plan) else {
        return Ok(None);
    };
    unshare(CloneFlags::CLONE_NEWNS).context("create a mount namespace for the FUSE overlay")?;
    crate::userns::make_private().context("make mounts private")?;
    let (mine, theirs) = channel::pair()?;
    let supervisor = nix::unistd::getpid();
    let pid = match sys::fork().context("fork the FUSE overlay server")? {
        ForkResult::Child => {
            drop(mine);
            server(cfg, merged, theirs, supervisor)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let first = mine.recv();
    let mut server = FuseServer {
        pid,
        chan: mine,
        merged: merged.to_path_buf(),
        ended: None,
    };
    match first {
        Ok(Some((Msg::Mounted, _))) => Ok(Some(server)),
        other => {
            server.stop();
            match other {
                Ok(Some((Msg::SetupFailed { message }, _))) => bail!("{message}"),
                Ok(_) => bail!("the FUSE overlay server ended before it mounted"),
                Err(e) => Err(e),
            }
        }
    }
}

/// The server child: never returns.
fn server(cfg: FuseOverlayConfig, merged: &Path, chan: Channel, supervisor: Pid) -> ! {
    // Dies with the supervisor, even one killed with SIGKILL; and if that
    // happened before the line above took effect, now.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() != supervisor {
        sys::exit_now(EXIT_BURROW);
    }
    quiet(&chan);
    let report = |msg: &Msg| {
        let _ = chan.send(msg);
    };
    match fuse::serve(cfg, merged) {
        Ok(handle) => {
            report(&Msg::Mounted);
            // Until the mount goes away: the supervisor unmounts it when
            // the container ends. The channel stays open until we exit,
            // so the supervisor can wait for that with a time limit.
            let code = match handle.wait() {
                Ok(()) => 0,
                Err(_) => EXIT_BURROW,
            };
            sys::exit_now(code)
        }
        Err(e) => {
            report(&Msg::SetupFailed {
                message: format!("start the FUSE overlay: {e:#}"),
            });
            sys::exit_now(EXIT_BURROW)
        }
    }
}

/// The server keeps no stdio of the caller (a pipe it held open would keep
/// a reader waiting after the container ended), no other inherited fd but
/// its channel, and takes the signals the supervisor blocks.
fn quiet(chan: &Channel) {
    crate::proc::stdio_to_null();
    let keep = chan.as_raw_fd();
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|fd| *fd > 2 && *fd != keep) {
        let _ = nix::unistd::close(fd);
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// The supervisor's watch over the server while it waits for the init:
/// if the server ends first, the container (whose root it was) is killed
/// and its end reported as an error.
pub(super) struct Watch<'a> {
    server: Option<&'a mut FuseServer>,
    killed: bool,
}

impl<'a> Watch<'a> {
    pub(super) fn new(server: Option<&'a mut FuseServer>) -> Self {
        Watch {
            server,
            killed: false,
        }
    }

    /// Call on every round of a wait loop.
    pub(super) fn check(&mut self, init: Pid) {
        if let Some(s) = self.server.as_deref_mut() {
            if !self.killed && s.ended() {
                self.killed = true;
                let _ = kill(init, Signal::SIGKILL);
            }
        }
    }

    /// The init's exit code, or why it was killed.
    pub(super) fn outcome(&self, code: i32) -> anyhow::Result<i32> {
        match self.server.as_deref() {
            Some(s) if self.killed => Err(s.lost()),
            _ => Ok(code),
        }
    }
}

impl FuseServer {
    /// Whether the server has ended (reaps it). Checked by the
    /// supervisor's wait loops: without it the container's root is gone.
    pub(super) fn ended(&mut self) -> bool {
        if self.ended.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => self.ended = Some(format!("exit code {code}")),
                Ok(WaitStatus::Signaled(_, sig, _)) => self.ended = Some(format!("signal {sig}")),
                Ok(_) => {}
                Err(_) => self.ended = Some("gone".into()),
            }
        }
        self.ended.is_some()
    }

    /// Why the server ended while the container ran, as an error.
    pub(super) fn lost(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "the FUSE overlay server ended ({}) while the container ran; the container was \
             stopped",
            self.ended.as_deref().unwrap_or("unknown")
        )
    }

    /// Unmount (the server then sees the connection end and exits) and
    /// reap it; one that does not end in a few seconds is killed.
    pub(super) fn stop(&mut self) {
        if self.ended.is_some() {
            return;
        }
        let _ = umount2(&self.merged, MntFlags::MNT_DETACH);
        let mut fds = [PollFd::new(self.chan.as_fd(), PollFlags::POLLIN)];
        let gone = matches!(poll(&mut fds, PollTimeout::from(3000u16)), Ok(n) if n > 0);
        if !gone {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
        let _ = waitpid(self.pid, None);
        self.ended = Some("stopped".into());
    }
}
