//! The supervisor: joins the container's user namespace, forks the
//! container init in a new pid namespace, forwards signals to it, serves
//! its FUSE root, restarts it (detached) and reports its end.

use std::os::fd::OwnedFd;

use anyhow::Context;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::channel::{self, Channel, Msg};
use super::detach::{self, Monitor};
use super::mounts::MountPlan;
use super::{fuse_root, ids, init, relay, LaunchSpec};
use crate::error::EXIT_BURROW;
use crate::net::link::maker::Maker;
use crate::sys;
use crate::userns::UserNs;

/// The supervisor: owns the user namespace, forks the container init,
/// forwards signals to it and reports its exit. Never returns.
pub(super) fn run(
    spec: &LaunchSpec,
    plan: &MountPlan,
    userns: &UserNs,
    chan: Channel,
    mut monitor: Option<&mut dyn Monitor>,
) -> ! {
    if monitor.is_some() {
        detach::detach_self();
    } else {
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    }
    let mut deleter = None;
    let mut fuse = None;
    let result = match monitor.as_mut() {
        Some(m) => supervise(
            spec,
            plan,
            userns,
            &chan,
            &mut deleter,
            &mut fuse,
            Some(&mut **m),
        ),
        None => supervise(spec, plan, userns, &chan, &mut deleter, &mut fuse, None),
    };
    // Its host ports are free before anyone hears of the end.
    crate::net::publish::release(&spec.ports);
    // The container is gone: its FUSE root goes before its dir is moved.
    if let Some(f) = fuse.as_mut() {
        f.stop();
    }
    if let Some(m) = monitor {
        match &result {
            Ok(code) => m.exited(*code),
            // Nobody waits on our stderr: the log is where it can be read.
            Err(e) => m.output(
                detach::OutStream::Stderr,
                format!("burrow: supervisor: {e:#}\n").as_bytes(),
            ),
        }
    }
    if let Some(dir) = &spec.cgroup {
        remove_cgroup(dir);
    }
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
    if let Some(trash) = trash {
        let told = deleter.is_some_and(|mut go| std::io::Write::write_all(&mut go, b"g").is_ok());
        if !told {
            let _ = crate::fsutil::remove_tree(&trash);
        }
    }
    // Last: once the caller hears the end it may go without waiting for us.
    let _ = chan.send(&msg);
    sys::exit_now(code)
}

