//! One replica of a service as a `CreateRequest`, the request `burrow
//! run` makes from its flags: the compose keys are turned into the same
//! parsed values (ports, mounts, health check, limits, security options)
//! by the same parsers, so a service behaves as the `run` line a user
//! would write for it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

use super::plan::Service;
use crate::container::create::CreateRequest;
use crate::container::health::HealthFlags;
use crate::container::limits::Limits;
use crate::container::mounts::{self, MountSpec, VolumeRef};
use crate::container::record::Extras;
use crate::container::restart::RestartPolicy;
use crate::net::publish::spec as ports;
use crate::sandbox::confine::SecurityOpts;
use crate::sandbox::Network;

/// What a replica needs from its project.
pub struct Ctx<'a> {
    pub project: &'a str,
    /// The normalised model (for the real names of volumes, secrets, configs).
    pub model: &'a Value,
    /// Whether cgroup limits can be applied here; when not, the limits
    /// asked for are noted (the caller says each once) and left out.
    pub cgroup_limits: bool,
    /// The project's user networks by their key in the model (made or
    /// found by the executor before any container).
    pub networks: BTreeMap<String, crate::net::user::NetworkRecord>,
}

/// A replica's request, the stop signal to put in its record (the
/// image's otherwise), and notes for the user.
pub struct Replica {
    pub request: CreateRequest,
    pub stop_signal: Option<String>,
    /// User networks past the first, joined after create (as `network
    /// connect` joins a created container).
    pub more_networks: Vec<crate::container::create::UserNetworkRequest>,
    pub notes: Vec<String>,
}

