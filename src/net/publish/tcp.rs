//! TCP forwarding: accept on the host, connect from a socket made inside
//! the container's namespace, and move the bytes with splice(2) through a
//! pipe in each direction: no copy through user space and no TCP stack of
//! ours on the path. A half-close is passed on (shutdown of the write side).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::socket::{self, sockopt, AddressFamily, SockType, SockaddrStorage};

use super::netns::Netns;
use super::Target;
use crate::sys;

/// Bytes asked of each splice; the pipe is grown to match when allowed.
const CHUNK: usize = 1 << 20;

/// Accept connections for as long as the supervisor lives, each served by
/// a thread of its own. Ends once `stop` is set (and the socket shut).
pub fn serve(listener: TcpListener, netns: Netns, target: Target, stop: &AtomicBool) {
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match listener.accept() {
            Ok((client, peer)) => {
                let netns = netns.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || {
                        let (to, source) = target.for_client(peer, netns.keeps_source());
                        if let Err(e) = forward(client, &netns, target.addr, to, source) {
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
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ECONNABORTED)
    )
}

/// One connection: connect to `to` from a socket made in the container's
/// namespace (from `source` when given), splice both ways.
fn forward(
    client: TcpStream,
    netns: &Netns,
    plain: SocketAddr,
    to: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<()> {
    let inside = match connect_inside(netns, to, source) {
        Ok(s) => s,
        // Without the right to bind a foreign address, or a server that
        // listens on IPv4 only, the plain path still serves the client
        // (its address is then lost).
        Err(e) if source.is_some() => {
            tracing::debug!("keep the client's address {source:?} -> {to}: {e}");
            connect_inside(netns, plain, None)?
        }
        Err(e) => return Err(e),
    };
    relay(client, inside)
}

/// A socket connected to `target`, made in the container's namespace;
/// with `source`, IP_TRANSPARENT and bound to the client's address first.
pub fn connect_inside(
    netns: &Netns,
    target: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<TcpStream> {
    let family = match target {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd: OwnedFd = netns.socket(family, SockType::Stream)?;
    if let Some(src) = source {
        sys::set_transparent(fd.as_fd(), src.is_ipv6())?;
        // The same client address and port may reach two published ports.
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrStorage::from(src),
        )?;
    }
    let _ = socket::setsockopt(&fd, sockopt::TcpNoDelay, &true);
    loop {
        match socket::connect(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrStorage::from(target),
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        }
        break;
    }
    Ok(TcpStream::from(fd))
}

/// Move bytes both ways until both sides closed: this thread one way, a
/// second thread the other.
pub fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let _ = a.set_nodelay(true);
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    let back = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || pump(&b2, &a2));
    let there = pump(&a, &b);
    let back = match back {
        Ok(t) => t.join().unwrap_or(Ok(())),
        // No second thread: stop the first way too.
        Err(e) => {
            let _ = a.shutdown(Shutdown::Both);
            Err(e)
        }
    };
    there.and(back)
}

/// One direction: `from` to `to` through a pipe, until `from` ends; then
/// `to` is told so (shutdown of its write side). On an error both sockets
/// are shut, which ends the other direction too.
fn pump(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let result = pump_until_end(from, to);
    match &result {
        Ok(()) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
    result
}

fn pump_until_end(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Bigger pipes mean fewer calls; the default 64k is kept where the
    // user's pipe budget (fs.pipe-user-pages-soft) says no.
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&w),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32),
    );
    loop {
        let n = retry(|| sys::splice(from.as_fd(), w.as_fd(), CHUNK))?;
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            let m = retry(|| sys::splice(r.as_fd(), to.as_fd(), left))?;
            if m == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            left -= m;
        }
    }
}

fn retry(mut f: impl FnMut() -> Result<usize, nix::errno::Errno>) -> io::Result<usize> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
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
