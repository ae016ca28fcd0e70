//! ICMP echo (`ping`) through the host's ping sockets (SOCK_DGRAM,
//! IPPROTO_ICMP), which the kernel allows to groups in
//! net.ipv4.ping_group_range; no raw sockets, no privilege. The kernel
//! picks the echo identifier of a ping socket: replies get the
//! container's back before they are written to the tap.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

/// A ping socket with no echo either way for this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);

pub struct Ping {
    pub sock: OwnedFd,
    /// (container address, destination as the container sees it, its ident)
    pub key: (IpAddr, IpAddr, u16),
    pub container_mac: EthernetAddress,
    pub last: Instant,
    pub readable: bool,
}

/// A ping socket connected to `target`; Err when the host does not
/// allow ping sockets to us (net.ipv4.ping_group_range).
pub fn open(target: IpAddr) -> nix::Result<OwnedFd> {
    let (family, proto) = match target {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let fd = socket::socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        proto,
    )?;
    let to = socket::SockaddrStorage::from(SocketAddr::new(target, 0));
    socket::connect(fd.as_raw_fd(), &to)?;
    Ok(fd)
}

/// Send an echo request (the kernel sets the identifier and checksum).
pub fn send_echo(sock: &OwnedFd, v6: bool, seq: u16, data: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(data);
    let _ = socket::send(sock.as_raw_fd(), buf, MsgFlags::empty());
}

/// An echo reply read from a ping socket: (seq, data offset in `buf`).
pub fn recv_echo(sock: &OwnedFd, buf: &mut [u8]) -> Option<(u16, usize, usize)> {
    let n = socket::recv(sock.as_raw_fd(), buf, MsgFlags::empty()).ok()?;
    if n < 8 || !(buf[0] == 0 || buf[0] == 129) {
        return None;
    }
    Some((u16::from_be_bytes([buf[6], buf[7]]), 8, n))
}

/// The frame that carries an echo reply from `from` to the container.
#[allow(clippy::too_many_arguments)]
pub fn reply_frame(
    out: &mut Vec<u8>,
    our_mac: EthernetAddress,
    ping: &Ping,
    seq: u16,
    data: &[u8],
) -> bool {
    let (to, from, ident) = ping.key;
    let caps = ChecksumCapabilities::default();
    let eth = |ethertype| EthernetRepr {
        src_addr: our_mac,
        dst_addr: ping.container_mac,
        ethertype,
    };
    match (from, to) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let icmp = Icmpv4Repr::EchoReply {
                ident,
                seq_no: seq,
                data,
            };
            let ip = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Icmp,
                payload_len: icmp.buffer_len(),
                hop_limit: 64,
            };
            out.clear();
            out.resize(14 + ip.buffer_len() + icmp.buffer_len(), 0);
            let mut f = EthernetFrame::new_unchecked(&mut out[..]);
            eth(EthernetProtocol::Ipv4).emit(&mut f);
            let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
            ip.emit(&mut p, &caps);
            icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
            true
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let icmp = Icmpv6Repr::EchoReply {
                ident,
                seq_no: seq,
                data,
            };
            let ip = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Icmpv6,
                payload_len: icmp.buffer_len(),
                hop_limit: 64,
            };
            out.clear();
            out.resize(14 + ip.buffer_len() + icmp.buffer_len(), 0);
            let mut f = EthernetFrame::new_unchecked(&mut out[..]);
            eth(EthernetProtocol::Ipv6).emit(&mut f);
            let mut p = Ipv6Packet::new_unchecked(f.payload_mut());
            ip.emit(&mut p);
            icmp.emit(
                &src,
                &dst,
                &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
                &caps,
            );
            true
        }
        _ => false,
    }
}

#[derive(Default)]
pub struct Pings {
    pub by_token: HashMap<u64, Ping>,
    pub by_key: HashMap<(IpAddr, IpAddr, u16), u64>,
    /// The host refused us a ping socket (said once).
    pub refused: bool,
}

impl Pings {
    pub fn expire(&mut self) {
        let now = Instant::now();
        let by_key = &mut self.by_key;
        self.by_token.retain(|_, p| {
            let keep = now.duration_since(p.last) < IDLE;
            if !keep {
                by_key.remove(&p.key);
            }
            keep
        });
    }
}
