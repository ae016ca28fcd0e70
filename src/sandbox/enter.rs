//! `exec`: a new process inside a running container. We join its user
//! namespace first (its owner may, holding every capability there), then
//! its mount, uts, ipc, net and pid namespaces, take its root, and fork
//! the command into its pid namespace. Needs a single-threaded caller:
//! setns into a user namespace fails in a threaded process.
//! The process gets the confinement the caller passes (the container's:
//! capabilities, no_new_privs, seccomp), applied as the init applies it;
//! in a container that may hold sockets of the host's network namespace
//! (the `-p` bypass), its connect() is checked too (`exec_guard`).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};

use anyhow::Context;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::streams::{self, Live, Streams};
use super::{init, Confinement, ProcessSpec};
use crate::error::EXIT_BURROW;
use crate::sys;
use crate::userns::idmap::IdMapMode;

/// Namespaces joined, in this order (the user namespace first).
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
];

/// The process whose namespaces and root we take: the init itself, or,
/// when it is our tiny pid 1 (made non-dumpable so the command cannot
/// reach the host binary through /proc/1/exe, which also closes its
/// /proc entries to us), one of its children: they run the command, in
/// the same namespaces.
pub fn joinable(init: i32) -> i32 {
    let open = |pid: i32| File::open(format!("/proc/{pid}/ns/user")).is_ok();
    if open(init) {
        return init;
    }
    crate::proc::children_of(init)
        .into_iter()
        .find(|c| open(*c))
        .unwrap_or(init)
}

/// Run `p` in the container whose init is `init` (a pid of ours) and
/// return its exit code; with `detach`, return once it was started.
/// `bypass_netns`: the cookie of the host's network namespace when the
/// container may hold sockets of it (`Record::bypass_netns`): the
/// command may not connect those.
pub fn enter(
    init: i32,
    p: &ProcessSpec,
    id_map: &IdMapMode,
    confinement: &Confinement,
    detach: bool,
    bypass_netns: Option<u64>,
) -> anyhow::Result<i32> {
    // First, while we are single-threaded and hold nothing of the
    // container's: the command sends its connect() there. No guard, no
    // command: if it cannot start, or the command's filter cannot be
    // installed, the exec fails rather than run unchecked.
    let target = joinable(init);
    let guarded;
    let (guard, confinement) = match bypass_netns {
        Some(cookie) => {
            guarded = Confinement {
                notify_bind: true,
                ..confinement.clone()
            };
            let userns = File::open(format!("/proc/{target}/ns/user"))
                .with_context(|| format!("open /proc/{target}/ns/user of the container's init"))?;
            (Some(super::exec_guard::spawn(cookie, userns)?), &guarded)
        }
        None => (None, confinement),
    };
    let nproc = nproc_limit_of(target);
    let open = |what: &str| {
        File::open(format!("/proc/{target}/{what}"))
            .with_context(|| format!("open /proc/{target}/{what} of the container's init"))
    };
    let mut ns = Vec::new();
    for (name, flag) in NAMESPACES {
        let f = open(&format!("ns/{name}"))?;
        // A namespace the container shares with us (the host's network
        // under --network host) is not its own: joining it would need
        // privileges over the host's, and we are in it already.
        if !is_ours(&f, name) {
            ns.push((f, flag));
        }
    }
    // Forwarded while we wait, as for `run`.
    let forwarded = super::relay::forwarded_signals();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), Some(&mut old))
        .context("block signals")?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let joiner = match sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(r);
            // Before anything of ours is seen from the container (our
            // children go into its pid namespace): its processes, even
            // root there with every capability, may not open our
            // /proc/PID/exe (the host's burrow binary), fds or memory, as
            // we run a binary exec'd outside its user namespace
            // (CVE-2019-5736). The command's execve makes it dumpable again.
            let code = match nix::sys::prctl::set_dumpable(false)
                .context("make the exec helper non-dumpable")
                .and_then(|()| join(&ns, target))
            {
                Ok(()) => {
                    same_nproc_limit(nproc);
                    run_in(p, id_map, confinement, detach, w, guard)
                }
                Err(e) => {
                    let _ = nix::unistd::write(&w, format!("{e:#}").as_bytes());
                    EXIT_BURROW
                }
            };
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(guard);
            child
        }
    };
    drop(w);
    drop(ns);
    // The joiner (or the command's exec) closes the pipe; a message on it
    // is a failure to report.
    let mut msg = String::new();
    let _ = std::io::Read::read_to_string(&mut File::from(r), &mut msg);
    if detach {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        return match msg.is_empty() {
            true => Ok(0),
            false => Err(crate::error::Coded::new(EXIT_BURROW, msg).into()),
        };
    }
    let status = wait_forwarding(joiner, &forwarded);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    let code = status?;
    if !msg.is_empty() {
        return Err(crate::error::Coded::new(code, msg).into());
    }
    Ok(code)
}

