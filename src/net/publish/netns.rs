//! The container's network namespace as the forwarders see it: the
//! supervisor replaces it at each start of the init (a restart makes a
//! new one). TCP forwarders get their inside sockets from one long-lived
//! thread that stays in there (a socket belongs to the namespace it was
//! made in, whichever thread binds or connects it later), so no connection
//! pays for a setns(2) or a thread of its own to make its socket.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{AddressFamily, SockFlag, SockType};

type Current = Arc<Mutex<Option<Arc<OwnedFd>>>>;

/// The namespace a thread entered last (see `Netns::socket_from_here`).
pub type Entered = Option<Arc<OwnedFd>>;
/// A request to the socket maker, answered on its own channel.
type Request = (AddressFamily, SockType, SyncSender<io::Result<OwnedFd>>);

/// Shared by the supervisor and its forwarding threads. None: no
/// container runs (yet); connections are refused meanwhile. A test may
/// leave it empty for good: sockets are then made in the caller's own
/// namespace.
#[derive(Debug, Clone, Default)]
pub struct Netns {
    current: Current,
    /// Make sockets where the thread is (tests with plain sockets).
    here: bool,
    /// The namespace has the routes for kept client addresses.
    keeps_source: Arc<AtomicBool>,
    /// The socket maker, started at the first request.
    maker: Arc<Mutex<Option<Sender<Request>>>>,
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

    /// A socket made in the namespace (CLOEXEC, blocking) by the calling
    /// thread, which enters it first unless `entered` says it is there
    /// (the thread then stays in it; it must not be the supervisor's main
    /// thread, which forks the container).
    pub fn socket_from_here(
        &self,
        entered: &mut Entered,
        family: AddressFamily,
        ty: SockType,
    ) -> io::Result<OwnedFd> {
        if !self.here {
            enter_current(&self.current, entered)?;
        }
        Ok(nix::sys::socket::socket(
            family,
            ty,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?)
    }

    /// A socket made in the namespace (CLOEXEC, blocking), by the maker
    /// thread that stays there.
    pub fn socket(&self, family: AddressFamily, ty: SockType) -> io::Result<OwnedFd> {
        if self.here {
            return Ok(nix::sys::socket::socket(
                family,
                ty,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        {
            let mut maker = self.maker.lock().unwrap_or_else(|e| e.into_inner());
            let sender = match maker.take() {
                Some(s) => s,
                None => spawn_maker(self.current.clone())?,
            };
            sender
                .send((family, ty, tx))
                .map_err(|_| io::Error::other("the socket maker ended"))?;
            *maker = Some(sender);
        }
        rx.recv()
            .map_err(|_| io::Error::other("the socket maker ended"))?
    }
}

/// Move the calling thread into the current namespace unless `entered`
/// (what it entered last) is that one already.
fn enter_current(current: &Current, entered: &mut Entered) -> io::Result<()> {
    let now = current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| io::Error::other("the container is not running"))?;
    if !entered.as_ref().is_some_and(|e| Arc::ptr_eq(e, &now)) {
        nix::sched::setns(&*now, nix::sched::CloneFlags::CLONE_NEWNET)?;
        *entered = Some(now);
    }
    Ok(())
}

/// Start the maker: a thread (never the supervisor's main thread, which
/// forks the container) that ends when the last `Netns` clone is dropped.
fn spawn_maker(current: Current) -> io::Result<Sender<Request>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("netns-sockets".into())
        .stack_size(128 << 10)
        .spawn(move || make_sockets(current, rx))?;
    Ok(tx)
}

/// Serve requests; enter the namespace again only when the supervisor
/// replaced it (a restart of the container).
fn make_sockets(current: Current, requests: Receiver<Request>) {
    let mut entered: Entered = None;
    for (family, ty, reply) in requests {
        let mut make = || -> io::Result<OwnedFd> {
            enter_current(&current, &mut entered)?;
            Ok(nix::sys::socket::socket(
                family,
                ty,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?)
        };
        let _ = reply.send(make());
    }
}
