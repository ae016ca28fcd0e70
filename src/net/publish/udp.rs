//! UDP forwarding: datagrams from each client (address and port) go
//! through a flow socket of their own made inside the container's
//! namespace and connected to the container's port; its replies go back
//! to that client from the host socket. A flow ends after `IDLE` without
//! traffic either way.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

use super::netns::Netns;
use super::Target;
use crate::sys;

/// How long a flow lives without a datagram (Docker's proxy: 90 s;
/// conntrack's default for UDP streams: 120 s).
const IDLE: Duration = Duration::from_secs(90);
/// Flows at once per published port (a thread and a socket each): past
/// it, datagrams from new clients are dropped until some flow idles out.
const MAX_FLOWS: usize = 1024;

struct Flow {
    inside: UdpSocket,
    /// Milliseconds since `epoch` of the last datagram either way.
    last: AtomicU64,
    /// The forwarder ends: so does the flow.
    stop: AtomicBool,
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<Flow>>>>;

/// Serve the host socket for as long as the supervisor lives, or until
/// `stop` is set (and the socket shut).
pub fn serve(host: UdpSocket, netns: Netns, target: Target, stop: &AtomicBool) {
    serve_with_idle(host, netns, target, IDLE, stop)
}

fn serve_with_idle(
    host: UdpSocket,
    netns: Netns,
    target: Target,
    idle: Duration,
    stop: &AtomicBool,
) {
    let host = Arc::new(host);
    let mut threads: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let flows: Flows = Arc::default();
    let epoch = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        if stop.load(Ordering::Relaxed) {
            return end_flows(&flows, threads);
        }
        let (n, peer) = match host.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!("udp recv: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let known = flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&peer)
            .cloned();
        let flow = match known {
            Some(f) => f,
            None => {
                if flows.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_FLOWS {
                    continue;
                }
                let route = target.for_client(peer, netns.keeps_source());
                threads.retain(|t| !t.is_finished());
                match new_flow(&host, &netns, &flows, peer, target.addr, route, epoch, idle) {
                    Ok((f, t)) => {
                        threads.push(t);
                        f
                    }
                    Err(e) => {
                        tracing::debug!("udp flow {peer} -> {}: {e}", route.0);
                        continue;
                    }
                }
            }
        };
        flow.last
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        // A full buffer or a closed port drops the datagram, as UDP may.
        let _ = flow.inside.send(&buf[..n]);
    }
}

/// Make a flow: a thread enters the container's namespace, makes and
/// connects the socket there (to `route`'s target from its source, else
/// the plain way to `plain`), hands it over, then carries its replies
/// back until the flow is idle.
#[allow(clippy::too_many_arguments)]
fn new_flow(
    host: &Arc<UdpSocket>,
    netns: &Netns,
    flows: &Flows,
    peer: SocketAddr,
    plain: SocketAddr,
    route: (SocketAddr, Option<SocketAddr>),
    epoch: Instant,
    idle: Duration,
) -> io::Result<(Arc<Flow>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (host, netns, flows) = (host.clone(), netns.clone(), flows.clone());
    let thread = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || {
            let made = netns.enter().and_then(|()| match route {
                // A server that listens on IPv4 only would not hear
                // an IPv6 flow: the plain path serves that client.
                (to, Some(_)) if to.is_ipv6() && !plain.is_ipv6() && !udp6_bound(to.port()) => {
                    flow_socket(plain, None)
                }
                (to, Some(src)) => flow_socket(to, Some(src)).or_else(|e| {
                    // Without the right to bind a foreign address, the
                    // plain path still serves the client.
                    tracing::debug!("keep the client's address {src} -> {to}: {e}");
                    flow_socket(plain, None)
                }),
                (to, None) => flow_socket(to, None),
            });
            let flow = match made {
                Ok(inside) => Arc::new(Flow {
                    inside,
                    last: AtomicU64::new(epoch.elapsed().as_millis() as u64),
                    stop: AtomicBool::new(false),
                }),
                Err(e) => return drop(tx.send(Err(e))),
            };
            flows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(peer, flow.clone());
            let _ = tx.send(Ok(flow.clone()));
            replies(&host, &flow, peer, epoch, idle);
            let mut map = flows.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&peer).is_some_and(|f| Arc::ptr_eq(f, &flow)) {
                map.remove(&peer);
            }
        })?;
    let flow = rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the flow thread died")))?;
    Ok((flow, thread))
}

