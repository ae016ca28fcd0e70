//! User networks (`network create`, `run --network NAME`): containers on
//! one network reach each other by name through a Linux bridge, at kernel
//! speed, and still reach out through their own tap (the default
//! network's translator and `-p` stay as they are).
//!
//! - `subnet`: IPv4 subnets, their allocation from 10.89.0.0/16.
//! - `store`: the records (`networks/<id>.json`).
//! - `keeper`: the per-store process that holds the user namespace and
//!   network namespace the bridges live in, and answers DNS there.
//! - `attach`: a container's veth into a bridge (in the netns maker).
//! - `dns`: the resolver on each network's gateway.

pub mod attach;
pub mod dns;
pub mod keeper;
pub mod live;
pub mod store;
pub mod subnet;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use store::NetworkRecord;

/// One user network a container is on (its record keeps these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// `--network-alias`: more names its peers resolve it by.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its address there, fixed at create (`--ip` or the next free one).
    pub ip: Ipv4Addr,
}

/// The next free address of `net` (from .2, podman's habit), or None.
pub fn allocate_ip(net: &NetworkRecord, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    (1..=net.subnet.hosts())
        .map(|n| net.subnet.host(n))
        .find(|ip| *ip != net.gateway && !used.contains(ip))
}

/// Check a requested `--ip` against the network and the addresses in use.
pub fn check_ip(net: &NetworkRecord, ip: Ipv4Addr, used: &[Ipv4Addr]) -> Result<(), String> {
    if !net.subnet.contains(ip) || ip == net.subnet.addr || ip == net.subnet.broadcast() {
        return Err(format!(
            "--ip {ip} is not a host address of network {} ({})",
            net.name, net.subnet
        ));
    }
    if ip == net.gateway || used.contains(&ip) {
        return Err(format!(
            "--ip {ip} is already in use on network {}",
            net.name
        ));
    }
    Ok(())
}
