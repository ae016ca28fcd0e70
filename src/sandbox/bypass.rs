//! The forwarder off the data path: when a process of the container binds
//! a TCP socket to a published port (`-p HOST:CTR`, on 0.0.0.0, :: or the
//! container's own address), the supervisor, which holds the host's
//! listening socket and lives in the host's network namespace, puts that
//! socket in place of the process's (seccomp user notification on bind,
//! SECCOMP_IOCTL_NOTIF_ADDFD with SETFD) and answers the bind with 0. The
//! server's listen() on a listening socket just sets its backlog; its
//! accept() gets the host's clients directly, with their own addresses:
//! no relay, no second TCP hop (bypass4netns' idea).
//!
//! Anything else is bound by the kernel as asked (UDP, unix, netlink,
//! loopback binds, ports not published or published on more than one host
//! port, a family the host socket cannot stand for): relayed as before.
//! The same port bound again later (a server that closes and binds again,
//! a second worker) is given the same host socket again.
//!
//! So that the container still reaches its own server (127.0.0.1:CTR,
//! health checks, `exec curl`), a small listener of ours in the
//! container's namespace, bound to what the server asked for, relays to
//! the host socket (`shadow`). The forwarding thread of a handed port
//! stops accepting (`is_handed`).
//!
//! A socket of the host's namespace in the container must not become a
//! way out of it: a connected socket can be disconnected (connect with
//! AF_UNSPEC) and connected again, to the host's loopback say, which the
//! container cannot reach otherwise. So connect() goes to the supervisor
//! too, which never lets the kernel run it: it fetches the caller's
//! socket, refuses (EPERM) one that lives in the host's namespace
//! (SO_NETNS_COOKIE, Linux 5.14), and makes any other connect itself, on
//! that very socket, as the caller would have (`connector`; a check
//! followed by CONTINUE would let the kernel read the fd number again,
//! and another thread swap a host socket onto it in between). A
//! listening socket cannot be connected at all, even shut down first
//! (a test pins that), and a host socket cannot be bound again (it keeps
//! its port), so bind may still run in the kernel. A process that `exec`
//! (or a health check) starts joins from outside, not under the init's
//! filter: it gets a filter of its own whose connect() is answered the
//! same way (`exec_guard`, served by `sandbox::enter`), as the
//! container's processes may pass it such a socket (SCM_RIGHTS). The
//! record keeps the host namespace's cookie for it (`guarded_netns`).
//! The other roads to a connect are closed in the same filter
//! (`ids::filter`): connect of the 32-bit ABI and its socketcall are
//! answered alike, sends with MSG_FASTOPEN refused (EOPNOTSUPP), io_uring
//! refused (EPERM) whatever the profile allows, x32 calls refused
//! (ENOSYS).
//!
//! What a handed socket does not carry over: of the options the server
//! set on its own socket before bind, only those its connections inherit
//! are copied to the host's (TCP_NODELAY, keepalive: `carry_options`);
//! and getsockname on it shows the host's address and port, not the
//! container's (a server that prints its port prints the host's).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, AddressFamily, SockType, SockaddrStorage};

use super::connector::{self, read_mem};
use super::ids::filter::SockCall;
use super::ids::server::tgid;
use super::ids::Reply;
use crate::net::addr::{CONTAINER4, CONTAINER6};
use crate::net::publish::{handed, Binding, Listeners, Netns, Proto};
use crate::sys;

/// SECCOMP_ADDFD_FLAG_SETFD came in Linux 5.9, SO_NETNS_COOKIE in 5.14.
const MIN_KERNEL: (u32, u32) = (5, 14);

/// Whether binds of this container's ports should go to the supervisor:
/// not turned off (`BURROW_PUBLISH_BYPASS=0`), it publishes TCP ports and
/// the kernel can hand a socket over. On by default since connect() is
/// made by the supervisor, never let run by the kernel (`connector`).
pub fn wanted(ports: &Listeners) -> bool {
    if std::env::var_os("BURROW_PUBLISH_BYPASS").is_some_and(|v| v == "0") {
        return false;
    }
    let release = sys::kernel_release();
    let new_enough =
        super::confine::seccomp::profile::parse_kernel(&release).is_some_and(|v| v >= MIN_KERNEL);
    new_enough && ports.bindings().iter().any(|b| b.proto == Proto::Tcp)
}

