//! The launcher's stages for the OCI runtime (`burrow oci`, `burrow-runc`).
//!
//! The engines that call an OCI runtime (conmon, Slurm, containerd's
//! shim) want its container process to outlive the `create` that made it
//! and to become their child once `create` exits (they are subreapers), so
//! there is no supervisor here: `create` forks a first stage that enters
//! or makes the user and pid namespaces, which forks the container init
//! and exits. The init makes the other namespaces, applies the mount plan
//! (the same `mounts::apply` as `burrow run`, with `MountOp::Spec` for the
//! config's mounts), opens the pty, tells `create` it is set up, then waits
//! on the exec fifo until `start` writes to it, and becomes the command
//! with the confinement `burrow run` uses (`confine::apply`).
//!
//! `exec` joins a container the same way: a first stage enters its
//! namespaces, forks the process (so that it is in the pid namespace) and
//! exits.

use std::fs::File;
use std::io::{IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};

use super::channel::{self, Channel, Msg};
use super::mounts::{self, MountPlan};
use super::{Confinement, Network, ProcessSpec};
use crate::error::{EXIT_BURROW, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND};
use crate::sys;

/// A namespace of the config: made new (`path: None`) or joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsKind {
    User,
    Pid,
    Mount,
    Network,
    Uts,
    Ipc,
    Cgroup,
}

impl NsKind {
    pub fn flag(self) -> CloneFlags {
        match self {
            NsKind::User => CloneFlags::CLONE_NEWUSER,
            NsKind::Pid => CloneFlags::CLONE_NEWPID,
            NsKind::Mount => CloneFlags::CLONE_NEWNS,
            NsKind::Network => CloneFlags::CLONE_NEWNET,
            NsKind::Uts => CloneFlags::CLONE_NEWUTS,
            NsKind::Ipc => CloneFlags::CLONE_NEWIPC,
            NsKind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }

    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::User => "user",
            NsKind::Pid => "pid",
            NsKind::Mount => "mnt",
            NsKind::Network => "net",
            NsKind::Uts => "uts",
            NsKind::Ipc => "ipc",
            NsKind::Cgroup => "cgroup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub kind: NsKind,
    pub path: Option<PathBuf>,
}

/// One line of uid_map/gid_map: container id, host id, count.
pub type IdRange = (u32, u32, u32);

/// The id maps of a new user namespace, as the config gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    pub uid: Vec<IdRange>,
    pub gid: Vec<IdRange>,
}

/// The process of a container or of an `exec`, resolved.
#[derive(Debug, Clone)]
pub struct OciProcess {
    pub spec: ProcessSpec,
    /// Without its seccomp program: that is installed here, around the
    /// inheritable and ambient sets, which `confine::apply` clears.
    pub confinement: Confinement,
    pub seccomp: Option<super::confine::seccomp::BpfProgram>,
    pub inheritable: Vec<::caps::Capability>,
    pub ambient: Vec<::caps::Capability>,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    /// (rows, columns) of the pty.
    pub console_size: Option<(u16, u16)>,
    pub umask: Option<u32>,
}

/// Everything `create` needs.
#[derive(Debug, Clone)]
pub struct OciLaunch {
    /// The rootfs, absolute.
    pub root: PathBuf,
    pub plan: MountPlan,
    pub process: OciProcess,
    /// The config has no `process`: `process` is a placeholder, never run.
    pub no_process: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub namespaces: Vec<Namespace>,
    /// Set when the config asks for a new user namespace.
    pub id_maps: Option<IdMaps>,
    pub sysctl: Vec<(String, String)>,
    /// The exec fifo `start` writes to.
    pub fifo: PathBuf,
    pub console_socket: Option<PathBuf>,
    /// MS_SHARED, MS_SLAVE... (with MS_REC) for the root after pivot.
    pub rootfs_propagation: Option<u64>,
}

impl OciLaunch {
    fn ns(&self, kind: NsKind) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.kind == kind)
    }
}

