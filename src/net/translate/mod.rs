//! The translator: the container's frames on the tap become host sockets
//! (slirp-style), on one thread of the supervisor, in the host's network
//! namespace.
//!
//! smoltcp terminates the container's TCP (any_ip: it answers for every
//! address) and carries UDP; each flow gets a host socket when its first
//! SYN or datagram arrives (`classify` decides where it may go, `tcp`,
//! `udp` and `icmp` keep the flows; `dns` picks the host's resolver).
//! One epoll loop, edge-triggered, with
//! the tap and every host socket in it; smoltcp is driven by the clock
//! read once per turn.

mod classify;
mod device;
mod dns;
mod icmp;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::Context;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::socket::udp as sudp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, EthernetFrame, HardwareAddress, IpCidr};

pub use classify::Policy;
use classify::{classify, is_ours, Frame};
use device::Tap;

use crate::net::addr;
use crate::net::link::maker::Maker;

/// The gateway's MAC address (slirp4netns's).
const OUR_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);

/// Frames read from the tap per turn before the stack runs.
const BATCH: usize = 64;

const TAP: u64 = 0;
const KIND_TCP: u64 = 1 << 60;
const KIND_UDP: u64 = 2 << 60;
const KIND_PING: u64 = 3 << 60;
const KIND_MASK: u64 = 0xf << 60;

/// Start the translator on a thread of its own; it serves the tap for
/// as long as the process lives. `links`: the socket makers of the
/// container's `--link`s, in order (`Policy::links` of them).
pub fn start(tap: &std::fs::File, policy: Policy, links: Vec<Maker>) -> anyhow::Result<()> {
    let tap = tap.try_clone().context("duplicate the tap's fd")?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(
        nix::fcntl::fcntl(std::os::fd::AsRawFd::as_raw_fd(&tap), nix::fcntl::F_GETFL)
            .context("read the tap's flags")?,
    );
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&tap),
        nix::fcntl::F_SETFL(flags | nix::fcntl::OFlag::O_NONBLOCK),
    )
    .context("make the tap non-blocking")?;
    let mut engine = Engine::new(Tap::new(tap), policy, links)?;
    std::thread::Builder::new()
        .name("net".into())
        .spawn(move || engine.run())
        .context("start the network thread")?;
    Ok(())
}

struct Engine {
    iface: Interface,
    sockets: SocketSet<'static>,
    tap: Tap,
    tap_readable: bool,
    epoll: Epoll,
    policy: Policy,
    /// The `--link`s' socket makers, by link.
    links: Vec<Maker>,
    tcp: tcp::Flows,
    udp: udp::Flows,
    pings: icmp::Pings,
    resolvers: dns::Resolvers,
    /// The earliest time a DNS query waiting for its answer goes to the
    /// next resolver.
    dns_deadline: Option<std::time::Instant>,
    next_token: u64,
    /// Scratch for datagrams and echo replies (no allocation per packet).
    buf: Vec<u8>,
    frame: Vec<u8>,
    last_expiry: std::time::Instant,
}

