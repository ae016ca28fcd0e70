//! A link's socket maker: a small process in the linked container's user
//! and network namespaces that makes sockets there and hands them back
//! (SCM_RIGHTS) to the linking container's translator, which connects
//! them. A socket stays in the namespace it was made in, whoever uses it
//! later, so the translator (in the host's namespace) reaches the linked
//! container through them.
//!
//! Two processes per link: the keeper, forked by the linking supervisor
//! before it joins its own container's user namespace (from where it would
//! hold no capability over the linked one's), stays in the host's user
//! namespace, whose user owns every container's; it forks the maker that
//! joins the linked container's namespaces, and a new one when a restart
//! of that container made new namespaces. Each dies with its parent
//! (parent-death signal) and ends when its socket closes.
//!
//! Why not ask the linked container's supervisor for the sockets: it has
//! no socket anyone can reach, and the link would then depend on a
//! process of another container (and on its burrow version); the keeper
//! needs nothing of it but its namespaces.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socket, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use nix::sys::time::TimeVal;
use nix::unistd::ForkResult;

use crate::net::peer::{Locate, PeerNs};
use crate::proc::Reap;
use crate::sys;

/// The longest the translator waits for a socket: a maker that hangs
/// must not stop the container's network.
const ANSWER_WITHIN_SECS: i64 = 2;

/// The linking side: ask the link's keeper for sockets.
pub struct Maker {
    sock: OwnedFd,
    _child: Reap,
}

/// How often the keeper looks whether the linked container moved to new
/// namespaces (a restart).
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// What a request asks for: [family, type].
fn request(v6: bool, udp: bool) -> [u8; 2] {
    [if v6 { b'6' } else { b'4' }, if udp { b'u' } else { b't' }]
}

impl Maker {
    /// Fork the keeper of the link to the container `locate` finds;
    /// `close_in_child` lets go of what it must not keep (the caller's
    /// channel, host ports). Returns once its first maker joined the
    /// container's namespaces.
    ///
    /// Must be called in the host's user namespace.
    pub fn spawn(locate: &Locate, close_in_child: &dyn Fn()) -> anyhow::Result<Maker> {
        let (sock, keeper) = fork_serving(
            || {
                close_in_child();
                crate::proc::stdio_to_null();
                let peer = (locate.0)().map_err(|e| format!("{e:#}"))?;
                Joined::spawn(&peer).map_err(|e| format!("{e:#}"))
            },
            |sock, first| keep(sock, locate, first),
        )?;
        let within = TimeVal::new(ANSWER_WITHIN_SECS, 0);
        setsockopt(&sock, sockopt::ReceiveTimeout, &within)
            .context("set the link's answer timeout")?;
        Ok(Maker {
            sock,
            _child: keeper,
        })
    }

    /// A new socket (non-blocking, close-on-exec) in the linked
    /// container's network namespace.
    pub fn socket(&self, v6: bool, udp: bool) -> io::Result<OwnedFd> {
        send(&self.sock, &request(v6, udp), None)?;
        let mut buf = [0u8; 8];
        let (n, fd) = receive(&self.sock, &mut buf)?;
        match fd {
            Some(fd) => Ok(fd),
            None if n == 4 => Err(io::Error::from_raw_os_error(i32::from_ne_bytes([
                buf[0], buf[1], buf[2], buf[3],
            ]))),
            None => Err(io::Error::other("the link's socket maker ended")),
        }
    }
}