/// For a container about to start: the cookie of the host's network
/// namespace (ours) when its supervisor may hand it sockets of it (the
/// supervisor's and init's test: a bridged network and `wanted`).
pub fn guarded_netns(network: &super::Network, ports: &Listeners) -> Option<u64> {
    let bridged = *network == super::Network::Bridge;
    bridged.then(|| wanted(ports)).filter(|w| *w)?;
    host_netns_cookie().ok()
}

/// The cookie (SO_NETNS_COOKIE) of our network namespace.
pub fn host_netns_cookie() -> io::Result<u64> {
    let probe: OwnedFd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    Ok(sys::netns_cookie(&probe)?)
}

/// What answers the socket calls of a process `exec` starts in a
/// container whose host sockets live in namespace `host_cookie`: connect
/// is made as the supervisor makes it; bind runs as asked (no socket is
/// handed outside the supervisor).
pub fn exec_guard(host_cookie: u64) -> super::ids::OnSocket {
    Arc::new(move |l, n, call| match call {
        SockCall::Bind => Reply::Now(Ok(None)),
        SockCall::Connect => connector::answer(l, n, host_cookie, false),
        SockCall::SocketcallConnect => connector::answer(l, n, host_cookie, true),
    })
}

/// The supervisor's answerer of binds, shared by the runs of a container.
#[derive(Clone)]
pub struct Bypass {
    listeners: Listeners,
    netns: Netns,
    /// Container ports whose shadow listener is made.
    shadowed: Arc<Mutex<Vec<u16>>>,
    /// The host namespace's cookie (SO_NETNS_COOKIE).
    host_cookie: u64,
}

impl Bypass {
    /// `netns`: the container's network namespace (kept across restarts).
    /// Called in the host's network namespace.
    pub fn new(listeners: Listeners, netns: OwnedFd) -> io::Result<Bypass> {
        let ns = Netns::default();
        ns.set(netns, false);
        Ok(Bypass {
            listeners,
            netns: ns,
            shadowed: Arc::default(),
            host_cookie: host_netns_cookie()?,
        })
    }

    /// Answer one notified socket call (see `sandbox::ids::OnSocket`).
    pub fn answer(
        &self,
        listener: &Arc<OwnedFd>,
        n: &libc::seccomp_notif,
        call: SockCall,
    ) -> Reply {
        match call {
            SockCall::Bind => Reply::Now(self.bind(listener, n)),
            // Made here even before a socket was handed: one may be
            // handed while this connect is on its way.
            SockCall::Connect => connector::answer(listener, n, self.host_cookie, false),
            SockCall::SocketcallConnect => connector::answer(listener, n, self.host_cookie, true),
        }
    }

    /// Answer one notified bind: Ok(Some(0)) once the host socket is in
    /// place, Ok(None) to let the kernel bind. Nothing is changed in the
    /// caller before every check passed.
    fn bind(&self, listener: &OwnedFd, n: &libc::seccomp_notif) -> Result<Option<i64>, Errno> {
        match self.try_hand(listener, n) {
            Ok(done) => Ok(done.then_some(0)),
            Err(e) => {
                tracing::debug!("bind bypass: {e}");
                Ok(None)
            }
        }
    }

