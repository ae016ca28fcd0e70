//! connect() of a process that may hold a socket of the host's network
//! namespace (the `-p` bypass), made by us, never let run by the kernel.
//!
//! Checking the socket and then answering CONTINUE would not do: the
//! kernel reads the fd number again, and another thread of the caller can
//! put a host socket there in between. So the socket is fetched once
//! (pidfd_getfd), refused when it lives in the host's namespace (EPERM),
//! and connected here, that very file, to the address copied once from
//! the caller's memory; the answer is connect's own result. O_NONBLOCK
//! and SO_SNDTIMEO belong to the shared open file, so a non-blocking
//! socket gets EINPROGRESS as it would have, and a blocking one blocks
//! (on a thread of its own: the notification loop must not wait; a
//! non-blocking inet connect, which cannot wait, is made on the loop).
//!
//! The namespace that routes a connect is the socket's (sock_net), not
//! the connecting thread's: an inet socket of the container connects in
//! the container's namespace from here too, as does an abstract unix
//! address (looked up in the socket's namespace). What is the thread's is
//! its root, cwd and credentials: a unix socket's path is looked up from
//! them, its write permission checked against them, and SO_PEERCRED shows
//! them. So a connect of any family but inet runs on a thread that takes
//! the caller's root (chroot into /proc/TID/root) and cwd, and its uids,
//! gids, groups and capabilities (/proc/TID/status), for itself only.
//! SO_PEERCRED then shows the caller's uid and gids; its pid is ours,
//! which the container's pid namespace does not show: 0.
//!
//! A caller interrupted by a signal has its notification dropped: the
//! answer then fails (ENOENT) and its restarted connect finds the socket
//! connecting (EALREADY), as the kernel's own restart would. Our connect
//! runs on until it ends (a blocking unix connect to a server that never
//! accepts: for good), holding one of MAX_IN_FLIGHT places.
//!
//! Known limits: a unix path through /proc/self (or thread-self) names
//! the connecting thread, which the container's /proc does not show
//! (ENOENT); the caller's fsuid and fsgid are taken to be its effective
//! ids; its securebits, ambient capabilities and LSM labels are not
//! taken (burrow sets none of them).

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::ids::server::tgid;
use super::ids::Reply;
use crate::sys;

/// Connects in flight at most. One whose caller was interrupted runs on
/// until it ends (a SYN to nowhere: two minutes); past this many, the
/// answer is EAGAIN.
const MAX_IN_FLIGHT: usize = 256;
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The longest address the kernel takes (sizeof(struct sockaddr_storage)).
const SOCKADDR_MAX: usize = 128;

/// Answer the notified connect `n` (`socketcall`: the compat ABI's
/// socketcall(SYS_CONNECT)): refused on a socket of the namespace
/// `host_cookie`, else made for the caller on another thread.
pub fn answer(
    listener: &Arc<OwnedFd>,
    n: &libc::seccomp_notif,
    host_cookie: u64,
    socketcall: bool,
) -> Reply {
    let call = match Call::read(listener, n, host_cookie, socketcall) {
        Ok(c) => c,
        Err(e) => return Reply::Now(Err(e)),
    };
    // A non-blocking inet connect returns at once: made here, without
    // a thread (75 of 128 us per connect went to starting one). Should
    // another thread of the caller clear O_NONBLOCK in between, this
    // connect blocks the loop that serves its own container only.
    if call.caller.is_none() && call.nonblocking() {
        return Reply::Now(call.run().map(|()| Some(0)));
    }
    if IN_FLIGHT.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        return Reply::Now(Err(Errno::EAGAIN));
    }
    let (listener, id) = (listener.clone(), n.id);
    let spawned = std::thread::Builder::new()
        .name("burrow-connect".into())
        .stack_size(128 << 10)
        .spawn(move || {
            let err = match call.run() {
                Ok(()) => 0,
                Err(e) => e as i32,
            };
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            // Not pending any more: its caller was interrupted or died,
            // nobody waits for this answer.
            if sys::seccomp_notif_id_valid(&*listener, id) {
                let _ = sys::seccomp_notif_send(&*listener, id, 0, err, false);
            }
        });
    match spawned {
        Ok(_) => Reply::Later,
        Err(_) => {
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            Reply::Now(Err(Errno::EAGAIN))
        }
    }
}

/// A connect read from its caller, ready to be made.
struct Call {
    socket: OwnedFd,
    addr: Vec<u8>,
    /// For a socket that is not inet: who the connecting thread becomes.
    caller: Option<Caller>,
}

