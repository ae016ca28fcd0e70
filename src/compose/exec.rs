//! The executor: performs what the planner decided on the store, through
//! the same container code `burrow run` and the container verbs use
//! (`container::create`, `lifecycle::start_detached`, `control::stop`,
//! `control::remove`). A project's containers are found by their
//! `com.docker.compose.*` labels, as Compose finds them.
//!
//! `up` keeps a list of what it made; when a step fails it removes those
//! (containers, then volumes) and reports the one line naming the
//! service, so a failed `up` leaves what was there before it and no more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

pub use super::labels::{label, number_of, service_of};
use super::plan::{self, Action, Condition, Existing, Service};
use super::service::{self, Ctx};
use super::Project;
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::container::{control, create, health, lifecycle};
use crate::paths::Paths;
use crate::text::escape_control;

/// The project's containers (one-off `run` containers with `oneoff`),
/// by service then number.
pub fn containers(root: &Path, project: &str, oneoff: bool) -> Vec<Record> {
    let mut v: Vec<Record> = record::all(root)
        .into_iter()
        .filter(|r| label(r, plan::PROJECT) == Some(project))
        .filter(|r| (label(r, plan::ONEOFF) == Some("True")) == oneoff)
        .collect();
    v.sort_by_key(|r| (service_of(r).to_string(), number_of(r), r.created));
    v
}

fn running(r: &Record) -> bool {
    State::of(r).is_live()
}

/// Progress as Compose prints it, on stderr.
fn say(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {}  {what}", escape_control(name));
}

/// `up`'s flags.
#[derive(Debug, Default, Clone)]
pub struct UpOptions {
    pub detach: bool,
    pub build: bool,
    pub no_build: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_deps: bool,
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    pub no_start: bool,
    pub remove_orphans: bool,
    pub scale: BTreeMap<String, u32>,
    pub services: Vec<String>,
    pub timeout: Option<u64>,
}

/// What one `up` made, to undo it when a later step fails.
#[derive(Default)]
pub struct Made {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<crate::net::user::NetworkRecord>,
}

impl Made {
    fn undo(&self, paths: &Paths) {
        let root = paths.root();
        for id in self.containers.iter().rev() {
            if let Ok(r) = record::find(root, id) {
                let _ = control::remove(root, &r, true);
                let _ = crate::container::volumes::remove_anonymous_of(root, &r);
            }
        }
        crate::container::volumes::undo(root, &self.volumes);
        for n in &self.networks {
            let _ = crate::net::user::store::remove(root, n);
        }
        if !self.networks.is_empty() {
            crate::net::user::keeper::sync(paths);
        }
    }
}

/// The project's user networks the `services` join, by their key in the
/// model: found, or made with Compose's labels (an external one must
/// exist). What is made is noted in `made`.
pub fn networks(
    paths: &Paths,
    project: &Project,
    services: &[Service],
    made: &mut Made,
) -> anyhow::Result<BTreeMap<String, crate::net::user::NetworkRecord>> {
    use crate::net::user::store;
    let root = paths.ensure_root()?;
    let mut out = BTreeMap::new();
    let decl = project.model.get("networks").and_then(Value::as_object);
    let used: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.config.get("network_mode").is_none())
        .flat_map(|s| {
            s.config
                .get("networks")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
        })
        .map(|(k, _)| k.as_str())
        .collect();
    for key in used {
        let Some(v) = decl.and_then(|d| d.get(key)) else {
            bail!("network {key:?} is not declared in the top-level networks");
        };
        let name = v.get("name").and_then(Value::as_str).unwrap_or(key);
        if let Some(rec) = store::find(root, name) {
            out.insert(key.to_string(), rec);
            continue;
        }
        if v.get("external").and_then(Value::as_bool).unwrap_or(false) {
            bail!("network {name} declared as external, but could not be found");
        }
        let mut labels = text_object(v, "labels");
        labels.insert(plan::PROJECT.into(), project.name.clone());
        labels.insert(plan::NETWORK.into(), key.to_string());
        let subnet = match v.pointer("/ipam/config/0/subnet").and_then(Value::as_str) {
            Some(s) => Some(
                s.parse()
                    .map_err(|e| anyhow!("network {key:?}: subnet {s:?}: {e}"))?,
            ),
            None => None,
        };
        let rec = store::create(
            root,
            store::NewNetwork {
                name: name.to_string(),
                subnet,
                gateway: None,
                internal: v.get("internal").and_then(Value::as_bool).unwrap_or(false),
                labels,
            },
        )
        .with_context(|| format!("network {key:?}"))?;
        say("Network", name, "Created");
        made.networks.push(rec.clone());
        out.insert(key.to_string(), rec);
    }
    Ok(out)
}

