//! The container init: namespaces, mounts, pivot_root, the tty, the ids,
//! then exec, either as pid 1 or under a tiny init that reaps zombies and
//! forwards signals.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{bail, Context};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};

use super::channel::{Channel, Msg};
use super::mounts::{self, MountPlan};
use super::{Confinement, LaunchSpec, Network, ProcessSpec};
use crate::error::{EXIT_BURROW, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND};
use crate::sys;
use crate::userns::idmap::IdMapMode;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Run as the container init; never returns. Failures are reported to the
/// supervisor as messages, then the process exits.
pub fn container_init(
    spec: &LaunchSpec,
    plan: &MountPlan,
    winsize: Option<&libc::winsize>,
    chan: Channel,
    netns: Option<BorrowedFd>,
) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // Not dumpable from the start, before the command (or anything it
    // forks) can look: the container's processes, root there with every
    // capability included, may not open our /proc/PID/exe (the host's
    // burrow binary, CVE-2019-5736), fds or memory, nor ptrace us, as we
    // run a binary exec'd outside the container's user namespace. The
    // command's execve makes it dumpable again; the tiny init stays so.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        let _ = chan.send(&Msg::SetupFailed {
            message: format!("make the container init non-dumpable: {e}"),
        });
        sys::exit_now(EXIT_BURROW)
    }
    let tty = match join_cgroup(spec)
        .and_then(|()| limit_processes(spec))
        .and_then(|()| setup(spec, plan, winsize, &chan, netns))
    {
        Ok(tty) => tty,
        Err(e) => {
            let _ = chan.send(&Msg::SetupFailed {
                message: format!("{e:#}"),
            });
            sys::exit_now(EXIT_BURROW)
        }
    };
    send_root(&chan);
    if !spec.init {
        // The command is pid 1 itself.
        let (code, message) = become_command(spec, tty, &chan);
        let _ = chan.send(&Msg::ExecFailed { code, message });
        sys::exit_now(code)
    }
    match sys::fork() {
        Ok(nix::unistd::ForkResult::Child) => {
            let (code, message) = become_command(spec, tty, &chan);
            let _ = chan.send(&Msg::ExecFailed { code, message });
            sys::exit_now(code)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // The supervisor reads "started" when the last copy of the
            // channel closes: ours now, the command's at exec.
            drop(chan);
            drop(tty);
            // It waits as long as the container runs (when /proc is there).
            sys::shed_memory();
            sys::exit_now(tiny_init(child))
        }
        Err(e) => {
            let _ = chan.send(&Msg::SetupFailed {
                message: format!("fork the command: {e}"),
            });
            sys::exit_now(EXIT_BURROW)
        }
    }
}

/// Hand the supervisor a handle on our root (set up now), so that the
/// root mount can outlive us. Without it the mount goes with our end, as
/// it always did: failures are not the container's.
fn send_root(chan: &Channel) {
    if let Ok(root) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/")
    {
        let _ = chan.send_with_fd(&Msg::Root, Some(root.as_raw_fd()));
    }
}

/// Move into the container's cgroup first: everything it forks follows.
fn join_cgroup(spec: &LaunchSpec) -> anyhow::Result<()> {
    if let Some(dir) = &spec.cgroup {
        // "0": the writer itself (our pid is 1 in our own pid namespace).
        std::fs::write(dir.join("cgroup.procs"), "0")
            .with_context(|| format!("move into the cgroup {}", dir.display()))?;
    }
    Ok(())
}

/// `--pids-limit` without a cgroup: RLIMIT_NPROC, soft and hard (raising
/// the hard limit takes CAP_SYS_RESOURCE in the host's user namespace).
/// Since Linux 5.14 it counts the processes of one uid in our user
/// namespace, so the user's processes outside do not use it up.
fn limit_processes(spec: &LaunchSpec) -> anyhow::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Some(n) = spec.nproc_limit {
        // Never above the hard limit we were given: that would fail.
        let n = n.min(getrlimit(Resource::RLIMIT_NPROC)?.1);
        setrlimit(Resource::RLIMIT_NPROC, n, n).context("set RLIMIT_NPROC (--pids-limit)")?;
    }
    Ok(())
}

/// Namespaces, hostname, loopback, mounts and the pty. Returns the pty
/// slave when a tty was asked for (its master went to the supervisor).
fn setup(
    spec: &LaunchSpec,
    plan: &MountPlan,
    winsize: Option<&libc::winsize>,
    chan: &Channel,
    netns: Option<BorrowedFd>,
) -> anyhow::Result<Option<OwnedFd>> {
    // The default network's namespace, made by the supervisor.
    if let Some(ns) = netns {
        crate::net::namespace::join(&ns)?;
    }
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if spec.network == Network::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).context("unshare mount/uts/ipc/net namespaces")?;
    nix::unistd::sethostname(&spec.hostname).context("set the hostname")?;
    if spec.network == Network::None {
        sys::loopback_up().context("bring up lo")?;
    }
    let ctx = mounts::apply::Ctx {
        merged: &spec.rootfs.merged,
        network: spec.network.clone(),
    };
    mounts::apply::apply(plan, &ctx)?;
    if !spec.process.tty {
        return Ok(None);
    }
    let (master, slave, _) = new_pty("open /dev/ptmx")?;
    if let Some(ws) = winsize {
        sys::set_winsize(&master, ws).context("set the pty size")?;
    }
    chan.send_with_fd(&Msg::Pty, Some(master.as_raw_fd()))?;
    Ok(Some(slave))
}

