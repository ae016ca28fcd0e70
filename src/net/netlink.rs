//! The few rtnetlink requests the default network needs (link up with an
//! MTU and queue length, an address without duplicate detection, a
//! default route), written by hand: three message kinds do not earn a
//! netlink crate. Messages are built as bytes (`build_*`, pure and unit
//! tested) and sent on a NETLINK_ROUTE socket of the current network
//! namespace, each acknowledged before the next.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context};
use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFF_UP: u32 = 0x1;
const IFLA_MTU: u16 = 4;
const IFLA_TXQLEN: u16 = 13;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_GSO_MAX_SIZE: u16 = 41;
const IFLA_GRO_MAX_SIZE: u16 = 58;
const IFLA_GSO_IPV4_MAX_SIZE: u16 = 63;
const IFLA_GRO_IPV4_MAX_SIZE: u16 = 64;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// One request being built: the header is filled in by `finish`.
struct Msg(Vec<u8>);

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        Msg(b)
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Msg {
        self.0.extend_from_slice(b);
        self
    }

    /// An attribute, padded to 4 bytes.
    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// Open a nested attribute; `end` closes it at the returned offset.
    fn begin(&mut self, kind: u16) -> usize {
        let at = self.0.len();
        self.0.extend_from_slice(&0u16.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        at
    }

    fn end(&mut self, at: usize) -> &mut Msg {
        let len = (self.0.len() - at) as u16;
        self.0[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// struct ifinfomsg: family, pad, type, index, flags, change.
    fn ifinfo(&mut self, index: u32, flags: u32, change: u32) -> &mut Msg {
        self.bytes(&[libc::AF_UNSPEC as u8, 0])
            .bytes(&0u16.to_ne_bytes())
            .bytes(&(index as i32).to_ne_bytes())
            .bytes(&flags.to_ne_bytes())
            .bytes(&change.to_ne_bytes())
    }

    fn finish(&mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        std::mem::take(&mut self.0)
    }
}

fn family(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn octets(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// RTM_NEWLINK: interface `index` up, with `mtu` and `txqueuelen` when given.
pub fn build_link_up(index: u32, mtu: Option<u32>, txqueuelen: Option<u32>) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, 0);
    // struct ifinfomsg: family, pad, type, index, flags, change.
    m.bytes(&[libc::AF_UNSPEC as u8, 0])
        .bytes(&0u16.to_ne_bytes())
        .bytes(&(index as i32).to_ne_bytes())
        .bytes(&IFF_UP.to_ne_bytes())
        .bytes(&IFF_UP.to_ne_bytes());
    if let Some(mtu) = mtu {
        m.attr(IFLA_MTU, &mtu.to_ne_bytes());
    }
    if let Some(q) = txqueuelen {
        m.attr(IFLA_TXQLEN, &q.to_ne_bytes());
    }
    m.finish()
}

fn cstr(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    b
}

/// RTM_NEWLINK: a bridge named `name`, up, with `mtu`.
pub fn build_new_bridge(name: &str, mtu: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.ifinfo(0, IFF_UP, IFF_UP)
        .attr(IFLA_IFNAME, &cstr(name))
        .attr(IFLA_MTU, &mtu.to_ne_bytes());
    let info = m.begin(IFLA_LINKINFO);
    m.attr(IFLA_INFO_KIND, b"bridge");
    m.end(info);
    m.finish()
}

/// RTM_NEWLINK: a veth pair, `name` here and `peer` in the network
/// namespace `peer_netns` (an fd), both with `mtu`.
pub fn build_new_veth(name: &str, peer: &str, peer_netns: i32, mtu: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.ifinfo(0, 0, 0)
        .attr(IFLA_IFNAME, &cstr(name))
        .attr(IFLA_MTU, &mtu.to_ne_bytes());
    let info = m.begin(IFLA_LINKINFO);
    m.attr(IFLA_INFO_KIND, b"veth");
    let data = m.begin(IFLA_INFO_DATA);
    let p = m.begin(VETH_INFO_PEER);
    m.ifinfo(0, 0, 0)
        .attr(IFLA_IFNAME, &cstr(peer))
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .attr(IFLA_NET_NS_FD, &peer_netns.to_ne_bytes());
    m.end(p);
    m.end(data);
    m.end(info);
    m.finish()
}

/// RTM_NEWLINK: interface `index` into the bridge `master`, up.
pub fn build_set_master_up(index: u32, master: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, 0);
    m.ifinfo(index, IFF_UP, IFF_UP)
        .attr(IFLA_MASTER, &master.to_ne_bytes());
    m.finish()
}

/// RTM_DELLINK: interface `index`.
pub fn build_del_link(index: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_DELLINK, 0);
    m.ifinfo(index, 0, 0);
    m.finish()
}

/// RTM_NEWLINK: let interface `index` carry TCP segments of up to `size`
/// bytes, IPv4 and IPv6 ("BIG TCP", Linux 6.3+; `ip link set DEV
/// gso_max_size N gso_ipv4_max_size N ...`). On loopback fewer, bigger
/// packets mean less work per byte in both TCP stacks.
pub fn build_big_segments(index: u32, size: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, 0);
    m.bytes(&[libc::AF_UNSPEC as u8, 0])
        .bytes(&0u16.to_ne_bytes())
        .bytes(&(index as i32).to_ne_bytes())
        .bytes(&0u32.to_ne_bytes())
        .bytes(&0u32.to_ne_bytes());
    for attr in [
        IFLA_GSO_MAX_SIZE,
        IFLA_GRO_MAX_SIZE,
        IFLA_GSO_IPV4_MAX_SIZE,
        IFLA_GRO_IPV4_MAX_SIZE,
    ] {
        m.attr(attr, &size.to_ne_bytes());
    }
    m.finish()
}

