//! The caller's side and the supervisor's side of a launch.

use anyhow::{bail, Context};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::channel::{self, Channel, Msg};
use super::plan::{self, MountPlan, PlanInput};
use super::{child, idmap, relay, Exit, LaunchSpec};
use crate::error::EXIT_BURROW;
use crate::sys;

/// Signals the caller passes on to the container.
pub(super) fn forwarded_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        s.add(sig);
    }
    s
}

/// Run the container in the foreground and return how it ended. Its
/// stdout and stderr are the caller's (or a pty relayed by the caller).
///
/// Must be called while this process has a single thread.
pub fn launch(spec: &LaunchSpec) -> anyhow::Result<Exit> {
    let built;
    let plan = match &spec.plan {
        Some(p) => p,
        None => {
            built = plan_for(spec)?;
            &built
        }
    };
    tracing::debug!("mount plan: {:#?}", plan.ops);
    // Blocked here, read from a signalfd in the relay loop.
    let forwarded = forwarded_signals();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), Some(&mut old))
        .context("block signals")?;
    let result = run_stages(spec, plan, &forwarded);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

fn plan_for(spec: &LaunchSpec) -> anyhow::Result<MountPlan> {
    Ok(plan::build(&PlanInput {
        rootfs: &spec.rootfs,
        mounts: &spec.mounts,
        read_only: spec.read_only,
        network: spec.network,
        etc: &spec.etc,
        cwd: &spec.process.cwd,
        sub_ids: matches!(spec.id_map, idmap::IdMapMode::SubIds { .. }),
        throwaway: spec.remove_after.is_some(),
        masked_paths: spec.confinement.masked_paths,
    })?)
}

/// Kills and reaps the supervisor if the caller gives up early.
struct Reap(Option<Pid>);

impl Reap {
    fn wait(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = waitpid(pid, None);
        }
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

fn run_stages(spec: &LaunchSpec, plan: &MountPlan, forwarded: &SigSet) -> anyhow::Result<Exit> {
    let (ours, theirs) = channel::pair()?;
    let supervisor_pid = match sys::fork().context("fork the supervisor")? {
        ForkResult::Child => {
            drop(ours);
            supervisor(spec, plan, theirs)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let mut reap = Reap(Some(supervisor_pid));
    match ours.recv()? {
        Some((Msg::UserNsReady, _)) => {}
        Some((Msg::SetupFailed { message }, _)) => {
            reap.wait();
            bail!("{message}")
        }
        other => bail!("the supervisor stopped early ({other:?})"),
    }
    if spec.identity_map {
        idmap::apply_identity(supervisor_pid, &spec.host_user)
    } else {
        idmap::apply(supervisor_pid, &spec.id_map, &spec.host_user)
    }
    .context("write the id maps")?;
    ours.send(&Msg::MapsWritten)?;
    let outcome = relay::run(&ours, supervisor_pid, &spec.process, forwarded);
    // The supervisor removes the container (--rm) before it exits.
    reap.wait();
    outcome
}

/// The supervisor: owns the user namespace, forks the container init,
/// forwards signals to it and reports its exit. Never returns.
fn supervisor(spec: &LaunchSpec, plan: &MountPlan, chan: Channel) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let mut deleter = None;
    let result = supervise(spec, plan, &chan, &mut deleter);
    // Out of the containers dir before the caller hears the end.
    let trash = spec.remove_after.as_deref().map(to_trash);
    let (msg, code) = match result {
        Ok(code) => (Msg::Exited { code }, 0),
        Err(e) => (
            Msg::SetupFailed {
                message: format!("{e:#}"),
            },
            EXIT_BURROW,
        ),
    };
    let _ = chan.send(&msg);
    if let Some(trash) = trash {
        let told = deleter.is_some_and(|mut go| std::io::Write::write_all(&mut go, b"g").is_ok());
        if !told {
            let _ = crate::fsutil::remove_tree(&trash);
        }
    }
    sys::exit_now(code)
}

/// `--rm`: the container dir leaves `containers/` at once, renamed to a
/// dot-name that listings skip. Returns where it is now.
fn to_trash(dir: &std::path::Path) -> std::path::PathBuf {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let trash = dir.with_file_name(format!("{TRASH_PREFIX}{name}"));
    match std::fs::rename(dir, &trash) {
        Ok(()) => trash,
        Err(_) => dir.to_path_buf(),
    }
}

/// For `--rm`: a detached child that deletes the container's files once
/// told to (a byte on the returned pipe), so the caller does not wait for
/// a tree of dirs to go. It stays in the user namespace, where files of
/// mapped ids are ours to delete, and is forked before the pid namespace:
/// once the container's init is gone nothing can be forked into that one.
fn spawn_deleter(dir: &std::path::Path, chan: &Channel) -> anyhow::Result<std::fs::File> {
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    match sys::fork().context("fork the deleter")? {
        ForkResult::Parent { .. } => Ok(std::fs::File::from(go_w)),
        ForkResult::Child => {
            drop(go_w);
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(chan));
            let _ = nix::sys::prctl::set_pdeathsig(None);
            // Out of the caller's session and stdio: nobody waits for it.
            let _ = nix::unistd::setsid();
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for fd in 0..3 {
                    let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd);
                }
            }
            let mut b = [0u8; 1];
            let told = matches!(
                std::io::Read::read(&mut std::fs::File::from(go_r), &mut b),
                Ok(1)
            );
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let trash = dir.with_file_name(format!("{TRASH_PREFIX}{name}"));
            let ok = !told || crate::fsutil::remove_tree(&trash).is_ok();
            sys::exit_now(i32::from(!ok))
        }
    }
}

