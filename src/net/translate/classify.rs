//! What a frame from the container asks of the translator, and where a
//! flow goes on the host. Pure (no sockets, no clock), so the policy
//! (the gateway reaches the host's loopback only when asked; DNS goes to
//! the host's resolvers) is unit-tested here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet,
    IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};

use crate::net::addr;

/// A frame the translator looks at before the TCP/IP stack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A TCP SYN (no ACK): a connection the container opens.
    TcpSyn { src: SocketAddr, dst: SocketAddr },
    /// A UDP datagram.
    Udp { src: SocketAddr, dst: SocketAddr },
    /// An ICMP (v4 or v6) echo request.
    EchoRequest {
        src: IpAddr,
        dst: IpAddr,
        ident: u16,
        seq: u16,
    },
    /// Anything else (ARP, NDP, segments of open connections): the stack's.
    Other,
}

/// Look at an Ethernet frame from the tap.
pub fn classify(frame: &[u8]) -> Frame {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Frame::Other;
    };
    let (src, dst, proto, payload) = match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                return Frame::Other;
            };
            // A fragment's payload is not a whole transport header.
            if ip.more_frags() || ip.frag_offset() != 0 {
                return Frame::Other;
            }
            (
                IpAddr::V4(ip.src_addr()),
                IpAddr::V4(ip.dst_addr()),
                ip.next_header(),
                ip.payload(),
            )
        }
        EthernetProtocol::Ipv6 => {
            let Ok(ip) = Ipv6Packet::new_checked(eth.payload()) else {
                return Frame::Other;
            };
            (
                IpAddr::V6(ip.src_addr()),
                IpAddr::V6(ip.dst_addr()),
                ip.next_header(),
                ip.payload(),
            )
        }
        _ => return Frame::Other,
    };
    match proto {
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(t) if t.syn() && !t.ack() => Frame::TcpSyn {
                src: SocketAddr::new(src, t.src_port()),
                dst: SocketAddr::new(dst, t.dst_port()),
            },
            _ => Frame::Other,
        },
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(u) => Frame::Udp {
                src: SocketAddr::new(src, u.src_port()),
                dst: SocketAddr::new(dst, u.dst_port()),
            },
            _ => Frame::Other,
        },
        IpProtocol::Icmp => match Icmpv4Packet::new_checked(payload) {
            Ok(p) if p.msg_type() == Icmpv4Message::EchoRequest => Frame::EchoRequest {
                src,
                dst,
                ident: p.echo_ident(),
                seq: p.echo_seq_no(),
            },
            _ => Frame::Other,
        },
        IpProtocol::Icmpv6 => match Icmpv6Packet::new_checked(payload) {
            Ok(p) if p.msg_type() == Icmpv6Message::EchoRequest => Frame::EchoRequest {
                src,
                dst,
                ident: p.echo_ident(),
                seq: p.echo_seq_no(),
            },
            _ => Frame::Other,
        },
        _ => Frame::Other,
    }
}

/// Where the container's flows may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The gateway reaches the host's loopback (`--add-host NAME:host-gateway`).
    pub host_loopback: bool,
    /// The host's resolvers (its /etc/resolv.conf), for queries to DNS4/DNS6.
    pub resolvers: Vec<IpAddr>,
    /// How many `--link`s the container has (their addresses: `link`).
    pub links: usize,
}

/// A flow to the container's DNS address (its resolv.conf's nameserver).
pub fn is_dns(dst: SocketAddr) -> bool {
    dst.port() == 53 && [IpAddr::V4(addr::DNS4), IpAddr::V6(addr::DNS6)].contains(&dst.ip())
}

/// The translator's own addresses (answered by the stack itself).
pub fn is_ours(ip: IpAddr) -> bool {
    [
        IpAddr::V4(addr::GATEWAY4),
        IpAddr::V4(addr::DNS4),
        IpAddr::V6(addr::GATEWAY6),
        IpAddr::V6(addr::DNS6),
    ]
    .contains(&ip)
}

impl Policy {
    /// A flow to a link's address: which link, and the address it goes
    /// to inside the linked container's namespace (its own, at the same
    /// port).
    pub fn link_target(&self, dst: SocketAddr) -> Option<(usize, SocketAddr)> {
        let IpAddr::V4(ip) = dst.ip() else {
            return None;
        };
        let k = crate::net::link::index_of(ip, self.links)?;
        Some((k, SocketAddr::new(IpAddr::V4(addr::CONTAINER4), dst.port())))
    }

