//! TCP forwarding: accept on the host, connect from a socket made inside
//! the container's namespace, and move the bytes with splice(2) through a
//! pipe in each direction: no copy through user space and no TCP stack of
//! ours on the path. A half-close is passed on (shutdown of the write side).
//!
//! The accepting thread lives in the container's namespace, so it makes
//! each inside socket itself and starts its connect without waiting; one
//! thread per connection then sees the connect end and relays both
//! directions in one poll loop. A new connection costs one thread and no
//! hand-over between threads (connection setup was twice rootlessport's
//! with a socket-making thread and a thread per direction).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, sockopt, AddressFamily, SockType, SockaddrStorage};

use super::netns::{Entered, Netns};
use super::Target;
use crate::sys;

/// The largest pipe (and splice): a pipe starts at the kernel's 64 KiB
/// and grows to this once a splice fills it, where the user's pipe budget
/// (fs.pipe-user-pages-soft) allows.
const CHUNK: usize = 1 << 20;
/// Splices one direction may make before the other gets its turn.
const TURN: usize = 16;

/// Accept connections for as long as the supervisor lives, each served by
/// a thread of its own. Ends once `stop` is set (and the socket shut).
pub fn serve(listener: TcpListener, netns: Netns, target: Target, stop: &AtomicBool) {
    // The namespace this thread entered last (a restart makes a new one).
    let mut entered = Entered::default();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // Accept only while the container's server has not been handed
        // the socket (`bypass`): from then on its connections are its.
        if !wait_readable(&listener) {
            continue;
        }
        if super::handed::is_handed(&listener) {
            return;
        }
        match listener.accept() {
            Ok((client, peer)) => {
                let (to, source) = target.for_client(peer, netns.keeps_source());
                let inside = start_connect(&netns, &mut entered, to, source);
                let netns = netns.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(128 << 10)
                    .spawn(move || {
                        if let Err(e) = forward(client, inside, &netns, target.addr, source) {
                            tracing::debug!("forward {peer} -> {to}: {e}");
                        }
                    });
                if spawned.is_err() {
                    // Out of threads: the connection is dropped (closed).
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // Out of fds or memory for a moment: let it pass, do not spin.
            Err(e) if is_transient(&e) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                tracing::debug!("accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    // EAGAIN: the container's server took the connection first (a
    // handed socket it made non-blocking).
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::EAGAIN
        )
    )
}

/// Wait up to a quarter second for a connection (or the socket's
/// shutdown); true when accept would not wait. A handed socket's thread
/// ends at the next wake-up without taking one.
fn wait_readable(listener: &TcpListener) -> bool {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(250u16)), Ok(n) if n > 0)
}