    fn try_hand(&self, listener: &OwnedFd, n: &libc::seccomp_notif) -> io::Result<bool> {
        let tid = n.pid as i32;
        let (fd, addr, len) = (n.data.args[0], n.data.args[1], n.data.args[2]);
        let Ok(fd) = i32::try_from(fd) else {
            return Ok(false);
        };
        // The address first (a copy: the caller's memory may change).
        let bytes = read_mem(tid, addr, (len as usize).min(128))?;
        if !sys::seccomp_notif_id_valid(listener, n.id) {
            return Ok(false);
        }
        let Some(wanted) = parse_sockaddr(&bytes) else {
            return Ok(false);
        };
        // The socket itself, not what the call says it is.
        let pid = tgid(tid).unwrap_or(tid);
        let theirs = sys::pidfd_getfd(pid, fd)?;
        let facts = Facts::of(&theirs)?;
        let bindings = self.listeners.bindings();
        let Some(i) = choose(&bindings, &facts, wanted) else {
            return Ok(false);
        };
        let host = self.host_socket(i)?;
        if !fits(&facts, &host)? {
            return Ok(false);
        }
        // Reachable from inside as it would have been, or the kernel says
        // why not (a port in use inside).
        if !self.shadow(bindings[i], wanted, &facts)? {
            return Ok(false);
        }
        // The server's blocking mode is the socket's: a server with an
        // event loop must not block in accept.
        let flags = nix::fcntl::fcntl(theirs.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
        let nonblock = nix::fcntl::OFlag::from_bits_truncate(flags) & nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(host.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nonblock))?;
        carry_options(&theirs, &host);
        let cloexec = fd_cloexec(pid, fd);
        if !sys::seccomp_notif_id_valid(listener, n.id) {
            return Ok(false);
        }
        sys::seccomp_notif_addfd_setfd(listener, n.id, &host, fd, cloexec)?;
        handed::mark(&host);
        Ok(true)
    }

    /// A new fd of binding `i`'s host socket.
    fn host_socket(&self, i: usize) -> io::Result<OwnedFd> {
        let mut all = self.listeners.sockets()?;
        if i >= all.len() {
            return Err(io::Error::other("the host socket is closed"));
        }
        Ok(all.swap_remove(i).1)
    }

    /// Make, once per container port, the listener in the container's
    /// namespace that relays to the host socket; false when its address
    /// is taken in there.
    fn shadow(&self, b: Binding, wanted: SocketAddr, facts: &Facts) -> io::Result<bool> {
        let mut shadowed = self.shadowed.lock().unwrap_or_else(|e| e.into_inner());
        if shadowed.contains(&b.container_port) {
            return Ok(true);
        }
        let family = match wanted {
            SocketAddr::V4(_) => AddressFamily::Inet,
            SocketAddr::V6(_) => AddressFamily::Inet6,
        };
        let fd = self.netns.socket(family, SockType::Stream)?;
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        if wanted.is_ipv6() {
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &facts.v6only)?;
        }
        match socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(wanted)) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        socket::listen(
            &fd,
            socket::Backlog::new(128).unwrap_or(socket::Backlog::MAXCONN),
        )?;
        let to = host_target(b);
        let kept = fd.try_clone()?;
        std::thread::Builder::new()
            .name(format!("shadow-{}", b.container_port))
            .stack_size(128 << 10)
            .spawn(move || serve_shadow(TcpListener::from(fd), to))?;
        handed::add_shadow(kept);
        shadowed.push(b.container_port);
        Ok(true)
    }
}

/// Where a shadow connects: the host socket's address (loopback for an
/// unspecified one).
fn host_target(b: Binding) -> SocketAddr {
    let ip = match b.host_ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, b.host_port)
}

/// Accept in the container's namespace, connect to the host socket from
/// the host's, relay. Ends when `release` shuts the listener.
fn serve_shadow(l: TcpListener, to: SocketAddr) {
    loop {
        let client = match l.accept() {
            Ok((c, _)) => c,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return,
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let _ = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                if let Ok(host) = TcpStream::connect(to) {
                    let _ = crate::net::publish::relay(client, host);
                }
            });
    }
}

/// What the caller's socket is, read from the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Facts {
    /// AF_INET6 (else AF_INET).
    v6: bool,
    /// SOCK_STREAM with IPPROTO_TCP, not bound yet.
    tcp_unbound: bool,
    /// IPV6_V6ONLY (an IPv6 socket).
    v6only: bool,
}

