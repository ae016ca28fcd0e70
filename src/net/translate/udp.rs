//! UDP: each (container address, destination) pair becomes a connected
//! host socket; replies go back with the destination as their source.
//! smoltcp receives the datagrams on one socket per destination port
//! (any_ip), which tells each datagram's source and destination.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::storage::PacketMetadata;
use smoltcp::wire::IpListenEndpoint;

/// A flow with no datagram either way for this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);
/// DNS flows (a new source port per query) go sooner: a burst of queries
/// must not pile up host sockets.
pub const IDLE_DNS: Duration = Duration::from_secs(10);

const PACKETS: usize = 256;
const BYTES: usize = 1 << 20;

pub struct Flow {
    pub host: UdpSocket,
    pub key: (SocketAddr, SocketAddr),
    pub last: Instant,
    pub readable: bool,
    /// A query to the container's DNS address: which host resolver.
    pub dns: Option<super::dns::Query>,
}

/// A host socket connected to `target`.
pub fn open(target: SocketAddr) -> std::io::Result<UdpSocket> {
    let any = match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0))?;
    s.connect(target)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// `fd` (a datagram socket made in a linked container's namespace)
/// connected to `target` there.
pub fn open_from(fd: std::os::fd::OwnedFd, target: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::from(fd);
    s.connect(target)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

#[derive(Default)]
pub struct Flows {
    pub by_token: HashMap<u64, Flow>,
    pub by_key: HashMap<(SocketAddr, SocketAddr), u64>,
    /// The smoltcp socket of each destination port, and its last use.
    pub ports: HashMap<u16, (SocketHandle, Instant)>,
}

impl Flows {
    /// The smoltcp socket that receives datagrams to `port`, made on the
    /// first one.
    pub fn port_socket(&mut self, port: u16, sockets: &mut SocketSet<'static>) -> SocketHandle {
        let now = Instant::now();
        let entry = self.ports.entry(port).or_insert_with(|| {
            let buf =
                || udp::PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0u8; BYTES]);
            let mut s = udp::Socket::new(buf(), buf());
            let _ = s.bind(IpListenEndpoint { addr: None, port });
            (sockets.add(s), now)
        });
        entry.1 = now;
        entry.0
    }

    /// Close flows idle for `IDLE`, and port sockets no flow uses.
    pub fn expire(&mut self, sockets: &mut SocketSet<'static>) {
        let now = Instant::now();
        let old: Vec<u64> = self
            .by_token
            .iter()
            .filter(|(_, f)| {
                let idle = if f.key.1.port() == 53 { IDLE_DNS } else { IDLE };
                now.duration_since(f.last) > idle
            })
            .map(|(t, _)| *t)
            .collect();
        for t in old {
            if let Some(f) = self.by_token.remove(&t) {
                self.by_key.remove(&f.key);
            }
        }
        let used: Vec<u16> = self.by_key.keys().map(|(_, dst)| dst.port()).collect();
        self.ports.retain(|port, (h, last)| {
            let keep = used.contains(port) || now.duration_since(*last) < IDLE;
            if !keep {
                sockets.remove(*h);
            }
            keep
        });
    }
}
