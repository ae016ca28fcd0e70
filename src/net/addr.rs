//! The default network's fixed address plan, the one slirp4netns and
//! rootless podman use, so users' habits and firewall rules carry over.
//! Every container has its own network namespace, so every container has
//! the same addresses; they are never seen outside it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The container's interface, as Docker names it.
pub const IFNAME: &str = "eth0";
/// The tap's MTU: large frames keep the per-packet cost of the
/// userspace side low (passt/slirp4netns use the same).
pub const MTU: u32 = 65520;

pub const NET4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 0);
pub const PREFIX4: u8 = 24;
/// The gateway: the translator's own address.
pub const GATEWAY4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The resolver the container's /etc/resolv.conf names.
pub const DNS4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The container's address.
pub const CONTAINER4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

pub const NET6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0);
pub const PREFIX6: u8 = 64;
pub const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
pub const DNS6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3);
pub const CONTAINER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100);
