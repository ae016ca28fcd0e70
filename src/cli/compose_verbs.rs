//! The `burrow compose` verbs on a project's existing containers (ps,
//! logs, stop, start, restart, kill, rm, exec, run, top, port, images,
//! ls) and on its images (build, pull, push). Each finds the containers
//! by their compose labels and acts through the same container code (or
//! the same handler) as the plain verb.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use clap::Args;

use crate::compose::exec::{self as cx, label, number_of, service_of};
use crate::compose::plan::{self, Service};
use crate::compose::Project;
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::container::{control, lifecycle};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct Services {
    /// Only these services [default: all]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Only the ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the services' names
    #[arg(long)]
    pub services: bool,
    /// Output format: table or json
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Do not cut long commands
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing what the containers write, until they end
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container ("all" for every line)
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<String>,
    /// Prefix each line with its time
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines since a time or a duration ago (10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// No colours
    #[arg(long)]
    pub no_color: bool,
    /// No container-name prefix
    #[arg(long)]
    pub no_log_prefix: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL [default: the service's stop_grace_period, else 10]
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send
    #[arg(short, long, default_value = "SIGKILL", value_name = "SIGNAL")]
    pub signal: String,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not ask (burrow never asks)
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers first
    #[arg(short, long)]
    pub stop: bool,
    /// Remove their anonymous volumes too
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// No pseudo-terminal (by default one is given when stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set an environment variable
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// User to run as
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Which replica of the service
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub index: u32,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container's name
    #[arg(short, long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Do not start the services this one depends on
    #[arg(long)]
    pub no_deps: bool,
    /// No pseudo-terminal (by default one is given when stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Set an environment variable
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Override the service's entrypoint
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// User to run as
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Name the container [default: <project>-<service>-run-<id>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Publish the service's ports too
    #[arg(long)]
    pub service_ports: bool,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The protocol
    #[arg(long, default_value = "tcp", value_name = "PROTO")]
    pub protocol: String,
    /// Which replica of the service
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub index: u32,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(value_name = "PRIVATE_PORT")]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only the image ids
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Projects whose containers all stopped too
    #[arg(short, long)]
    pub all: bool,
    /// Only the names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Do not use the build cache
    #[arg(long)]
    pub no_cache: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// The model's services, those named (all when none), in start order.
fn chosen(project: &Project, names: &[String]) -> anyhow::Result<Vec<Service>> {
    let all = cx::services(project, &BTreeMap::new())?;
    for n in names {
        if !all.iter().any(|s| &s.name == n) {
            bail!("no such service: {}", escape_control(n));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .collect())
}

/// The project's containers of the services named (all when none).
fn targets(paths: &Paths, project: &Project, names: &[String]) -> anyhow::Result<Vec<Record>> {
    let svcs = chosen(project, names)?;
    let wanted: BTreeSet<&str> = svcs.iter().map(|s| s.name.as_str()).collect();
    Ok(cx::containers(paths.root(), &project.name, false)
        .into_iter()
        .filter(|r| wanted.contains(service_of(r)))
        .collect())
}

fn say(name: &str, what: &str) {
    eprintln!(" Container {}  {what}", escape_control(name));
}

pub fn ps(paths: &Paths, project: &Project, a: &PsArgs) -> anyhow::Result<i32> {
    if a.services {
        for s in chosen(project, &a.names)? {
            println!("{}", s.name);
        }
        return Ok(0);
    }
    let root = paths.root();
    let now = record::now();
    let recs: Vec<Record> = targets(paths, project, &a.names)?
        .into_iter()
        .filter(|r| a.all || State::of(r).is_live())
        .collect();
    if a.quiet {
        for r in &recs {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let rows: Vec<[String; 7]> = recs
        .iter()
        .map(|r| {
            let s = State::of(r);
            let health = super::ps::health_of(root, r, &s);
            let ports = match s {
                State::Running | State::Paused => crate::net::publish::spec::ps_column(
                    &r.extras.ports.bound,
                    &r.extras.ports.exposed,
                ),
                _ => String::new(),
            };
            [
                r.name.clone(),
                r.image.clone(),
                format!("\"{}\"", command(r, !a.no_trunc && a.format != "json")),
                service_of(r).to_string(),
                format!(
                    "{} ago",
                    crate::container::state::human_duration(now.saturating_sub(r.created))
                ),
                super::ps::with_health(s.status_line(r, now), &s, health.as_ref()),
                ports,
            ]
        })
        .collect();
    if a.format == "json" {
        let keys = [
            "Name",
            "Image",
            "Command",
            "Service",
            "RunningFor",
            "Status",
            "Ports",
        ];
        for (r, row) in recs.iter().zip(&rows) {
            let mut m = serde_json::Map::new();
            m.insert("ID".into(), r.id.clone().into());
            for (k, v) in keys.iter().zip(row) {
                m.insert((*k).into(), v.clone().into());
            }
            m.insert("Project".into(), project.name.clone().into());
            m.insert("State".into(), State::of(r).word().into());
            println!("{}", serde_json::Value::Object(m));
        }
        return Ok(0);
    }
    let header = [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ]
    .map(String::from);
    table(&[&[header][..], &rows].concat());
    Ok(0)
}

/// The command line, cut at 20 characters as Docker's tables cut it.
fn command(r: &Record, trunc: bool) -> String {
    let c = r.config.process.args.join(" ");
    if trunc && c.chars().count() > 20 {
        c.chars().take(19).collect::<String>() + "…"
    } else {
        c
    }
}

/// Columns padded to their widest cell, three spaces apart, as Docker's
/// tables; control characters escaped.
fn table(rows: &[[String; 7]]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_control(c).to_string()).collect())
        .collect();
    let mut w = [0usize; 7];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<width$}   ", width = w[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn logs(paths: &Paths, project: &Project, a: &LogsArgs) -> anyhow::Result<i32> {
    let recs = targets(paths, project, &a.services)?;
    let tail = match a.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let since = a
        .since
        .as_deref()
        .map(|s| crate::container::log::parse_since(s, SystemTime::now()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    crate::compose::attach::logs(
        paths.root(),
        &project.name,
        &recs,
        &crate::compose::attach::LogOptions {
            follow: a.follow,
            tail,
            timestamps: a.timestamps,
            since,
            no_colour: a.no_color,
            no_prefix: a.no_log_prefix,
        },
    )
}

/// Each container with its service's stop grace period (or `-t`).
fn with_grace(
    project: &Project,
    recs: Vec<Record>,
    timeout: Option<u64>,
) -> Vec<(Record, Duration)> {
    let all = cx::services(project, &BTreeMap::new()).unwrap_or_default();
    recs.into_iter()
        .map(|r| {
            let g = all
                .iter()
                .find(|s| s.name == service_of(&r))
                .map_or(Duration::from_secs(timeout.unwrap_or(10)), |s| {
                    cx::stop_grace(s, timeout)
                });
            (r, g)
        })
        .collect()
}

fn stop_these(paths: &Paths, project: &Project, recs: Vec<Record>, t: Option<u64>) -> i32 {
    let mut code = 0;
    for (name, res) in cx::stop_all(paths.root(), &with_grace(project, recs, t), false) {
        match res {
            Ok(()) => say(&name, "Stopped"),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    code
}

pub fn stop(paths: &Paths, project: &Project, a: &StopArgs) -> anyhow::Result<i32> {
    let recs = targets(paths, project, &a.services)?;
    Ok(stop_these(paths, project, recs, a.timeout))
}

/// Start the stopped containers of `names`, dependencies first.
fn start_these(paths: &Paths, project: &Project, names: &[String]) -> anyhow::Result<i32> {
    let root = paths.root();
    for svc in chosen(project, names)? {
        for r in cx::containers(root, &project.name, false)
            .into_iter()
            .filter(|r| service_of(r) == svc.name)
        {
            if !State::of(&r).is_live() {
                lifecycle::start_detached(paths, r.clone(), None)
                    .with_context(|| format!("service {:?}", svc.name))?;
                say(&r.name, "Started");
            }
        }
    }
    Ok(0)
}

pub fn start(paths: &Paths, project: &Project, a: &Services) -> anyhow::Result<i32> {
    if targets(paths, project, &a.services)?.is_empty() {
        bail!("no containers to start (run 'burrow compose up' first)");
    }
    start_these(paths, project, &a.services)
}

pub fn restart(paths: &Paths, project: &Project, a: &StopArgs) -> anyhow::Result<i32> {
    let names = with_restarting_dependents(project, &a.services)?;
    let recs = targets(paths, project, &names)?;
    let code = stop_these(paths, project, recs, a.timeout);
    Ok(code.max(start_these(paths, project, &names)?))
}

/// `names` and the services that depend on one of them with `restart:
/// true`, and so on down (all services when `names` is empty).
fn with_restarting_dependents(project: &Project, names: &[String]) -> anyhow::Result<Vec<String>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = cx::services(project, &BTreeMap::new())?;
    let mut out: Vec<String> = names.to_vec();
    // Dependencies come first in `all`: one pass reaches every level.
    for s in &all {
        if !out.contains(&s.name) && s.deps.iter().any(|d| d.restart && out.contains(&d.service)) {
            out.push(s.name.clone());
        }
    }
    Ok(out)
}

pub fn kill(paths: &Paths, project: &Project, a: &KillArgs) -> anyhow::Result<i32> {
    let sig = control::parse_signal(&a.signal)?;
    let mut code = 0;
    for r in targets(paths, project, &a.services)? {
        if !State::of(&r).is_live() {
            continue;
        }
        match control::signal(paths.root(), &r, sig) {
            Ok(()) => say(&r.name, "Killed"),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

pub fn rm(paths: &Paths, project: &Project, a: &RmArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut recs = targets(paths, project, &a.services)?;
    recs.extend(
        cx::containers(root, &project.name, true)
            .into_iter()
            .filter(|r| a.services.is_empty() || a.services.iter().any(|s| s == service_of(r))),
    );
    if a.stop {
        let live: Vec<Record> = recs
            .iter()
            .filter(|r| State::of(r).is_live())
            .cloned()
            .collect();
        stop_these(paths, project, live, None);
    }
    let stopped: Vec<Record> = recs
        .into_iter()
        .filter_map(|r| record::find(root, &r.id).ok())
        .filter(|r| !State::of(r).is_live())
        .collect();
    if stopped.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    let mut code = 0;
    for r in stopped {
        match control::remove(root, &r, false) {
            Ok(_) => {
                if a.volumes {
                    let _ = crate::container::volumes::remove_anonymous_of(root, &r);
                }
                say(&r.name, "Removed");
            }
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Replica `index` of `service`, which must exist.
fn replica(paths: &Paths, project: &Project, service: &str, index: u32) -> anyhow::Result<Record> {
    targets(paths, project, &[service.to_string()])?
        .into_iter()
        .find(|r| number_of(r) == index)
        .ok_or_else(|| {
            crate::error::Coded::new(
                1,
                format!(
                    "service {:?} is not running (no container {index})",
                    escape_control(service)
                ),
            )
            .into()
        })
}

pub fn exec(paths: &Paths, project: &Project, a: &ExecArgs) -> anyhow::Result<i32> {
    let r = replica(paths, project, &a.service, a.index)?;
    let terminal = std::io::stdin().is_terminal();
    super::exec::run(
        paths,
        &super::exec::ExecArgs {
            interactive: terminal && !a.detach,
            detach: a.detach,
            tty: terminal && !a.no_tty && !a.detach,
            env: a.env.clone(),
            user: a.user.clone(),
            workdir: a.workdir.clone(),
            container: r.id,
            command: a.command.clone(),
        },
    )
}

pub fn run(paths: &Paths, project: &Project, a: &RunArgs) -> anyhow::Result<i32> {
    let all = cx::services(project, &BTreeMap::new())?;
    let svc = all
        .iter()
        .find(|s| s.name == a.service)
        .with_context(|| format!("no such service: {}", escape_control(&a.service)))?
        .clone();
    let deps: Vec<String> = plan::select(&all, std::slice::from_ref(&svc.name), false)?
        .into_iter()
        .map(|s| s.name)
        .filter(|n| *n != svc.name)
        .collect();
    if !a.no_deps && !deps.is_empty() {
        cx::up(
            paths,
            project,
            &cx::UpOptions {
                detach: true,
                services: deps,
                ..Default::default()
            },
        )?;
    }
    cx::ensure_image(paths, project, &svc, false, false)
        .with_context(|| format!("service {:?}", svc.name))?;
    let terminal = std::io::stdin().is_terminal();
    let tty = terminal && !a.no_tty && !a.detach;
    let interactive = (a.interactive || terminal) && !a.detach;
    let name = a.name.clone().unwrap_or_else(|| {
        let id = record::new_id().unwrap_or_else(|_| "0".repeat(64));
        format!("{}-{}-run-{}", project.name, svc.name, &id[..12])
    });
    let mut made = cx::Made::default();
    let networks = cx::networks(paths, project, std::slice::from_ref(&svc), &mut made)?;
    let ctx = crate::compose::service::Ctx {
        project: &project.name,
        model: &project.model,
        cgroup_limits: crate::container::cgroup::delegated_dir().is_ok(),
        networks,
    };
    let command = a.command.clone();
    let mut said = BTreeSet::new();
    let rec = cx::create_replica(
        paths,
        &ctx,
        project,
        &svc,
        cx::Which {
            name: &name,
            number: 1,
            oneoff: true,
        },
        &mut said,
        |req| {
            if !command.is_empty() {
                req.command = command;
            }
            if let Some(e) = &a.entrypoint {
                req.entrypoint = Some(e.clone());
            }
            req.env
                .extend(crate::container::spec::resolve_from_caller(&a.env, |n| {
                    std::env::var(n).ok()
                }));
            if a.user.is_some() {
                req.user = a.user.clone();
            }
            if a.workdir.is_some() {
                req.workdir = a.workdir.clone();
            }
            req.tty = tty;
            req.interactive = interactive;
            req.auto_remove = a.rm;
            // A one-off container does not take the service's ports
            // (they are the service's), unless asked.
            if !a.service_ports {
                req.extras.ports.publish.clear();
            }
            req.extras.restart = Default::default();
        },
    )?;
    if a.detach {
        lifecycle::start_detached(paths, rec.clone(), None)?;
        println!("{}", escape_control(&rec.name));
        return Ok(0);
    }
    lifecycle::start(paths, rec, interactive, None)
}

pub fn top(paths: &Paths, project: &Project, a: &Services) -> anyhow::Result<i32> {
    for r in targets(paths, project, &a.services)?
        .into_iter()
        .filter(|r| State::of(r).is_live())
    {
        println!("{}", escape_control(&r.name));
        super::top::top(
            paths,
            &super::top::TopArgs {
                container: r.id.clone(),
                ps_args: Vec::new(),
            },
        )?;
        println!();
    }
    Ok(0)
}

pub fn port(paths: &Paths, project: &Project, a: &PortArgs) -> anyhow::Result<i32> {
    let r = replica(paths, project, &a.service, a.index)?;
    super::port::run(
        paths,
        &super::port::PortArgs {
            container: r.id,
            port: Some(format!("{}/{}", a.port, a.protocol)),
        },
    )
}

pub fn images(paths: &Paths, project: &Project, a: &ImagesArgs) -> anyhow::Result<i32> {
    let store = crate::image::Store::open(paths)?;
    let images = store.images()?;
    let mut rows: Vec<[String; 7]> = Vec::new();
    for r in targets(paths, project, &a.services)? {
        let img = images.iter().find(|i| i.id == r.image_id);
        if a.quiet {
            println!("{}", r.image_id);
            continue;
        }
        let (repo, tag) = match r.image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, tag)) => (repo.to_string(), tag.to_string()),
            None => (r.image.clone(), "latest".to_string()),
        };
        let id = r.image_id.trim_start_matches("sha256:");
        rows.push([
            r.name.clone(),
            repo,
            tag,
            id[..id.len().min(12)].to_string(),
            img.map(|i| crate::units::human_size(i.size()))
                .unwrap_or_default(),
            String::new(),
            String::new(),
        ]);
    }
    if !a.quiet {
        let header =
            ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE", "", ""].map(String::from);
        table(&[&[header][..], &rows].concat());
    }
    Ok(0)
}

pub fn ls(paths: &Paths, a: &LsArgs) -> anyhow::Result<i32> {
    // Project -> (state word -> count, config files).
    let mut projects: BTreeMap<String, (BTreeMap<&'static str, usize>, String)> = BTreeMap::new();
    for r in record::all(paths.root()) {
        let Some(p) = label(&r, plan::PROJECT) else {
            continue;
        };
        let e = projects.entry(p.to_string()).or_default();
        *e.0.entry(State::of(&r).word()).or_default() += 1;
        if let Some(f) = label(&r, plan::CONFIG_FILES) {
            e.1 = f.to_string();
        }
    }
    let mut rows = vec![["NAME", "STATUS", "CONFIG FILES", "", "", "", ""].map(String::from)];
    for (name, (states, files)) in projects {
        if !a.all && !states.contains_key("running") {
            continue;
        }
        if a.quiet {
            println!("{}", escape_control(&name));
            continue;
        }
        let status: Vec<String> = states.iter().map(|(s, n)| format!("{s}({n})")).collect();
        rows.push([
            name,
            status.join(", "),
            files,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if !a.quiet {
        table(&rows);
    }
    Ok(0)
}

pub fn build(paths: &Paths, project: &Project, a: &BuildArgs) -> anyhow::Result<i32> {
    for svc in chosen(project, &a.services)?
        .into_iter()
        .filter(|s| s.builds())
    {
        cx::build(paths, project, &svc, a.no_cache)
            .with_context(|| format!("service {:?}", svc.name))?;
    }
    Ok(0)
}

pub fn pull(paths: &Paths, project: &Project, a: &PullArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for svc in chosen(project, &a.services)?
        .into_iter()
        .filter(|s| !s.builds())
    {
        let image = svc.image(&project.name);
        let res = super::pull::run(
            paths,
            &super::pull::PullArgs {
                image,
                quiet: a.quiet,
                platform: None,
                tls_verify: true,
            },
        )
        .with_context(|| format!("service {:?}", svc.name));
        match res {
            Ok(c) => code = code.max(c),
            Err(e) => return Err(e),
        }
    }
    Ok(code)
}

pub fn push(paths: &Paths, project: &Project, a: &PushArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for svc in chosen(project, &a.services)?
        .into_iter()
        .filter(|s| s.builds() && s.config.get("image").is_some())
    {
        let c = super::push::push(
            paths,
            &super::push::PushArgs {
                image: svc.image(&project.name),
                all_tags: false,
                quiet: a.quiet,
                tls_verify: true,
            },
        )
        .with_context(|| format!("service {:?}", svc.name))?;
        code = code.max(c);
    }
    Ok(code)
}