fn s<'v>(c: &'v Value, key: &str) -> Option<&'v str> {
    c.get(key).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(text).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The request for replica `name` of `svc`, with `labels` (Compose's)
/// over the service's own.
pub fn replica(
    ctx: &Ctx,
    svc: &Service,
    name: &str,
    labels: BTreeMap<String, String>,
) -> anyhow::Result<Replica> {
    let c = &svc.config;
    let mut notes = Vec::new();
    // command and entrypoint are lists after normalising; an entrypoint
    // list is its first word and arguments before the command's, and it
    // drops the image's CMD as `run --entrypoint` does.
    let mut command = strings(c.get("command"));
    let entrypoint = match c.get("entrypoint") {
        Some(Value::Array(e)) if e.is_empty() => Some(String::new()),
        Some(Value::Array(e)) => {
            let words: Vec<String> = e.iter().map(text).collect();
            command = [words[1..].to_vec(), command].concat();
            Some(words[0].clone())
        }
        _ => None,
    };
    let network = match s(c, "network_mode") {
        Some("host") => Network::Host,
        Some("none") => Network::None,
        Some("bridge") | None => Network::Bridge,
        Some(other) => bail!("network_mode {other:?} is not supported (host, none or bridge)"),
    };
    let mut more_networks = match network {
        Network::Bridge if s(c, "network_mode").is_none() => user_networks(ctx, svc)?,
        _ => Vec::new(),
    };
    let user_network = (!more_networks.is_empty()).then(|| more_networks.remove(0));
    let net = crate::net::Options::from_flags(
        &strings(c.get("dns")),
        &strings(c.get("dns_search")),
        &strings(c.get("dns_opt")),
        &extra_hosts(c.get("extra_hosts")),
    )?;
    let env = environment(c);
    let security = SecurityOpts::from_flags(
        c.get("privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        &strings(c.get("cap_add")),
        &strings(c.get("cap_drop")),
        &strings(c.get("security_opt")),
    )?;
    let mut mounts = volumes(ctx, c)?;
    for t in strings(c.get("tmpfs")) {
        mounts.push(MountSpec::Ready(mounts::parse_tmpfs(&t)?));
    }
    mounts.extend(files(ctx, c, "secrets", "/run/secrets/")?);
    mounts.extend(files(ctx, c, "configs", "/")?);
    let mut extras = Extras {
        labels: c
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default(),
        restart: RestartPolicy::parse(s(c, "restart").unwrap_or("no"))
            .map_err(anyhow::Error::msg)
            .context("restart")?,
        limits: limits(ctx, c, &mut notes)?,
        health: health(c.get("healthcheck"))?,
        ports: publish(c)?,
        ..Default::default()
    };
    extras.labels.extend(labels);
    let flag = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Replica {
        request: CreateRequest {
            image: svc.image(ctx.project),
            command,
            entrypoint,
            workdir: s(c, "working_dir").map(String::from),
            user: s(c, "user").map(String::from),
            name: Some(name.to_string()),
            hostname: s(c, "hostname").map(String::from),
            network,
            user_network,
            mounts,
            volumes_from: Vec::new(),
            net,
            // Compose's `links` on a project network are aliases there.
            links: Vec::new(),
            env,
            security,
            storage_driver: None,
            extras,
            tty: flag("tty"),
            interactive: flag("stdin_open"),
            read_only: flag("read_only"),
            auto_remove: false,
        },
        stop_signal: s(c, "stop_signal").map(String::from),
        more_networks,
        notes,
    })
}

/// The service's networks (`networks`, the project's `default` when it
/// names none), highest priority first, each with the service's name and
/// its aliases as aliases, so the others reach it by name.
fn user_networks(
    ctx: &Ctx,
    svc: &Service,
) -> anyhow::Result<Vec<crate::container::create::UserNetworkRequest>> {
    let Some(nets) = svc.config.get("networks").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<(&String, &Value)> = nets.iter().collect();
    keys.sort_by_key(|(k, v)| {
        let p = v.get("priority").and_then(Value::as_i64).unwrap_or(0);
        (-p, (*k).clone())
    });
    let mut out = Vec::new();
    for (key, opts) in keys {
        let Some(network) = ctx.networks.get(key) else {
            bail!("networks: {key:?} is not declared in the top-level networks");
        };
        let mut aliases = vec![svc.name.clone()];
        for a in strings(opts.get("aliases")) {
            if !aliases.contains(&a) {
                aliases.push(a);
            }
        }
        let ip = match s(opts, "ipv4_address") {
            Some(a) => Some(
                a.parse()
                    .map_err(|_| anyhow::anyhow!("networks: bad ipv4_address {a:?}"))?,
            ),
            None => None,
        };
        out.push(crate::container::create::UserNetworkRequest {
            network: network.clone(),
            aliases,
            ip,
        });
    }
    Ok(out)
}

/// `environment` (a mapping after normalising, env files read in);
/// a variable without a value stays unset, as Compose leaves it.
fn environment(c: &Value) -> Vec<String> {
    let Some(m) = c.get("environment").and_then(Value::as_object) else {
        return Vec::new();
    };
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect()
}

/// `extra_hosts`: a list of `NAME:IP` / `NAME=IP`, or a mapping.
fn extra_hosts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}:{}", text(v))).collect(),
        other => strings(other)
            .into_iter()
            .map(|h| match h.split_once('=') {
                Some((n, ip)) => format!("{n}:{ip}"),
                None => h,
            })
            .collect(),
    }
}

/// The project-scoped real name of a top-level volume, secret or config.
fn real_name<'m>(ctx: &'m Ctx, section: &str, key: &str) -> Option<&'m Value> {
    ctx.model.get(section)?.get(key)
}

