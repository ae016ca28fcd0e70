//! The runtime's operations (runtime-spec "Operations", runc's verbs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::bundle::{self, Bundle};
use super::hooks::{self, Stage};
use super::state::{self, Record, Status, Store};
use crate::sandbox::oci::{self as launcher, IdMaps, OciExec};

/// `create`'s options.
pub struct CreateOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
}

/// Create the container; it waits for `start`. Returns its init's pid.
pub fn create(store: &Store, o: &CreateOpts) -> anyhow::Result<i32> {
    let b = bundle::load(o.bundle)?;
    store.begin(o.id)?;
    let r = create_in(store, o, &b);
    if r.is_err() {
        let _ = store.remove(o.id);
    }
    r
}

fn create_in(store: &Store, o: &CreateOpts, b: &Bundle) -> anyhow::Result<i32> {
    let console = o.console_socket.map(absolute).transpose()?;
    let launch = bundle::launch(b, store.fifo(o.id), console)?;
    chown_fifo_to_container_root(&launch)?;
    let pid = launcher::create(&launch, &write_maps)?;
    let record = Record {
        id: o.id.to_string(),
        pid,
        pid_start: state::start_time(pid),
        bundle: b.dir.clone(),
        rootfs: launch.root.clone(),
        created: state::now_rfc3339(),
        annotations: b
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        no_process: launch.no_process,
    };
    let saved = store.save(&record).and_then(|()| {
        let st = state::state_json(&record, Status::Created);
        hooks::run(&b.spec, Stage::Prestart, &st)?;
        hooks::run(&b.spec, Stage::CreateRuntime, &st)?;
        if let Some(f) = o.pid_file {
            write_pid_file(f, pid)?;
        }
        Ok(())
    });
    if let Err(e) = saved {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        return Err(e);
    }
    Ok(pid)
}

/// The init opens the exec fifo as the user namespace's root (see
/// `become_ns_root`); where root gives a map without host root, that is
/// another host id: the fifo goes to it (as runc does).
fn chown_fifo_to_container_root(l: &launcher::OciLaunch) -> anyhow::Result<()> {
    let Some(maps) = &l.id_maps else {
        return Ok(());
    };
    if !bundle::privileged() {
        return Ok(());
    }
    let root = |v: &[launcher::IdRange]| v.iter().find(|r| r.0 == 0).map(|r| r.1);
    if let (Some(u), Some(g)) = (root(&maps.uid), root(&maps.gid)) {
        std::os::unix::fs::chown(&l.fifo, Some(u), Some(g))
            .with_context(|| format!("chown the exec fifo {}", l.fifo.display()))?;
    }
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("path {}", p.display()))
}

/// Written to a temp file and renamed, so readers never see half a pid.
pub fn write_pid_file(path: &Path, pid: i32) -> anyhow::Result<()> {
    let path = absolute(path)?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("write the pid file {}", path.display()))
}

/// Write the id maps of `pid`'s new user namespace, in one of burrow's two
/// modes: the caller's own ids alone (written directly, setgroups denied),
/// or ranges from /etc/subuid and /etc/subgid (through newuidmap and
/// newgidmap). Root writes any map directly.
fn write_maps(pid: Pid, maps: &IdMaps) -> anyhow::Result<()> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let line = |v: &[launcher::IdRange]| -> String {
        v.iter().map(|(c, h, n)| format!("{c} {h} {n}\n")).collect()
    };
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let own = |v: &[launcher::IdRange], id: u32| v.len() == 1 && v[0].1 == id && v[0].2 == 1;
    if bundle::privileged() || (own(&maps.uid, uid) && own(&maps.gid, gid)) {
        if !bundle::privileged() {
            std::fs::write(proc.join("setgroups"), "deny").context("write setgroups")?;
        }
        std::fs::write(proc.join("uid_map"), line(&maps.uid))
            .context("linux.uidMappings: write uid_map")?;
        std::fs::write(proc.join("gid_map"), line(&maps.gid))
            .context("linux.gidMappings: write gid_map")?;
        return Ok(());
    }
    for (name, field, v) in [
        ("newuidmap", "linux.uidMappings", &maps.uid),
        ("newgidmap", "linux.gidMappings", &maps.gid),
    ] {
        let helper = crate::userns::idmap::helper(name)
            .with_context(|| format!("{field}: {name} not found; install uidmap"))?;
        let mut cmd = std::process::Command::new(helper);
        cmd.arg(pid.to_string());
        for (c, h, n) in v.iter() {
            cmd.args([c.to_string(), h.to_string(), n.to_string()]);
        }
        let out = cmd
            .output()
            .with_context(|| format!("{field}: run {name}"))?;
        if !out.status.success() {
            bail!(
                "{field}: {name} refused the map ({}); are the ranges in /etc/sub{}id?",
                String::from_utf8_lossy(&out.stderr).trim(),
                if name == "newuidmap" { "u" } else { "g" }
            );
        }
    }
    Ok(())
}

