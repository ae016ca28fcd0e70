//! What the default network can do here beyond its tap: ping through
//! the host's ping sockets, and IPv6.

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};

use super::Check;

const PING_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Whether we may open an ICMP ping socket (SOCK_DGRAM, IPPROTO_ICMP),
/// as the translator does for `ping` in containers.
pub fn ping() -> Check {
    let range = std::fs::read_to_string(PING_RANGE)
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    match socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    ) {
        Ok(_) => Check::yes(format!(
            "yes (ping sockets; net.ipv4.ping_group_range {range})"
        )),
        Err(e) => Check::warn(
            format!(
                "no ping sockets ({}; net.ipv4.ping_group_range {range})",
                e.desc()
            ),
            "ping in containers reaches only the gateway; to let it out, ask an admin to run: \
             sysctl -w net.ipv4.ping_group_range='0 2147483647'",
        ),
    }
}

/// IPv6 in the kernel: containers then get fd00::100 beside 10.0.2.100.
pub fn ipv6() -> Check {
    match std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6") {
        Ok(v) if v.trim() == "0" => Check::yes("yes (containers get fd00::100 too)"),
        Ok(_) => Check::warn(
            "disabled (net.ipv6.conf.all.disable_ipv6)",
            "containers get IPv4 only",
        ),
        Err(_) => Check::warn("no (the kernel has no IPv6)", "containers get IPv4 only"),
    }
}