/// A new pty of the devpts mounted at /dev/pts (the container's, once
/// its mounts are made): the master, the slave and the slave's name,
/// both ends close-on-exec, neither the controlling terminal. `what`
/// names the /dev/ptmx open in its error.
pub(super) fn new_pty(what: &str) -> anyhow::Result<(nix::pty::PtyMaster, OwnedFd, String)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context(what.to_string())?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let name = nix::pty::ptsname_r(&master).context("ptsname")?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .with_context(|| format!("open {name}"))?
        .into();
    Ok((master, slave, name))
}

/// Become the command: session, stdio, working dir, ids, then exec. Only
/// returns on failure, with the exit code and message to report.
fn become_command(spec: &LaunchSpec, tty: Option<OwnedFd>, chan: &Channel) -> (i32, String) {
    let listener = match prepare(spec, tty) {
        Ok(l) => l,
        Err(e) => return (EXIT_BURROW, format!("{e:#}")),
    };
    // The id emulation's listener goes to the supervisor before the
    // command can make an id call (which waits for an answer).
    if let Some(l) = listener {
        if let Err(e) = chan.send_with_fd(&Msg::IdsListener, Some(l.as_raw_fd())) {
            return (EXIT_BURROW, format!("{e:#}"));
        }
    }
    exec(&spec.process)
}

/// For `exec`, in the container's namespaces and root (its own session
/// and stdio set up by the caller): stdin, working dir, the container's
/// confinement and ids, then exec. Only returns on failure.
pub(super) fn become_exec(
    p: &ProcessSpec,
    id_map: &IdMapMode,
    confinement: &Confinement,
    guard: Option<&super::channel::Channel>,
) -> (i32, String) {
    let prep = || -> anyhow::Result<()> {
        if !p.stdin {
            let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
            nix::unistd::dup2(null.as_raw_fd(), 0).context("attach /dev/null")?;
        }
        std::env::set_current_dir(&p.cwd)
            .with_context(|| format!("working directory {}", p.cwd))?;
        // Resolved without id emulation (`resolve_unemulated`): a listener
        // only for the socket calls, answered by `exec_guard`.
        let listener = switch_and_confine(p, Some(id_map), confinement)?;
        match (listener, guard) {
            (Some(l), Some(to)) => super::exec_guard::send(to, &l),
            (Some(_), None) => anyhow::bail!("nobody answers the socket calls' filter"),
            (None, _) => Ok(()),
        }
    };
    if let Err(e) = prep() {
        return (EXIT_BURROW, format!("{e:#}"));
    }
    exec(p)
}

/// Returns the id emulation's listener, if any (see `switch_and_confine`).
fn prepare(spec: &LaunchSpec, tty: Option<OwnedFd>) -> anyhow::Result<Option<OwnedFd>> {
    let p = &spec.process;
    // Its own session: the caller's terminal signals reach the container
    // only through burrow's forwarding.
    nix::unistd::setsid().context("setsid")?;
    match &tty {
        Some(slave) => {
            sys::set_controlling_tty(slave).context("set the controlling tty")?;
            for fd in 0..3 {
                nix::unistd::dup2(slave.as_raw_fd(), fd).context("attach the tty")?;
            }
        }
        None if !p.stdin => {
            let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
            nix::unistd::dup2(null.as_raw_fd(), 0).context("attach /dev/null")?;
        }
        None => {}
    }
    drop(tty);
    std::env::set_current_dir(&p.cwd).with_context(|| format!("working directory {}", p.cwd))?;
    let id_map = (!spec.identity_map).then_some(&spec.id_map);
    // Published TCP ports: their binds go to the supervisor too, which
    // may hand over the host's socket (sandbox::bypass).
    let bypass = spec.network == super::Network::Bridge && super::bypass::wanted(&spec.ports);
    if bypass {
        let c = super::confine::Confinement {
            notify_bind: true,
            ..spec.confinement.clone()
        };
        return switch_and_confine(p, id_map, &c);
    }
    switch_and_confine(p, id_map, &spec.confinement)
}

