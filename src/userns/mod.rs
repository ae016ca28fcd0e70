//! User namespaces: the id maps (`idmap`: which ids, written by
//! newuidmap/newgidmap or directly), the short-lived holder that makes a
//! mapped namespace before the supervisor exists (`holder`), and helpers
//! for the namespaces a process enters.
//!
//! Below `sandbox`, `image` (the unpack helper) and `probe`: each of them
//! makes or maps a user namespace; none of them imports another for it.

mod holder;
pub mod idmap;

pub use holder::{for_launch, prepare_ahead, Mapping, UserNs};

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
