//! The host sockets the `-p` bypass (`sandbox::bypass`) handed to a
//! container's server, and the shadow listeners it made: the forwarding
//! threads stop accepting on a handed socket, and the supervisor's end
//! shuts the shadows (a supervisor serves one container).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use nix::sys::socket;

use crate::sys;

/// Inodes of the handed host sockets.
static HANDED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// The shadow listeners, shut down by `release`.
static SHADOWS: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

fn inode(fd: &impl AsRawFd) -> u64 {
    sys::stat_fd(fd).map(|s| s.st_ino).unwrap_or(0)
}

/// Whether the host socket `fd` was handed to the container's server.
pub fn is_handed(fd: &impl AsRawFd) -> bool {
    let ino = inode(fd);
    HANDED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&ino)
}

/// The host socket `fd` is now the container's.
pub fn mark(fd: &impl AsRawFd) {
    let ino = inode(fd);
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    if !handed.contains(&ino) {
        handed.push(ino);
    }
}

/// Keep a shadow listener to shut at the end.
pub fn add_shadow(fd: OwnedFd) {
    SHADOWS.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
}

/// Shut the shadow listeners (their threads end); the supervisor's end.
pub fn release() {
    for fd in SHADOWS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Both);
    }
}
