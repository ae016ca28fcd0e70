//! User namespaces: the id maps (`idmap`: which ids, written by
//! newuidmap/newgidmap or directly), the short-lived holder that makes a
//! mapped namespace before the supervisor exists (`holder`), and helpers
//! for the namespaces a process enters.
//!
//! Below `sandbox`, `image` (the unpack helper) and `probe`: each of them
//! makes or maps a user namespace; none of them imports another for it.

mod holder;
pub mod idmap;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};

use crate::sys::ChildFailure;

pub use holder::{for_launch, prepare, Mapping, PreparedUserNs, UserNs};

/// Stop mount events from flowing between this mount namespace and the
/// one it was copied from (the container init, the FUSE root's server,
/// the user namespace probe).
pub fn make_private() -> nix::Result<()> {
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// In a child: a new user and mount namespace, our id mapped to root, and
/// a tmpfs mounted, which needs the capabilities the namespace should give.
pub fn enter_single(extra: CloneFlags) -> Result<(), ChildFailure> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER | extra)
        .map_err(|e| ChildFailure::new("unshare(CLONE_NEWUSER)", e))?;
    let w = |file: &str, content: String| {
        std::fs::write(format!("/proc/self/{file}"), content).map_err(|e| {
            ChildFailure::new(
                &format!("write /proc/self/{file}"),
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
    };
    w("setgroups", "deny".into())?;
    w("uid_map", format!("0 {uid} 1"))?;
    w("gid_map", format!("0 {gid} 1"))?;
    Ok(())
}
