//! The container's network namespace as the forwarders see it: the
//! supervisor replaces it at each start of the init (a restart makes a
//! new one); a forwarding thread enters it to make its inside sockets.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Shared by the supervisor and its forwarding threads. None: no
/// container runs (yet); connections are refused meanwhile. A test may
/// leave it empty for good: sockets are then made in the caller's own
/// namespace.
#[derive(Debug, Clone, Default)]
pub struct Netns {
    current: Arc<Mutex<Option<Arc<OwnedFd>>>>,
    /// Make sockets where the thread is (tests with plain sockets).
    here: bool,
    /// The namespace has the routes for kept client addresses.
    keeps_source: Arc<AtomicBool>,
}

impl Netns {
    /// Sockets are made in the caller's namespace (tests).
    pub fn here() -> Netns {
        Netns {
            here: true,
            ..Default::default()
        }
    }

    /// The container's namespace is now this one (/proc/PID/ns/net);
    /// `keeps_source`: it has the routes that kept client addresses need.
    pub fn set(&self, fd: OwnedFd, keeps_source: bool) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.keeps_source.store(keeps_source, Ordering::Relaxed);
        *cur = Some(Arc::new(fd));
    }

    /// Whether clients off loopback keep their address in there.
    pub fn keeps_source(&self) -> bool {
        self.here || self.keeps_source.load(Ordering::Relaxed)
    }

    /// Move the calling thread into the namespace (setns), so that the
    /// sockets it makes from now on live there. The thread must not be
    /// one that forks the container (the supervisor's main thread).
    pub fn enter(&self) -> std::io::Result<()> {
        if self.here {
            return Ok(());
        }
        let fd = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| std::io::Error::other("the container is not running"))?;
        nix::sched::setns(&*fd, nix::sched::CloneFlags::CLONE_NEWNET)?;
        Ok(())
    }
}