/// The container's RLIMIT_NPROC (`--pids-limit` without a cgroup), from
/// /proc/PID/limits: "Max processes  SOFT  HARD  processes".
fn nproc_limit_of(pid: i32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max processes"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The exec'd command counts with the container's processes (same uid in
/// the same user namespace, which we joined): it gets their limit too, or
/// it could fork past it.
fn same_nproc_limit(limit: Option<u64>) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let (Some(n), Ok((_, hard))) = (limit, getrlimit(Resource::RLIMIT_NPROC)) {
        let n = n.min(hard);
        let _ = setrlimit(Resource::RLIMIT_NPROC, n, n);
    }
}

/// Is `ns` (an open /proc/PID/ns/NAME) the namespace this process is in?
fn is_ours(ns: &File, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(mine) = std::fs::metadata(format!("/proc/self/ns/{name}")) else {
        return false;
    };
    ns.metadata()
        .is_ok_and(|m| m.dev() == mine.dev() && m.ino() == mine.ino())
}

/// In the joiner: every namespace, then the container's root.
fn join(ns: &[(File, CloneFlags)], target: i32) -> anyhow::Result<()> {
    // Opened from inside the user namespace (and still through the host's
    // /proc): a FUSE root lets no one outside it in.
    let open_root = || {
        let path = format!("/proc/{target}/root");
        File::open(&path).with_context(|| format!("open {path} of the container's init"))
    };
    // In it already (the supervisor's health checks): open it now.
    let mut root = match ns.first() {
        Some((_, f)) if *f == CloneFlags::CLONE_NEWUSER => None,
        _ => Some(open_root()?),
    };
    for (f, flag) in ns {
        setns(f, *flag).with_context(|| format!("join the container's namespace ({flag:?})"))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            root = Some(open_root()?);
        }
    }
    let root = root.context("the container's user namespace was not joined")?;
    nix::unistd::fchdir(root.as_raw_fd()).context("enter the container's root")?;
    nix::unistd::chroot(".").context("chroot into the container's root")?;
    Ok(())
}

