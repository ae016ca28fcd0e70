//! A container's link into its user networks: a veth pair whose one end
//! (`eth1`, `eth2`, ...) is in the container's network namespace with its
//! address there, and whose other end is a port of the network's bridge in
//! the keeper's namespace. Made by the default network's namespace maker
//! (`namespace::create`), which runs in the keeper's user namespace and so
//! may change both network namespaces. The pair dies with the container's
//! namespace: nothing to undo when it ends.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use anyhow::Context;
use nix::sched::CloneFlags;

use crate::net::netlink::{self, Socket};

/// The MTU on the veths and bridges: as the tap's, large frames make
/// container-to-container traffic cheap per byte.
pub const MTU: u32 = 65520;

/// What the launcher needs for a container on user networks: the
/// keeper's namespaces (its supervisor joins the user namespace) and one
/// link per network.
#[derive(Debug, Clone)]
pub struct UserNets {
    pub userns: Arc<OwnedFd>,
    pub netns: Arc<OwnedFd>,
    pub links: Vec<Link>,
}

/// One network's link: the bridge (in the keeper's namespace) and the
/// container's address on it.
#[derive(Debug, Clone)]
pub struct Link {
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// `network create --internal`: no way out through this one.
    pub internal: bool,
}

/// A name for the bridge's end: unique in the keeper's namespace, also
/// while a stopped container's old pair is still being torn down.
fn peer_name() -> anyhow::Result<String> {
    let id = crate::random_id::new_id()?;
    Ok(format!("vb{}", &id[..12]))
}

/// In the namespace maker, in the container's network namespace `own`:
/// make `eth{n}` for each link. `nl` is a netlink socket there.
pub fn plumb(nl: &Socket, own: &OwnedFd, nets: &UserNets) -> anyhow::Result<()> {
    for (i, link) in nets.links.iter().enumerate() {
        plumb_one(nl, own, nets.netns.as_fd(), link, &format!("eth{}", i + 1))?;
    }
    Ok(())
}

/// Make interface `name` in network namespace `own` (this process's),
/// paired with a port of `link`'s bridge in the keeper's namespace
/// `keeper`. This process must be in the keeper's user namespace.
pub fn plumb_one(
    nl: &Socket,
    own: &OwnedFd,
    keeper: std::os::fd::BorrowedFd<'_>,
    link: &Link,
    name: &str,
) -> anyhow::Result<()> {
    let peer = peer_name()?;
    nl.request(
        &netlink::build_new_veth(name, &peer, keeper.as_raw_fd(), MTU),
        &format!("create {name}'s veth pair"),
    )?;
    // The bridge's end, in the keeper's namespace.
    in_netns(keeper, own, || {
        let index = |n: &str| {
            nix::net::if_::if_nametoindex(n).with_context(|| format!("find interface {n}"))
        };
        let br = index(&link.bridge).context("the network's bridge is missing")?;
        let p = index(&peer)?;
        Socket::open()?.request(
            &netlink::build_set_master_up(p, br),
            &format!("put {name}'s peer into bridge {}", link.bridge),
        )
    })?;
    let index =
        nix::net::if_::if_nametoindex(name).with_context(|| format!("find interface {name}"))?;
    nl.request(
        &netlink::build_add_addr(index, IpAddr::V4(link.ip), link.prefix),
        &format!("add {name}'s address"),
    )?;
    nl.request(
        &netlink::build_link_up(index, None, None),
        &format!("bring {name} up"),
    )
}

/// Run `f` in network namespace `there`, then come back to `home`.
fn in_netns<T>(
    there: std::os::fd::BorrowedFd<'_>,
    home: &OwnedFd,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    nix::sched::setns(there, CloneFlags::CLONE_NEWNET)
        .context("enter the user networks' namespace")?;
    let out = f();
    nix::sched::setns(home, CloneFlags::CLONE_NEWNET)
        .context("come back to the container's network namespace")?;
    out
}