/// `start`: release a created container.
pub fn start(store: &Store, id: &str) -> anyhow::Result<()> {
    let r = store.load(id)?;
    match store.status(&r) {
        Status::Created => {}
        Status::Running => bail!("container {id} is already running"),
        Status::Stopped => bail!("container {id} is stopped: cannot start it"),
    }
    if r.no_process {
        // Nothing to run: the spec wants an error. The waiting init ends,
        // so the container is stopped and `delete` removes it.
        let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
        let until = Instant::now() + Duration::from_secs(5);
        while state::alive(r.pid, r.pid_start) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("container {id} has no process (config.json sets none): nothing to start");
    }
    let fifo = store.fifo(id);
    launcher::start(&fifo)?;
    let _ = std::fs::remove_file(&fifo);
    // poststart: failures are warnings (runtime-spec).
    if let Ok(b) = bundle::load(&r.bundle) {
        let st = state::state_json(&r, Status::Running);
        hooks::run_warning(&b.spec, Stage::Poststart, &st);
    }
    Ok(())
}

/// `state`: the runtime-spec's JSON.
pub fn state(store: &Store, id: &str) -> anyhow::Result<serde_json::Value> {
    let r = store.load(id)?;
    let st = store.status(&r);
    Ok(state::state_json(&r, st))
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("unknown signal {n}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .ok()
        .with_context(|| format!("unknown signal {:?}", crate::text::escape_control(s)))
}

/// `kill`: signal the init, or with `all` every process of the container.
pub fn kill_container(store: &Store, id: &str, sig: Signal, all: bool) -> anyhow::Result<()> {
    let r = store.load(id)?;
    if store.status(&r) == Status::Stopped {
        bail!("container {id} is not running");
    }
    let pids = if all {
        state::pids_in_container(r.pid)
    } else {
        vec![r.pid]
    };
    for p in pids {
        match kill(Pid::from_raw(p), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("signal {p}")),
        }
    }
    Ok(())
}

/// `delete`: remove a stopped (or created) container; `force` kills a
/// running one first.
pub fn delete(store: &Store, id: &str, force: bool) -> anyhow::Result<()> {
    let r = match store.load(id) {
        Ok(r) => r,
        Err(_) if force && state::check_id(id).is_ok() => {
            let _ = store.remove(id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // The spec: only a stopped container may be deleted (runc also
    // deletes created ones; engines pass --force when they mean it).
    let status = store.status(&r);
    if status != Status::Stopped && !force {
        bail!(
            "container {id} is {}: stop it first, or use --force",
            status.as_str()
        );
    }
    if status != Status::Stopped {
        for p in state::pids_in_container(r.pid) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let until = Instant::now() + Duration::from_secs(5);
        while state::alive(r.pid, r.pid_start) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    store.remove(id)?;
    if let Ok(b) = bundle::load(&r.bundle) {
        let st = state::state_json(&r, Status::Stopped);
        hooks::run_warning(&b.spec, Stage::Poststop, &st);
    }
    Ok(())
}

/// `exec`'s options.
pub struct ExecOpts<'a> {
    pub id: &'a str,
    /// A process.json, else built from `args` and the flags.
    pub process: Option<oci_spec::runtime::Process>,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
}

/// `exec`: a new process in a running container. Returns its exit code
/// (0 when detached).
pub fn exec(store: &Store, o: ExecOpts) -> anyhow::Result<i32> {
    let r = store.load(o.id)?;
    if store.status(&r) != Status::Running {
        bail!("container {} is not running", o.id);
    }
    let b = bundle::load(&r.bundle)?;
    let p = o.process.context("no process to exec")?;
    let seccomp = b.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let process = bundle::process(&p, seccomp)?;
    if !o.detach {
        // The process becomes our child when its first stage exits.
        nix::sys::prctl::set_child_subreaper(true).context("become a subreaper")?;
    }
    let pid = launcher::exec(&OciExec {
        pid: r.pid,
        process,
        console_socket: o.console_socket.map(absolute).transpose()?,
    })?;
    if let Some(f) = o.pid_file {
        write_pid_file(f, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    launcher::wait_exit(pid)
}

/// `run`: create and start; in the foreground, wait for the end and
/// delete the container. Returns the command's exit code.
pub fn run(store: &Store, o: &CreateOpts, detach: bool) -> anyhow::Result<i32> {
    if !detach {
        nix::sys::prctl::set_child_subreaper(true).context("become a subreaper")?;
    }
    let pid = create(store, o)?;
    if let Err(e) = start(store, o.id) {
        let _ = delete(store, o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = launcher::wait_exit(pid)?;
    delete(store, o.id, true)?;
    Ok(code)
}
