//! The verbs that act on existing containers: stop, kill, rm, wait,
//! restart, rename, container inspect and prune.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::container::control::{self, not_found};
use crate::container::lifecycle;
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::error::EXIT_BURROW;
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL
    #[arg(short, long, default_value_t = 10, value_name = "SECONDS")]
    pub time: u64,
    /// The containers (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send (name or number)
    #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
    pub signal: String,
    /// The containers (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container
    #[arg(short, long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too (unless another container uses them)
    #[arg(short, long)]
    pub volumes: bool,
    /// The containers (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The containers (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Show containers' records as JSON
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// List containers (as `ps`)
    #[command(alias = "ps")]
    Ls(super::ps::PsArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each container with a Go template ('{{.State.Pid}}', '{{json .Config}}')
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (burrow never asks; accepted for docker's scripts)
    #[arg(short, long)]
    pub force: bool,
}

/// Run `act` on each named container; docker's convention: print each
/// name that worked, one line per failure, exit 1 if any failed.
pub(super) fn each(
    paths: &Paths,
    names: &[String],
    mut act: impl FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut code = 0;
    for n in names {
        let result = record::find(root, n)
            .map_err(not_found)
            .and_then(|r| act(&r));
        match result {
            Ok(()) => println!("{}", crate::text::escape_control(n)),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = code.max(crate::error::exit_code(&e).min(EXIT_BURROW));
            }
        }
    }
    Ok(code)
}

pub fn stop(paths: &Paths, a: &StopArgs) -> anyhow::Result<i32> {
    let root = paths.root().to_path_buf();
    each(paths, &a.containers, |r| {
        control::stop(&root, r, Duration::from_secs(a.time))
    })
}

pub fn kill(paths: &Paths, a: &KillArgs) -> anyhow::Result<i32> {
    let sig = control::parse_signal(&a.signal)?;
    let root = paths.root().to_path_buf();
    each(paths, &a.containers, |r| control::signal(&root, r, sig))
}

pub fn rm(paths: &Paths, a: &RmArgs) -> anyhow::Result<i32> {
    let root = paths.root().to_path_buf();
    each(paths, &a.containers, |r| {
        let removed = control::remove(&root, r, a.force)?;
        if removed && a.volumes {
            crate::container::volumes::remove_anonymous_of(&root, r)?;
        }
        Ok(())
    })
}

pub fn restart(paths: &Paths, a: &StopArgs) -> anyhow::Result<i32> {
    let root = paths.root().to_path_buf();
    each(paths, &a.containers, |r| {
        control::stop(&root, r, Duration::from_secs(a.time))?;
        let fresh = record::find(&root, &r.id)?;
        lifecycle::start_detached(paths, fresh, None).map(|_| ())
    })
}

/// `wait`: block until each container stops, print its exit code.
pub fn wait(paths: &Paths, a: &WaitArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut code = 0;
    for n in &a.containers {
        let rec = match record::find(root, n) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("burrow: {e:#}");
                code = 1;
                continue;
            }
        };
        if State::of(&rec).is_live() {
            control::wait_gone(&rec, None);
        }
        let now = record::find(root, &rec.id).unwrap_or(rec);
        match State::of(&now) {
            State::Exited { code: Some(c), .. } => println!("{c}"),
            _ => println!("-1"),
        }
    }
    Ok(code)
}

pub fn rename(paths: &Paths, a: &RenameArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    crate::container::names::validate(&a.new_name).map_err(anyhow::Error::msg)?;
    let rec = record::find(root, &a.container).map_err(not_found)?;
    record::rename(root, &rec.id, &a.new_name)?;
    Ok(0)
}

pub fn group(paths: &Paths, a: &ContainerArgs) -> anyhow::Result<i32> {
    match &a.command {
        ContainerCommand::Inspect(i) => inspect(paths, i),
        ContainerCommand::Prune(_) => prune(paths),
        ContainerCommand::Ls(p) => super::ps::run(paths, p),
    }
}

fn rfc3339(secs: Option<u64>) -> String {
    match secs {
        Some(s) => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s))
                .to_string()
        }
        None => "0001-01-01T00:00:00Z".into(),
    }
}

