//! TCP: each connection the container opens becomes a host socket. The
//! SYN is held while the host connects, so the container sees the host's
//! answer: a refused or unreachable target is a reset, a reachable one
//! is accepted by a smoltcp socket made for that one SYN (any_ip). Bytes
//! then move between the smoltcp socket's buffers and the host socket.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::IpListenEndpoint;

/// Per-connection buffers: the receive one is the window the container
/// may send into (window scaling makes it usable); pages are only
/// touched as data flows.
const RX_BUFFER: usize = 4 << 20;
const TX_BUFFER: usize = 4 << 20;

pub struct Flow {
    pub host: TcpStream,
    /// The SYN, held while the host's connect is under way.
    pub syn: Option<Vec<u8>>,
    pub handle: Option<SocketHandle>,
    pub key: (SocketAddr, SocketAddr),
    pub readable: bool,
    pub writable: bool,
    host_eof: bool,
    shut_host: bool,
}

/// Start connecting to `target` without blocking.
pub fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let family = match target {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd: OwnedFd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect_from(fd, target)
}

/// Start connecting `fd` (a non-blocking stream socket, perhaps made in
/// another namespace: a link's) to `target`.
pub fn connect_from(fd: OwnedFd, target: SocketAddr) -> std::io::Result<TcpStream> {
    match socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(target),
    ) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let s = TcpStream::from(fd);
    let _ = s.set_nodelay(true);
    Ok(s)
}

impl Flow {
    pub fn new(host: TcpStream, syn: Vec<u8>, key: (SocketAddr, SocketAddr)) -> Flow {
        Flow {
            host,
            syn: Some(syn),
            handle: None,
            key,
            readable: false,
            writable: false,
            host_eof: false,
            shut_host: false,
        }
    }

    /// The host's connect ended: Ok(()) if it succeeded.
    pub fn connect_result(&self) -> Result<(), i32> {
        match socket::getsockopt(&self.host.as_fd(), sockopt::SocketError) {
            Ok(0) => match self.host.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotConnected => Err(0),
                Err(e) => Err(e.raw_os_error().unwrap_or(0)),
            },
            Ok(e) => Err(e),
            Err(e) => Err(e as i32),
        }
    }

    /// A smoltcp socket that accepts exactly this flow's SYN.
    pub fn accept_in(&mut self, sockets: &mut SocketSet<'static>) {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; RX_BUFFER]),
            tcp::SocketBuffer::new(vec![0; TX_BUFFER]),
        );
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        // A handshake the container gives up on does not stay forever;
        // established connections may idle as long as they like (pump).
        s.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
        let dst = self.key.1;
        let ep = IpListenEndpoint {
            addr: Some(dst.ip().into()),
            port: dst.port(),
        };
        if s.listen(ep).is_ok() {
            self.handle = Some(sockets.add(s));
        }
    }

    /// Move what can be moved both ways. Returns false once the flow is
    /// over (its smoltcp socket is closed and may go).
    pub fn pump(&mut self, sockets: &mut SocketSet<'static>) -> bool {
        let Some(handle) = self.handle else {
            return false;
        };
        let s = sockets.get_mut::<tcp::Socket>(handle);
        match s.state() {
            tcp::State::Closed | tcp::State::TimeWait => return false,
            tcp::State::Listen | tcp::State::SynReceived => return true,
            _ if s.timeout().is_some() => s.set_timeout(None),
            _ => {}
        }
        // Container -> host.
        while self.writable && s.can_recv() {
            let host = &mut self.host;
            let r = s.recv(|buf| match host.write(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                Ok(Err(_)) | Err(_) => {
                    s.abort();
                    return true;
                }
            }
        }
        if !self.shut_host && !s.may_recv() && s.recv_queue() == 0 {
            // The container sent FIN: pass it on.
            let _ = self.host.shutdown(Shutdown::Write);
            self.shut_host = true;
        }
        // Host -> container.
        while self.readable && !self.host_eof && s.can_send() {
            let host = &mut self.host;
            let r = s.send(|buf| match host.read(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Ok(Ok(0)) => {
                    self.host_eof = true;
                    s.close();
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Ok(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Ok(Err(_)) | Err(_) => {
                    s.abort();
                    return true;
                }
            }
        }
        true
    }
}

/// The open flows, by epoll token and by (container, destination).
#[derive(Default)]
pub struct Flows {
    pub by_token: HashMap<u64, Flow>,
    pub by_key: HashMap<(SocketAddr, SocketAddr), u64>,
}

impl Flows {
    pub fn remove(&mut self, token: u64, sockets: &mut SocketSet<'static>) -> Option<Flow> {
        let flow = self.by_token.remove(&token)?;
        self.by_key.remove(&flow.key);
        if let Some(h) = flow.handle {
            sockets.remove(h);
        }
        Some(flow)
    }
}
