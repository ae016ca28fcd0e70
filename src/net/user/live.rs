//! `network connect` and `disconnect` of a running container: its link
//! into the network made or removed in place, as Docker does. Only for a
//! container that lives in the keeper's user namespace (one started on a
//! user network): a veth between its network namespace and the bridges'
//! needs CAP_NET_ADMIN over the user namespaces owning both. The work is
//! done by a forked child, as setns into a user namespace needs a
//! single-threaded process and this one stays where it is.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use anyhow::{bail, Context};
use nix::sched::{setns, CloneFlags};
use nix::unistd::ForkResult;

use super::attach::{self, Link};
use super::keeper::Handles;
use crate::net::netlink::{self, Socket};
use crate::sys;

/// Whether process `pid` is in the keeper's user namespace.
pub fn in_keepers_userns(k: &Handles, pid: i32) -> bool {
    let ours = k
        .userns
        .try_clone()
        .map(File::from)
        .and_then(|f| f.metadata());
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/user"));
    match (ours, theirs) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Give the container whose namespaces `pid` holds a link into `link`'s
/// network, named by the first free `ethN`.
pub fn connect(k: &Handles, pid: i32, link: &Link) -> anyhow::Result<()> {
    in_child(k, pid, |nl, own| {
        let name = (1..)
            .map(|n| format!("eth{n}"))
            .find(|n| nix::net::if_::if_nametoindex(n.as_str()).is_err())
            .expect("some ethN is free");
        attach::plumb_one(nl, own, k.netns.as_fd(), link, &name)
    })
}

/// Remove the container's link that carries address `ip` (its veth pair
/// goes with it, and so its bridge port); none there is no error.
pub fn disconnect(k: &Handles, pid: i32, ip: Ipv4Addr) -> anyhow::Result<()> {
    in_child(k, pid, |nl, _| {
        let name = nix::ifaddrs::getifaddrs()
            .context("list the container's addresses")?
            .find(|a| a.address.and_then(|s| s.as_sockaddr_in().map(|v4| v4.ip())) == Some(ip))
            .map(|a| a.interface_name);
        let Some(name) = name else {
            return Ok(());
        };
        let index = nix::net::if_::if_nametoindex(name.as_str())
            .with_context(|| format!("find interface {name}"))?;
        nl.request(&netlink::build_del_link(index), &format!("remove {name}"))
    })
}

/// Run `f` in a child in the keeper's user namespace and `pid`'s network
/// namespace (with a netlink socket and that namespace's fd); its error,
/// if any, comes back as ours.
fn in_child(
    k: &Handles,
    pid: i32,
    f: impl FnOnce(&Socket, &OwnedFd) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let netns = OwnedFd::from(File::open(&path).with_context(|| format!("open {path}"))?);
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    match sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(r);
            // Root in the container is root in the keeper's namespace:
            // no ptrace or /proc/PID/fd of this child from there.
            let done = nix::sys::prctl::set_dumpable(false)
                .context("make the helper non-dumpable")
                .and_then(|()| {
                    setns(&k.userns, CloneFlags::CLONE_NEWUSER)
                        .context("join the user networks' user namespace")
                })
                .and_then(|()| {
                    setns(&netns, CloneFlags::CLONE_NEWNET)
                        .context("join the container's network namespace")
                })
                .and_then(|()| f(&Socket::open()?, &netns));
            let code = match done {
                Ok(()) => 0,
                Err(e) => {
                    let _ = nix::unistd::write(&w, format!("{e:#}").as_bytes());
                    1
                }
            };
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut msg = String::new();
            let _ = std::io::Read::read_to_string(&mut File::from(r), &mut msg);
            let status = nix::sys::wait::waitpid(child, None).context("wait for the helper")?;
            if !msg.is_empty() {
                bail!("{msg}");
            }
            if !matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)) {
                bail!("the network helper died ({status:?})");
            }
            Ok(())
        }
    }
}