/// Create the container: returns the init's pid once it waits for
/// `start`. `write_maps` writes the id maps of a process that made a new
/// user namespace (from here, the parent namespace).
///
/// Must be called while this process has a single thread.
pub fn create(
    l: &OciLaunch,
    write_maps: &dyn Fn(Pid, &IdMaps) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let (ours, theirs) = channel::pair()?;
    let first = match sys::fork().context("fork the container's first stage")? {
        ForkResult::Child => {
            drop(ours);
            if let Err(e) = first_stage(l, &theirs) {
                let _ = theirs.send(&Msg::SetupFailed {
                    message: format!("{e:#}"),
                });
                sys::exit_now(EXIT_BURROW)
            }
            sys::exit_now(0)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let result = follow_create(l, &ours, first, write_maps);
    let _ = waitpid(first, None);
    result
}

fn follow_create(
    l: &OciLaunch,
    chan: &Channel,
    first: Pid,
    write_maps: &dyn Fn(Pid, &IdMaps) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    // `Started` comes from the first stage and `Created` from the init:
    // two processes on one channel, so either may arrive first.
    let mut init = None;
    let mut created = false;
    loop {
        if let (Some(pid), true) = (init, created) {
            return Ok(pid);
        }
        let Some((msg, _)) = chan.recv()? else {
            bail!("the container's init ended before it was set up");
        };
        match msg {
            Msg::MapIds => {
                let maps = l
                    .id_maps
                    .as_ref()
                    .context("a user namespace nobody asked for")?;
                write_maps(first, maps).context("write the user namespace's id maps")?;
                chan.send(&Msg::IdsMapped)?;
            }
            Msg::Started { pid } => init = Some(pid),
            Msg::Created => created = true,
            m @ (Msg::ExecFailed { .. } | Msg::SetupFailed { .. }) => {
                if let Some(pid) = init {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGKILL);
                }
                return Err(m.failure().map(anyhow::Error::from).unwrap_or_else(|| {
                    anyhow::anyhow!("the container's init failed without a message")
                }));
            }
            other => bail!("unexpected {other:?} from the container's init"),
        }
    }
}

/// In a new or joined user namespace, become its root where it maps one
/// (as runc does): a caller whose own ids are not mapped (root giving a
/// range without host root) would else make files it cannot own (EOVERFLOW).
fn become_ns_root() -> anyhow::Result<()> {
    let maps_zero = |f: &str| {
        std::fs::read_to_string(f)
            .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().next() == Some("0")))
    };
    if maps_zero("/proc/self/gid_map") {
        let g = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(g, g, g).context("become gid 0 in the user namespace")?;
    }
    if maps_zero("/proc/self/uid_map") {
        let u = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(u, u, u).context("become uid 0 in the user namespace")?;
    }
    Ok(())
}

/// The first stage: user and pid namespaces (each only takes effect for
/// what is forked after), then the init.
fn first_stage(l: &OciLaunch, chan: &Channel) -> anyhow::Result<()> {
    match l.ns(NsKind::User) {
        Some(Namespace {
            path: Some(path), ..
        }) => join(path, NsKind::User)?,
        Some(_) => {
            unshare(CloneFlags::CLONE_NEWUSER).context("unshare the user namespace")?;
            chan.send(&Msg::MapIds)?;
            match chan.recv()? {
                Some((Msg::IdsMapped, _)) => {}
                _ => bail!("the runtime did not map the user namespace's ids"),
            }
        }
        None => {}
    }
    if l.ns(NsKind::User).is_some() {
        become_ns_root()?;
    }
    match l.ns(NsKind::Pid) {
        Some(Namespace {
            path: Some(path), ..
        }) => join(path, NsKind::Pid)?,
        Some(_) => unshare(CloneFlags::CLONE_NEWPID).context("unshare the pid namespace")?,
        None => {}
    }
    match sys::fork().context("fork the container init")? {
        ForkResult::Child => container_init(l, chan),
        ForkResult::Parent { child } => chan.send(&Msg::Started {
            pid: child.as_raw(),
        }),
    }
}

fn join(path: &Path, kind: NsKind) -> anyhow::Result<()> {
    let f = File::open(path).with_context(|| format!("open namespace {}", path.display()))?;
    setns(f.as_fd(), kind.flag())
        .with_context(|| format!("join {} namespace {}", kind.proc_name(), path.display()))
}