/// Fork a child that runs `setup`, says "ok" (or why not) and then
/// `serve`s its end of a socket pair, dying with us. Returns our end once
/// it said "ok".
fn fork_serving<T>(
    setup: impl FnOnce() -> Result<T, String>,
    serve: impl FnOnce(&OwnedFd, T),
) -> anyhow::Result<(OwnedFd, Reap)> {
    let (mine, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    let parent = nix::unistd::getpid();
    let child = match sys::fork().context("fork a link's socket maker")? {
        ForkResult::Child => {
            drop(mine);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if nix::unistd::getppid() != parent {
                sys::exit_now(1);
            }
            let ready = setup();
            let hello = match &ready {
                Ok(_) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            let said = send(&theirs, hello.as_bytes(), None);
            match (ready, said) {
                (Ok(t), Ok(())) => serve(&theirs, t),
                _ => sys::exit_now(1),
            }
            sys::exit_now(0)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let reap = Reap(Some(child));
    let mut buf = [0u8; 512];
    let (n, _) = receive(&mine, &mut buf).context("start a link's socket maker")?;
    let hello = String::from_utf8_lossy(&buf[..n]);
    if hello != "ok" {
        if hello.is_empty() {
            bail!("a link's socket maker died");
        }
        bail!("{hello}");
    }
    Ok((mine, reap))
}

/// A maker in the linked container's namespaces (a child of the keeper).
struct Joined {
    sock: OwnedFd,
    _child: Reap,
    /// The network namespace it is in (device, inode).
    netns: (u64, u64),
}

impl Joined {
    fn spawn(peer: &PeerNs) -> anyhow::Result<Joined> {
        let netns = identity(&peer.net)?;
        let (sock, child) = fork_serving(
            || {
                setns(&*peer.user, CloneFlags::CLONE_NEWUSER)
                    .and_then(|()| setns(&*peer.net, CloneFlags::CLONE_NEWNET))
                    .map_err(|e| format!("join the linked container's namespaces: {}", e.desc()))
            },
            |sock, ()| serve(sock),
        )?;
        Ok(Joined {
            sock,
            _child: child,
            netns,
        })
    }
}

/// A namespace's identity: its file's device and inode.
fn identity(ns: &OwnedFd) -> anyhow::Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(ns.as_raw_fd()).context("stat a namespace")?;
    Ok((st.st_dev, st.st_ino))
}

/// In the keeper (host's user namespace): pass each request to the maker
/// in the linked container's namespace as it is now. A restart of the
/// linked container (stop, start) gives it new namespaces: a new maker
/// joins them, so the link lives on as Docker's does. While it does not
/// run, the old maker answers (connections are refused in there).
fn keep(sock: &OwnedFd, locate: &Locate, mut joined: Joined) {
    let mut buf = [0u8; 8];
    let mut looked = std::time::Instant::now();
    loop {
        let got = match receive(sock, &mut buf) {
            Ok((2, _)) => [buf[0], buf[1]],
            Ok((0, _)) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        // Looked up at most once a second: it reads the store, which a
        // burst of connections should not pay for each time.
        let due = looked.elapsed() >= LOOK_AGAIN;
        if due {
            looked = std::time::Instant::now();
        }
        if let Some(Ok(peer)) = due.then(|| (locate.0)()) {
            let moved = identity(&peer.net).is_ok_and(|id| id != joined.netns);
            if moved {
                if let Ok(j) = Joined::spawn(&peer) {
                    joined = j;
                }
            }
        }
        let mut answer = [0u8; 8];
        let reply =
            send(&joined.sock, &got, None).and_then(|()| receive(&joined.sock, &mut answer));
        let sent = match reply {
            Ok((_, Some(fd))) => send(sock, b"s", Some(fd.as_raw_fd())),
            Ok((n, None)) => send(sock, &answer[..n], None),
            Err(e) => send(
                sock,
                &e.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes(),
                None,
            ),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// In the maker: answer requests until the other end closes.
fn serve(sock: &OwnedFd) {
    let mut buf = [0u8; 8];
    loop {
        let got = match receive(sock, &mut buf) {
            Ok((2, _)) => [buf[0], buf[1]],
            Ok((0, _)) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let family = match got[0] {
            b'6' => AddressFamily::Inet6,
            _ => AddressFamily::Inet,
        };
        let ty = match got[1] {
            b'u' => SockType::Datagram,
            _ => SockType::Stream,
        };
        let made = socket(
            family,
            ty,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        );
        let sent = match made {
            Ok(fd) => send(sock, b"s", Some(fd.as_raw_fd())),
            Err(e) => send(sock, &(e as i32).to_ne_bytes(), None),
        };
        if sent.is_err() {
            return;
        }
    }
}

fn send(sock: &OwnedFd, data: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    let raw: Vec<RawFd> = fd.into_iter().collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(data)],
        cmsgs,
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// One message: its length and the fd it carried, if any.
fn receive(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for r in raw {
                // Only the first is ours to keep; more would be a bug.
                let owned = sys::own_fd(r);
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_family_and_type() {
        assert_eq!(&request(false, false), b"4t");
        assert_eq!(&request(true, true), b"6u");
    }
}