impl Engine {
    fn new(mut tap: Tap, policy: Policy, links: Vec<Maker>) -> anyhow::Result<Engine> {
        let mut config = Config::new(HardwareAddress::Ethernet(OUR_MAC));
        config.random_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        let mut iface = Interface::new(config, &mut tap, Instant::now());
        iface.update_ip_addrs(|a| {
            for cidr in [
                IpCidr::new(addr::GATEWAY4.into(), addr::PREFIX4),
                IpCidr::new(addr::DNS4.into(), addr::PREFIX4),
                IpCidr::new(addr::GATEWAY6.into(), addr::PREFIX6),
                IpCidr::new(addr::DNS6.into(), addr::PREFIX6),
            ] {
                let _ = a.push(cidr);
            }
        });
        iface.set_any_ip(true);
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).context("epoll_create")?;
        epoll
            .add(
                tap.file().as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, TAP),
            )
            .context("watch the tap")?;
        Ok(Engine {
            iface,
            sockets: SocketSet::new(Vec::new()),
            tap,
            tap_readable: true,
            epoll,
            links,
            tcp: Default::default(),
            udp: Default::default(),
            pings: Default::default(),
            resolvers: dns::Resolvers::new(policy.resolvers.clone()),
            dns_deadline: None,
            policy,
            next_token: 1,
            buf: vec![0; 65536],
            frame: Vec::with_capacity(device::FRAME_MAX),
            last_expiry: std::time::Instant::now(),
        })
    }

    fn token(&mut self, kind: u64) -> u64 {
        self.next_token += 1;
        kind | self.next_token
    }

    fn watch(&self, fd: std::os::fd::BorrowedFd, token: u64) -> bool {
        watch(&self.epoll, fd, token)
    }

    /// Where a flow to `dst` goes: DNS to the host's resolver in use (and
    /// its index), the rest as the policy says. None: refused.
    fn target(&self, dst: SocketAddr) -> Option<(SocketAddr, Option<usize>)> {
        if classify::is_dns(dst) {
            return self.resolvers.current().map(|(i, a)| (a, Some(i)));
        }
        self.policy.target(dst).map(|t| (t, None))
    }

    fn run(&mut self) {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            let now = Instant::now();
            self.read_tap();
            self.iface.poll(now, &mut self.tap, &mut self.sockets);
            self.finish_connects();
            self.pump_tcp();
            self.udp_from_container();
            self.udp_from_host();
            self.dns_failover();
            self.pings_from_host();
            self.iface.poll(now, &mut self.tap, &mut self.sockets);
            self.expire();
            let timeout = if self.tap_readable {
                Duration::ZERO
            } else {
                let d = self
                    .iface
                    .poll_delay(Instant::now(), &self.sockets)
                    .map(Duration::from)
                    .unwrap_or(Duration::from_secs(1));
                let dns = self.dns_deadline.map_or(Duration::MAX, |d| {
                    d.saturating_duration_since(std::time::Instant::now())
                });
                d.min(dns).min(Duration::from_secs(1))
            };
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(1000);
            let n = match self.epoll.wait(&mut events, EpollTimeout::from(ms)) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(_) => return,
            };
            for ev in &events[..n] {
                self.ready(ev.data(), ev.events());
            }
        }
    }

    /// Note what an event says is possible now.
    fn ready(&mut self, token: u64, ev: EpollFlags) {
        let input = ev.intersects(
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLHUP
                | EpollFlags::EPOLLERR,
        );
        let output =
            ev.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR);
        match token & KIND_MASK {
            _ if token == TAP => self.tap_readable = true,
            KIND_TCP => {
                if let Some(f) = self.tcp.by_token.get_mut(&token) {
                    f.readable |= input;
                    f.writable |= output;
                }
            }
            KIND_UDP => {
                if let Some(f) = self.udp.by_token.get_mut(&token) {
                    f.readable |= input;
                }
            }
            KIND_PING => {
                if let Some(p) = self.pings.by_token.get_mut(&token) {
                    p.readable |= input;
                }
            }
            _ => {}
        }
    }

    /// Read a batch of frames and look at each before the stack does.
    fn read_tap(&mut self) {
        if !self.tap_readable {
            return;
        }
        for _ in 0..BATCH {
            let Some(frame) = self.tap.read() else {
                self.tap_readable = false;
                return;
            };
            match classify(&frame) {
                Frame::TcpSyn { src, dst } => self.tcp_syn(frame, src, dst),
                Frame::Udp { src, dst } => {
                    self.udp_first(src, dst);
                    self.tap.queue(frame);
                }
                Frame::EchoRequest {
                    src,
                    dst,
                    ident,
                    seq,
                } => self.echo(frame, src, dst, ident, seq),
                Frame::Other => self.tap.queue(frame),
            }
        }
    }

    /// A SYN: a retransmission goes to the stack; a new flow starts the
    /// host's connect and holds the SYN until it ends.
    fn tcp_syn(&mut self, frame: Vec<u8>, src: SocketAddr, dst: SocketAddr) {
        if let Some(token) = self.tcp.by_key.get(&(src, dst)) {
            let flow = self.tcp.by_token.get_mut(token).expect("indexed flow");
            match flow.syn.as_mut() {
                Some(held) => {
                    let old = std::mem::replace(held, frame);
                    self.tap.recycle(old);
                }
                None => self.tap.queue(frame),
            }
            return;
        }
        // Refused (no socket: the stack answers with a reset).
        let host = match self.connect_tcp(dst) {
            Some(Ok(h)) => h,
            _ => {
                self.tap.queue(frame);
                return;
            }
        };
        let token = self.token(KIND_TCP);
        if !self.watch(host.as_fd(), token) {
            self.tap.queue(frame);
            return;
        }
        self.tcp.by_key.insert((src, dst), token);
        self.tcp
            .by_token
            .insert(token, tcp::Flow::new(host, frame, (src, dst)));
    }

    /// The other end of a TCP flow to `dst`: a host socket, or for a
    /// link's address one made in the linked container's namespace. None:
    /// refused.
    fn connect_tcp(&self, dst: SocketAddr) -> Option<std::io::Result<std::net::TcpStream>> {
        if let Some((k, to)) = self.policy.link_target(dst) {
            let made = self.links.get(k)?.socket(false, false);
            return Some(made.and_then(|fd| tcp::connect_from(fd, to)));
        }
        self.target(dst).map(|(t, _)| tcp::connect(t))
    }

    /// The same for a UDP flow.
    /// With the resolver it goes to, for a DNS query (failover).
    fn open_udp(
        &self,
        dst: SocketAddr,
    ) -> Option<(std::io::Result<std::net::UdpSocket>, Option<usize>)> {
        if let Some((k, to)) = self.policy.link_target(dst) {
            let made = self.links.get(k)?.socket(false, true);
            return Some((made.and_then(|fd| udp::open_from(fd, to)), None));
        }
        self.target(dst).map(|(t, r)| (udp::open(t), r))
    }

    /// Connects that ended: accept the held SYN in a socket of its own, or
    /// let the stack reset it. One SYN per stack turn, so that each
    /// listening socket takes its own SYN.
    fn finish_connects(&mut self) {
        let done: Vec<u64> = self
            .tcp
            .by_token
            .iter()
            .filter(|(_, f)| f.syn.is_some() && (f.writable || f.readable))
            .map(|(t, _)| *t)
            .collect();
        for token in done {
            let flow = self.tcp.by_token.get_mut(&token).expect("listed flow");
            let syn = flow.syn.take().expect("held syn");
            let ok = flow.connect_result().is_ok();
            if ok {
                flow.accept_in(&mut self.sockets);
            } else {
                self.tcp.remove(token, &mut self.sockets);
            }
            self.tap.queue(syn);
            self.iface
                .poll(Instant::now(), &mut self.tap, &mut self.sockets);
        }
    }

    fn pump_tcp(&mut self) {
        let mut over = Vec::new();
        for (token, flow) in self.tcp.by_token.iter_mut() {
            if flow.syn.is_some() {
                continue;
            }
            if !flow.pump(&mut self.sockets) {
                over.push(*token);
            }
        }
        for token in over {
            self.tcp.remove(token, &mut self.sockets);
        }
    }

    /// A datagram: make its port's socket and its flow if new.
    fn udp_first(&mut self, src: SocketAddr, dst: SocketAddr) {
        self.udp.port_socket(dst.port(), &mut self.sockets);
        if let Some(t) = self.udp.by_key.get(&(src, dst)) {
            if let Some(f) = self.udp.by_token.get_mut(t) {
                f.last = std::time::Instant::now();
            }
            return;
        }
        let Some((Ok(host), resolver)) = self.open_udp(dst) else {
            return;
        };
        let token = self.token(KIND_UDP);
        if !self.watch(host.as_fd(), token) {
            return;
        }
        self.udp.by_key.insert((src, dst), token);
        self.udp.by_token.insert(
            token,
            udp::Flow {
                host,
                key: (src, dst),
                last: std::time::Instant::now(),
                readable: false,
                dns: resolver.map(dns::Query::new),
            },
        );
    }

    /// Datagrams the stack received: out through their flows' sockets.
    fn udp_from_container(&mut self) {
        for (port, (handle, _)) in self.udp.ports.iter() {
            let s = self.sockets.get_mut::<sudp::Socket>(*handle);
            while let Ok((data, meta)) = s.recv() {
                let Some(local) = meta.local_address else {
                    continue;
                };
                let src = SocketAddr::from(meta.endpoint);
                let dst = SocketAddr::new(IpAddr::from(local), *port);
                if let Some(f) = self
                    .udp
                    .by_key
                    .get(&(src, dst))
                    .and_then(|t| self.udp.by_token.get_mut(t))
                {
                    let _ = f.host.send(data);
                    if let Some(q) = f.dns.as_mut() {
                        q.sent(data, std::time::Instant::now());
                    }
                }
            }
        }
    }

    /// Datagrams from the host: back to the container, from the address
    /// it sent to.
    fn udp_from_host(&mut self) {
        for f in self.udp.by_token.values_mut() {
            if !f.readable {
                continue;
            }
            let (src, dst) = f.key;
            let Some((handle, _)) = self.udp.ports.get(&dst.port()) else {
                continue;
            };
            let s = self.sockets.get_mut::<sudp::Socket>(*handle);
            loop {
                match f.host.recv(&mut self.buf) {
                    Ok(n) => {
                        f.last = std::time::Instant::now();
                        if let Some(q) = f.dns.as_mut() {
                            q.waiting = None;
                            self.resolvers.answered(q.resolver);
                        }
                        let meta = sudp::UdpMetadata {
                            endpoint: src.into(),
                            local_address: Some(dst.ip().into()),
                            meta: Default::default(),
                        };
                        // A full queue drops the datagram, as UDP may.
                        let _ = s.send_slice(&self.buf[..n], meta);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        f.readable = false;
                        break;
                    }
                    // An ICMP error from the host's network (refused): the
                    // datagram is lost, the flow stays; a resolver that
                    // refuses is passed over at once.
                    Err(e) => {
                        if let Some(q) = f.dns.as_mut() {
                            q.refused |= e.kind() == std::io::ErrorKind::ConnectionRefused;
                        }
                    }
                }
            }
        }
    }

    /// DNS queries that waited too long for their resolver (or that it
    /// refused) go to the next one; note when the next one is due.
    fn dns_failover(&mut self) {
        let now = std::time::Instant::now();
        let mut next: Option<std::time::Instant> = None;
        let mut due = Vec::new();
        for (token, f) in &self.udp.by_token {
            match f.dns.as_ref().and_then(|q| q.deadline()) {
                Some(d) if d <= now => due.push(*token),
                Some(d) => next = Some(next.map_or(d, |n| n.min(d))),
                None => {}
            }
        }
        for token in due {
            self.fail_over(token, now);
            let d = self
                .udp
                .by_token
                .get(&token)
                .and_then(|f| f.dns.as_ref()?.deadline());
            if let Some(d) = d {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        self.dns_deadline = next;
    }

    /// Send flow `token`'s waiting query to the next resolver, from a new
    /// socket connected to it (the old one closes, leaving the epoll set).
    fn fail_over(&mut self, token: u64, now: std::time::Instant) {
        let Some(f) = self.udp.by_token.get_mut(&token) else {
            return;
        };
        let Some(q) = f.dns.as_mut() else {
            return;
        };
        let Some((query, _)) = q.waiting.take() else {
            return;
        };
        // Every resolver had its chance: the container asks again itself.
        if q.tried >= self.resolvers.len() {
            return;
        }
        let Some((i, addr)) = self.resolvers.failed(q.resolver) else {
            return;
        };
        tracing::debug!("DNS: no answer from resolver {}, asking {addr}", q.resolver);
        let Ok(host) = udp::open(addr) else {
            return;
        };
        if !watch(&self.epoll, host.as_fd(), token) {
            return;
        }
        let _ = host.send(&query);
        f.host = host;
        f.readable = false;
        q.resolver = i;
        q.tried += 1;
        q.refused = false;
        q.waiting = Some((query, now));
    }

    /// An echo request: through a host ping socket, or answered by the
    /// stack for our own addresses (when the host allows no ping sockets,
    /// or the gateway is not the host's).
    fn echo(&mut self, frame: Vec<u8>, src: IpAddr, dst: IpAddr, ident: u16, seq: u16) {
        let target = self.policy.target(SocketAddr::new(dst, 0)).map(|t| t.ip());
        let key = (src, dst, ident);
        let token = match (self.pings.by_key.get(&key), target) {
            (Some(t), _) => Some(*t),
            (None, Some(target)) if !self.pings.refused => match icmp::open(target) {
                Ok(sock) => {
                    let token = self.token(KIND_PING);
                    if self.watch(sock.as_fd(), token) {
                        let mac = EthernetFrame::new_checked(&frame[..])
                            .map(|f| f.src_addr())
                            .unwrap_or(EthernetAddress([0; 6]));
                        self.pings.by_key.insert(key, token);
                        self.pings.by_token.insert(
                            token,
                            icmp::Ping {
                                sock,
                                key,
                                container_mac: mac,
                                last: std::time::Instant::now(),
                                readable: false,
                            },
                        );
                        Some(token)
                    } else {
                        None
                    }
                }
                Err(e) => {
                    if matches!(e, nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) {
                        self.pings.refused = true;
                        tracing::debug!("no ping sockets here (net.ipv4.ping_group_range)");
                    }
                    None
                }
            },
            _ => None,
        };
        match token.and_then(|t| self.pings.by_token.get_mut(&t)) {
            Some(p) => {
                p.last = std::time::Instant::now();
                // The request's data: after the ICMP header in the IP payload.
                let data = echo_data(&frame);
                icmp::send_echo(&p.sock, dst.is_ipv6(), seq, data, &mut self.frame);
                self.tap.recycle(frame);
            }
            // A link's address answers too (the stack, any_ip).
            None if is_ours(dst) || self.policy.link_target(SocketAddr::new(dst, 0)).is_some() => {
                self.tap.queue(frame)
            }
            None => self.tap.recycle(frame),
        }
    }

    fn pings_from_host(&mut self) {
        for p in self.pings.by_token.values_mut() {
            if !p.readable {
                continue;
            }
            p.readable = false;
            while let Some((seq, from, to)) = icmp::recv_echo(&p.sock, &mut self.buf) {
                p.last = std::time::Instant::now();
                if icmp::reply_frame(&mut self.frame, OUR_MAC, p, seq, &self.buf[from..to]) {
                    self.tap.send(&self.frame);
                }
            }
        }
    }

    fn expire(&mut self) {
        if self.last_expiry.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_expiry = std::time::Instant::now();
        self.udp.expire(&mut self.sockets);
        self.pings.expire();
    }
}

/// Add `fd` to the epoll set, edge-triggered, under `token`.
fn watch(epoll: &Epoll, fd: std::os::fd::BorrowedFd, token: u64) -> bool {
    let flags =
        EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET;
    epoll.add(fd, EpollEvent::new(flags, token)).is_ok()
}

/// The data of an echo request frame (after Ethernet, IP and ICMP headers).
fn echo_data(frame: &[u8]) -> &[u8] {
    let ip = &frame[14.min(frame.len())..];
    let len = |at: usize| {
        ip.get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    // (IP header length, IP packet length): frames may carry padding.
    let (header, total) = match ip.first().map(|b| b >> 4) {
        Some(4) => (usize::from(ip[0] & 0xf) * 4, len(2).unwrap_or(0)),
        Some(6) => (40, 40 + len(4).unwrap_or(0)),
        _ => return &[],
    };
    ip.get(header + 8..total.min(ip.len())).unwrap_or(&[])
}