/// The container init: set up, say so, wait for `start`, become the
/// command. Never returns.
fn container_init(l: &OciLaunch, chan: &Channel) -> ! {
    // Not dumpable until the command's exec (see `init::container_init`).
    let _ = nix::sys::prctl::set_dumpable(false);
    let (tty, fifo) = match setup(l) {
        Ok(s) => s,
        Err(e) => {
            let _ = chan.send(&Msg::SetupFailed {
                message: format!("{e:#}"),
            });
            sys::exit_now(EXIT_BURROW)
        }
    };
    // runc reports a missing command at create, and engines map its
    // message to 127/126: find it now, in the container's root.
    if !l.no_process {
        if let Err((code, message)) = find_command(&l.process.spec) {
            let _ = chan.send(&Msg::ExecFailed { code, message });
            sys::exit_now(code)
        }
    }
    if chan.send(&Msg::Created).is_err() {
        sys::exit_now(EXIT_BURROW)
    }
    // Until `start` writes a byte (we hold the fifo open for writing too,
    // so the read never sees an end of file).
    let mut fifo = fifo;
    let mut b = [0u8; 1];
    loop {
        match fifo.read(&mut b) {
            Ok(1) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => sys::exit_now(EXIT_BURROW),
        }
    }
    drop(fifo);
    if l.no_process {
        sys::exit_now(EXIT_BURROW)
    }
    let (code, message) = become_process(&l.process, tty);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("burrow: {message}\n").as_bytes(),
    );
    sys::exit_now(code)
}

/// Namespaces, hostname, sysctls, mounts, pty. Returns the pty slave (its
/// master went to the console socket) and the exec fifo.
fn setup(l: &OciLaunch) -> anyhow::Result<(Option<OwnedFd>, File)> {
    nix::unistd::setsid().context("setsid")?;
    let mut flags = CloneFlags::empty();
    for ns in &l.namespaces {
        if matches!(ns.kind, NsKind::User | NsKind::Pid) {
            continue;
        }
        match &ns.path {
            Some(path) => join(path, ns.kind)?,
            None => flags |= ns.kind.flag(),
        }
    }
    unshare(flags).context("unshare the container's namespaces")?;
    let new_net = l.ns(NsKind::Network).is_some_and(|n| n.path.is_none());
    if new_net {
        sys::loopback_up().context("bring up lo")?;
    }
    if let Some(h) = &l.hostname {
        nix::unistd::sethostname(h).context("hostname: set the hostname")?;
    }
    if let Some(d) = &l.domainname {
        std::fs::write("/proc/sys/kernel/domainname", d)
            .context("domainname: set the domain name")?;
    }
    for (key, value) in &l.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).with_context(|| format!("linux.sysctl: set {key}"))?;
    }
    let console = match (&l.process.spec.tty, &l.console_socket) {
        (true, Some(p)) => Some(
            UnixStream::connect(p)
                .with_context(|| format!("connect to the console socket {}", p.display()))?,
        ),
        (true, None) => bail!("process.terminal is true: --console-socket is needed"),
        _ => None,
    };
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&l.fifo)
        .with_context(|| format!("open the exec fifo {}", l.fifo.display()))?;
    let ctx = mounts::apply::Ctx {
        merged: &l.root,
        network: if new_net {
            Network::None
        } else {
            Network::Host
        },
    };
    mounts::apply::apply(&l.plan, &ctx)?;
    if let Some(p) = l.rootfs_propagation {
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::from_bits_truncate(p),
            None::<&str>,
        )
        .context("linux.rootfsPropagation")?;
    }
    let tty = match console {
        Some(sock) => Some(open_pty(&sock, l.process.console_size)?),
        None => None,
    };
    Ok((tty, fifo))
}

/// A pty of the container's devpts: the master goes to the console
/// socket (as runc sends it: SCM_RIGHTS, its name as the payload), the
/// slave is returned.
fn open_pty(sock: &UnixStream, size: Option<(u16, u16)>) -> anyhow::Result<OwnedFd> {
    let (master, slave, name) = super::init::new_pty("open /dev/ptmx in the container")?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::set_winsize(&master, &ws).context("process.consoleSize")?;
    }
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .context("send the pty to the console socket")?;
    Ok(slave)
}

/// Whether the command can be found (a PATH search in its environment,
/// as `init::exec` does it), with Docker's codes when not.
fn find_command(p: &ProcessSpec) -> Result<(), (i32, String)> {
    use nix::unistd::{access, AccessFlags};
    let Some(arg0) = p.args.first() else {
        return Err((EXIT_BURROW, "process.args is empty".into()));
    };
    let shown = crate::text::escape_control(arg0);
    if arg0.contains('/') {
        let full = Path::new(&p.cwd).join(arg0);
        return match access(&full, AccessFlags::X_OK) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => Err((
                EXIT_NOT_FOUND,
                format!("exec {shown}: no such file or directory"),
            )),
            Err(e) => Err((EXIT_CANNOT_EXEC, format!("exec {shown}: {}", e.desc()))),
        };
    }
    let path = p
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let c = Path::new(if dir.is_empty() { "." } else { dir }).join(arg0);
        if c.is_file() && access(&c, AccessFlags::X_OK).is_ok() {
            return Ok(());
        }
    }
    Err((
        EXIT_NOT_FOUND,
        format!("exec {shown}: executable file not found in $PATH"),
    ))
}

