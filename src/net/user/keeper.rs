//! The keeper: one process per store root that holds the namespaces the
//! user networks live in, as rootless podman's pause process and
//! rootless-netns do.
//!
//! - A user namespace with the id mapping containers get. Containers on
//!   user networks join it instead of making their own: a veth between a
//!   container's network namespace and the bridges' needs CAP_NET_ADMIN
//!   over the user namespaces owning both, and one namespace owning both
//!   is the simplest way to have that without root.
//! - A network namespace with one bridge per network record, its gateway
//!   address on it, and the resolver (`dns`) on port 53 of every gateway.
//!
//! It is started on demand, detached (own session, stdio on /dev/null),
//! and serves a unix socket in the runtime dir: each connection makes it
//! bring its bridges in line with the records (made or removed) and
//! answers with its two namespaces (SCM_RIGHTS). It leaves when the store
//! has no network left. Killed, it takes its namespaces along (the
//! kernel removes the bridges); the next `ensure` starts a new one from
//! the records.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{IpAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::ForkResult;

use super::store;
use crate::net::netlink::{self, Socket};
use crate::paths::Paths;
use crate::sys;
use crate::userns::idmap::{self, HostUser};

/// The keeper's namespaces, for a launch.
pub struct Handles {
    pub userns: OwnedFd,
    pub netns: OwnedFd,
}

/// The keeper's dir in the runtime dir: one per store root (tests and
/// users may have several stores), named by a hash of the root's path.
fn keeper_dir(paths: &Paths) -> anyhow::Result<PathBuf> {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(
        paths.root().as_os_str().as_encoded_bytes(),
    ));
    let dir = paths
        .ensure_runtime()?
        .join(format!("netns-{}", &hash[..16]));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// The running keeper's namespaces, its bridges in line with the records;
/// starts it when none runs.
///
/// Must be called while this process has a single thread.
pub fn ensure(paths: &Paths) -> anyhow::Result<Handles> {
    let dir = keeper_dir(paths)?;
    let sock = dir.join("sock");
    if let Ok(h) = ask(&sock) {
        return Ok(h);
    }
    // One starter at a time; the loser finds the winner's keeper.
    let _lock = crate::fsutil::lock_store(&dir, "network keeper", Duration::from_secs(10))?;
    if let Ok(h) = ask(&sock) {
        return Ok(h);
    }
    start(paths, &sock).context("start the user networks' keeper")?;
    ask(&sock).context("ask the user networks' keeper")
}

/// Tell a running keeper that the records changed (a network went); a
/// no-op when none runs.
pub fn sync(paths: &Paths) {
    if let Ok(dir) = keeper_dir(paths) {
        let _ = ask(&dir.join("sock"));
    }
}

/// One request: "sync", answered "ok" with the two namespaces, or a line
/// saying what failed.
fn ask(sock: &Path) -> anyhow::Result<Handles> {
    let mut s = UnixStream::connect(sock).context("connect")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"sync\n")?;
    let mut buf = [0u8; 1024];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("read the keeper's answer")?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for c in msg.cmsgs().context("read the passed fds")? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            fds.extend(raw.into_iter().map(sys::own_fd));
        }
    }
    let n = msg.bytes;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    if text != "ok" || fds.len() != 2 {
        bail!("the keeper says: {}", text.trim());
    }
    let netns = fds.pop().expect("two fds");
    let userns = fds.pop().expect("two fds");
    Ok(Handles { userns, netns })
}

/// Fork the keeper, map its user namespace (newuidmap in subuid mode, as
/// for a container) and wait until it serves its socket.
fn start(paths: &Paths, sock: &Path) -> anyhow::Result<()> {
    let user = HostUser::current();
    let choice = idmap::choose(&user);
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).with_context(|| format!("bind {}", sock.display()))?;
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let root = paths.root().to_path_buf();
    match sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(ready_r);
            drop(go_w);
            keep_only(&[listener.as_raw_fd(), ready_w.as_raw_fd(), go_r.as_raw_fd()]);
            let _ = nix::unistd::setsid();
            crate::proc::stdio_to_null();
            let mut ready = Some(std::fs::File::from(ready_w));
            let code = match keeper_main(&root, listener, &mut ready, go_r) {
                Ok(()) => 0,
                Err(e) => {
                    if let Some(r) = ready.as_mut() {
                        let _ = r.write_all(format!("{e:#}").as_bytes());
                    }
                    1
                }
            };
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(go_r);
            drop(listener);
            let mut ready = std::fs::File::from(ready_r);
            let mut b = [0u8; 1];
            if ready.read(&mut b)? != 1 || b[0] != b'u' {
                let mut why = String::new();
                let _ = ready.read_to_string(&mut why);
                let _ = nix::sys::wait::waitpid(child, None);
                bail!("{}", why.trim());
            }
            let mapped = idmap::start(child, &choice.mode, &user).and_then(|h| h.finish());
            if let Err(e) = mapped {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(e).context("write the id maps");
            }
            std::fs::File::from(go_w).write_all(b"g")?;
            let mut rest = String::new();
            ready.read_to_string(&mut rest)?;
            if rest != "ok" {
                let _ = nix::sys::wait::waitpid(child, None);
                bail!("{}", rest.trim());
            }
            // It lives on, detached; init (or a subreaper) reaps it.
            Ok(())
        }
    }
}