    /// The host address a flow to `dst` goes to; None: refused (a TCP
    /// reset, a dropped datagram).
    pub fn target(&self, dst: SocketAddr) -> Option<SocketAddr> {
        let ip = dst.ip();
        if ip == IpAddr::V4(addr::GATEWAY4) || ip == IpAddr::V6(addr::GATEWAY6) {
            if !self.host_loopback {
                return None;
            }
            let lo = match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            return Some(SocketAddr::new(lo, dst.port()));
        }
        if ip == IpAddr::V4(addr::DNS4) || ip == IpAddr::V6(addr::DNS6) {
            if dst.port() != 53 {
                return None;
            }
            // The first resolver; IPv4 ones serve DNS6's queries too.
            return self.resolvers.first().map(|r| SocketAddr::new(*r, 53));
        }
        // The host's own loopback only through the gateway; the rest of
        // the container's subnet is not the host's either. An IPv4-mapped
        // IPv6 address is its IPv4 one (::ffff:127.0.0.1 is loopback).
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let local = match ip {
            IpAddr::V4(a) => {
                a.is_loopback() || a.is_unspecified() || a.is_broadcast() || a.is_multicast()
            }
            IpAddr::V6(a) => a.is_loopback() || a.is_unspecified() || a.is_multicast(),
        };
        if local || is_container_subnet(ip) {
            return None;
        }
        Some(dst)
    }
}

fn is_container_subnet(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            u32::from(a) >> (32 - addr::PREFIX4) == u32::from(addr::NET4) >> (32 - addr::PREFIX4)
        }
        IpAddr::V6(a) => a.segments()[..4] == addr::NET6.segments()[..4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetRepr, IpAddress, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn policy(host_loopback: bool) -> Policy {
        Policy {
            host_loopback,
            resolvers: vec!["127.0.0.53".parse().unwrap()],
            links: 0,
        }
    }

    #[test]
    fn a_links_address_goes_to_the_linked_containers_own() {
        let p = Policy {
            links: 2,
            ..policy(false)
        };
        assert_eq!(
            p.link_target(sa("10.0.2.11:80")),
            Some((1, sa("10.0.2.100:80")))
        );
        assert_eq!(p.link_target(sa("10.0.2.12:80")), None);
        assert_eq!(policy(false).link_target(sa("10.0.2.10:80")), None);
        // Never to the host.
        assert_eq!(p.target(sa("10.0.2.10:80")), None);
    }

    #[test]
    fn the_gateway_reaches_the_hosts_loopback_only_when_asked() {
        assert_eq!(policy(false).target(sa("10.0.2.2:8080")), None);
        assert_eq!(policy(false).target(sa("[fd00::2]:8080")), None);
        assert_eq!(
            policy(true).target(sa("10.0.2.2:8080")),
            Some(sa("127.0.0.1:8080"))
        );
        assert_eq!(
            policy(true).target(sa("[fd00::2]:80")),
            Some(sa("[::1]:80"))
        );
    }

    #[test]
    fn dns_goes_to_the_hosts_resolver_and_the_rest_as_addressed() {
        let p = policy(false);
        assert_eq!(p.target(sa("10.0.2.3:53")), Some(sa("127.0.0.53:53")));
        assert_eq!(p.target(sa("[fd00::3]:53")), Some(sa("127.0.0.53:53")));
        assert_eq!(p.target(sa("10.0.2.3:80")), None);
        assert_eq!(p.target(sa("192.0.2.7:443")), Some(sa("192.0.2.7:443")));
        // Loopback and the container's own subnet are not the host's.
        assert_eq!(p.target(sa("127.0.0.1:80")), None);
        assert_eq!(p.target(sa("10.0.2.77:80")), None);
        assert_eq!(p.target(sa("[::ffff:127.0.0.1]:80")), None);
        assert_eq!(p.target(sa("[::1]:80")), None);
        assert_eq!(p.target(sa("0.0.0.0:80")), None);
        let none = Policy {
            host_loopback: false,
            resolvers: vec![],
            links: 0,
        };
        assert_eq!(none.target(sa("10.0.2.3:53")), None);
    }

    #[test]
    fn a_syn_is_told_from_other_segments() {
        let frame = |control, ack| {
            let tcp = TcpRepr {
                src_port: 40000,
                dst_port: 80,
                control,
                seq_number: TcpSeqNumber(1),
                ack_number: ack,
                window_len: 100,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None; 3],
                timestamp: None,
                payload: &[],
            };
            let ip = Ipv4Repr {
                src_addr: addr::CONTAINER4,
                dst_addr: "192.0.2.1".parse().unwrap(),
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            };
            let eth = EthernetRepr {
                src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
                dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
                ethertype: EthernetProtocol::Ipv4,
            };
            let mut buf = vec![0u8; 14 + 20 + tcp.buffer_len()];
            let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut f);
            let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
            let caps = ChecksumCapabilities::default();
            ip.emit(&mut p, &caps);
            let mut t = TcpPacket::new_unchecked(p.payload_mut());
            tcp.emit(
                &mut t,
                &IpAddress::Ipv4(ip.src_addr),
                &IpAddress::Ipv4(ip.dst_addr),
                &caps,
            );
            buf
        };
        assert_eq!(
            classify(&frame(TcpControl::Syn, None)),
            Frame::TcpSyn {
                src: sa("10.0.2.100:40000"),
                dst: sa("192.0.2.1:80")
            }
        );
        assert_eq!(
            classify(&frame(TcpControl::None, Some(TcpSeqNumber(5)))),
            Frame::Other
        );
        assert_eq!(classify(&[0u8; 10]), Frame::Other);
    }
}