/// End every flow: their sockets are shut, which wakes their threads,
/// whose end drops their hold on the host socket.
fn end_flows(flows: &Flows, threads: Vec<std::thread::JoinHandle<()>>) {
    let all: Vec<Arc<Flow>> = flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .map(|(_, f)| f)
        .collect();
    for f in &all {
        f.stop.store(true, Ordering::Relaxed);
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&f.inside),
            nix::sys::socket::Shutdown::Both,
        );
    }
    drop(all);
    for t in threads {
        let _ = t.join();
    }
}

/// Carry the container's replies to `peer` until the flow is idle.
fn replies(host: &UdpSocket, flow: &Flow, peer: SocketAddr, epoch: Instant, idle: Duration) {
    let _ = flow
        .inside
        .set_read_timeout(Some((idle / 4).max(Duration::from_millis(10))));
    let mut buf = vec![0u8; 65536];
    loop {
        if flow.stop.load(Ordering::Relaxed) {
            return;
        }
        match flow.inside.recv(&mut buf) {
            // Woken by the forwarder's end (a shut socket reads 0).
            Ok(_) if flow.stop.load(Ordering::Relaxed) => return,
            Ok(n) => {
                flow.last
                    .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                let _ = host.send_to(&buf[..n], peer);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let last = Duration::from_millis(flow.last.load(Ordering::Relaxed));
                if epoch.elapsed().saturating_sub(last) >= idle {
                    return;
                }
            }
            // ECONNREFUSED: nothing listened for the last one; go on.
            Err(_) => {}
        }
    }
}

/// Whether a UDP socket of this thread's network namespace is bound to
/// `port` for IPv6 (/proc/thread-self/net/udp6; a dual-stack socket on
/// `::` is listed there, an IPv4-only one is not).
fn udp6_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/thread-self/net/udp6").unwrap_or_default();
    udp6_lists_port(&table, port)
}

/// Whether a /proc/net/udp6 table has a socket on local port `port`.
fn udp6_lists_port(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|l| {
        l.split_whitespace()
            .nth(1)
            .and_then(|local| local.rsplit_once(':'))
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            == Some(port)
    })
}

/// A UDP socket connected to `target`, made in this thread's namespace;
/// with `source`, IP_TRANSPARENT and bound to the client's address.
fn flow_socket(target: SocketAddr, source: Option<SocketAddr>) -> io::Result<UdpSocket> {
    let family = match target {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd: OwnedFd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    if let Some(src) = source {
        sys::set_transparent(fd.as_fd(), src.is_ipv6())?;
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrStorage::from(src),
        )?;
    }
    socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(target),
    )?;
    Ok(UdpSocket::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_udp6_table_tells_which_ports_are_bound() {
        let table = "  sl  local_address                         remote_address                        st\n\
            \x20 12: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07\n";
        assert!(udp6_lists_port(table, 53));
        assert!(!udp6_lists_port(table, 35));
        assert!(!udp6_lists_port("", 53));
    }

    #[test]
    fn datagrams_go_both_ways_per_client_and_idle_flows_end() {
        // The "container": echoes each datagram, prefixed by who sent it.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let reply = format!("{from} {}", String::from_utf8_lossy(&buf[..n]));
                server.send_to(reply.as_bytes(), from).unwrap();
            }
        });
        let host = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fwd = host.local_addr().unwrap();
        let idle = Duration::from_millis(300);
        std::thread::spawn(move || {
            serve_with_idle(
                host,
                Netns::here(),
                Target::plain(target),
                idle,
                &AtomicBool::new(false),
            )
        });
        let ask = |c: &UdpSocket, what: &str| -> String {
            c.send_to(what.as_bytes(), fwd).unwrap();
            let mut buf = [0u8; 2048];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, fwd);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let (a, b) = (
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        for c in [&a, &b] {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        let a1 = ask(&a, "one");
        let a2 = ask(&a, "two");
        let b1 = ask(&b, "three");
        let flow_of = |s: &str| s.split(' ').next().unwrap().to_string();
        assert!(a1.ends_with(" one") && a2.ends_with(" two") && b1.ends_with(" three"));
        // One flow per client, kept between its datagrams.
        assert_eq!(flow_of(&a1), flow_of(&a2));
        assert_ne!(flow_of(&a1), flow_of(&b1));
        // Idle: the flow ends; the next datagram makes a new one.
        std::thread::sleep(Duration::from_millis(900));
        let a3 = ask(&a, "four");
        assert_ne!(flow_of(&a3), flow_of(&a1));
    }
}