/// Switch to the command's ids (`None`: keep ours), give it default
/// signals and no inherited fds, then confine it, last. Returns the id
/// emulation's listener when the confinement emulates ids.
fn switch_and_confine(
    p: &ProcessSpec,
    id_map: Option<&IdMapMode>,
    confinement: &Confinement,
) -> anyhow::Result<Option<OwnedFd>> {
    // Keep the permitted caps across the switch away from uid 0: the
    // confinement sets them exactly afterwards.
    nix::sys::prctl::set_keepcaps(true).context("keep capabilities")?;
    if let Some(id_map) = id_map {
        switch_ids(p, id_map, confinement.emulate_ids)?;
    }
    // Rust ignores SIGPIPE and our stages block signals; exec keeps both.
    reset_signals()?;
    sys::cloexec_from(3).context("close inherited fds")?;
    // Last, as a custom seccomp profile may refuse calls made above.
    let vars = super::confine::landlock::Vars {
        home: p
            .env
            .iter()
            .find_map(|e| e.strip_prefix("HOME="))
            .unwrap_or("/")
            .into(),
        cwd: p.cwd.clone().into(),
        tmpdir: "/tmp".into(),
    };
    super::confine::apply(confinement, &vars)
}

fn switch_ids(p: &ProcessSpec, id_map: &IdMapMode, emulated: bool) -> anyhow::Result<()> {
    match id_map {
        // Only root is mapped; the supervisor starts the command's
        // emulated ids at the ones asked for (`sandbox::ids`).
        IdMapMode::Single if emulated => Ok(()),
        IdMapMode::Single => {
            // Only root is mapped; chown to other ids is faked by the
            // seccomp filter (confine::apply).
            if p.uid != 0 || p.gid != 0 {
                bail!(
                    "user {}:{} is not mapped: without a subordinate id range only root (0:0) \
                     exists in the container (see 'burrow info')",
                    p.uid,
                    p.gid
                );
            }
            Ok(())
        }
        IdMapMode::SubIds { .. } => {
            let groups: Vec<Gid> = p
                .additional_gids
                .iter()
                .map(|g| Gid::from_raw(*g))
                .collect();
            nix::unistd::setgroups(&groups).context("setgroups")?;
            let g = Gid::from_raw(p.gid);
            nix::unistd::setresgid(g, g, g).with_context(|| format!("set gid {}", p.gid))?;
            let u = Uid::from_raw(p.uid);
            nix::unistd::setresuid(u, u, u).with_context(|| format!("set uid {}", p.uid))?;
            Ok(())
        }
    }
}

/// Exec keeps ignored signals and the signal mask: give the command the
/// defaults (Rust ignores SIGPIPE; our stages block the forwarded ones).
pub(super) fn reset_signals() -> anyhow::Result<()> {
    for sig in [Signal::SIGPIPE, Signal::SIGXFSZ] {
        sys::set_default_handler(sig).context("reset signal handlers")?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .context("unblock signals")?;
    Ok(())
}

/// execve with a PATH search in the container's environment, as runc
/// does; errors map to Docker's codes (127 not found, 126 otherwise).
pub(super) fn exec(p: &ProcessSpec) -> (i32, String) {
    let Some(arg0) = p.args.first() else {
        return (
            EXIT_BURROW,
            "no command given and the image has none".into(),
        );
    };
    let to_c = |s: &str| CString::new(s).map_err(|_| ());
    let (Ok(argv), Ok(envp)) = (
        p.args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>(),
        p.env.iter().map(|a| to_c(a)).collect::<Result<Vec<_>, _>>(),
    ) else {
        return (
            EXIT_BURROW,
            "argument or environment with a NUL byte".into(),
        );
    };
    let candidates: Vec<String> = if arg0.contains('/') {
        vec![arg0.clone()]
    } else {
        let path = p
            .env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .map(|d| if d.is_empty() { "." } else { d })
            .map(|d| format!("{d}/{arg0}"))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        let Ok(cpath) = to_c(c) else { continue };
        let err = nix::unistd::execve(&cpath, &argv, &envp).unwrap_err();
        match err {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            Errno::EACCES => denied = Some((c.clone(), err)),
            other => {
                return (
                    EXIT_CANNOT_EXEC,
                    format!("exec {}: {}", crate::text::escape_control(c), other.desc()),
                )
            }
        }
    }
    match denied {
        Some((c, e)) => (
            EXIT_CANNOT_EXEC,
            format!("exec {}: {}", crate::text::escape_control(&c), e.desc()),
        ),
        None if arg0.contains('/') => (
            EXIT_NOT_FOUND,
            format!(
                "exec {}: no such file or directory",
                crate::text::escape_control(arg0)
            ),
        ),
        None => (
            EXIT_NOT_FOUND,
            format!(
                "exec {}: executable file not found in $PATH",
                crate::text::escape_control(arg0)
            ),
        ),
    }
}

/// pid 1 for a command that is not an init: reap every child, forward
/// signals to the command, and exit with its status once it ends.
fn tiny_init(command: Pid) -> i32 {
    let mut all = SigSet::all();
    all.remove(Signal::SIGKILL);
    all.remove(Signal::SIGSTOP);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None);
    let mut status = None;
    loop {
        // Reap first: the command may have ended before we blocked.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => status = Some(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                    status = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(code) = status {
            return code;
        }
        match all.wait() {
            Ok(Signal::SIGCHLD) => {}
            Ok(sig) => {
                let _ = kill(command, sig);
            }
            Err(_) => {}
        }
    }
}