/// In the joiner: fork the command into the pid namespace, wait for it.
fn run_in(
    p: &ProcessSpec,
    id_map: &IdMapMode,
    confinement: &Confinement,
    detach: bool,
    report: std::os::fd::OwnedFd,
    guard: Option<super::channel::Channel>,
) -> i32 {
    if detach {
        // Nobody reads its output, and our caller must not wait for it.
        super::detach::detach_self();
    }
    let fail = |e: anyhow::Error| {
        let _ = nix::unistd::write(&report, format!("{e:#}").as_bytes());
        EXIT_BURROW
    };
    // A pty with -t; else pipes for our terminals (none once detached).
    let (pty, stdio) = match p.tty {
        true => match open_pty() {
            Ok(pair) => (Some(pair), None),
            Err(e) => return fail(e),
        },
        false => match streams::for_terminals(p.stdin) {
            Ok(pair) => (None, Some(pair)),
            Err(e) => return fail(e),
        },
    };
    match sys::fork() {
        Ok(ForkResult::Child) => {
            if !detach {
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            }
            let attached = match (pty, stdio) {
                (Some((master, slave)), _) => {
                    drop(master);
                    attach_tty(&slave)
                }
                // Its own session and process group, as `run` gives the
                // container: no signal to our caller's group (kill 0) and
                // no controlling terminal (/dev/tty) reach the caller.
                (None, Some((ends, streams))) => {
                    drop(streams);
                    nix::unistd::setsid()
                        .context("setsid")
                        .and_then(|_| ends.attach())
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = attached {
                let _ = nix::unistd::write(&report, format!("{e:#}").as_bytes());
                sys::exit_now(EXIT_BURROW)
            }
            let (code, message) = init::become_exec(p, id_map, confinement, guard.as_ref());
            let _ = nix::unistd::write(&report, message.as_bytes());
            sys::exit_now(code)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report);
            // The command's alone: the guard sees the end of it unsent.
            drop(guard);
            let (mut streams, _raw) = match (pty, stdio) {
                (Some((master, slave)), _) => {
                    drop(slave);
                    let raw = match p.stdin {
                        true => super::relay::RawMode::enter(),
                        false => None,
                    };
                    (Streams::for_pty(master, p.stdin), raw)
                }
                (None, Some((ends, streams))) => {
                    drop(ends);
                    (streams, None)
                }
                (None, None) => (Streams::none(), None),
            };
            // Detached, we stay as its parent (our caller does not wait
            // for us): an orphan would go to the host's reaper, not the
            // container's init. Signals forwarded to us go on to it.
            relay_and_wait(child, &mut streams, &super::relay::forwarded_signals())
                .unwrap_or(EXIT_BURROW)
        }
        Err(e) => fail(anyhow::anyhow!("fork: {e}")),
    }
}

/// Wait for `pid`, passing on the blocked `forwarded` signals.
fn wait_forwarding(pid: Pid, forwarded: &SigSet) -> anyhow::Result<i32> {
    let mut with_chld = *forwarded;
    with_chld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&with_chld), None).context("block signals")?;
    loop {
        if let Some(code) = reaped(pid)? {
            return Ok(code);
        }
        match with_chld.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = kill(pid, sig);
            }
        }
    }
}

/// Its exit code (128 + signal) once `pid` ended.
fn reaped(pid: Pid) -> anyhow::Result<Option<i32>> {
    match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(e) => Err(e).context("wait for the exec'd process"),
    }
}

/// Copy `streams` while `pid` runs and pass on the blocked `forwarded`
/// signals to it; returns its exit code once it ended and its pty (if
/// any) was read to the end.
fn relay_and_wait(pid: Pid, streams: &mut Streams, forwarded: &SigSet) -> anyhow::Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    if streams.is_empty() {
        return wait_forwarding(pid, forwarded);
    }
    let mut with_chld = *forwarded;
    with_chld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&with_chld), None).context("block signals")?;
    let sfd = SignalFd::with_flags(&with_chld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut code = None;
    loop {
        if code.is_none() {
            code = reaped(pid)?;
        }
        if let Some(code) = code {
            streams.stop_input();
            if !streams.waits_for_end() {
                streams.drain(&mut buf);
                return Ok(code);
            }
        }
        let ready: Vec<Live> = {
            let watched = streams.watch();
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            fds.extend(
                watched
                    .iter()
                    .map(|(_, fd)| PollFd::new(*fd, PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
            let is_ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            if is_ready(&fds[0]) {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let sig = Signal::try_from(info.ssi_signo as i32).ok();
                    if let Some(sig) = sig.filter(|s| *s != Signal::SIGCHLD) {
                        let _ = kill(pid, sig);
                    }
                }
            }
            watched
                .iter()
                .zip(&fds[1..])
                .filter(|(_, f)| is_ready(f))
                .map(|((l, _), _)| *l)
                .collect()
        };
        for l in ready {
            streams.serve(l, &mut buf);
        }
    }
}

/// A pty of the container's devpts (we are in its mount namespace).
fn open_pty() -> anyhow::Result<(File, std::os::fd::OwnedFd)> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("open /dev/ptmx")?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let name = nix::pty::ptsname_r(&master).context("ptsname")?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .with_context(|| format!("open {name}"))?;
    let master = File::from(sys::own_fd(std::os::fd::IntoRawFd::into_raw_fd(master)));
    super::relay::pass_winsize(&master);
    Ok((master, slave.into()))
}

/// In the command: its own session with the pty as terminal and stdio.
fn attach_tty(slave: &std::os::fd::OwnedFd) -> anyhow::Result<()> {
    nix::unistd::setsid().context("setsid")?;
    sys::set_controlling_tty(slave).context("set the controlling tty")?;
    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).context("attach the tty")?;
    }
    Ok(())
}