impl Call {
    /// Fetch the socket and copy the address, checking them as the
    /// kernel would, in its order (EBADF, ENOTSOCK, EINVAL, EFAULT).
    fn read(
        listener: &OwnedFd,
        n: &libc::seccomp_notif,
        host_cookie: u64,
        socketcall: bool,
    ) -> Result<Call, Errno> {
        let tid = n.pid as i32;
        // connect(int fd, struct sockaddr *addr, int addrlen): the kernel
        // takes the low 32 bits of the int arguments; socketcall's are
        // three u32 in the caller's memory (copied once).
        let [fd, addr, len] = match socketcall {
            true => {
                let b = read_mem(tid, n.data.args[1], 12).map_err(|_| Errno::EFAULT)?;
                let word =
                    |i: usize| u64::from(u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
                [word(0), word(4), word(8)]
            }
            false => [n.data.args[0], n.data.args[1], n.data.args[2]],
        };
        // A 32-bit ABI's pointer is its low half (__AUDIT_ARCH_64BIT off).
        let addr = match n.data.arch & 0x8000_0000 {
            0 => addr as u32 as u64,
            _ => addr,
        };
        let fd = fd as u32 as i32;
        let len = len as u32 as i32;
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let socket = fetch(tid, fd)?;
        if sys::netns_cookie(&socket)? == host_cookie {
            return Err(Errno::EPERM);
        }
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if len > SOCKADDR_MAX {
            return Err(Errno::EINVAL);
        }
        let addr = read_mem(tid, addr, len).map_err(|_| Errno::EFAULT)?;
        let domain = sys::getsockopt_int(&socket, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
        let caller = match domain {
            libc::AF_INET | libc::AF_INET6 => None,
            _ => Some(Caller::of(tid)?),
        };
        // All of it was the caller's, not a task's that took its tid since.
        if !sys::seccomp_notif_id_valid(listener, n.id) {
            return Err(Errno::ESRCH);
        }
        Ok(Call {
            socket,
            addr,
            caller,
        })
    }

    fn nonblocking(&self) -> bool {
        nix::fcntl::fcntl(self.socket.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|f| OFlag::from_bits_truncate(f).contains(OFlag::O_NONBLOCK))
    }

    /// On a thread of its own (it may become the caller).
    fn run(self) -> Result<(), Errno> {
        if let Some(c) = &self.caller {
            c.become_it()?;
        }
        sys::connect_bytes(&self.socket, &self.addr)
    }
}

/// What a thread takes of the caller to connect as it would have.
struct Caller {
    root: OwnedFd,
    cwd: OwnedFd,
    creds: sys::ThreadCreds,
}

impl Caller {
    fn of(tid: i32) -> Result<Caller, Errno> {
        let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let open_dir = |what: &str| {
            open(format!("/proc/{tid}/{what}").as_str(), dir, Mode::empty()).map(sys::own_fd)
        };
        let mut status = String::new();
        std::fs::File::open(format!("/proc/{tid}/status"))
            .and_then(|mut f| f.read_to_string(&mut status))
            .map_err(|_| Errno::ESRCH)?;
        Ok(Caller {
            root: open_dir("root")?,
            cwd: open_dir("cwd")?,
            creds: parse_creds(&status).ok_or(Errno::ESRCH)?,
        })
    }

    /// Make the calling thread (a fresh one, ended after its connect)
    /// the caller: its root, cwd and credentials, for this thread only
    /// (CLONE_FS unshared, per-thread credential calls).
    fn become_it(&self) -> Result<(), Errno> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
        nix::unistd::fchdir(self.root.as_raw_fd())?;
        nix::unistd::chroot(".")?;
        nix::unistd::fchdir(self.cwd.as_raw_fd())?;
        sys::set_thread_creds(&self.creds)
    }
}

/// The ids, groups and capability sets of a /proc/TID/status.
fn parse_creds(status: &str) -> Option<sys::ThreadCreds> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let ids = |name: &str| -> Option<[u32; 3]> {
        let v: Vec<u32> = field(name)?
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        Some([*v.first()?, *v.get(1)?, *v.get(2)?])
    };
    let caps = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
    let groups = field("Groups")?
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    Some(sys::ThreadCreds {
        uids: ids("Uid")?,
        gids: ids("Gid")?,
        groups,
        effective: caps("CapEff")?,
        permitted: caps("CapPrm")?,
        inheritable: caps("CapInh")?,
    })
}

/// A copy of fd `fd` of task `tid`: its thread group's (a pidfd of a
/// thread that is not the leader is refused before Linux 6.9).
fn fetch(tid: i32, fd: i32) -> Result<OwnedFd, Errno> {
    let got = sys::pidfd_getfd(tid, fd).or_else(|e| match e {
        Errno::EINVAL => sys::pidfd_getfd(tgid(tid).unwrap_or(tid), fd),
        e => Err(e),
    });
    match got {
        // Not ours to look at (this should not happen): refused.
        Err(Errno::EPERM | Errno::EACCES) => Err(Errno::EPERM),
        r => r,
    }
}

/// `len` bytes at `addr` of task `tid`'s memory.
pub(super) fn read_mem(tid: i32, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    if len > 0 {
        let f = std::fs::File::open(format!("/proc/{tid}/mem"))?;
        f.read_exact_at(&mut buf, addr)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_the_ids_groups_and_capabilities() {
        let status = "Name:\tsh\nUid:\t1000\t1001\t1002\t1001\nGid:\t50\t51\t52\t51\n\
                      Groups:\t4 24 27 \nCapInh:\t0000000000000000\n\
                      CapPrm:\t000001ffffffffff\nCapEff:\t0000000000000400\n";
        let c = parse_creds(status).unwrap();
        assert_eq!(c.uids, [1000, 1001, 1002]);
        assert_eq!(c.gids, [50, 51, 52]);
        assert_eq!(c.groups, vec![4, 24, 27]);
        assert_eq!(c.permitted, 0x1ff_ffff_ffff);
        assert_eq!(c.effective, 0x400);
        assert_eq!(c.inheritable, 0);
        // No groups at all is an empty list, not a failure.
        let none = status.replace("Groups:\t4 24 27 ", "Groups:");
        assert_eq!(parse_creds(&none).unwrap().groups, Vec::<u32>::new());
        assert!(parse_creds("Uid:\t1\n").is_none());
    }
}