/// Remove the container's cgroup; its last processes are gone once the
/// init was reaped (a pid namespace's end waits for them), but the
/// kernel may take a moment to say so.
fn remove_cgroup(dir: &std::path::Path) {
    for _ in 0..50 {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
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
/// mapped ids are ours to delete (the init has a pid namespace of its
/// own), and is forked before the caller can be told anything.
fn spawn_deleter(
    dir: &std::path::Path,
    chan: &Channel,
    ports: &crate::net::publish::Listeners,
) -> anyhow::Result<std::fs::File> {
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    match sys::fork().context("fork the deleter")? {
        ForkResult::Parent { .. } => Ok(std::fs::File::from(go_w)),
        ForkResult::Child => {
            drop(go_w);
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(chan));
            // A host port must not stay bound while it deletes.
            ports.close_in_child();
            let _ = nix::sys::prctl::set_pdeathsig(None);
            // Forked after the supervisor blocked them for its signalfd.
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            // Out of the caller's session and stdio: nobody waits for it.
            detach::detach_self();
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
    userns: &UserNs,
    chan: &Channel,
    deleter: &mut Option<std::fs::File>,
    fuse: &mut Option<fuse_root::FuseServer>,
    mut monitor: Option<&mut dyn Monitor>,
) -> anyhow::Result<i32> {
    // A link's socket maker joins the linked container's namespaces, so
    // it is forked before we join ours (net::link::maker).
    let mut links = Some(spawn_link_makers(spec, chan)?);
    userns.join()?;
    // The default network's namespace and tap, made once and kept across
    // restarts; made now, while we have no thread (FUSE's start next).
    let net = match spec.network {
        super::Network::Bridge => Some(crate::net::namespace::create(spec.user_nets.as_ref())?),
        _ => None,
    };
    // Binds of published TCP ports may be answered with the host's socket
    // (the init sends them here when `bypass::wanted` says so too).
    // Without one (it could not be made), the kernel runs every call.
    let on_socket = match &net {
        Some(ns) if super::bypass::wanted(&spec.ports) => {
            let netns = ns.netns.try_clone().context("keep the network namespace")?;
            match super::bypass::Bypass::new(spec.ports.clone(), netns) {
                Ok(b) => {
                    let f: ids::OnSocket = std::sync::Arc::new(move |l, n, c| b.answer(l, n, c));
                    Some(f)
                }
                Err(e) => {
                    tracing::debug!("-p bypass: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    // The deleter must not hold a FUSE root's mount namespace (made next),
    // so with one it comes first; else after the init, off the start's path.
    if fuse_root::serves(plan) {
        if let Some(dir) = &spec.remove_after {
            *deleter = Some(spawn_deleter(dir, chan, &spec.ports)?);
        }
    }
    // Served across restarts: the mount outlives each init.
    *fuse = fuse_root::start(plan, &spec.rootfs.merged)?;
    let mut sigs = relay::forwarded_signals();
    sigs.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigs), None).context("block signals")?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    // The pty gets the caller's size before the command starts, so that
    // its first look (stty size) is right; later changes go through the
    // relay.
    let winsize = if spec.process.tty {
        relay::caller_winsize()
    } else {
        None
    };
    // One init per run: the monitor's restart policy may ask for more.
    // Only the first run talks to the caller (a detached one is gone).
    let mut first = true;
    loop {
        let ran_from = std::time::Instant::now();
        let run = start_init(
            spec,
            plan,
            chan,
            first,
            deleter,
            &mut monitor,
            &sfd,
            &winsize,
            net.as_ref(),
            on_socket.clone(),
        )?;
        if first {
            if let Some(ns) = &net {
                // Threads from here on: the first init is forked.
                start_network(spec, ns, links.take().unwrap_or_default())?;
            }
        }
        if let (None, Some(dir)) = (&deleter, &spec.remove_after) {
            *deleter = Some(spawn_deleter(dir, chan, &spec.ports)?);
        }
        // The container's root mount goes with the last holder of a file
        // on it: with the init's handle on it, us rather than the init's
        // end (not for a FUSE root, whose server must outlive its mount).
        // Its other mounts (and the namespaces they pin) go with the init.
        let held = match &*fuse {
            None => run.root,
            Some(_) => None,
        };

        let code = match (&mut monitor, run.output) {
            (Some(m), Some(readers)) => {
                // It waits from here on, for as long as the container runs.
                sys::shed_memory();
                detach::collect(run.init, &sfd, readers, &mut **m, fuse.as_mut())?
            }
            _ => wait_forwarding(run.init, &sfd, fuse.as_mut())?,
        };
        let again = match &mut monitor {
            // A first start that failed is reported, never retried.
            Some(m) if !(first && run.failed) => m.restart_delay(code, ran_from.elapsed()),
            _ => None,
        };
        // Unmounting a kernel overlay flushes its upper dir's filesystem
        // (syncfs: all of its dirty data, seconds on a busy disk). Before
        // a restart and at a plain end that happens now, as the init's end
        // would have done it; for a container about to be removed it is
        // left to a child of ours that outlives us, so nobody waits for it.
        match again {
            Some(delay) => {
                drop(held);
                if !detach::wait_delay(delay, &sfd) {
                    return Ok(code);
                }
                first = false;
            }
            None => {
                if let Some(root) = held {
                    if monitor.as_mut().is_some_and(|m| m.discard_root()) {
                        release_after_us(root);
                    }
                }
                return Ok(code);
            }
        }
    }
}

/// Hand `root` to a child that keeps it (and nothing else of ours) until
/// we are gone: the last unmount, with its flush to disk, happens when it
/// dies, after our end was reported. On a failed fork it goes now.
fn release_after_us(root: OwnedFd) {
    let parent = nix::unistd::getpid();
    if let Ok(ForkResult::Child) = sys::fork() {
        // No port, pipe or channel of ours stays open in it.
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&root), 3);
        let _ = sys::close_from(4);
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid() == parent {
            loop {
                nix::unistd::pause();
            }
        }
        sys::exit_now(0)
    }
}

/// The socket makers of the container's `--link`s, in order. Call in
/// the host's user namespace, before any thread exists.
fn spawn_link_makers(spec: &LaunchSpec, chan: &Channel) -> anyhow::Result<Vec<Maker>> {
    let close = || {
        let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(chan));
        spec.ports.close_in_child();
    };
    spec.links
        .iter()
        .map(|peer| Maker::spawn(peer, &close))
        .collect()
}

/// The default network's services, in the host's network namespace, on
/// threads of ours: the translator of the container's flows, then the
/// port forwarders.
fn start_network(
    spec: &LaunchSpec,
    ns: &crate::net::Namespace,
    links: Vec<Maker>,
) -> anyhow::Result<()> {
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let policy = crate::net::translate::Policy {
        host_loopback: spec.host_loopback,
        resolvers: crate::net::options::host_resolvers(&resolv),
        links: links.len(),
    };
    crate::net::translate::start(&ns.tap, policy, links)?;
    // The one place where port forwarders start (`-p`).
    crate::net::forward::start(ns, &spec.ports)?;
    Ok(())
}

/// One container init that was started.
struct Run {
    init: Pid,
    /// A handle on its root (`Msg::Root`), holding its root mount.
    root: Option<OwnedFd>,
    /// Its setup or exec failed (and was reported).
    failed: bool,
    /// Detached: its stdout and stderr (and pty), for the monitor.
    output: Option<Vec<(detach::OutStream, std::fs::File)>>,
}

/// Fork a container init in a pid namespace of its own and pass on its
/// messages until the command runs (or failed to): to the caller on the
/// `first` run, to the monitor's log on later ones.
#[allow(clippy::too_many_arguments)]
fn start_init(
    spec: &LaunchSpec,
    plan: &MountPlan,
    chan: &Channel,
    first: bool,
    deleter: &mut Option<std::fs::File>,
    monitor: &mut Option<&mut dyn Monitor>,
    sfd: &SignalFd,
    winsize: &Option<libc::winsize>,
    net: Option<&crate::net::Namespace>,
    on_socket: Option<ids::OnSocket>,
) -> anyhow::Result<Run> {
    let (mine, theirs) = channel::pair()?;
    // Detached: the command's stdout and stderr are pipes to us.
    let pipes = match monitor {
        Some(_) => Some(detach::OutputPipes::new()?),
        None => None,
    };
    let init = match sys::fork_new_pid_ns().context("fork the container init")? {
        ForkResult::Child => {
            // The init keeps only its own channel.
            drop(mine);
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(sfd));
            drop(deleter.take());
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(chan));
            // The host's sockets are the supervisor's alone.
            spec.ports.close_in_child();
            if let Some(p) = pipes {
                p.attach_child();
            }
            // Our default network's namespace, or the one shared with
            // another container (`--network container:`).
            let netns = net.map(|n| std::os::fd::AsFd::as_fd(&n.netns)).or_else(|| {
                spec.join
                    .as_ref()
                    .map(|j| std::os::fd::AsFd::as_fd(&*j.net))
            });
            init::container_init(spec, plan, winsize.as_ref(), theirs, netns)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    // Pass on the pty and any failure until the init's channel closes:
    // that happens when the command has been exec'd (close-on-exec).
    let mut failed = false;
    let mut pty = None;
    let mut root = None;
    while let Some((msg, fd)) = mine.recv()? {
        failed |= matches!(msg, Msg::ExecFailed { .. } | Msg::SetupFailed { .. });
        if msg == Msg::IdsListener {
            // Served for as long as this run's processes live.
            if let Some(listener) = fd {
                let p = &spec.process;
                let base = ids::creds::Creds::new(p.uid, p.gid, p.additional_gids.clone());
                ids::spawn(listener, base, on_socket.clone())?;
            }
            continue;
        }
        if msg == Msg::Root {
            root = fd;
            continue;
        }
        if msg == Msg::Pty && monitor.is_some() {
            // Detached with a tty: the supervisor reads the pty itself.
            pty = fd;
            continue;
        }
        match (&msg, &mut *monitor) {
            _ if first => {
                chan.send_with_fd(&msg, fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd))?
            }
            (Msg::ExecFailed { message, .. } | Msg::SetupFailed { message }, Some(m)) => m.output(
                detach::OutStream::Stderr,
                format!("burrow: restart: {message}\n").as_bytes(),
            ),
            _ => {}
        }
    }
    if !failed {
        if let Some(m) = monitor {
            m.started(init.as_raw());
        }
        if first {
            chan.send(&Msg::Started { pid: init.as_raw() })?;
        }
    }
    Ok(Run {
        init,
        root: root.filter(|_| !failed),
        failed,
        output: pipes.map(|p| p.into_readers(pty)),
    })
}

/// Wait for the init to end, passing on every signal the caller sends.
pub(super) fn wait_forwarding(
    init: Pid,
    sfd: &SignalFd,
    fuse: Option<&mut fuse_root::FuseServer>,
) -> anyhow::Result<i32> {
    let mut watch = fuse_root::Watch::new(fuse);
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return watch.outcome(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return watch.outcome(128 + sig as i32),
            Ok(_) => {}
            Err(e) => return Err(e).context("wait for the container init"),
        }
        watch.check(init);
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
