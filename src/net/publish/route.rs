//! Policy routing inside the container's namespace for forwarded clients
//! that keep their address: the server's replies to such a client (an
//! address that is not the namespace's) must come back to our transparent
//! socket, not leave through the container's default route. For each
//! published port, a rule sends packets from that source port and
//! protocol to a table whose only route is `local 0.0.0.0/0 dev lo`
//! (`::/0` for IPv6). Made over rtnetlink in the calling thread's network
//! namespace; the namespace dies with the container, and the rules with it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

use super::spec::Proto;

/// The routing table of the `local` routes (any number the namespace's
/// other rules do not use; main is 254, local 255).
pub const TABLE: u32 = 0x6275; // "bu"
/// The rules' priority: after `local` (0), before `main` (32766).
pub const PRIORITY: u32 = 1000;

const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_HOST: u8 = 254;
const RTN_LOCAL: u8 = 2;
const FR_ACT_TO_TBL: u8 = 1;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;

/// One netlink request: header, a 12-byte family header (rtmsg and
/// fib_rule_hdr have the same size), attributes.
struct Request(Vec<u8>);

impl Request {
    fn new(kind: u16, seq: u32, head: [u8; 12]) -> Request {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes()); // length, set in `done`
        b.extend_from_slice(&kind.to_ne_bytes());
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&head);
        Request(b)
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Request {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }

    fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// `ip route add local 0.0.0.0/0 dev lo src SRC table TABLE` (or ::/0).
/// The source matters to a server answering on an unconnected socket (UDP):
/// without it a local route picks the destination itself, and the reply
/// would match no flow socket.
fn local_route(family: u8, seq: u32, lo: u32, src: &[u8]) -> Vec<u8> {
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let head = [
        family,
        0,
        0,
        0,
        0,
        RTPROT_STATIC,
        RT_SCOPE_HOST,
        RTN_LOCAL,
        0,
        0,
        0,
        0,
    ];
    Request::new(RTM_NEWROUTE, seq, head)
        .attr(RTA_TABLE, &TABLE.to_ne_bytes())
        .attr(RTA_OIF, &lo.to_ne_bytes())
        .attr(RTA_PREFSRC, src)
        .done()
}

/// `ip rule add ipproto PROTO sport PORT table TABLE priority PRIORITY`.
fn sport_rule(family: u8, seq: u32, proto: Proto, port: u16) -> Vec<u8> {
    // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
    let head = [family, 0, 0, 0, 0, 0, 0, FR_ACT_TO_TBL, 0, 0, 0, 0];
    let ipproto = match proto {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    };
    let mut range = port.to_ne_bytes().to_vec();
    range.extend_from_slice(&port.to_ne_bytes());
    Request::new(RTM_NEWRULE, seq, head)
        .attr(FRA_TABLE, &TABLE.to_ne_bytes())
        .attr(FRA_PRIORITY, &PRIORITY.to_ne_bytes())
        .attr(FRA_IP_PROTO, &[ipproto])
        .attr(FRA_SPORT_RANGE, &range)
        .done()
}

/// Add the table and one rule per (protocol, container port), IPv4 and
/// IPv6, in the calling thread's network namespace; the container's
/// addresses are the replies' sources. An IPv6 failure (a namespace
/// without IPv6) is not one: IPv4 is what the forwarders use.
pub fn keep_source(
    ports: &[(Proto, u16)],
    addr4: std::net::Ipv4Addr,
    addr6: std::net::Ipv6Addr,
) -> io::Result<()> {
    let nl: OwnedFd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let lo = nix::net::if_::if_nametoindex("lo")?;
    let mut seq = 1;
    let families = [
        (libc::AF_INET as u8, addr4.octets().to_vec(), true),
        (libc::AF_INET6 as u8, addr6.octets().to_vec(), false),
    ];
    for (family, src, required) in families {
        let mut msgs = vec![local_route(family, seq, lo, &src)];
        for (proto, port) in ports {
            seq += 1;
            msgs.push(sport_rule(family, seq, *proto, *port));
        }
        seq += 1;
        for m in msgs {
            match request(&nl, &m) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(_) if !required => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Send one request and read its acknowledgement.
fn request(nl: &OwnedFd, msg: &[u8]) -> io::Result<()> {
    let kernel = NetlinkAddr::new(0, 0);
    socket::sendto(nl.as_raw_fd(), msg, &kernel, MsgFlags::empty())?;
    let mut buf = [0u8; 4096];
    let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::empty())?;
    // nlmsghdr (16 bytes), then for NLMSG_ERROR an i32: 0 or -errno.
    if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == NLMSG_ERROR {
        let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if err == 0 {
            return Ok(());
        }
        return Err(io::Error::from_raw_os_error(-err));
    }
    Err(io::Error::other("rtnetlink: unexpected answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_request_is_laid_out_as_the_kernel_reads_it() {
        let m = sport_rule(libc::AF_INET as u8, 7, Proto::Udp, 53);
        assert_eq!(m.len(), 16 + 12 + 8 + 8 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWRULE);
        assert_eq!(m[16 + 7], FR_ACT_TO_TBL);
        // FRA_IP_PROTO: length 5, padded to 8.
        let at = 16 + 12 + 16;
        assert_eq!(u16::from_ne_bytes([m[at], m[at + 1]]), 5);
        assert_eq!(m[at + 4], libc::IPPROTO_UDP as u8);
        let r = m.len() - 8;
        assert_eq!(u16::from_ne_bytes([m[r + 2], m[r + 3]]), FRA_SPORT_RANGE);
        assert_eq!(u16::from_ne_bytes([m[r + 4], m[r + 5]]), 53);
        assert_eq!(u16::from_ne_bytes([m[r + 6], m[r + 7]]), 53);
    }
}
