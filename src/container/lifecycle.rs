//! Create a container (its dir, record and per-container files) and start
//! it in the foreground through the launcher.

use std::fs;
use std::path::Path;

use anyhow::Context;

use super::health_probe::{Checker, ProbeSetup};
use super::names;
use super::record::{self, ProcRef, Record, RunConfig, Status};
use crate::net::publish::{self, BindError, Listeners};
use crate::paths::Paths;
use crate::rootfs::driver::Driver;
use crate::sandbox::confine::Confinement;
use crate::sandbox::{self, EtcFiles, LaunchSpec, Network, Rootfs};
use crate::userns::idmap::{self, HostUser, IdMapChoice, IdMapMode};
use crate::userns::PreparedUserNs;

/// What `create` (and `run`) hand over.
pub struct NewContainer {
    pub name: Option<String>,
    pub image: String,
    pub image_id: String,
    pub config: RunConfig,
    pub extras: record::Extras,
}

/// The hostname a container gets unless `--hostname` says otherwise:
/// the short id, or the host's name with the host's network.
pub fn default_hostname(id: &str, network: &Network) -> String {
    match network {
        Network::Host => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| id[..12].to_string()),
        Network::None | Network::Bridge | Network::Container(_) => id[..12].to_string(),
    }
}

/// Make the container: record (name checked), upper/work dirs and the
/// /etc files. Nothing is left behind when this fails.
pub fn create(paths: &Paths, new: NewContainer, id: String) -> anyhow::Result<Record> {
    let root = paths.ensure_root()?;
    let made = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut rec = Record {
        id: id.clone(),
        name: String::new(),
        image: new.image,
        image_id: new.image_id,
        created: made.as_secs(),
        created_nanos: made.subsec_nanos(),
        status: Status::Created,
        exit_code: None,
        config: new.config,
        started_at: None,
        finished_at: None,
        monitor: None,
        init: None,
        detached: false,
        extras: new.extras,
        restart_count: 0,
        manually_stopped: false,
        removing: false,
        cgroup: None,
        bypass_netns: None,
    };
    match new.name {
        Some(name) => {
            names::validate(&name).map_err(anyhow::Error::msg)?;
            rec.name = name;
        }
        None => {
            let taken: Vec<String> = record::all(root).into_iter().map(|r| r.name).collect();
            // Seeds from the id's random bytes, then its neighbours.
            let seed = u64::from_str_radix(&id[..16], 16).unwrap_or(0);
            rec.name = (0..64)
                .map(|i| names::generate(seed.wrapping_add(i * 7919)))
                .find(|n| !taken.contains(n))
                .unwrap_or_else(|| id[..12].to_string());
        }
    }
    // The link variables name the container (ALIAS_NAME=/NAME/ALIAS).
    super::peers::add_link_env(root, &mut rec);
    let dir = record::create(root, &rec)?;
    if let Err(e) = make_files(root, &dir, &rec) {
        let _ = crate::fsutil::remove_tree(&dir);
        return Err(e);
    }
    Ok(rec)
}

fn make_files(root: &Path, dir: &Path, rec: &Record) -> anyhow::Result<()> {
    for d in ["upper", "work", "merged"] {
        fs::create_dir(dir.join(d)).with_context(|| format!("create {d} dir"))?;
    }
    write_etc(root, dir, rec)
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf for the container: on
/// a user network, its resolver is the first network's gateway.
fn write_etc(root: &Path, dir: &Path, rec: &Record) -> anyhow::Result<()> {
    let host = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let mut net = rec.config.net.clone();
    let user_net = rec
        .config
        .networks
        .first()
        .and_then(|a| crate::net::user::store::find(root, &a.network).map(|n| (a.ip, n)));
    if let Some((_, n)) = &user_net {
        if net.dns.is_empty() {
            net.dns.push(std::net::IpAddr::V4(n.gateway));
        }
    }
    let hosts = match &rec.config.network {
        Network::Host => host("/etc/hosts") + &net.extra_hosts(),
        Network::None => format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n{}",
            rec.config.hostname,
            net.extra_hosts()
        ),
        Network::Bridge => {
            let mut h = match &user_net {
                Some((ip, _)) => net.hosts(&rec.config.hostname).replacen(
                    &crate::net::addr::CONTAINER4.to_string(),
                    &ip.to_string(),
                    1,
                ),
                None => net.hosts(&rec.config.hostname),
            };
            for (k, l) in rec.config.links.iter().enumerate() {
                h.push_str(&crate::net::link::hosts_line(k, l));
            }
            h
        }
        // The other container's files, as Docker shares them.
        Network::Container(other) => host_of(dir, other, "hosts")?,
    };
    let resolv = match &rec.config.network {
        Network::Bridge => {
            let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists() && user_net.is_none();
            net.resolv_conf(&host("/etc/resolv.conf"), ipv6)
        }
        Network::Container(other) => host_of(dir, other, "resolv.conf")?,
        _ => host("/etc/resolv.conf"),
    };
    let files = etc_files(dir);
    fs::write(&files.hosts, hosts).context("write hosts")?;
    fs::write(&files.hostname, format!("{}\n", rec.config.hostname)).context("write hostname")?;
    fs::write(&files.resolv_conf, resolv).context("write resolv.conf")?;
    Ok(())
}