/// The object at `key` of a top-level network or volume (labels,
/// driver_opts), its values as text; empty when absent.
fn text_object(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), super::service_text(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// The planner's view of the model for `scale`.
pub fn services(project: &Project, scale: &BTreeMap<String, u32>) -> anyhow::Result<Vec<Service>> {
    plan::services(&project.model, scale)
}

/// `up`: volumes, images, then each service in dependency order, each
/// after its dependencies meet their conditions. Returns the exit code
/// (attached: once every container ended or Ctrl-C stopped them).
pub fn up(paths: &Paths, project: &Project, o: &UpOptions) -> anyhow::Result<i32> {
    let root = paths.ensure_root()?.to_path_buf();
    let all = services(project, &o.scale)?;
    let selected = plan::select(&all, &o.services, o.no_deps)?;
    orphans(&root, project, &all, o.remove_orphans)?;
    let mut made = Made::default();
    let result = up_steps(paths, project, &selected, o, &mut made);
    let ids = match result {
        Ok(ids) => ids,
        Err(e) => {
            made.undo(paths);
            return Err(e);
        }
    };
    if o.no_start {
        return Ok(0);
    }
    if o.wait {
        let limit = o.wait_timeout.map(|d| std::time::Instant::now() + d);
        // A one-shot service others wait to complete is done, not failed,
        // when it exited with 0.
        let one_shot: BTreeSet<&str> = selected
            .iter()
            .flat_map(|s| &s.deps)
            .filter(|d| d.condition == Condition::CompletedSuccessfully)
            .map(|d| d.service.as_str())
            .collect();
        for svc in &selected {
            if one_shot.contains(svc.name.as_str()) {
                continue;
            }
            for r in containers(&root, &project.name, false)
                .iter()
                .filter(|r| service_of(r) == svc.name)
            {
                let cond = if r.extras.health.as_ref().and_then(|h| h.command()).is_some() {
                    Condition::Healthy
                } else {
                    Condition::Started
                };
                wait_for(&root, r, cond, limit)
                    .with_context(|| format!("service {:?}", svc.name))?;
                say(
                    "Container",
                    &r.name,
                    if cond == Condition::Healthy {
                        "Healthy"
                    } else {
                        "Running"
                    },
                );
            }
        }
    }
    if o.detach {
        return Ok(0);
    }
    let recs: Vec<Record> = ids
        .iter()
        .filter_map(|id| record::find(&root, id).ok())
        .collect();
    // Ctrl-C stops them, each with its service's grace period.
    let stop = |recs: &[Record]| {
        let with_grace: Vec<(Record, Duration)> = recs
            .iter()
            .filter_map(|r| record::find(&root, &r.id).ok())
            .map(|r| {
                let g = all
                    .iter()
                    .find(|s| s.name == service_of(&r))
                    .map_or(Duration::from_secs(10), |s| stop_grace(s, None));
                (r, g)
            })
            .collect();
        for (name, res) in stop_all(&root, &with_grace, false) {
            match res {
                Ok(()) => eprintln!(" Container {}  Stopped", escape_control(&name)),
                Err(e) => eprintln!("burrow: {}", crate::error::one_line(&e)),
            }
        }
    };
    super::attach::follow_until_done(paths, project, &recs, &stop)
}

/// Containers of this project whose service is no longer in the model.
fn orphans(root: &Path, project: &Project, all: &[Service], remove: bool) -> anyhow::Result<()> {
    let names: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let found: Vec<Record> = containers(root, &project.name, false)
        .into_iter()
        .filter(|r| !names.contains(service_of(r)))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    if remove {
        for r in &found {
            control::remove(root, r, true)?;
            say("Container", &r.name, "Removed");
        }
    } else {
        let list: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
        eprintln!(
            "burrow: warning: found orphan containers ({}) for this project; run with \
             --remove-orphans to clean them up",
            escape_control(&list.join(", "))
        );
    }
    Ok(())
}

/// The steps of `up` that make things; returns the ids of the selected
/// services' containers.
fn up_steps(
    paths: &Paths,
    project: &Project,
    selected: &[Service],
    o: &UpOptions,
    made: &mut Made,
) -> anyhow::Result<Vec<String>> {
    let root = paths.ensure_root()?.to_path_buf();
    let nets = networks(paths, project, selected, made)?;
    volumes(&root, project, selected, made)?;
    for svc in selected {
        ensure_image(paths, project, svc, o.build, o.no_build)
            .with_context(|| format!("service {:?}", svc.name))?;
    }
    let ctx = Ctx {
        project: &project.name,
        model: &project.model,
        cgroup_limits: crate::container::cgroup::delegated_dir().is_ok(),
        networks: nets,
    };
    let mut said = BTreeSet::new();
    let mut ids = Vec::new();
    // Services whose containers this up replaced: a dependent that says
    // `restart: true` restarts after them.
    let mut recreated = BTreeSet::new();
    for svc in selected {
        for d in &svc.deps {
            // Dependencies outside the selection (--no-deps) are not waited for.
            if !selected.iter().any(|s| s.name == d.service) {
                continue;
            }
            wait_dep(&root, project, svc, d)?;
        }
        let restart = svc
            .deps
            .iter()
            .any(|d| d.restart && recreated.contains(&d.service));
        let (step, replaced) = service_up(paths, &ctx, project, svc, o, made, &mut said, restart)
            .with_context(|| format!("service {:?}", svc.name))?;
        if replaced {
            recreated.insert(svc.name.clone());
        }
        ids.extend(step);
    }
    Ok(ids)
}

/// The project's declared volumes that the selected services mount:
/// made with Compose's labels when missing; an external one must exist.
fn volumes(
    root: &Path,
    project: &Project,
    selected: &[Service],
    made: &mut Made,
) -> anyhow::Result<()> {
    let Some(decl) = project.model.get("volumes").and_then(Value::as_object) else {
        return Ok(());
    };
    let used: BTreeSet<&str> = selected
        .iter()
        .flat_map(|s| {
            s.config
                .get("volumes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("volume"))
        .filter_map(|v| v.get("source").and_then(Value::as_str))
        .collect();
    for (key, v) in decl {
        if !used.contains(key.as_str()) {
            continue;
        }
        let name = v.get("name").and_then(Value::as_str).unwrap_or(key);
        let external = v.get("external").and_then(Value::as_bool).unwrap_or(false);
        if external {
            if crate::volume::get(root, name)?.is_none() {
                bail!("external volume {name:?} not found");
            }
            continue;
        }
        let options = text_object(v, "driver_opts");
        let mut labels = text_object(v, "labels");
        labels.insert(plan::PROJECT.into(), project.name.clone());
        labels.insert(plan::VOLUME.into(), key.clone());
        let (_, new) = crate::volume::create(
            root,
            crate::volume::NewVolume {
                name: Some(name.to_string()),
                labels,
                options,
            },
        )
        .with_context(|| format!("volume {key:?}"))?;
        if new {
            made.volumes.push(name.to_string());
            say("Volume", name, "Created");
        }
    }
    Ok(())
}

/// Build the service's image when it has `build:` and the image is
/// missing (or `--build`); the image is tagged as the service runs it.
pub fn ensure_image(
    paths: &Paths,
    project: &Project,
    svc: &Service,
    force: bool,
    never: bool,
) -> anyhow::Result<()> {
    if !svc.builds() || never {
        return Ok(());
    }
    let image = svc.image(&project.name);
    let store = crate::image::Store::open(paths)?;
    if !force && store.lookup(&image)?.is_some() {
        return Ok(());
    }
    build(paths, project, svc, false).map(|_| ())
}

/// Build one service's image from its `build:` and tag it.
pub fn build(
    paths: &Paths,
    project: &Project,
    svc: &Service,
    no_cache: bool,
) -> anyhow::Result<String> {
    let b = &svc.config["build"];
    let context = b
        .get("context")
        .and_then(Value::as_str)
        .context("build: no context")?;
    if context.contains("://") {
        bail!("build: a remote context ({context}) is not supported; give a directory");
    }
    let context = std::path::PathBuf::from(context);
    let file = b
        .get("dockerfile")
        .and_then(Value::as_str)
        .unwrap_or("Dockerfile");
    let (file_name, text, path) = match b.get("dockerfile_inline").and_then(Value::as_str) {
        Some(inline) => ("Dockerfile".to_string(), inline.to_string(), None),
        None => {
            let p = context.join(file);
            let t = std::fs::read_to_string(&p)
                .with_context(|| format!("build: unable to read the Dockerfile {}", p.display()))?;
            (file.to_string(), t, Some(p))
        }
    };
    let map = |key: &str| -> Vec<(String, String)> {
        match b.get(key) {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), super::service_text(v)))
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    let t = super::service_text(x);
                    let (k, v) = t.split_once('=').unwrap_or((&t, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let image = svc.image(&project.name);
    eprintln!(" Service {}  Building", escape_control(&svc.name));
    let opts = crate::build::exec::Options {
        context,
        file_name,
        text,
        dockerfile_path: path,
        tags: vec![image.clone()],
        build_args: map("args"),
        target: b.get("target").and_then(Value::as_str).map(String::from),
        no_cache: no_cache || b.get("no_cache").and_then(Value::as_bool).unwrap_or(false),
        quiet: true,
        labels: map("labels"),
        network: b.get("network").and_then(Value::as_str).map(String::from),
        secrets: Vec::new(),
        progress: crate::build::progress::Mode::pick("plain", true),
        pull: b.get("pull").and_then(Value::as_bool).unwrap_or(false),
    };
    let img = crate::build::exec::build(paths, &opts).context("build failed")?;
    let store = crate::image::Store::open(paths)?;
    store.tag(&img.id, &image)?;
    eprintln!(" Service {}  Built", escape_control(&svc.name));
    Ok(img.id)
}

/// The labels Compose puts on replica `n`.
fn labels(project: &Project, svc: &Service, n: u32, oneoff: bool) -> BTreeMap<String, String> {
    let files: Vec<String> = project
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let deps: Vec<String> = svc
        .deps
        .iter()
        .map(|d| {
            let c = match d.condition {
                Condition::Started => "service_started",
                Condition::Healthy => "service_healthy",
                Condition::CompletedSuccessfully => "service_completed_successfully",
            };
            format!("{}:{c}:{}", d.service, d.restart)
        })
        .collect();
    BTreeMap::from([
        (plan::PROJECT.into(), project.name.clone()),
        (plan::SERVICE.into(), svc.name.clone()),
        (plan::NUMBER.into(), n.to_string()),
        (plan::HASH.into(), svc.hash.clone()),
        (
            plan::ONEOFF.into(),
            if oneoff { "True" } else { "False" }.into(),
        ),
        (
            plan::WORKING_DIR.into(),
            project.directory.display().to_string(),
        ),
        (plan::CONFIG_FILES.into(), files.join(",")),
        (plan::DEPENDS_ON.into(), deps.join(",")),
        ("com.docker.compose.version".into(), "2".into()),
    ])
}

/// Which container of a service: its name, number, and whether it is a
/// one-off (`compose run`).
pub struct Which<'a> {
    pub name: &'a str,
    pub number: u32,
    pub oneoff: bool,
}

/// Make one container of `svc` (not started); its stop signal noted.
/// `said`: notes already shown in this command.
pub fn create_replica(
    paths: &Paths,
    ctx: &Ctx,
    project: &Project,
    svc: &Service,
    which: Which,
    said: &mut BTreeSet<String>,
    adjust: impl FnOnce(&mut create::CreateRequest),
) -> anyhow::Result<Record> {
    let labels = labels(project, svc, which.number, which.oneoff);
    let r = service::replica(ctx, svc, which.name, labels)?;
    for note in r.notes {
        if said.insert(note.clone()) {
            eprintln!("burrow: note: service {:?}: {note}", svc.name);
        }
    }
    let mut req = r.request;
    adjust(&mut req);
    let mut rec = create::create(paths, req)?;
    if !r.more_networks.is_empty() {
        join_more(paths, &rec, &r.more_networks).inspect_err(|_| {
            let _ = control::remove(paths.root(), &rec, true);
        })?;
        rec = record::find(paths.root(), &rec.id)?;
    }
    match r.stop_signal {
        Some(sig) => {
            control::parse_signal(&sig)?;
            record::update(paths.root(), &rec.id, |x| x.extras.stop_signal = Some(sig))
        }
        None => Ok(rec),
    }
}

/// Join a created container to its further networks, as `network
/// connect` joins a stopped one.
fn join_more(
    paths: &Paths,
    rec: &Record,
    nets: &[create::UserNetworkRequest],
) -> anyhow::Result<()> {
    let root = paths.root();
    for n in nets {
        let att = create::attachment(root, n)?;
        record::update(root, &rec.id, |r| r.config.networks.push(att.clone()))?;
    }
    lifecycle::rewrite_resolv_conf(paths, &rec.id)
}

/// The replicas of one service brought to the plan; returns their ids
/// and whether any was recreated. `restart`: a running one that is kept
/// is restarted (a dependency it restarts with was recreated).
#[allow(clippy::too_many_arguments)]
fn service_up(
    paths: &Paths,
    ctx: &Ctx,
    project: &Project,
    svc: &Service,
    o: &UpOptions,
    made: &mut Made,
    said: &mut BTreeSet<String>,
    restart: bool,
) -> anyhow::Result<(Vec<String>, bool)> {
    let root = paths.root().to_path_buf();
    let store = crate::image::Store::open(paths)?;
    let image_id = store.lookup(&svc.image(&project.name))?.map(|i| i.id);
    let existing: Vec<Existing> = containers(&root, &project.name, false)
        .into_iter()
        .filter(|r| service_of(r) == svc.name)
        .map(|r| Existing {
            number: number_of(&r),
            hash: label(&r, plan::HASH).unwrap_or("").to_string(),
            running: running(&r),
            image_id: r.image_id.clone(),
            id: r.id,
        })
        .collect();
    let mut actions = plan::actions(svc, image_id.as_deref(), &existing, o.force_recreate);
    if o.no_recreate {
        for a in &mut actions {
            if let Action::Recreate { id, .. } = a {
                *a = Action::Start { id: id.clone() };
            }
        }
    }
    let grace = stop_grace(svc, o.timeout);
    let mut ids = Vec::new();
    let mut replaced = false;
    for a in actions {
        match a {
            Action::Keep { id } if restart && !o.no_start => {
                let r = record::find(&root, &id)?;
                control::stop(&root, &r, grace)?;
                let r = record::find(&root, &id)?;
                lifecycle::start_detached(paths, r.clone(), None)?;
                say("Container", &r.name, "Restarted");
                ids.push(id);
            }
            Action::Keep { id } => {
                let r = record::find(&root, &id)?;
                say("Container", &r.name, "Running");
                ids.push(id);
            }
            Action::Start { id } => {
                let r = record::find(&root, &id)?;
                if !o.no_start && !running(&r) {
                    lifecycle::start_detached(paths, r.clone(), None)?;
                    say("Container", &r.name, "Started");
                } else {
                    say("Container", &r.name, "Running");
                }
                ids.push(id);
            }
            Action::Remove { id } => {
                let r = record::find(&root, &id)?;
                control::stop_to_remove(&root, &r, grace)?;
                control::remove(&root, &r, true)?;
                say("Container", &r.name, "Removed");
            }
            Action::Recreate { id, number } => {
                replaced = true;
                let old = record::find(&root, &id)?;
                say("Container", &old.name, "Recreate");
                control::stop_to_remove(&root, &old, grace)?;
                control::remove(&root, &old, true)?;
                let _ = crate::container::volumes::remove_anonymous_of(&root, &old);
                let name = svc.replica_name(&project.name, number);
                ids.push(make_and_start(
                    paths, ctx, project, svc, &name, number, o, made, said,
                )?);
                say("Container", &name, "Recreated");
            }
            Action::Create { number } => {
                let name = svc.replica_name(&project.name, number);
                ids.push(make_and_start(
                    paths, ctx, project, svc, &name, number, o, made, said,
                )?);
            }
        }
    }
    Ok((ids, replaced))
}

#[allow(clippy::too_many_arguments)]
fn make_and_start(
    paths: &Paths,
    ctx: &Ctx,
    project: &Project,
    svc: &Service,
    name: &str,
    number: u32,
    o: &UpOptions,
    made: &mut Made,
    said: &mut BTreeSet<String>,
) -> anyhow::Result<String> {
    let which = Which {
        name,
        number,
        oneoff: false,
    };
    let rec = create_replica(paths, ctx, project, svc, which, said, |_| {})?;
    made.containers.push(rec.id.clone());
    say("Container", name, "Created");
    if !o.no_start {
        lifecycle::start_detached(paths, rec.clone(), None)?;
        say("Container", name, "Started");
    }
    Ok(rec.id)
}

/// `stop_grace_period`, or `-t`, or Compose's 10 seconds.
pub fn stop_grace(svc: &Service, timeout: Option<u64>) -> Duration {
    if let Some(t) = timeout {
        return Duration::from_secs(t);
    }
    svc.config
        .get("stop_grace_period")
        .and_then(Value::as_str)
        .and_then(|s| health::parse_go_duration(s).ok())
        .unwrap_or(Duration::from_secs(10))
}

/// Wait until every replica of the dependency `d` meets its condition.
fn wait_dep(root: &Path, project: &Project, svc: &Service, d: &plan::Dep) -> anyhow::Result<()> {
    let reps: Vec<Record> = containers(root, &project.name, false)
        .into_iter()
        .filter(|r| service_of(r) == d.service)
        .collect();
    for r in &reps {
        if let Err(e) = wait_for(root, r, d.condition, None) {
            if d.required {
                return Err(anyhow!(
                    "service {:?}: dependency failed to start: {e:#}",
                    svc.name
                ));
            }
            eprintln!(
                "burrow: warning: service {:?}: optional dependency {e:#}",
                svc.name
            );
        }
    }
    Ok(())
}

/// Wait until `r` meets `cond`: running; healthy; or exited with 0.
pub fn wait_for(
    root: &Path,
    r: &Record,
    cond: Condition,
    until: Option<std::time::Instant>,
) -> anyhow::Result<()> {
    let name = escape_control(&r.name);
    let mut said_waiting = false;
    loop {
        let now = record::find(root, &r.id).with_context(|| format!("container {name} is gone"))?;
        let state = State::of(&now);
        match cond {
            Condition::Started => {
                if state.is_live() {
                    return Ok(());
                }
                if let State::Exited { code, .. } = state {
                    if now.extras.restart.is_none() {
                        bail!("container {name} exited ({})", code.unwrap_or(-1));
                    }
                }
            }
            Condition::Healthy => {
                if now
                    .extras
                    .health
                    .as_ref()
                    .and_then(|h| h.command())
                    .is_none()
                {
                    bail!("container {name} has no healthcheck configured");
                }
                match health::read(&record::container_dir(root, &r.id)).map(|h| h.status) {
                    Some(health::Status::Healthy) if state.is_live() => return Ok(()),
                    Some(health::Status::Unhealthy) => bail!("container {name} is unhealthy"),
                    _ => {}
                }
                if let State::Exited { code, .. } = state {
                    bail!(
                        "container {name} exited ({}) before it was healthy",
                        code.unwrap_or(-1)
                    );
                }
                if !said_waiting {
                    say("Container", &r.name, "Waiting");
                    said_waiting = true;
                }
            }
            Condition::CompletedSuccessfully => match state {
                State::Exited { code: Some(0), .. } => return Ok(()),
                State::Exited { code, .. } => bail!(
                    "container {name} didn't complete successfully: exit {}",
                    code.unwrap_or(-1)
                ),
                State::Created => bail!("container {name} was never started"),
                _ => {}
            },
        }
        if until.is_some_and(|t| std::time::Instant::now() > t) {
            bail!("container {name}: timed out waiting");
        }
        // A look is two small reads; a dependent's start waits on it.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stop containers at once (each in its own thread, as Compose stops
/// them in parallel), each with its service's grace period.
/// `removing`: they are stopped to be removed next (`down`).
pub fn stop_all(
    root: &Path,
    recs: &[(Record, Duration)],
    removing: bool,
) -> Vec<(String, anyhow::Result<()>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = recs
            .iter()
            .filter(|(r, _)| running(r))
            .map(|(r, t)| {
                let name = r.name.clone();
                let stop = if removing {
                    control::stop_to_remove
                } else {
                    control::stop
                };
                (name, s.spawn(move || stop(root, r, *t)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(n, h)| {
                (
                    n,
                    h.join().unwrap_or_else(|_| Err(anyhow!("stop panicked"))),
                )
            })
            .collect()
    })
}

/// `down`'s flags.
#[derive(Debug, Default, Clone)]
pub struct DownOptions {
    pub volumes: bool,
    pub rmi: Option<String>,
    pub remove_orphans: bool,
    pub timeout: Option<u64>,
}

/// `down`: stop and remove the project's containers (the one-off ones
/// too), then with -v its volumes, with --rmi its images.
pub fn down(paths: &Paths, project: &Project, o: &DownOptions) -> anyhow::Result<i32> {
    let root = paths.ensure_root()?.to_path_buf();
    let all = services(project, &BTreeMap::new()).unwrap_or_default();
    let known: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let mut recs: Vec<Record> = containers(&root, &project.name, false);
    recs.extend(containers(&root, &project.name, true));
    let (mine, orphans): (Vec<Record>, Vec<Record>) = recs
        .into_iter()
        .partition(|r| known.contains(service_of(r)) || all.is_empty());
    let mut targets = mine;
    if o.remove_orphans {
        targets.extend(orphans);
    } else if !orphans.is_empty() {
        let list: Vec<&str> = orphans.iter().map(|r| r.name.as_str()).collect();
        eprintln!(
            "burrow: warning: found orphan containers ({}) for this project; run with \
             --remove-orphans to clean them up",
            escape_control(&list.join(", "))
        );
    }
    let with_grace: Vec<(Record, Duration)> = targets
        .iter()
        .map(|r| {
            let g = all
                .iter()
                .find(|s| s.name == service_of(r))
                .map_or(Duration::from_secs(o.timeout.unwrap_or(10)), |s| {
                    stop_grace(s, o.timeout)
                });
            (r.clone(), g)
        })
        .collect();
    let mut code = 0;
    for (name, res) in stop_all(&root, &with_grace, true) {
        match res {
            Ok(()) => say("Container", &name, "Stopped"),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    let mut images_used = BTreeSet::new();
    for r in &targets {
        images_used.insert(r.image.clone());
        match control::remove(&root, r, true) {
            Ok(_) => {
                let _ = crate::container::volumes::remove_anonymous_of(&root, r);
                say("Container", &r.name, "Removed");
            }
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    code = code.max(remove_networks(paths, project));
    if o.volumes {
        code = code.max(remove_volumes(&root, project));
    }
    if let Some(which) = &o.rmi {
        code = code.max(remove_images(paths, project, &all, which, &images_used)?);
    }
    Ok(code)
}

/// The names of the `networks` or `volumes` the model declares that are
/// the project's own (not external).
fn declared<'a>(project: &'a Project, section: &str) -> impl Iterator<Item = String> + 'a {
    let decl = project.model.get(section).and_then(Value::as_object);
    decl.into_iter().flatten().filter_map(|(k, v)| {
        let external = v.get("external").and_then(Value::as_bool).unwrap_or(false);
        (!external).then(|| {
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or(k)
                .to_string()
        })
    })
}

/// The project's networks (labelled with it, or declared and not
/// external) that no container uses any more.
fn remove_networks(paths: &Paths, project: &Project) -> i32 {
    use crate::net::user::store;
    let root = paths.root();
    let mut names: BTreeSet<String> = store::list(root)
        .into_iter()
        .filter(|n| n.labels.get(plan::PROJECT) == Some(&project.name))
        .map(|n| n.name)
        .collect();
    names.extend(declared(project, "networks"));
    let records = record::all(root);
    let mut code = 0;
    let mut gone = false;
    for n in names {
        let Some(rec) = store::find(root, &n) else {
            continue;
        };
        let users = crate::container::networks::users_of(&records, &n);
        if !users.is_empty() {
            let list: Vec<&str> = users.iter().map(|r| r.name.as_str()).collect();
            eprintln!(
                "burrow: network {n} is still in use by {}; left in place",
                escape_control(&list.join(", "))
            );
            code = 1;
            continue;
        }
        match store::remove(root, &rec) {
            Ok(()) => {
                gone = true;
                say("Network", &n, "Removed");
            }
            Err(e) => {
                eprintln!("burrow: network {n}: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    if gone {
        crate::net::user::keeper::sync(paths);
    }
    code
}

/// The project's volumes: those labelled with it, and the non-external
/// ones its model declares.
fn remove_volumes(root: &Path, project: &Project) -> i32 {
    let mut names: BTreeSet<String> = crate::volume::list(root)
        .into_iter()
        .filter(|v| v.labels.get(plan::PROJECT) == Some(&project.name))
        .map(|v| v.name)
        .collect();
    names.extend(declared(project, "volumes"));
    let mut code = 0;
    for n in names {
        match crate::volume::get(root, &n) {
            Ok(Some(_)) => {}
            _ => continue,
        }
        match crate::container::volumes::remove(root, &n) {
            Ok(()) => say("Volume", &n, "Removed"),
            Err(e) => {
                eprintln!("burrow: volume {n}: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    code
}

/// `--rmi local`: the images `up` built (no `image:` of their own);
/// `--rmi all`: every image the services use.
fn remove_images(
    paths: &Paths,
    project: &Project,
    all: &[Service],
    which: &str,
    used: &BTreeSet<String>,
) -> anyhow::Result<i32> {
    let mut names: BTreeSet<String> = all
        .iter()
        .filter(|s| which == "all" || s.config.get("image").is_none())
        .map(|s| s.image(&project.name))
        .collect();
    if which == "all" {
        names.extend(used.iter().cloned());
    }
    let store = crate::image::Store::open(paths)?;
    let in_use: std::collections::HashSet<String> = record::all(paths.root())
        .into_iter()
        .map(|r| r.image_id)
        .collect();
    let mut code = 0;
    for n in names {
        if store.lookup(&n)?.is_none() {
            continue;
        }
        match crate::image::remove::remove(&store, &n, true, &in_use) {
            Ok(_) => say("Image", &n, "Removed"),
            Err(e) => {
                eprintln!("burrow: image {n}: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}