/// One connection: wait for the inside connect to end, then splice both
/// ways. A connect that kept the client's address and failed (no right
/// to bind a foreign address, a server on IPv4 only) is made again the
/// plain way to `plain` (the client's address is then lost).
fn forward(
    client: TcpStream,
    inside: io::Result<TcpStream>,
    netns: &Netns,
    plain: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<()> {
    let inside = match inside.and_then(connected) {
        Ok(s) => s,
        Err(e) if source.is_some() => {
            tracing::debug!("keep the client's address {source:?}: {e}");
            connect_inside(netns, plain, None)?
        }
        Err(e) => return Err(e),
    };
    relay(client, inside)
}

fn family(to: SocketAddr) -> AddressFamily {
    match to {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// Prepare `fd` for `source` (IP_TRANSPARENT and bound to it) and TCP_NODELAY.
fn prepare(fd: &OwnedFd, source: Option<SocketAddr>) -> io::Result<()> {
    if let Some(src) = source {
        sys::set_transparent(fd.as_fd(), src.is_ipv6())?;
        // The same client address and port may reach two published ports.
        socket::setsockopt(fd, sockopt::ReuseAddr, &true)?;
        socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(src))?;
    }
    let _ = socket::setsockopt(fd, sockopt::TcpNoDelay, &true);
    Ok(())
}

/// Start connecting to `to` from a socket this thread makes in the
/// container's namespace (entered first when needed), without waiting.
fn start_connect(
    netns: &Netns,
    entered: &mut Entered,
    to: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<TcpStream> {
    let fd = netns.socket_from_here(entered, family(to), SockType::Stream)?;
    prepare(&fd, source)?;
    let s = TcpStream::from(fd);
    s.set_nonblocking(true)?;
    match socket::connect(s.as_raw_fd(), &SockaddrStorage::from(to)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(s),
        Err(e) => Err(e.into()),
    }
}

/// Wait until a connect started by `start_connect` ends; its result.
fn connected(s: TcpStream) -> io::Result<TcpStream> {
    loop {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    match s.take_error()? {
        Some(e) => Err(e),
        None => Ok(s),
    }
}

/// A socket connected to `target`, made in the container's namespace (by
/// its socket-making thread); with `source`, IP_TRANSPARENT and bound to
/// the client's address first. Blocks until connected.
pub fn connect_inside(
    netns: &Netns,
    target: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<TcpStream> {
    let fd: OwnedFd = netns.socket(family(target), SockType::Stream)?;
    prepare(&fd, source)?;
    loop {
        match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
            Err(Errno::EINTR) => continue,
            r => r?,
        }
        break;
    }
    Ok(TcpStream::from(fd))
}

/// Move bytes both ways until both sides closed, in one poll loop.
pub fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let _ = a.set_nodelay(true);
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let (mut there, mut back) = (Pump::default(), Pump::default());
    let result = relay_until_end(&a, &b, &mut there, &mut back);
    // On an error both sockets are shut: each peer hears of it.
    if result.is_err() {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    }
    result
}

fn relay_until_end(
    a: &TcpStream,
    b: &TcpStream,
    there: &mut Pump,
    back: &mut Pump,
) -> io::Result<()> {
    loop {
        there.step(a, b)?;
        back.step(b, a)?;
        if there.done && back.done {
            return Ok(());
        }
        // Only sockets something waits on: a socket shut both ways reports
        // POLLHUP whatever it is asked, and would wake this loop for ever
        // while the other one is slow.
        let (wa, wb) = (there.reads() | back.writes(), back.reads() | there.writes());
        let socks: Vec<(&TcpStream, PollFlags, bool)> = [(a, wa, there.done), (b, wb, back.done)]
            .into_iter()
            .filter(|(_, w, _)| !w.is_empty())
            .collect();
        let mut fds: Vec<PollFd> = socks
            .iter()
            .map(|(s, w, _)| PollFd::new(s.as_fd(), *w))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        for (fd, (sock, _, read_done)) in fds.iter().zip(&socks) {
            let ev = fd.revents().unwrap_or(PollFlags::empty());
            if ev.contains(PollFlags::POLLERR) {
                return Err(sock
                    .take_error()?
                    .unwrap_or_else(|| io::ErrorKind::ConnectionReset.into()));
            }
            // Shut both ways (a reset, or our shutdown after its EOF): once
            // its input ended nothing more can go to it either.
            if ev.contains(PollFlags::POLLHUP) && *read_done {
                return Ok(());
            }
        }
    }
}

/// One direction: from a socket to a pipe, from the pipe to the other
/// socket; non-blocking splices.
#[derive(Default)]
struct Pump {
    /// (read end, write end, size), made with the first bytes.
    pipe: Option<(OwnedFd, OwnedFd, usize)>,
    /// Bytes in the pipe.
    held: usize,
    eof: bool,
    /// EOF passed on: the other socket's write side is shut.
    done: bool,
    /// The pipe was grown (or the kernel said no): not asked again.
    grown: bool,
}

impl Pump {
    fn reads(&self) -> PollFlags {
        if self.done || self.eof || self.held > 0 {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        }
    }

    fn writes(&self) -> PollFlags {
        if !self.done && self.held > 0 {
            PollFlags::POLLOUT
        } else {
            PollFlags::empty()
        }
    }

    /// Move what can move now (up to `TURN` splices).
    fn step(&mut self, from: &TcpStream, to: &TcpStream) -> io::Result<()> {
        for _ in 0..TURN {
            if self.done {
                return Ok(());
            }
            if self.held > 0 {
                let (r, _, _) = self.pipe.as_ref().expect("held bytes are in the pipe");
                match sys::splice(r.as_fd(), to.as_fd(), self.held) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.held -= n,
                    Err(Errno::EAGAIN) => return Ok(()),
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            if self.eof {
                let _ = to.shutdown(Shutdown::Write);
                self.done = true;
                return Ok(());
            }
            let (_, w, size) = match &self.pipe {
                Some(p) => p,
                None => self.pipe.insert(new_pipe()?),
            };
            match sys::splice(from.as_fd(), w.as_fd(), *size) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.held = n;
                    if n >= *size && !self.grown {
                        self.grow();
                    }
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// A full pipe: make it `CHUNK` if the user's budget allows (else it
    /// keeps its size).
    fn grow(&mut self) {
        self.grown = true;
        if let Some((_, w, size)) = self.pipe.as_mut() {
            let asked = nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32);
            if let Ok(n) = nix::fcntl::fcntl(w.as_raw_fd(), asked) {
                *size = n as usize;
            }
        }
    }
}

/// A pipe and its size (the kernel's default until grown).
fn new_pipe() -> io::Result<(OwnedFd, OwnedFd, usize)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let size = nix::fcntl::fcntl(w.as_raw_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ)?;
    Ok((r, w, size as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server that also says who it saw (first line), on loopback.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let mut c = c.unwrap();
                std::thread::spawn(move || {
                    let peer = c.peer_addr().unwrap();
                    writeln!(c, "{peer}").unwrap();
                    let mut buf = vec![0; 65536];
                    loop {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => c.write_all(&buf[..n]).unwrap(),
                        }
                    }
                    // Our half-close after theirs.
                    c.shutdown(Shutdown::Write).unwrap();
                });
            }
        });
        addr
    }

    fn forwarder(target: SocketAddr) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            serve(
                l,
                Netns::here(),
                Target::plain(target),
                &AtomicBool::new(false),
            )
        });
        addr
    }

    #[test]
    fn bytes_go_both_ways_and_a_half_close_is_passed_on() {
        let fwd = forwarder(echo_server());
        let mut c = TcpStream::connect(fwd).unwrap();
        // 8 MiB: many splices, pipes refilled.
        let data: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
        let mut c2 = c.try_clone().unwrap();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            c2.write_all(&sent).unwrap();
            c2.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        let nl = got.iter().position(|&b| b == b'\n').unwrap();
        // A loopback client takes the plain path: the server sees the
        // forwarder's address, not the client's port.
        let seen: SocketAddr = std::str::from_utf8(&got[..nl]).unwrap().parse().unwrap();
        assert_ne!(seen, c.local_addr().unwrap());
        assert!(got[nl + 1..] == data[..], "echo differs");
    }

    /// SPLICE_F_MORE corked the last segment of each reply until the
    /// kernel's 200 ms timer: short request/reply connections took 200 ms.
    #[test]
    fn a_short_reply_is_not_held_back() {
        let fwd = forwarder(echo_server());
        let t = std::time::Instant::now();
        for _ in 0..10 {
            let mut c = TcpStream::connect(fwd).unwrap();
            c.write_all(b"ping").unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            // The peer line and the echo, without closing our side first.
            while !got.ends_with(b"ping") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
        }
        let took = t.elapsed();
        assert!(
            took < Duration::from_millis(1000),
            "10 replies took {took:?}"
        );
    }

    #[test]
    fn a_closed_container_port_closes_the_client() {
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = gone.local_addr().unwrap();
        drop(gone);
        let fwd = forwarder(target);
        let mut c = TcpStream::connect(fwd).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        // EOF (or a reset), never a hang.
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
    }
}