/// Stdio, working dir, limits, ids, confinement, exec. Only returns on
/// failure, with the exit code and message.
fn become_process(p: &OciProcess, tty: Option<OwnedFd>) -> (i32, String) {
    if let Err(e) = prepare(p, tty) {
        return (EXIT_BURROW, format!("{e:#}"));
    }
    super::init::exec(&p.spec)
}

fn prepare(p: &OciProcess, tty: Option<OwnedFd>) -> anyhow::Result<()> {
    if let Some(slave) = &tty {
        sys::set_controlling_tty(slave).context("set the controlling tty")?;
        for fd in 0..3 {
            nix::unistd::dup2(slave.as_raw_fd(), fd).context("attach the tty")?;
        }
    }
    drop(tty);
    std::env::set_current_dir(&p.spec.cwd)
        .with_context(|| format!("process.cwd {}", p.spec.cwd))?;
    for (res, soft, hard) in &p.rlimits {
        setrlimit(*res, *soft, *hard)
            .with_context(|| format!("process.rlimits: set {res:?} to {soft}/{hard}"))?;
    }
    if let Some(adj) = p.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .context("process.oomScoreAdj")?;
    }
    if let Some(m) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
    nix::sys::prctl::set_keepcaps(true).context("keep capabilities")?;
    switch_ids(&p.spec)?;
    super::init::reset_signals()?;
    sys::cloexec_from(3).context("close inherited fds")?;
    let vars = super::confine::landlock::Vars {
        home: "/".into(),
        cwd: p.spec.cwd.clone().into(),
        tmpdir: "/tmp".into(),
    };
    let nnp = p.confinement.no_new_privs;
    let seccomp = || -> anyhow::Result<()> {
        if let Some(prog) = &p.seccomp {
            super::confine::seccomp::install(prog, true).context("linux.seccomp")?;
        }
        Ok(())
    };
    // Without no_new_privs the filter needs CAP_SYS_ADMIN: before the
    // caps are dropped (as `confine::apply` orders it).
    if !nnp {
        seccomp()?;
    }
    super::confine::apply(&p.confinement, &vars)?;
    let inheritable: ::caps::CapsHashSet = p.inheritable.iter().copied().collect();
    ::caps::set(None, ::caps::CapSet::Inheritable, &inheritable)
        .map_err(|e| anyhow::anyhow!("process.capabilities.inheritable: {e}"))?;
    // The kernel raises an ambient cap only when it is permitted and
    // inheritable. runc leaves the others out (its own `spec --rootless`
    // lists ambient caps with no inheritable set); so does burrow.
    let permitted = ::caps::read(None, ::caps::CapSet::Permitted).unwrap_or_default();
    for c in p
        .ambient
        .iter()
        .filter(|c| inheritable.contains(c) && permitted.contains(c))
    {
        ::caps::raise(None, ::caps::CapSet::Ambient, *c)
            .map_err(|e| anyhow::anyhow!("process.capabilities.ambient: raise {c}: {e}"))?;
    }
    if nnp {
        seccomp()?;
    }
    Ok(())
}

/// process.user: groups (where setgroups is allowed), gid, uid.
fn switch_ids(p: &ProcessSpec) -> anyhow::Result<()> {
    let allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "allow")
        .unwrap_or(true);
    if allowed {
        let groups: Vec<Gid> = p
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).context("process.user.additionalGids: setgroups")?;
    } else if !p.additional_gids.is_empty() {
        bail!(
            "process.user.additionalGids: setgroups is denied in this user namespace \
             (a single-id map cannot hold other groups)"
        );
    }
    let g = Gid::from_raw(p.gid);
    nix::unistd::setresgid(g, g, g)
        .with_context(|| format!("process.user.gid: set gid {} (is it mapped?)", p.gid))?;
    let u = Uid::from_raw(p.uid);
    nix::unistd::setresuid(u, u, u)
        .with_context(|| format!("process.user.uid: set uid {} (is it mapped?)", p.uid))?;
    Ok(())
}