/// RTM_NEWADDR: `ip/prefix` on interface `index`, without duplicate
/// address detection (nothing else is on the link; DAD would only delay
/// the address for a second).
pub fn build_add_addr(index: u32, ip: IpAddr, prefix: u8) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    m.bytes(&[family(&ip), prefix, IFA_F_NODAD, RT_SCOPE_UNIVERSE])
        .bytes(&index.to_ne_bytes())
        .attr(IFA_LOCAL, &octets(&ip))
        .attr(IFA_ADDRESS, &octets(&ip));
    m.finish()
}

/// RTM_NEWROUTE: the default route via `gateway` on interface `index`.
pub fn build_default_route(index: u32, gateway: IpAddr) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol,
    // scope, type, flags.
    m.bytes(&[
        family(&gateway),
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
    ])
    .bytes(&0u32.to_ne_bytes())
    .attr(RTA_GATEWAY, &octets(&gateway))
    .attr(RTA_OIF, &index.to_ne_bytes());
    m.finish()
}

/// A NETLINK_ROUTE socket in the current network namespace.
pub struct Socket(OwnedFd);

impl Socket {
    pub fn open() -> anyhow::Result<Socket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .context("open a netlink socket")?;
        Ok(Socket(fd))
    }

    /// Send one request and wait for its acknowledgement.
    pub fn request(&self, msg: &[u8], what: &str) -> anyhow::Result<()> {
        sendto(
            self.0.as_raw_fd(),
            msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .with_context(|| format!("netlink: {what}"))?;
        let mut buf = [0u8; 1024];
        let n = recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty())
            .with_context(|| format!("netlink: {what}: read the answer"))?;
        match ack_errno(&buf[..n]) {
            Some(0) => Ok(()),
            Some(e) => {
                Err(std::io::Error::from_raw_os_error(-e)).context(format!("netlink: {what}"))
            }
            None => bail!("netlink: {what}: no acknowledgement"),
        }
    }
}

/// The error code of an NLMSG_ERROR answer (0: acknowledged), if `buf`
/// holds one.
fn ack_errno(buf: &[u8]) -> Option<i32> {
    if buf.len() < NLMSG_HDRLEN + 4 {
        return None;
    }
    let kind = u16::from_ne_bytes([buf[4], buf[5]]);
    (kind == NLMSG_ERROR).then(|| {
        i32::from_ne_bytes([
            buf[NLMSG_HDRLEN],
            buf[NLMSG_HDRLEN + 1],
            buf[NLMSG_HDRLEN + 2],
            buf[NLMSG_HDRLEN + 3],
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn messages_carry_their_length_and_padded_attributes() {
        let m = build_link_up(3, Some(65520), Some(10000));
        // header 16 + ifinfomsg 16 + two 8-byte attributes
        assert_eq!(m.len(), 48);
        assert_eq!(u32::from_ne_bytes(m[..4].try_into().unwrap()), 48);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        assert_eq!(u32::from_ne_bytes(m[36..40].try_into().unwrap()), 65520);

        let a = build_add_addr(3, IpAddr::V4(Ipv4Addr::new(10, 0, 2, 100)), 24);
        assert_eq!(a.len(), 16 + 8 + 8 + 8);
        assert_eq!(&a[16..20], &[libc::AF_INET as u8, 24, IFA_F_NODAD, 0]);
        assert_eq!(&a[28..32], &[10, 0, 2, 100]);

        let r = build_default_route(3, IpAddr::V6("fd00::2".parse().unwrap()));
        assert_eq!(r.len(), 16 + 12 + 20 + 8);
    }

    #[test]
    fn nested_attributes_carry_their_length() {
        let m = build_new_veth("eth1", "vb12345678", 7, 65520);
        assert_eq!(
            u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        // header, ifinfomsg, then IFLA_IFNAME "eth1\0" padded to 12.
        assert_eq!(u16::from_ne_bytes([m[32], m[33]]), 9);
        assert_eq!(u16::from_ne_bytes([m[34], m[35]]), IFLA_IFNAME);
        // IFLA_LINKINFO after the 8-byte MTU: it spans to the end.
        let li = 32 + 12 + 8;
        assert_eq!(u16::from_ne_bytes([m[li + 2], m[li + 3]]), IFLA_LINKINFO);
        assert_eq!(
            u16::from_ne_bytes([m[li], m[li + 1]]) as usize,
            m.len() - li
        );
    }

    #[test]
    fn big_segments_set_the_four_sizes() {
        let m = build_big_segments(1, 256 << 10);
        // header 16 + ifinfomsg 16 + four 8-byte attributes
        assert_eq!(m.len(), 64);
        // flags and change mask 0: the link's state is left as it is.
        assert_eq!(&m[24..32], &[0; 8]);
        let kinds: Vec<u16> = (0..4)
            .map(|i| u16::from_ne_bytes([m[34 + 8 * i], m[35 + 8 * i]]))
            .collect();
        assert_eq!(kinds, [41, 58, 63, 64]);
        assert_eq!(u32::from_ne_bytes(m[60..64].try_into().unwrap()), 256 << 10);
    }

    #[test]
    fn acknowledgements_are_read() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(-17));
        assert_eq!(ack_errno(&ack[..10]), None);
    }
}
