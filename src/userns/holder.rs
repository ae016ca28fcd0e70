//! The container's user namespace, made and id-mapped by a short-lived
//! holder process before the supervisor exists; the supervisor joins it
//! with setns.
//!
//! Why a holder: in subuid mode the maps are written by the setuid
//! newuidmap and newgidmap, the slowest step of a start. With the holder
//! they run while the caller resolves the image and writes the record
//! (`prepare`), not after the supervisor's fork.
//!
//! The caller's euid owns the namespace, which gives its forks every
//! capability in it, so they may setns into it; the namespace lives on
//! while an fd to it is open, after the holder is gone.

use std::os::fd::OwnedFd;

use anyhow::{bail, Context};
use nix::errno::Errno;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::unistd::ForkResult;

use super::idmap::{self, HostUser, IdMapMode};
use crate::proc::Reap;
use crate::sys;

/// How the namespace maps ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Root inside is the user (subuid range or single id).
    Root(IdMapMode),
    /// The user's own uid and gid alone (`burrow sandbox`).
    Identity,
}

/// A mapped user namespace, ready to join. Its holder goes when it is
/// dropped: after the supervisor's fork, so its exit is off the start's path.
pub struct UserNs {
    fd: OwnedFd,
    _holder: Reap,
}

impl UserNs {
    /// A namespace someone else holds (the user networks' keeper).
    pub fn joined(fd: OwnedFd) -> UserNs {
        UserNs {
            fd,
            _holder: Reap(None),
        }
    }

    /// Join it. Must be called in a single-threaded process.
    pub fn join(&self) -> anyhow::Result<()> {
        setns(&self.fd, CloneFlags::CLONE_NEWUSER).context("join the container's user namespace")
    }
}

/// A namespace whose maps are being written.
struct Pending {
    // Field order is drop order: the helpers are waited for before the
    // holder they write to goes.
    helpers: Option<idmap::Helpers>,
    fd: OwnedFd,
    _holder: Reap,
    mapping: Mapping,
    user: HostUser,
}

impl Pending {
    /// Fork the holder, open its namespace and start writing the maps.
    ///
    /// Must be called while this process has a single thread.
    fn begin(mapping: &Mapping, user: &HostUser) -> anyhow::Result<Pending> {
        let (ready_r, ready_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
        let parent = nix::unistd::getpid();
        let pid = match sys::fork().context("fork")? {
            ForkResult::Child => {
                drop(ready_r);
                // Gone with the caller, also if it died before this line.
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                if nix::unistd::getppid() != parent {
                    sys::exit_now(1);
                }
                let errno = match unshare(CloneFlags::CLONE_NEWUSER) {
                    Ok(()) => 0,
                    Err(e) => e as i32,
                };
                let _ = nix::unistd::write(&ready_w, &errno.to_ne_bytes());
                drop(ready_w);
                loop {
                    nix::unistd::pause();
                }
            }
            ForkResult::Parent { child } => child,
        };
        // The holder: it unshares its user namespace and waits to be killed.
        let holder = Reap(Some(pid));
        drop(ready_w);
        let mut b = [0u8; 4];
        let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&ready_r), &mut b)
            .context("wait for the user namespace")?;
        if n != 4 {
            bail!("create a user namespace: its process died");
        }
        let errno = i32::from_ne_bytes(b);
        if errno != 0 {
            bail!(
                "create a user namespace: {} (see 'burrow info' for what blocks it)",
                Errno::from_raw(errno).desc()
            );
        }
        let ns = format!("/proc/{pid}/ns/user");
        let fd: OwnedFd = std::fs::File::open(&ns)
            .with_context(|| format!("open {ns}"))?
            .into();
        let helpers = match mapping {
            Mapping::Identity => {
                idmap::apply_identity(pid, user).context("write the id maps")?;
                None
            }
            Mapping::Root(mode) => {
                Some(idmap::start(pid, mode, user).context("write the id maps")?)
            }
        };
        Ok(Pending {
            helpers,
            fd,
            _holder: holder,
            mapping: mapping.clone(),
            user: user.clone(),
        })
    }

    /// Wait for the maps.
    fn finish(self) -> anyhow::Result<UserNs> {
        let Pending {
            helpers,
            fd,
            _holder,
            ..
        } = self;
        if let Some(h) = helpers {
            h.finish().context("write the id maps")?;
        }
        Ok(UserNs { fd, _holder })
    }
}

/// A namespace begun early (`prepare`): its maps are written while the
/// caller resolves the image and writes the record, then `for_launch`
/// takes it (`run` hands it from creation to start). Dropped untaken, its
/// holder is killed and reaped.
pub struct PreparedUserNs(Option<Pending>);

/// Begin the namespace a launch will need. A failure here is met (and
/// reported) again by the launch.
///
/// Must be called while this process has a single thread.
pub fn prepare(mapping: &Mapping, user: &HostUser) -> PreparedUserNs {
    PreparedUserNs(Pending::begin(mapping, user).ok())
}

/// The namespace for a launch: the one prepared ahead when it matches,
/// else a new one.
///
/// Must be called while this process has a single thread.
pub fn for_launch(
    mapping: &Mapping,
    user: &HostUser,
    ahead: Option<PreparedUserNs>,
) -> anyhow::Result<UserNs> {
    match ahead.and_then(|a| a.0) {
        Some(p) if p.mapping == *mapping && p.user == *user => p.finish(),
        other => {
            drop(other);
            Pending::begin(mapping, user)?.finish()
        }
    }
}