/// Release a created container: write its fifo. Fails when nobody waits
/// on it (the init died), rather than blocking.
pub fn start(fifo: &Path) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(fifo)
        .context("the container's init is not waiting (it ended)")?;
    std::io::Write::write_all(&mut f, b"0").context("write the exec fifo")?;
    Ok(())
}

/// `exec` into the container whose init is `pid`.
pub struct OciExec {
    pub pid: i32,
    pub process: OciProcess,
    pub console_socket: Option<PathBuf>,
}

/// Start `e`'s process in the container; returns its pid once it was
/// exec'd. The first stage exits at once, so the process becomes the
/// child of the nearest subreaper (the caller when it made itself one).
///
/// Must be called while this process has a single thread.
pub fn exec(e: &OciExec) -> anyhow::Result<i32> {
    let (ours, theirs) = channel::pair()?;
    let first = match sys::fork().context("fork the exec's first stage")? {
        ForkResult::Child => {
            drop(ours);
            if let Err(err) = exec_first_stage(e, &theirs) {
                let _ = theirs.send(&Msg::SetupFailed {
                    message: format!("{err:#}"),
                });
                sys::exit_now(EXIT_BURROW)
            }
            sys::exit_now(0)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let mut pid = None;
    let mut failure = None;
    while let Some((msg, _)) = ours.recv()? {
        match msg {
            Msg::Started { pid: p } => pid = Some(p),
            m @ (Msg::ExecFailed { .. } | Msg::SetupFailed { .. }) => {
                failure = failure.or(m.failure())
            }
            other => bail!("unexpected {other:?} from the exec"),
        }
    }
    let _ = waitpid(first, None);
    if let Some(f) = failure {
        return Err(f.into());
    }
    pid.context("the exec's first stage ended without starting the process")
}

fn exec_first_stage(e: &OciExec, chan: &Channel) -> anyhow::Result<()> {
    let console = match (&e.process.spec.tty, &e.console_socket) {
        (true, Some(p)) => Some(
            UnixStream::connect(p)
                .with_context(|| format!("connect to the console socket {}", p.display()))?,
        ),
        (true, None) => bail!("a tty needs --console-socket"),
        _ => None,
    };
    // Opened before any is joined: /proc is the host's until the mount
    // namespace changes.
    let order = [
        NsKind::User,
        NsKind::Cgroup,
        NsKind::Ipc,
        NsKind::Uts,
        NsKind::Network,
        NsKind::Pid,
        NsKind::Mount,
    ];
    let mut fds = Vec::new();
    for kind in order {
        let theirs = format!("/proc/{}/ns/{}", e.pid, kind.proc_name());
        let ours = format!("/proc/self/ns/{}", kind.proc_name());
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        if std::os::unix::fs::MetadataExt::ino(&a) == std::os::unix::fs::MetadataExt::ino(&b) {
            continue;
        }
        let f = File::open(&theirs).with_context(|| format!("open {theirs}"))?;
        fds.push((kind, f));
    }
    for (kind, f) in &fds {
        setns(f.as_fd(), kind.flag())
            .with_context(|| format!("join the container's {} namespace", kind.proc_name()))?;
    }
    drop(fds);
    match sys::fork().context("fork the exec'd process")? {
        ForkResult::Child => {
            let _ = nix::sys::prctl::set_dumpable(false);
            let r = (|| -> anyhow::Result<Option<OwnedFd>> {
                nix::unistd::setsid().context("setsid")?;
                match &console {
                    Some(sock) => Ok(Some(open_pty(sock, e.process.console_size)?)),
                    None => Ok(None),
                }
            })();
            let (code, message) = match r {
                Ok(tty) => match find_command(&e.process.spec) {
                    Err(f) => f,
                    Ok(()) => become_process(&e.process, tty),
                },
                Err(err) => (EXIT_BURROW, format!("{err:#}")),
            };
            let _ = chan.send(&Msg::ExecFailed { code, message });
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => chan.send(&Msg::Started {
            pid: child.as_raw(),
        }),
    }
}

/// Wait for `pid` (our child, or reparented to us as a subreaper) and
/// return its exit code (128 + signal when killed).
pub fn wait_exit(pid: i32) -> anyhow::Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("wait for the container's process"),
        }
    }
}
