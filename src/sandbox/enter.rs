//! `exec`: a new process inside a running container. We join its user
//! namespace first (its owner may, holding every capability there), then
//! its mount, uts, ipc, net and pid namespaces, take its root, and fork
//! the command into its pid namespace. Needs a single-threaded caller:
//! setns into a user namespace fails in a threaded process.
//! The process gets the confinement the caller passes (the container's:
//! capabilities, no_new_privs, seccomp), applied as the init applies it.

use std::fs::File;
use std::os::fd::AsRawFd;

use anyhow::Context;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::idmap::IdMapMode;
use super::{child, launch, Confinement, ProcessSpec};
use crate::error::EXIT_BURROW;
use crate::sys;

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
    children_of(init)
        .into_iter()
        .find(|c| open(*c))
        .unwrap_or(init)
}

/// Processes whose parent is `pid`, from /proc/*/stat.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| {
            // "pid (comm) state ppid ...": comm may hold spaces and ')'.
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// Run `p` in the container whose init is `init` (a pid of ours) and
/// return its exit code; with `detach`, return once it was started.
pub fn enter(
    init: i32,
    p: &ProcessSpec,
    id_map: &IdMapMode,
    confinement: &Confinement,
    detach: bool,
) -> anyhow::Result<i32> {
    let target = joinable(init);
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
    let forwarded = launch::forwarded_signals();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), Some(&mut old))
        .context("block signals")?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let joiner = match sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(r);
            let code = match join(&ns, target) {
                Ok(()) => {
                    same_nproc_limit(nproc);
                    run_in(p, id_map, confinement, detach, w)
                }
                Err(e) => {
                    let _ = nix::unistd::write(&w, format!("{e:#}").as_bytes());
                    EXIT_BURROW
                }
            };
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => child,
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
    let mut root = None;
    for (f, flag) in ns {
        setns(f, *flag).with_context(|| format!("join the container's namespace ({flag:?})"))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            // Opened from inside the user namespace (and still through
            // the host's /proc): a FUSE root lets no one outside it in.
            let path = format!("/proc/{target}/root");
            root = Some(
                File::open(&path)
                    .with_context(|| format!("open {path} of the container's init"))?,
            );
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
) -> i32 {
    if detach {
        // Nobody reads its output, and our caller must not wait for it.
        super::detach::detach_self();
    }
    let pty = match p.tty {
        true => match open_pty() {
            Ok(pair) => Some(pair),
            Err(e) => {
                let _ = nix::unistd::write(&report, format!("{e:#}").as_bytes());
                return EXIT_BURROW;
            }
        },
        false => None,
    };
    match sys::fork() {
        Ok(ForkResult::Child) => {
            if !detach {
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            }
            if let Some((master, slave)) = pty {
                drop(master);
                if let Err(e) = attach_tty(&slave) {
                    let _ = nix::unistd::write(&report, format!("{e:#}").as_bytes());
                    sys::exit_now(EXIT_BURROW)
                }
            }
            let (code, message) = child::become_exec(p, id_map, confinement);
            let _ = nix::unistd::write(&report, message.as_bytes());
            sys::exit_now(code)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report);
            if let Some((master, slave)) = pty {
                drop(slave);
                relay_tty(master, p.stdin);
            }
            // Detached, we stay as its parent (our caller does not wait
            // for us): an orphan would go to the host's reaper, not the
            // container's init. Signals forwarded to us go on to it.
            wait_forwarding(child, &launch::forwarded_signals()).unwrap_or(EXIT_BURROW)
        }
        Err(e) => {
            let _ = nix::unistd::write(&report, format!("fork: {e}").as_bytes());
            EXIT_BURROW
        }
    }
}

/// Wait for `pid`, passing on the blocked `forwarded` signals.
fn wait_forwarding(pid: Pid, forwarded: &SigSet) -> anyhow::Result<i32> {
    let mut with_chld = *forwarded;
    with_chld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&with_chld), None).context("block signals")?;
    loop {
        match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(e) => return Err(e).context("wait for the exec'd process"),
        }
        match with_chld.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = kill(pid, sig);
            }
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

/// Copy our stdin to the pty (with -i, our terminal raw) and the pty to
/// our stdout until the command's side closes.
fn relay_tty(mut master: File, stdin: bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let _raw = if stdin {
        super::relay::RawMode::enter()
    } else {
        None
    };
    let mut stdin_open = stdin;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let input = std::io::stdin();
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(input.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (out_ready, in_ready) = (ready(0), ready(1));
        drop(fds);
        if out_ready {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
        if in_ready {
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = master.write_all(&buf[..n]);
                }
            }
        }
    }
}