/// `volumes` in their long form: named (the project's `<project>_<name>`
/// or the `name:` given), anonymous, bind and tmpfs.
fn volumes(ctx: &Ctx, c: &Value) -> anyhow::Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    let Some(Value::Array(list)) = c.get("volumes") else {
        return Ok(out);
    };
    for v in list {
        let target = s(v, "target").context("volumes: an entry without a target")?;
        let readonly = v.get("read_only").and_then(Value::as_bool).unwrap_or(false);
        let nocopy = v
            .pointer("/volume/nocopy")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match s(v, "type").unwrap_or("volume") {
            "volume" => {
                let name = match s(v, "source").filter(|x| !x.is_empty()) {
                    None => None,
                    Some(src) => {
                        let top = real_name(ctx, "volumes", src).with_context(|| {
                            format!("volumes: {src:?} is not declared in the top-level volumes")
                        })?;
                        Some(s(top, "name").unwrap_or(src).to_string())
                    }
                };
                out.push(MountSpec::Volume(VolumeRef {
                    name,
                    target: target.into(),
                    readonly,
                    nocopy,
                    ..Default::default()
                }));
            }
            "bind" => {
                let src = s(v, "source").context("volumes: a bind without a source")?;
                let create = v
                    .pointer("/bind/create_host_path")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if !create && !Path::new(src).exists() {
                    bail!("bind source {src} does not exist");
                }
                let mode = if readonly { ":ro" } else { "" };
                out.push(mounts::parse_volume(&format!("{src}:{target}{mode}"))?);
            }
            "tmpfs" => {
                let size = v.pointer("/tmpfs/size").map(text);
                let spec = match size {
                    Some(sz) => format!("{target}:size={sz}"),
                    None => target.to_string(),
                };
                out.push(MountSpec::Ready(mounts::parse_tmpfs(&spec)?));
            }
            other => bail!("volumes: type {other:?} is not supported"),
        }
    }
    Ok(out)
}

/// `secrets` and `configs`: their files, bound read-only at
/// `<dir><name>` or the target given.
fn files(ctx: &Ctx, c: &Value, section: &str, dir: &str) -> anyhow::Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for item in c
        .get(section)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (source, target) = match item {
            Value::String(n) => (n.as_str(), None),
            o => (
                s(o, "source").with_context(|| format!("{section}: an entry without a source"))?,
                s(o, "target"),
            ),
        };
        let top = real_name(ctx, section, source)
            .with_context(|| format!("{section}: {source:?} is not declared at the top level"))?;
        let Some(file) = s(top, "file") else {
            bail!("{section}: {source:?} has no file (burrow mounts {section} from files)");
        };
        let target = match target {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("{dir}{t}"),
            None => format!("{dir}{source}"),
        };
        out.push(mounts::parse_volume(&format!("{file}:{target}:ro"))?);
    }
    Ok(out)
}

/// mem_limit, cpus, pids_limit and deploy.resources.limits; memory and
/// CPUs need a delegated cgroup, and without one they are left out
/// with a note (pids fall back to RLIMIT_NPROC, as for `run`).
fn limits(ctx: &Ctx, c: &Value, notes: &mut Vec<String>) -> anyhow::Result<Limits> {
    let get = |a: &str, b: &str| {
        c.get(a)
            .or_else(|| c.pointer(&format!("/deploy/resources/limits/{b}")))
            .map(text)
    };
    let mut memory = get("mem_limit", "memory");
    let mut cpus = get("cpus", "cpus");
    let pids = get("pids_limit", "pids");
    if !ctx.cgroup_limits {
        for (what, v) in [("memory", &mut memory), ("cpus", &mut cpus)] {
            if v.take().is_some() {
                notes.push(format!(
                    "the {what} limit is not applied: no cgroup is delegated to you"
                ));
            }
        }
    }
    let ncpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Limits::from_flags(pids.as_deref(), memory.as_deref(), cpus.as_deref(), ncpus)
        .map_err(anyhow::Error::msg)
}

/// `healthcheck`: test (CMD, CMD-SHELL, NONE or a string), the times,
/// retries, `disable`.
fn health(h: Option<&Value>) -> anyhow::Result<Option<crate::container::health::HealthConfig>> {
    let Some(h) = h else { return Ok(None) };
    let test = strings(h.get("test"));
    let disable = h.get("disable").and_then(Value::as_bool).unwrap_or(false)
        || test.first().is_some_and(|t| t == "NONE");
    let flags = HealthFlags {
        cmd: None,
        interval: h.get("interval").map(text),
        timeout: h.get("timeout").map(text),
        start_period: h.get("start_period").map(text),
        start_interval: h.get("start_interval").map(text),
        retries: h.get("retries").and_then(Value::as_i64),
        none: disable,
    };
    if disable {
        return HealthFlags {
            none: true,
            ..Default::default()
        }
        .to_config();
    }
    let mut cfg = flags.to_config()?.unwrap_or_default();
    cfg.test = match test.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") => test,
        Some(_) if h.get("test").is_some_and(Value::is_string) => {
            vec!["CMD-SHELL".into(), test[0].clone()]
        }
        Some(other) => {
            bail!("healthcheck: test must start with CMD, CMD-SHELL or NONE, not {other:?}")
        }
        None => Vec::new(),
    };
    Ok(Some(cfg))
}