/// Docker's inspect shape for the common fields.
pub(super) fn inspect_json(root: &std::path::Path, r: &Record) -> serde_json::Value {
    let s = State::of(r);
    // Docker: a paused container is running too.
    let running = matches!(s, State::Running | State::Paused);
    let exit_code = match s {
        State::Exited { code, .. } => code.unwrap_or(-1),
        _ => 0,
    };
    let p = &r.config.process;
    let dir = record::container_dir(root, &r.id);
    let mut v = json!({
        "Id": r.id,
        "Created": rfc3339(Some(r.created)),
        "Path": p.args.first().cloned().unwrap_or_default(),
        "Args": p.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": s.word(),
            "Running": running,
            "Paused": s == State::Paused,
            "Restarting": s == State::Restarting,
            "OOMKilled": false,
            "Dead": matches!(s, State::Exited { code: None, .. }),
            "Pid": if running { r.init.map(|i| i.pid).unwrap_or(0) } else { 0 },
            "ExitCode": if s == State::Restarting { r.exit_code.unwrap_or(0) } else { exit_code },
            "Error": if matches!(s, State::Exited { code: None, .. }) {
                "its supervisor is gone (killed, or the machine restarted)"
            } else { "" },
            "StartedAt": rfc3339(r.started_at),
            "FinishedAt": rfc3339(r.finished_at),
        },
        "Image": r.image_id,
        "LogPath": crate::container::supervisor::log_path(&dir),
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Config": {
            "Hostname": r.config.hostname,
            "User": format!("{}:{}", p.uid, p.gid),
            "Tty": p.tty,
            "OpenStdin": p.stdin,
            "Env": p.env,
            "Cmd": p.args,
            "Image": r.image,
            "WorkingDir": p.cwd,
            "Labels": r.extras.labels,
            "StopSignal": r.extras.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
        },
        "HostConfig": {
            "AutoRemove": r.config.auto_remove,
            "RestartPolicy": {
                "Name": r.extras.restart.name(),
                "MaximumRetryCount": r.extras.restart.max_retries(),
            },
            "ReadonlyRootfs": r.config.read_only,
            "PidsLimit": r.extras.limits.pids,
            "Memory": r.extras.limits.memory.unwrap_or(0),
            "NanoCpus": r.extras.limits.nano_cpus.unwrap_or(0),
            "NetworkMode": match r.config.network {
                crate::container::record::Network::None => "none",
                crate::container::record::Network::Host => "host",
                crate::container::record::Network::Bridge => "bridge",
            },
            "LogConfig": {
                "Type": "local",
                "Config": {
                    "max-size": r.extras.log_max_size.map(|s| s.to_string()),
                    "max-file": r.extras.log_max_file.map(|s| s.to_string()),
                },
            },
        },
        "Mounts": crate::container::volumes::inspect_mounts(r),
        "GraphDriver": {
            "Name": r.config.storage_driver.name(),
            "Data": {
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "LowerDir": r.config.lower_dirs.iter()
                    .map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"),
            },
        },
    });
    add_health(&mut v, &dir, r);
    crate::net::publish::spec::add_to_inspect(&mut v, &r.extras.ports, running);
    crate::container::networks::add_to_inspect(&mut v, root, r);
    v
}

/// Docker's `Config.Healthcheck` and, for a container with a check,
/// `State.Health` (what the checker noted last).
fn add_health(v: &mut serde_json::Value, dir: &std::path::Path, r: &Record) {
    use crate::container::health::{self, Health};
    let Some(cfg) = &r.extras.health else { return };
    v["Config"]["Healthcheck"] = json!(cfg);
    if cfg.command().is_none() {
        return;
    }
    // Made at the first start, as Docker makes it.
    let live = State::of(r).is_live();
    if let Some(h) = health::read(dir).or_else(|| live.then(|| Health::restarted(None))) {
        v["State"]["Health"] = json!(h);
    }
}

fn inspect(paths: &Paths, a: &InspectArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut out = Vec::new();
    let mut missing = None;
    for n in &a.containers {
        match record::find(root, n) {
            Ok(r) => out.push(inspect_json(root, &r)),
            Err(e) => {
                eprintln!("burrow: {e:#}");
                missing = Some(1);
            }
        }
    }
    super::format::print_inspect(&out, a.format.as_deref())?;
    Ok(missing.unwrap_or(0))
}

fn prune(paths: &Paths) -> anyhow::Result<i32> {
    let root = paths.root();
    println!("Deleted Containers:");
    for r in record::all(root) {
        if State::of(&r).is_live() {
            continue;
        }
        if control::remove(root, &r, false)? {
            println!("{}", r.id);
        }
    }
    Ok(0)
}