impl Facts {
    fn of(fd: &OwnedFd) -> io::Result<Facts> {
        let domain = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
        let ty = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
        let proto = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
        let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
        let v6 = domain == libc::AF_INET6;
        let tcp = inet && ty == libc::SOCK_STREAM && proto == libc::IPPROTO_TCP;
        // Bound already: the kernel's bind says EINVAL, as it should.
        let unbound = tcp
            && socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
                .ok()
                .and_then(|a| port_of(&a))
                == Some(0);
        let v6only = v6 && socket::getsockopt(fd, sockopt::Ipv6V6Only).unwrap_or(false);
        Ok(Facts {
            v6,
            tcp_unbound: tcp && unbound,
            v6only,
        })
    }
}

fn port_of(a: &SockaddrStorage) -> Option<u16> {
    a.as_sockaddr_in()
        .map(|s| s.port())
        .or_else(|| a.as_sockaddr_in6().map(|s| s.port()))
}

/// The binding whose host socket may stand for a bind of `wanted` by a
/// socket of `facts`: a TCP socket, bound to the published container port
/// on an address that any client of the published port could reach
/// (unspecified or the container's own), the port published on exactly
/// one host socket.
fn choose(bindings: &[Binding], facts: &Facts, wanted: SocketAddr) -> Option<usize> {
    if !facts.tcp_unbound || wanted.is_ipv6() != facts.v6 {
        return None;
    }
    let reachable = match wanted.ip() {
        IpAddr::V4(ip) => ip.is_unspecified() || ip == CONTAINER4,
        IpAddr::V6(ip) => ip.is_unspecified() || ip == CONTAINER6,
    };
    if !reachable || wanted.port() == 0 {
        return None;
    }
    let mut found = bindings
        .iter()
        .enumerate()
        .filter(|(_, b)| b.proto == Proto::Tcp && b.container_port == wanted.port());
    let (i, _) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(i)
}

/// Whether the host socket's family can stand for the caller's: the same
/// family, or an IPv4 host socket for a dual-stack IPv6 one (it asked
/// for IPv4 clients too; accept gives it sockaddr_in, which any program
/// that reads the family copes with). Not the other way round: an IPv4
/// program's buffers are too small for an IPv6 peer.
fn fits(facts: &Facts, host: &OwnedFd) -> io::Result<bool> {
    let host_v6 = sys::getsockopt_int(host, libc::SOL_SOCKET, libc::SO_DOMAIN)? == libc::AF_INET6;
    Ok(family_fits(facts, host_v6))
}

fn family_fits(facts: &Facts, host_v6: bool) -> bool {
    match (facts.v6, host_v6) {
        (false, false) | (true, true) => true,
        (true, false) => !facts.v6only,
        (false, true) => false,
    }
}

/// A sockaddr_in or sockaddr_in6 as the caller passed it.
fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    if b.len() < 2 {
        return None;
    }
    let family = i32::from(u16::from_ne_bytes([b[0], b[1]]));
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    if family == libc::AF_INET && b.len() >= 16 {
        let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
        return Some(SocketAddr::new(IpAddr::V4(ip), port(b)));
    }
    if family == libc::AF_INET6 && b.len() >= 28 {
        let ip: [u8; 16] = b[8..24].try_into().ok()?;
        return Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port(b)));
    }
    None
}

/// The options of the caller's socket that its connections would have
/// inherited (TCP_NODELAY, keepalive), set on the host socket: its
/// accepted connections inherit them instead. The others a server sets
/// before bind (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY) mean nothing to
/// a socket bound already; buffer sizes stay the host's. Best effort:
/// the host socket keeps what it had where one cannot be read or set.
fn carry_options(theirs: &OwnedFd, host: &OwnedFd) {
    if let Ok(v) = socket::getsockopt(theirs, sockopt::TcpNoDelay) {
        let _ = socket::setsockopt(host, sockopt::TcpNoDelay, &v);
    }
    if let Ok(v) = socket::getsockopt(theirs, sockopt::KeepAlive) {
        let _ = socket::setsockopt(host, sockopt::KeepAlive, &v);
    }
    if let Ok(v) = socket::getsockopt(theirs, sockopt::TcpKeepIdle) {
        let _ = socket::setsockopt(host, sockopt::TcpKeepIdle, &v);
    }
    if let Ok(v) = socket::getsockopt(theirs, sockopt::TcpKeepInterval) {
        let _ = socket::setsockopt(host, sockopt::TcpKeepInterval, &v);
    }
    if let Ok(v) = socket::getsockopt(theirs, sockopt::TcpKeepCount) {
        let _ = socket::setsockopt(host, sockopt::TcpKeepCount, &v);
    }
}