/// Close every fd but stdio and `keep`: the keeper outlives this command
/// and must not hold its locks or pipes.
fn keep_only(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
}

/// The keeper itself: namespaces, resolver, then serve the socket.
fn keeper_main(
    root: &Path,
    listener: UnixListener,
    ready_pipe: &mut Option<std::fs::File>,
    go: OwnedFd,
) -> anyhow::Result<()> {
    let ready = ready_pipe.as_mut().expect("the ready pipe");
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // Found by name in `ps` (and by the tests).
    let _ = nix::sys::prctl::set_name(c"burrow-netns");
    // The resolver forwards through sockets of the host's network
    // namespace: opened before leaving it.
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = crate::net::options::host_resolvers(&resolv)
        .into_iter()
        .next();
    let host_sock = match upstream {
        Some(IpAddr::V6(_)) => UdpSocket::bind("[::]:0"),
        _ => UdpSocket::bind("0.0.0.0:0"),
    }
    .context("open the resolver's forwarding socket")?;
    unshare(CloneFlags::CLONE_NEWUSER).context("unshare the user namespace")?;
    ready.write_all(b"u")?;
    let mut b = [0u8; 1];
    if std::fs::File::from(go).read(&mut b)? != 1 {
        bail!("the id maps were not written");
    }
    unshare(CloneFlags::CLONE_NEWNET).context("unshare the network namespace")?;
    sys::loopback_up().context("bring lo up")?;
    let userns: OwnedFd = std::fs::File::open("/proc/self/ns/user")?.into();
    let netns: OwnedFd = std::fs::File::open("/proc/self/ns/net")?.into();
    sync_bridges(root)?;
    // Port 53 of every gateway, now and later (a wildcard address).
    let dns_sock = UdpSocket::bind("0.0.0.0:53").context("bind the resolver's port 53")?;
    super::dns::start(root.to_path_buf(), dns_sock, host_sock, upstream)?;
    ready.write_all(b"ok")?;
    // Closed: the starter reads to its end.
    *ready_pipe = None;
    // The socket file stays: a new keeper's start replaces it, and
    // removing it here could remove that new keeper's.
    serve(root, &listener, &userns, &netns)
}

/// Answer requests until the store has no network left.
fn serve(
    root: &Path,
    listener: &UnixListener,
    userns: &OwnedFd,
    netns: &OwnedFd,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    loop {
        // Woken by a request at once (a start waits for our answer); when
        // none came for a second: no network left (or no store), no keeper.
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(listener),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16)) {
            Ok(0) => {
                if store::list(root).is_empty() {
                    return Ok(());
                }
                continue;
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        match listener.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = [0u8; 16];
                let _ = conn.read(&mut line);
                let answer = sync_bridges(root);
                let _ = match answer {
                    Ok(()) => {
                        let fds = [userns.as_raw_fd(), netns.as_raw_fd()];
                        sendmsg::<()>(
                            conn.as_raw_fd(),
                            &[IoSlice::new(b"ok")],
                            &[ControlMessage::ScmRights(&fds)],
                            MsgFlags::empty(),
                            None,
                        )
                        .map(drop)
                    }
                    Err(e) => conn
                        .write_all(format!("{e:#}").as_bytes())
                        .map_err(|_| nix::errno::Errno::EPIPE),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accept"),
        }
    }
}

/// One bridge (`br-<id>`, gateway address, up) per record, and none
/// for a network that is gone. Runs in the keeper's network namespace.
fn sync_bridges(root: &Path) -> anyhow::Result<()> {
    let nl = Socket::open()?;
    let nets = store::list(root);
    let have: Vec<(u32, String)> = nix::net::if_::if_nameindex()
        .map(|l| {
            l.iter()
                .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    for (index, name) in &have {
        if name.starts_with("br-") && !nets.iter().any(|n| n.bridge() == *name) {
            nl.request(
                &netlink::build_del_link(*index),
                &format!("remove bridge {name}"),
            )?;
        }
    }
    for n in &nets {
        let br = n.bridge();
        if have.iter().any(|(_, name)| *name == br) {
            continue;
        }
        nl.request(
            &netlink::build_new_bridge(&br, super::attach::MTU),
            &format!("create bridge {br}"),
        )?;
        let index = nix::net::if_::if_nametoindex(br.as_str())
            .with_context(|| format!("find bridge {br}"))?;
        nl.request(
            &netlink::build_add_addr(index, IpAddr::V4(n.gateway), n.subnet.prefix),
            &format!("add the gateway address to {br}"),
        )?;
    }
    Ok(())
}
