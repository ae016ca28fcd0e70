//! `-p`/`--publish` and `-P`: Docker's port syntax (`spec`), host sockets
//! bound by the caller before anything starts (`listen`), and the
//! supervisor's forwarders, which stay in the host's network namespace:
//! TCP accepted on the host and spliced to a socket opened inside the
//! container's namespace (`tcp`), UDP per client flow (`udp`). Clients
//! that are not on loopback keep their address: the inside socket is
//! IP_TRANSPARENT and bound to it, and policy routing in the container's
//! namespace (`route`) brings the server's replies back to it. IPv6
//! clients keep theirs by reaching the container's IPv6 address.

pub mod handed;
pub mod listen;
mod netns;
pub mod route;
pub mod spec;
mod tcp;
mod udp;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use listen::{bind_all, BindError, Listeners};
pub use netns::Netns;
pub use spec::{Binding, Exposed, PortConfig, Proto, Publish};
pub use tcp::relay;

/// The supervisor's side of `-p`: one forwarding thread per host socket,
/// started with the first run of the container and fed its network
/// namespace at each (re)start.
pub struct Forwarding {
    listeners: Listeners,
    netns: Netns,
    /// The container's address the forwarders connect to.
    target: IpAddr,
    /// Its IPv6 address, for IPv6 clients that keep theirs.
    target6: Option<Ipv6Addr>,
    /// Clients off loopback keep their address (transparent sockets).
    keep_source: bool,
    started: bool,
}

impl Forwarding {
    pub fn new(listeners: Listeners, target: IpAddr, keep_source: bool) -> Forwarding {
        Forwarding {
            listeners,
            netns: Netns::default(),
            target,
            target6: None,
            keep_source,
            started: false,
        }
    }

    /// IPv6 clients off loopback reach the container at `ip`, keeping
    /// their address (without it they take the plain path to `target`).
    pub fn with_ipv6(mut self, ip: Ipv6Addr) -> Forwarding {
        self.target6 = Some(ip);
        self
    }

    /// The container's init runs in the network namespace `ns` (an fd of
    /// /proc/PID/ns/net): set up its routes for kept client addresses,
    /// point the forwarders at it, start them the first time. Call it
    /// after the supervisor blocked the signals its signalfd reads, so the
    /// threads inherit that mask.
    pub fn container_started(&mut self, ns: std::os::fd::OwnedFd) -> std::io::Result<()> {
        if self.listeners.is_empty() {
            return Ok(());
        }
        let keeps = self.keep_source && self.add_routes(&ns);
        self.netns.set(ns, keeps);
        if !self.started {
            start_forwarders(&self.listeners, &self.netns, self.target, self.target6)?;
            self.started = true;
        }
        Ok(())
    }

    /// The routes, made by a thread that enters the namespace (the
    /// calling thread must stay where it is). False when they could not
    /// be made: clients then take the plain path.
    fn add_routes(&self, ns: &std::os::fd::OwnedFd) -> bool {
        let mut ports: Vec<(Proto, u16)> = self
            .listeners
            .bindings()
            .iter()
            .map(|b| (b.proto, b.container_port))
            .collect();
        ports.sort();
        ports.dedup();
        let Ok(ns) = ns.try_clone() else {
            return false;
        };
        let made = std::thread::spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            route::keep_source(
                &ports,
                crate::net::addr::CONTAINER4,
                crate::net::addr::CONTAINER6,
            )
        })
        .join();
        match made {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!("routes for kept client addresses: {e}");
                false
            }
            Err(_) => false,
        }
    }
}