/// Whether fd `fd` of process `pid` is close-on-exec (its fdinfo flags,
/// octal); a server that passes its listener on across exec keeps it.
fn fd_cloexec(pid: i32, fd: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_none_or(|f| f & libc::O_CLOEXEC as u32 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(host: &str, ctr: u16, proto: Proto) -> Binding {
        let host: SocketAddr = host.parse().unwrap();
        Binding {
            host_ip: host.ip(),
            host_port: host.port(),
            container_port: ctr,
            proto,
        }
    }

    const TCP4: Facts = Facts {
        v6: false,
        tcp_unbound: true,
        v6only: false,
    };
    const TCP6: Facts = Facts {
        v6: true,
        tcp_unbound: true,
        v6only: false,
    };

    #[test]
    fn only_a_reachable_bind_of_a_port_published_once_is_handed() {
        let b = vec![
            binding("0.0.0.0:8080", 80, Proto::Tcp),
            binding("0.0.0.0:5353", 53, Proto::Udp),
            binding("0.0.0.0:9000", 90, Proto::Tcp),
            binding("0.0.0.0:9001", 90, Proto::Tcp),
        ];
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(choose(&b, &TCP4, at("0.0.0.0:80")), Some(0));
        assert_eq!(choose(&b, &TCP4, at("10.0.2.100:80")), Some(0));
        assert_eq!(choose(&b, &TCP6, at("[::]:80")), Some(0));
        assert_eq!(choose(&b, &TCP6, at("[fd00::100]:80")), Some(0));
        // Loopback inside: no client of the published port could reach it.
        assert_eq!(choose(&b, &TCP4, at("127.0.0.1:80")), None);
        assert_eq!(choose(&b, &TCP6, at("[::1]:80")), None);
        // Not published, UDP only, published twice.
        assert_eq!(choose(&b, &TCP4, at("0.0.0.0:81")), None);
        assert_eq!(choose(&b, &TCP4, at("0.0.0.0:53")), None);
        assert_eq!(choose(&b, &TCP4, at("0.0.0.0:90")), None);
        // Not a TCP socket, or one bound already; an address of another
        // family than the socket's.
        let udp = Facts {
            tcp_unbound: false,
            ..TCP4
        };
        assert_eq!(choose(&b, &udp, at("0.0.0.0:80")), None);
        assert_eq!(choose(&b, &TCP4, at("[::]:80")), None);
    }

    #[test]
    fn an_ipv4_host_socket_stands_only_for_a_dual_stack_ipv6_one() {
        assert!(family_fits(&TCP4, false));
        assert!(family_fits(&TCP6, true));
        assert!(family_fits(&TCP6, false));
        let only6 = Facts {
            v6only: true,
            ..TCP6
        };
        assert!(!family_fits(&only6, false));
        assert!(!family_fits(&TCP4, true));
    }

    #[test]
    fn sockaddrs_parse_as_the_kernel_lays_them_out() {
        let mut b4 = vec![0u8; 16];
        b4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b4[2..4].copy_from_slice(&8080u16.to_be_bytes());
        b4[4..8].copy_from_slice(&[10, 0, 2, 100]);
        assert_eq!(
            parse_sockaddr(&b4),
            Some("10.0.2.100:8080".parse().unwrap())
        );
        let mut b6 = vec![0u8; 28];
        b6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b6[2..4].copy_from_slice(&443u16.to_be_bytes());
        b6[8..24].copy_from_slice(&"fd00::100".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(
            parse_sockaddr(&b6),
            Some("[fd00::100]:443".parse().unwrap())
        );
        // Too short, or another family (AF_UNIX).
        assert_eq!(parse_sockaddr(&b4[..8]), None);
        let mut unix = vec![0u8; 16];
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(parse_sockaddr(&unix), None);
    }

    /// What makes a handed listener safe to give: it cannot be turned
    /// into a client of the host's network, even shut down first
    /// (connected ones can: `connect` refuses those).
    #[test]
    fn a_listening_socket_cannot_be_connected() {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = SockaddrStorage::from(target.local_addr().unwrap());
        for how in [
            None,
            Some(socket::Shutdown::Read),
            Some(socket::Shutdown::Both),
        ] {
            let l = TcpListener::bind("0.0.0.0:0").unwrap();
            if let Some(how) = how {
                socket::shutdown(l.as_raw_fd(), how).unwrap();
            }
            let r = socket::connect(l.as_raw_fd(), &to);
            assert!(r.is_err(), "a listener shut {how:?} connected");
        }
    }

    /// A 32-bit connect (int 0x80: connect, and socketcall's connect)
    /// of a socket of the host's namespace is refused as a native one:
    /// the filter used to leave the compat ABI's socket calls alone.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_32_bit_connect_of_a_host_socket_is_refused_too() {
        use crate::sys::{int80, ChildFailure};
        const CONNECT: u32 = 362;
        const SOCKETCALL: u32 = 102;
        if !crate::testkit::runs_i386() {
            return;
        }
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        target.set_nonblocking(true).unwrap();
        let port = target.local_addr().unwrap().port();
        // This process's namespace stands for the host's.
        let cookie = host_netns_cookie().unwrap();
        let calls = super::super::ids::filter::Calls::SOCKETS;
        let guard = Some(exec_guard(cookie));
        let r = crate::sandbox::ids::in_served_child(calls, guard, move || {
            let fail = |what: &str, r: i32| Err(ChildFailure::new(what, Errno::from_raw(-r)));
            // sockaddr_in at 0, socketcall's three arguments at 16.
            let page = sys::low_page();
            let base = page.as_ptr() as u32;
            page[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            page[2..4].copy_from_slice(&port.to_be_bytes());
            page[4..8].copy_from_slice(&[127, 0, 0, 1]);
            for socketcall in [false, true] {
                let s = socket::socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    socket::SockFlag::empty(),
                    None,
                )
                .map_err(|e| ChildFailure::new("socket", e))?;
                let fd = s.as_raw_fd() as u32;
                let r = match socketcall {
                    false => int80(CONNECT, fd, base, 16),
                    true => {
                        for (i, v) in [fd, base, 16].iter().enumerate() {
                            page[16 + 4 * i..20 + 4 * i].copy_from_slice(&v.to_ne_bytes());
                        }
                        int80(
                            SOCKETCALL,
                            super::super::ids::filter::SYS_CONNECT,
                            base + 16,
                            0,
                        )
                    }
                };
                if r != -libc::EPERM {
                    return fail(
                        &format!("32-bit connect (socketcall: {socketcall}): {r}"),
                        r,
                    );
                }
            }
            Ok(())
        });
        r.unwrap();
        assert!(target.accept().is_err(), "the listener was reached");
    }

    #[test]
    fn a_shadow_connects_to_loopback_for_an_unspecified_host_address() {
        let t = host_target(binding("0.0.0.0:8080", 80, Proto::Tcp));
        assert_eq!(t, "127.0.0.1:8080".parse().unwrap());
        let t = host_target(binding("[::]:8080", 80, Proto::Tcp));
        assert_eq!(t, "[::1]:8080".parse().unwrap());
        let t = host_target(binding("127.0.0.2:8080", 80, Proto::Tcp));
        assert_eq!(t, "127.0.0.2:8080".parse().unwrap());
    }
}