/// Names of container dirs being deleted in the background.
pub const TRASH_PREFIX: &str = ".trash-";

fn supervise(
    spec: &LaunchSpec,
    plan: &MountPlan,
    chan: &Channel,
    deleter: &mut Option<std::fs::File>,
) -> anyhow::Result<i32> {
    unshare(CloneFlags::CLONE_NEWUSER)
        .context("create a user namespace (see 'burrow info' for what blocks it)")?;
    chan.send(&Msg::UserNsReady)?;
    chan.expect(&Msg::MapsWritten)?;
    if let Some(dir) = &spec.remove_after {
        *deleter = Some(spawn_deleter(dir, chan)?);
    }
    unshare(CloneFlags::CLONE_NEWPID).context("create a pid namespace")?;
    let mut sigs = forwarded_signals();
    sigs.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigs), None).context("block signals")?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let (mine, theirs) = channel::pair()?;
    // The pty gets the caller's size before the command starts, so that
    // its first look (stty size) is right; later changes go through the
    // relay.
    let winsize = if spec.process.tty {
        relay::caller_winsize()
    } else {
        None
    };
    let init = match sys::fork().context("fork the container init")? {
        ForkResult::Child => {
            // The init keeps only its own channel.
            drop(mine);
            drop(sfd);
            drop(deleter.take());
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(chan));
            child::container_init(spec, plan, winsize.as_ref(), theirs)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    // Pass on the pty and any failure until the init's channel closes:
    // that happens when the command has been exec'd (close-on-exec).
    let mut failed = false;
    while let Some((msg, fd)) = mine.recv()? {
        failed |= matches!(msg, Msg::ExecFailed { .. } | Msg::SetupFailed { .. });
        chan.send_with_fd(&msg, fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd))?;
    }
    if !failed {
        chan.send(&Msg::Started { pid: init.as_raw() })?;
    }
    wait_forwarding(init, &sfd)
}

/// Wait for the init to end, passing on every signal the caller sends.
fn wait_forwarding(init: Pid, sfd: &SignalFd) -> anyhow::Result<i32> {
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(e) => return Err(e).context("wait for the container init"),
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                if let Some(sig) = sig.filter(|s| *s != Signal::SIGCHLD) {
                    let _ = kill(init, sig);
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("read signals"),
        }
    }
}
