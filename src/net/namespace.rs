//! The container's network namespace for the default network, made once
//! per container by the supervisor and kept across restarts.
//!
//! The supervisor must stay in the host's network namespace (it runs the
//! translator and the port listeners there), and a process cannot go back
//! to a namespace owned by the host's user namespace once it left it. So a
//! short-lived child makes the namespace: it unshares CLONE_NEWNET, opens
//! the tap (`eth0`), configures it with the address plan (`addr`), and
//! passes the namespace and the tap back over a socket pair (SCM_RIGHTS)
//! before it exits. The container init then joins the namespace with
//! setns.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, IoSliceMut};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context};
use nix::sched::CloneFlags;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use super::addr;
use super::netlink::{self, Socket};
use crate::sys;

/// The tun/tap character device.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// The tap's queue, in packets: long enough for a full TCP window at any
/// MTU (passt's lesson: the default 1000 throttles small-MTU traffic).
const TXQUEUELEN: u32 = 10_000;

/// What the supervisor keeps of a container's default network: its
/// network namespace (the init joins it) and the tap's file (the
/// translator reads and writes the container's frames on it).
pub struct Namespace {
    pub netns: OwnedFd,
    pub tap: File,
}

/// Why the default network cannot work here, as one line, or None.
/// Checked by the caller before anything starts.
pub fn tun_problem() -> Option<String> {
    let e = OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN_DEVICE)
        .err()?;
    let c = crate::rootfs::host::device_unusable(TUN_DEVICE, &e, "tun");
    // "no (why)" -> "why"
    let why = c
        .value
        .strip_prefix("no (")
        .and_then(|v| v.strip_suffix(')'));
    let why = why.unwrap_or(&c.value);
    Some(match c.hint {
        Some(h) => format!("{why}: {h}, or use --network none"),
        None => format!("{why}: use --network none"),
    })
}

/// Make the namespace and its tap in a child (see the module doc). Call
/// in the container's user namespace, before this process has threads.
/// With `user`: the container's links into its user networks too
/// (`user::attach`); then this process is in the keeper's user namespace.
pub fn create(user: Option<&super::user::attach::UserNets>) -> anyhow::Result<Namespace> {
    let (mine, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    match sys::fork().context("fork the network namespace's maker")? {
        ForkResult::Child => {
            drop(mine);
            let (text, fds) = match make(user) {
                Ok((ns, tap)) => ("ok".to_string(), vec![ns, OwnedFd::from(tap)]),
                Err(e) => (format!("{e:#}"), Vec::new()),
            };
            let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
            let cmsg = [ControlMessage::ScmRights(&raw)];
            let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
            let sent = sendmsg::<()>(
                theirs.as_raw_fd(),
                &[IoSlice::new(text.as_bytes())],
                cmsgs,
                MsgFlags::empty(),
                None,
            );
            sys::exit_now(i32::from(sent.is_err()))
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            let got = receive(&mine);
            let _ = waitpid(child, None);
            got
        }
    }
}

fn receive(sock: &OwnedFd) -> anyhow::Result<Namespace> {
    let mut buf = [0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receive the network namespace")?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for c in msg.cmsgs().context("read the passed fds")? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            fds.extend(raw.into_iter().map(sys::own_fd));
        }
    }
    let n = msg.bytes;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    if text != "ok" || fds.len() != 2 {
        if text.is_empty() {
            bail!("set up the network namespace: its maker died");
        }
        bail!("set up the network namespace: {text}");
    }
    let tap = File::from(fds.pop().expect("two fds"));
    let netns = fds.pop().expect("two fds");
    Ok(Namespace { netns, tap })
}

/// The largest TCP segment on the container's loopback (BIG TCP).
const LO_SEGMENT: u32 = 256 << 10;

/// In the child: the namespace, the tap, the addresses and routes.
fn make(user: Option<&super::user::attach::UserNets>) -> anyhow::Result<(OwnedFd, File)> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).context("unshare the network namespace")?;
    let tap = OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN_DEVICE)
        .with_context(|| format!("open {TUN_DEVICE}"))?;
    sys::tun_set_iff(&tap, addr::IFNAME).context("create the tap device (TUNSETIFF)")?;
    let nl = Socket::open()?;
    let index = |name: &str| {
        nix::net::if_::if_nametoindex(name).with_context(|| format!("find interface {name}"))
    };
    let lo = index("lo")?;
    let eth = index(addr::IFNAME)?;
    nl.request(&netlink::build_link_up(lo, None, None), "bring lo up")?;
    // `-p` connections reach the container over its loopback: 256 KiB
    // segments there take a third less CPU per byte than 64 KiB ones.
    // Best effort: kernels before 6.3 refuse (and keep 64 KiB).
    if let Err(e) = nl.request(
        &netlink::build_big_segments(lo, LO_SEGMENT),
        "raise lo's segment size",
    ) {
        tracing::debug!("{e:#}");
    }
    // No duplicate address detection on eth0 (its link-local address too):
    // nothing else is on the link, and DAD holds addresses back a second.
    // /proc/sys/net shows the opener's namespace: ours now. Best effort
    // (no IPv6 on the host: no file).
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{}/accept_dad", addr::IFNAME),
        "0",
    );
    nl.request(
        &netlink::build_link_up(eth, Some(addr::MTU), Some(TXQUEUELEN)),
        "bring eth0 up",
    )?;
    nl.request(
        &netlink::build_add_addr(eth, IpAddr::V4(addr::CONTAINER4), addr::PREFIX4),
        "add the IPv4 address",
    )?;
    // Only internal user networks: no way out (no default route; the tap
    // still carries -p to the container).
    let internal = user.is_some_and(|u| u.links.iter().all(|l| l.internal));
    if !internal {
        nl.request(
            &netlink::build_default_route(eth, IpAddr::V4(addr::GATEWAY4)),
            "add the IPv4 default route",
        )?;
    }
    // IPv6 where the kernel has it (it may be disabled on the host).
    let v6 = nl
        .request(
            &netlink::build_add_addr(eth, IpAddr::V6(addr::CONTAINER6), addr::PREFIX6),
            "add the IPv6 address",
        )
        .and_then(|()| {
            if internal {
                return Ok(());
            }
            nl.request(
                &netlink::build_default_route(eth, IpAddr::V6(addr::GATEWAY6)),
                "add the IPv6 default route",
            )
        });
    if let Err(e) = v6 {
        tracing::debug!("no IPv6 in the container: {e:#}");
    }
    let ns = OwnedFd::from(File::open("/proc/self/ns/net").context("open /proc/self/ns/net")?);
    if let Some(u) = user {
        super::user::attach::plumb(&nl, &ns, u)?;
    }
    Ok((ns, tap))
}

/// Join the namespace (the container init, before its other namespaces).
pub fn join(netns: &impl std::os::fd::AsFd) -> anyhow::Result<()> {
    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET).context("join the network namespace")
}