/// A forwarding thread and how to tell it to end.
struct Running {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// The forwarders of this process (a supervisor serves one container).
static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

/// Start one forwarding thread per host socket: connections and
/// datagrams go to `target` (the container's address; `target6` for IPv6
/// clients that keep their address) at the binding's container port,
/// from sockets made in `netns`.
pub fn start_forwarders(
    listeners: &Listeners,
    netns: &Netns,
    target: IpAddr,
    target6: Option<Ipv6Addr>,
) -> std::io::Result<()> {
    for (binding, fd) in listeners.sockets()? {
        let port = binding.container_port;
        let to = Target {
            addr: SocketAddr::new(target, port),
            v6: target6.map(|ip| SocketAddr::new(IpAddr::V6(ip), port)),
        };
        let netns = netns.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let name = format!("publish-{}", binding.host_port);
        let thread = match binding.proto {
            Proto::Tcp => {
                let sock = std::net::TcpListener::from(fd);
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || tcp::serve(sock, netns, to, &stopped))?
            }
            Proto::Udp => {
                let sock = std::net::UdpSocket::from(fd);
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || udp::serve(sock, netns, to, &stopped))?
            }
        };
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Running { stop, thread });
    }
    Ok(())
}

/// Let the host ports go, in this process, before anyone hears that the
/// container ended (a `run --rm -p 80:80` right after must find 80 free):
/// the sockets are shut (which wakes their threads), the threads end,
/// closing their fds of them (and UDP flows), then ours are closed. A
/// thread that does not end within a second is left to the process's exit.
pub fn release(listeners: &Listeners) {
    handed::release();
    listeners.shut_down();
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for r in &running {
        r.stop.store(true, Ordering::Relaxed);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    for r in running {
        while !r.thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if r.thread.is_finished() {
            let _ = r.thread.join();
        }
    }
    listeners.close();
}

/// Where a published port's traffic goes in the container.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The container's address and port (the plain path).
    pub addr: SocketAddr,
    /// Its IPv6 address and port, for IPv6 clients that keep theirs.
    pub v6: Option<SocketAddr>,
}

impl Target {
    /// The plain path only (tests; a container without IPv6).
    pub fn plain(addr: SocketAddr) -> Target {
        Target { addr, v6: None }
    }

    /// Where a forwarded connection from `peer` goes, and the address it
    /// should come from inside the container: the client's own, unless it
    /// is on loopback (or no address of its family serves it), when the
    /// plain path serves it.
    pub fn for_client(
        &self,
        peer: SocketAddr,
        keep_source: bool,
    ) -> (SocketAddr, Option<SocketAddr>) {
        let plain = (self.addr, None);
        if !keep_source {
            return plain;
        }
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if ip.is_loopback() || ip.is_unspecified() {
            return plain;
        }
        let to = if ip.is_ipv4() == self.addr.is_ipv4() {
            self.addr
        } else {
            match self.v6 {
                Some(v6) if ip.is_ipv6() => v6,
                _ => return plain,
            }
        };
        (to, Some(SocketAddr::new(ip, peer.port())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_clients_take_the_plain_path() {
        let t = Target::plain(sa("10.0.2.100:80"));
        let remote = sa("10.250.0.2:4000");
        let plain = (t.addr, None);
        assert_eq!(t.for_client(remote, true), (t.addr, Some(remote)));
        assert_eq!(t.for_client(remote, false), plain);
        assert_eq!(t.for_client(sa("127.0.0.1:5"), true), plain);
        assert_eq!(t.for_client(sa("[::1]:5"), true), plain);
        let mapped = sa("[::ffff:10.250.0.2]:4000");
        assert_eq!(t.for_client(mapped, true), (t.addr, Some(remote)));
        // No IPv6 address to reach: an IPv6 client loses its address.
        assert_eq!(t.for_client(sa("[fd7b::5]:5"), true), plain);
    }

    #[test]
    fn ipv6_clients_reach_the_containers_ipv6_address() {
        let t = Target {
            addr: sa("10.0.2.100:80"),
            v6: Some(sa("[fd00::100]:80")),
        };
        let remote = sa("[fd7b:250::2]:4000");
        assert_eq!(t.for_client(remote, true), (t.v6.unwrap(), Some(remote)));
        assert_eq!(t.for_client(remote, false), (t.addr, None));
        assert_eq!(t.for_client(sa("[::1]:5"), true), (t.addr, None));
        let v4 = sa("10.250.0.2:4000");
        assert_eq!(t.for_client(v4, true), (t.addr, Some(v4)));
    }
}
