//! The caller's half of `-p`: bind every host socket before anything is
//! started, so a port in use fails the start with one line and nothing
//! made; the sockets then pass to the supervisor across its fork.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use super::spec::{host_addr, Binding, Proto, Publish};

/// The sockets a start bound, shared by the launch spec's clones; the
/// bindings stay known after the sockets are closed.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    bindings: Vec<Binding>,
    fds: Arc<Mutex<Vec<OwnedFd>>>,
}

impl Listeners {
    pub fn bindings(&self) -> Vec<Binding> {
        self.bindings.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Each socket (a new fd of it) with what it is for.
    pub fn sockets(&self) -> std::io::Result<Vec<(Binding, OwnedFd)>> {
        let fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (b, fd) in self.bindings.iter().zip(fds.iter()) {
            out.push((*b, fd.try_clone()?));
        }
        Ok(out)
    }

    /// Close them in a forked child that must not hold them (the child
    /// execs or exits: its copies of the `OwnedFd`s are never dropped).
    pub fn close_in_child(&self) {
        // A child of a threaded supervisor must not wait on a lock that
        // a thread held at the fork: try, else leave them to exec's
        // close-on-exec.
        if let Ok(fds) = self.fds.try_lock() {
            for fd in fds.iter() {
                let _ = nix::unistd::close(fd.as_raw_fd());
            }
        }
    }

    /// Stop every socket's traffic (a thread blocked in accept or recv on
    /// any fd of it wakes up), keeping the fds.
    pub fn shut_down(&self) {
        for fd in self.fds.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        }
    }

    /// Close this process's fds of them (other clones see none left).
    pub fn close(&self) {
        self.fds.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A host port that could not be bound, said in one line with what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BindError(String);

/// Bind a socket for each wanted port, all or none.
pub fn bind_all(wanted: &[Publish]) -> Result<Listeners, BindError> {
    let mut bindings = Vec::new();
    let mut fds = Vec::new();
    for p in wanted {
        let (b, fd) = bind_one(p)?;
        bindings.push(b);
        fds.push(fd);
    }
    Ok(Listeners {
        bindings,
        fds: Arc::new(Mutex::new(fds)),
    })
}

fn bind_one(p: &Publish) -> Result<(Binding, OwnedFd), BindError> {
    let (first, last) = p.host_ports;
    let mut last_err = None;
    for port in first..=last {
        match bind_socket(SocketAddr::new(p.host_ip, port), p.proto) {
            Ok((fd, bound)) => {
                let b = Binding {
                    host_ip: p.host_ip,
                    host_port: bound,
                    container_port: p.container_port,
                    proto: p.proto,
                };
                return Ok((b, fd));
            }
            // In a range, the next one may be free.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && port < last => {}
            Err(e) => {
                last_err = Some(e);
                break;
            }
        }
    }
    let e = last_err.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse));
    Err(explain(p, &e))
}

/// Bind (and listen, for TCP); returns the fd and the port it got.
fn bind_socket(addr: SocketAddr, proto: Proto) -> std::io::Result<(OwnedFd, u16)> {
    match proto {
        // std sets SO_REUSEADDR, as Docker's proxy (Go) does: a port in
        // TIME_WAIT after the last container can be bound again at once.
        Proto::Tcp => {
            let l = TcpListener::bind(addr)?;
            let port = l.local_addr()?.port();
            Ok((OwnedFd::from(l), port))
        }
        Proto::Udp => {
            let s = UdpSocket::bind(addr)?;
            let port = s.local_addr()?.port();
            Ok((OwnedFd::from(s), port))
        }
    }
}

/// One line naming the port and what to do.
fn explain(p: &Publish, e: &std::io::Error) -> BindError {
    let (first, last) = p.host_ports;
    let port = match (first, last) {
        (0, 0) => "a free port".to_string(),
        (a, b) if a == b => format!("port {a}/{}", p.proto),
        (a, b) => format!("every port of {a}-{b}/{}", p.proto),
    };
    let where_ = host_addr(p.host_ip, first);
    let where_ = where_.rsplit_once(':').map_or(where_.as_str(), |w| w.0);
    let text = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => format!(
            "cannot publish {port} on {where_}: already in use on the host (stop what \
             listens there, or pick another host port with -p HOSTPORT:{})",
            p.container_port
        ),
        Some(libc::EACCES) => format!(
            "cannot publish {port} on {where_}: ports below {} need privilege \
             (net.ipv4.ip_unprivileged_port_start); pick a higher host port",
            unprivileged_start()
        ),
        Some(libc::EADDRNOTAVAIL) => format!(
            "cannot publish {port} on {where_}: {} is not an address of this host",
            p.host_ip
        ),
        _ => format!("cannot publish {port} on {where_}: {e}"),
    };
    BindError(text)
}

fn unprivileged_start() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "1024".into())
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse_publish;
    use super::*;

    #[test]
    fn a_port_in_use_is_named_and_nothing_stays_bound() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        // A free one first: it must be let go when the second fails.
        let mut wanted = parse_publish("127.0.0.1::80").unwrap();
        wanted.extend(parse_publish(&format!("127.0.0.1:{port}:81")).unwrap());
        let e = bind_all(&wanted).unwrap_err().to_string();
        assert!(e.contains(&format!("port {port}/tcp")), "{e}");
        assert!(e.contains("already in use"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn random_and_range_ports_are_bound_and_noted() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let mut wanted = parse_publish("127.0.0.1::80").unwrap();
        wanted.extend(parse_publish(&format!("127.0.0.1:{port}-{}:81", port + 1)).unwrap());
        wanted.extend(parse_publish("127.0.0.1::53/udp").unwrap());
        let l = match bind_all(&wanted) {
            Ok(l) => l,
            // The next port happened to be taken by someone else.
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let b = l.bindings();
        assert_ne!(b[0].host_port, 0);
        assert_eq!(b[1].host_port, port + 1);
        assert_eq!(b[2].proto, Proto::Udp);
        assert!(UdpSocket::bind(("127.0.0.1", b[2].host_port)).is_err());
    }
}
