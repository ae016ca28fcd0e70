//! Port forwarding (`-p`): listeners in the host's network namespace
//! that connect into the container's (`publish`). The supervisor calls
//! `start` once per container, after the first init was forked.

use super::Namespace;
use crate::net::publish::{Forwarding, Listeners};

/// Start the container's port forwarders: to its address on the default
/// network, clients off loopback keeping theirs.
pub fn start(ns: &Namespace, ports: &Listeners) -> anyhow::Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let target = std::net::IpAddr::V4(super::addr::CONTAINER4);
    let mut fwd = Forwarding::new(ports.clone(), target, true).with_ipv6(super::addr::CONTAINER6);
    fwd.container_started(ns.netns.try_clone()?)?;
    // Its threads hold what they need; the handle may go.
    Ok(())
}
