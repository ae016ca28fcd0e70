//! `-p`/`--publish` and `-P`: Docker's port syntax (`spec`), host sockets
//! bound by the caller before anything starts (`listen`), and the
//! supervisor's forwarders, which stay in the host's network namespace:
//! TCP accepted on the host and spliced to a socket opened inside the
//! container's namespace (`tcp`), UDP per client flow (`udp`). Clients
//! that are not on loopback keep their address: the inside socket is
//! IP_TRANSPARENT and bound to it, and policy routing in the container's
//! namespace (`route`) brings the server's replies back to it.

pub mod listen;
mod netns;
pub mod route;
pub mod spec;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};

pub use listen::{bind_all, BindError, Listener, Listeners};
pub use netns::Netns;
pub use spec::{Binding, Exposed, PortConfig, Proto, Publish};

/// Start one forwarding thread per host socket: connections and
/// datagrams go to `target` (the container's address) at the binding's
/// container port, from sockets made in `netns`. `keep_source`: clients
/// not on loopback connect with their own address (needs the routes of
/// `route::keep_source`).
pub fn start_forwarders(
    listeners: &Listeners,
    netns: &Netns,
    target: IpAddr,
    keep_source: bool,
) -> std::io::Result<()> {
    for l in listeners.0.iter() {
        let to = SocketAddr::new(target, l.binding.container_port);
        let fd = l.fd.try_clone()?;
        let netns = netns.clone();
        let name = format!("publish-{}", l.binding.host_port);
        match l.binding.proto {
            Proto::Tcp => {
                let sock = std::net::TcpListener::from(fd);
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || tcp::serve(sock, netns, to, keep_source))?;
            }
            Proto::Udp => {
                let sock = std::net::UdpSocket::from(fd);
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || udp::serve(sock, netns, to, keep_source))?;
            }
        }
    }
    Ok(())
}

/// The address a forwarded connection from `peer` should come from inside
/// the container: the client's own, unless it is on loopback (or of
/// another family than `target`), when the plain path serves it.
fn kept_source(peer: SocketAddr, target: SocketAddr, keep_source: bool) -> Option<SocketAddr> {
    if !keep_source {
        return None;
    }
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let usable = !ip.is_loopback() && !ip.is_unspecified() && ip.is_ipv4() == target.is_ipv4();
    usable.then(|| SocketAddr::new(ip, peer.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_clients_take_the_plain_path() {
        let t: SocketAddr = "10.0.2.100:80".parse().unwrap();
        let remote: SocketAddr = "10.250.0.2:4000".parse().unwrap();
        assert_eq!(kept_source(remote, t, true), Some(remote));
        assert_eq!(kept_source(remote, t, false), None);
        assert_eq!(kept_source("127.0.0.1:5".parse().unwrap(), t, true), None);
        assert_eq!(kept_source("[::1]:5".parse().unwrap(), t, true), None);
        let mapped: SocketAddr = "[::ffff:10.250.0.2]:4000".parse().unwrap();
        assert_eq!(kept_source(mapped, t, true), Some(remote));
        assert_eq!(kept_source("[fd00::5]:5".parse().unwrap(), t, true), None);
    }
}