/// `ports` (long form) and `expose`, as `-p` and `--expose` give them.
fn publish(c: &Value) -> anyhow::Result<ports::PortConfig> {
    let mut cfg = ports::PortConfig::default();
    for p in c
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = p.get("target").map(text).context("ports: no target")?;
        let proto = s(p, "protocol").unwrap_or("tcp");
        let mut spec = String::new();
        if let Some(ip) = s(p, "host_ip").filter(|i| !i.is_empty()) {
            spec.push_str(&if ip.contains(':') {
                format!("[{ip}]:")
            } else {
                format!("{ip}:")
            });
        }
        match p.get("published").map(text).filter(|x| !x.is_empty()) {
            Some(pb) => spec.push_str(&format!("{pb}:")),
            None if !spec.is_empty() => spec.push(':'),
            None => {}
        }
        spec.push_str(&format!("{target}/{proto}"));
        cfg.publish.extend(ports::parse_publish(&spec)?);
    }
    for e in strings(c.get("expose")) {
        cfg.expose(ports::parse_expose(&e)?);
    }
    let published: Vec<_> = cfg
        .publish
        .iter()
        .map(|p| ports::Exposed {
            port: p.container_port,
            proto: p.proto,
        })
        .collect();
    cfg.expose(published);
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(config: Value) -> Service {
        Service {
            name: "web".into(),
            hash: String::new(),
            config,
            replicas: 1,
            deps: Vec::new(),
        }
    }

    #[test]
    fn keys_become_the_request_run_would_make() {
        let model = json!({"volumes": {"data": {"name": "p_data"}}});
        let ctx = Ctx {
            project: "p",
            model: &model,
            cgroup_limits: false,
            networks: BTreeMap::new(),
        };
        let s = svc(json!({
            "build": {"context": "."},
            "entrypoint": ["/bin/sh", "-c"],
            "command": ["echo hi"],
            "environment": {"A": "1", "UNSET": null},
            "volumes": [{"type": "volume", "source": "data", "target": "/d"},
                        {"type": "volume", "target": "/anon"}],
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
            "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 2},
            "mem_limit": "64m",
            "stop_signal": "SIGINT",
            "restart": "on-failure:3",
        }));
        let r = replica(&ctx, &s, "p-web-1", BTreeMap::new()).unwrap();
        let q = &r.request;
        assert_eq!(q.image, "p-web");
        assert_eq!(q.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(q.command, ["-c", "echo hi"]);
        assert_eq!(q.env, ["A=1"]);
        assert!(
            matches!(&q.mounts[0], MountSpec::Volume(v) if v.name.as_deref() == Some("p_data"))
        );
        assert!(matches!(&q.mounts[1], MountSpec::Volume(v) if v.name.is_none()));
        assert_eq!(q.extras.ports.publish[0].container_port, 80);
        let h = q.extras.health.as_ref().unwrap();
        assert_eq!(h.test, ["CMD", "true"]);
        assert_eq!(h.retries, 2);
        assert_eq!(q.extras.limits.memory, None);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert_eq!(r.stop_signal.as_deref(), Some("SIGINT"));
    }

    #[test]
    fn an_undeclared_named_volume_is_an_error() {
        let model = json!({});
        let ctx = Ctx {
            project: "p",
            model: &model,
            cgroup_limits: true,
            networks: BTreeMap::new(),
        };
        let s = svc(
            json!({"image": "x", "volumes": [{"type": "volume", "source": "nope", "target": "/d"}]}),
        );
        let e = replica(&ctx, &s, "n", BTreeMap::new()).err().unwrap();
        assert!(
            format!("{e:#}").contains("\"nope\" is not declared"),
            "{e:#}"
        );
    }
}