/// Write a container's /etc files again (its user networks changed).
pub fn rewrite_resolv_conf(paths: &Paths, id: &str) -> anyhow::Result<()> {
    let root = paths.root();
    let rec = record::find(root, id)?;
    write_etc(root, &record::container_dir(root, &rec.id), &rec)
}

/// A file of container `other` (a sibling of `dir`): its /etc `name`.
fn host_of(dir: &Path, other: &str, name: &str) -> anyhow::Result<String> {
    let path = dir.with_file_name(other).join(name);
    fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

fn etc_files(dir: &Path) -> EtcFiles {
    EtcFiles {
        hosts: dir.join("hosts"),
        hostname: dir.join("hostname"),
        resolv_conf: dir.join("resolv.conf"),
    }
}

/// Tell the user, once per store, which id-map mode containers get.
fn note_id_map_once(root: &Path, choice: &IdMapChoice) {
    let (key, text) = match &choice.mode {
        IdMapMode::Single if crate::sandbox::ids::available() => (
            "single".to_string(),
            format!(
                "single-id mode: other user and group ids in containers are emulated (su, \
                 setuid, chown and apt work, owners are kept in xattrs; to the kernel every \
                 process is you, so they are not a security boundary) ({})",
                choice.why_single.as_deref().unwrap_or("no subordinate ids")
            ),
        ),
        IdMapMode::Single => (
            "single".to_string(),
            format!(
                "single-id mode: you are root in containers and no other user or group ids \
                 exist there ({})",
                choice.why_single.as_deref().unwrap_or("no subordinate ids")
            ),
        ),
        IdMapMode::SubIds { uid, gid } => (
            format!("subids {} {}", uid.start, gid.start),
            format!(
                "containers map root to you and ids 1-{} to your subordinate uids {}-{} \
                 and gids {}-{}",
                uid.count.min(gid.count),
                uid.start,
                uid.start + uid.count - 1,
                gid.start,
                gid.start + gid.count - 1
            ),
        ),
    };
    let file = root.join("id-map-mode");
    if fs::read_to_string(&file).is_ok_and(|k| k == key) {
        return;
    }
    eprintln!("burrow: note: {text} (shown once; see 'burrow info')");
    let _ = crate::fsutil::write_atomic(&file, key.as_bytes(), false);
}

/// The launcher's view of a container.
fn launch_spec(paths: &Paths, rec: &Record, attach_stdin: bool) -> anyhow::Result<LaunchSpec> {
    let root = paths.ensure_root()?.to_path_buf();
    let dir = record::container_dir(&root, &rec.id);
    let user = HostUser::current();
    let choice = idmap::choose(&user);
    note_id_map_once(&root, &choice);
    // Compiled (or read from the cache) here, before any fork.
    let single = matches!(choice.mode, IdMapMode::Single);
    let confine = match Confinement::resolve(&rec.config.security, single, Some(&root)) {
        Ok(c) => c,
        Err(e) => {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(e);
        }
    };
    if let Some(w) = confine.landlock_warning() {
        eprintln!("burrow: {w}");
    }
    let driver = rec.config.storage_driver;
    if driver == Driver::FuseOverlay {
        if let Some(problem) = crate::rootfs::host::fuse_device_problem() {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(crate::error::Coded::new(
                crate::error::EXIT_BURROW,
                format!(
                    "container {} uses the fuse-overlay storage driver, which needs /dev/fuse: \
                     {problem}",
                    crate::text::escape_control(&rec.name)
                ),
            )
            .into());
        }
    }
    // The namespaces of the containers it shares a network with or links
    // to: they must run now.
    let peers = match &rec.config.network {
        Network::Container(other) => {
            super::peers::join(&root, other, &choice.mode, &user).map(|p| (Some(p), Vec::new()))
        }
        _ => super::peers::linked(&root, &rec.name, &rec.config.links).map(|l| (None, l)),
    };
    let (join, links) = match peers {
        Ok(p) => p,
        Err(e) => {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(e);
        }
    };
    if rec.config.network == Network::Bridge {
        if let Some(problem) = crate::net::namespace::tun_problem() {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(crate::error::Coded::new(
                crate::error::EXIT_BURROW,
                format!("the default network (bridge) cannot work: {problem}"),
            )
            .into());
        }
    }
    // Before anything is made for the start: a port in use fails it here.
    let ports = match bind_ports(rec) {
        Ok(p) => p,
        Err(e) => {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(e.into());
        }
    };
    let user_nets = match user_networks(paths, rec) {
        Ok(u) => u,
        Err(e) => {
            if rec.config.auto_remove {
                let _ = crate::fsutil::remove_tree(&dir);
            }
            return Err(e);
        }
    };
    let mut process = rec.config.process.clone();
    process.stdin = attach_stdin;
    // Quietly none where our cgroup is not delegated: pause and stats say
    // why they cannot, the limits below warn.
    let cgroup = super::cgroup::make_for(&rec.id);
    let limits = super::cgroup::apply_limits(cgroup.as_deref(), &rec.extras.limits);
    if let Some(warning) = &limits.warning {
        eprintln!("{warning}");
    }
    Ok(LaunchSpec {
        rootfs: Rootfs {
            lower_dirs: rec.config.lower_dirs.clone(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            driver,
        },
        process,
        hostname: rec.config.hostname.clone(),
        mounts: rec.config.mounts.clone(),
        read_only: rec.config.read_only,
        network: rec.config.network.clone(),
        join,
        links,
        host_loopback: rec.config.net.host_loopback(),
        etc: etc_files(&dir),
        id_map: choice.mode.clone(),
        host_user: user,
        init: rec.config.init,
        remove_after: rec.config.auto_remove.then(|| dir.clone()),
        confinement: confine,
        plan: None,
        identity_map: false,
        cgroup,
        nproc_limit: limits.nproc,
        ports,
        user_nets,
    })
}

/// The user networks' links of a container on some, with the keeper's
/// namespaces (the keeper started if none runs).
fn user_networks(
    paths: &Paths,
    rec: &Record,
) -> anyhow::Result<Option<crate::net::user::attach::UserNets>> {
    use crate::net::user::{attach, keeper, store};
    if rec.config.networks.is_empty() || rec.config.network != Network::Bridge {
        return Ok(None);
    }
    let root = paths.root();
    let mut links = Vec::new();
    for a in &rec.config.networks {
        let n = store::find(root, &a.network).ok_or_else(|| {
            crate::error::Coded::new(
                crate::error::EXIT_BURROW,
                format!(
                    "container {} is on network {}, which no longer exists (network disconnect it)",
                    crate::text::escape_control(&rec.name),
                    crate::text::escape_control(&a.network)
                ),
            )
        })?;
        links.push(attach::Link {
            bridge: n.bridge(),
            ip: a.ip,
            prefix: n.subnet.prefix,
            internal: n.internal,
        });
    }
    let k = keeper::ensure(paths).context("user networks")?;
    Ok(Some(attach::UserNets {
        userns: std::sync::Arc::new(k.userns),
        netns: std::sync::Arc::new(k.netns),
        links,
    }))
}

/// Bind the host sockets of `-p` and `-P` (all or none). Only the default
/// network has an address to forward to: with the host's or none, the
/// ports are dropped with a warning (Docker's for host).
fn bind_ports(rec: &Record) -> Result<Listeners, BindError> {
    let wanted = rec.extras.ports.wanted();
    if wanted.is_empty() {
        return Ok(Listeners::default());
    }
    match rec.config.network {
        Network::Bridge => publish::bind_all(&wanted),
        // Refused at create; an image's EXPOSE alone binds nothing.
        Network::Container(_) => Ok(Listeners::default()),
        Network::Host => {
            eprintln!(
                "burrow: WARNING: published ports are discarded when using host network mode"
            );
            Ok(Listeners::default())
        }
        Network::None => {
            eprintln!("burrow: WARNING: published ports are discarded with --network none");
            Ok(Listeners::default())
        }
    }
}

/// Refuse to start a container whose monitor still runs.
fn check_not_running(rec: &Record) -> anyhow::Result<()> {
    if super::state::State::of(rec).is_live() {
        anyhow::bail!(
            "container {} is already running",
            crate::text::escape_control(&rec.name)
        );
    }
    Ok(())
}

/// Run a created (or exited) container in the foreground: its stdio is
/// ours (or a pty we relay). Returns the command's exit code.
///
/// Must be called before this process starts any thread.
pub fn start(
    paths: &Paths,
    rec: Record,
    attach_stdin: bool,
    userns: Option<PreparedUserNs>,
) -> anyhow::Result<i32> {
    check_not_running(&rec)?;
    let root = paths.ensure_root()?.to_path_buf();
    let dir = record::container_dir(&root, &rec.id);
    let spec = match launch_spec(paths, &rec, attach_stdin) {
        Ok(s) => s,
        Err(e) => {
            // A --rm container that cannot start is gone (launch_spec
            // removed it): its anonymous volumes too.
            if rec.config.auto_remove && !dir.exists() {
                let _ = super::volumes::remove_anonymous_of(&root, &rec);
            }
            return Err(e);
        }
    };
    // We are the monitor, with --rm too (ps, stop, exec and rm -f must
    // reach a foreground container): signals sent to us reach the
    // container, and if we die our supervisor and the container die with
    // us (parent-death signals), so a dead monitor means a gone container.
    record::update(&root, &rec.id, |r| {
        r.status = Status::Running;
        r.started_at = Some(record::now());
        r.monitor = ProcRef::of(std::process::id() as i32);
        r.init = None;
        r.detached = false;
        r.cgroup = spec.cgroup.clone();
        r.manually_stopped = false;
        r.removing = false;
        r.restart_count = 0;
        r.extras.ports.bound = spec.ports.bindings();
        r.bypass_netns = guarded_netns(&spec);
    })?;
    let id = rec.id.clone();
    // We run its health checks while it runs (the checker dies with us).
    let health = probe_setup(&root, &rec, &spec);
    let mut checker = None;
    let result = sandbox::launch_noting(&spec, userns, &mut |init| {
        // For exec and top from other commands. A --rm container's record
        // may be gone by now (its supervisor moves it out at the end).
        let _ = record::update(&root, &id, |r| r.init = ProcRef::of(init));
        checker = health.as_ref().and_then(|h| Checker::spawn(h, init));
    });
    drop(checker);
    if rec.config.auto_remove {
        // The supervisor removed it; if it never ran, do it here.
        if dir.exists() {
            let _ = crate::fsutil::remove_tree(&dir);
        }
        // Its anonymous volumes go with it, as with docker run --rm.
        if let Err(e) = super::volumes::remove_anonymous_of(&root, &rec) {
            eprintln!("burrow: {}", crate::error::one_line(&e));
        }
    } else {
        let code = match &result {
            Ok(e) => e.code,
            Err(e) => crate::error::exit_code(e),
        };
        // It may have been removed meanwhile (rm -f); then nothing to note.
        let _ = record::update(&root, &rec.id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(record::now());
        });
    }
    result.map(|e| e.code)
}

/// What the health checker of `rec` needs (None: it has no check): the
/// confinement and id map its init gets, as `exec` gives them: without
/// id emulation, as nobody answers a check's notifications (with the
/// init's filter its first execve failed with ENOSYS).
fn probe_setup(root: &Path, rec: &Record, spec: &LaunchSpec) -> Option<ProbeSetup> {
    let config = rec.extras.health.clone()?;
    config.command()?;
    let single = matches!(spec.id_map, IdMapMode::Single);
    let confinement =
        match Confinement::resolve_unemulated(&rec.config.security, single, Some(root)) {
            Ok(c) => c,
            // The same profile compiled a moment ago for the init.
            Err(_) => spec.confinement.clone(),
        };
    Some(ProbeSetup {
        root: root.to_path_buf(),
        id: rec.id.clone(),
        config,
        process: rec.config.process.clone(),
        id_map: spec.id_map.clone(),
        confinement,
        bypass_netns: guarded_netns(spec),
    })
}

/// See `Record::bypass_netns`.
fn guarded_netns(spec: &LaunchSpec) -> Option<u64> {
    crate::sandbox::bypass::guarded_netns(&spec.network, &spec.ports)
}

/// Start a container with a detached supervisor that keeps its log and
/// record; returns once the command runs.
///
/// Must be called before this process starts any thread.
pub fn start_detached(
    paths: &Paths,
    rec: Record,
    userns: Option<PreparedUserNs>,
) -> anyhow::Result<sandbox::Started> {
    check_not_running(&rec)?;
    let root = paths.ensure_root()?.to_path_buf();
    let spec = launch_spec(paths, &rec, false)?;
    // Known before the command runs, for `port` and `ps` right after.
    record::update(&root, &rec.id, |r| {
        r.extras.ports.bound = spec.ports.bindings();
        r.bypass_netns = guarded_netns(&spec);
    })?;
    let mut monitor = super::supervisor::RecordMonitor::new(&root, &rec, spec.cgroup.clone())
        .with_health(probe_setup(&root, &rec, &spec));
    sandbox::launch_detached(&spec, userns, &mut monitor)
}
