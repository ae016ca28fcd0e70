//! The planner: the normalised model as a list of services in start
//! order, each with its replicas, its dependencies and its config hash,
//! and what `up` must do with each existing container. Pure: no store,
//! no processes, so every rule here is unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The labels Compose puts on what it makes.
pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const NETWORK: &str = "com.docker.compose.network";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// How a service waits for one it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub service: String,
    pub condition: Condition,
    /// `required: false`: a missing or failing dependency is a warning.
    pub required: bool,
    /// `restart: true`: restarted when Compose restarts the dependency.
    pub restart: bool,
}

/// One service of the model, ready to plan with.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// The service's mapping in the normalised model.
    pub config: Value,
    pub replicas: u32,
    pub deps: Vec<Dep>,
    /// sha256 of the config that makes its containers (replicas aside).
    pub hash: String,
}

impl Service {
    /// The image its containers run: `image:`, else the one `build:`
    /// makes, named `<project>-<service>` as Compose names it.
    pub fn image(&self, project: &str) -> String {
        match self.config.get("image").and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None => format!("{project}-{}", self.name),
        }
    }

    pub fn builds(&self) -> bool {
        self.config.get("build").is_some()
    }

    /// `container_name:`, which allows one replica only.
    pub fn container_name(&self) -> Option<&str> {
        self.config.get("container_name").and_then(Value::as_str)
    }

    /// The name of replica `n` (1-based).
    pub fn replica_name(&self, project: &str, n: u32) -> String {
        match self.container_name() {
            Some(c) => c.to_string(),
            None => format!("{project}-{}-{n}", self.name),
        }
    }
}

/// The services of `model` (its `services` mapping), with `--scale`
/// overrides, in start order (dependencies first). A dependency cycle,
/// or a dependency on a service that does not exist, is an error naming
/// the services.
pub fn services(model: &Value, scale: &BTreeMap<String, u32>) -> anyhow::Result<Vec<Service>> {
    let Some(svcs) = model.get("services").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    let mut out = BTreeMap::new();
    for (name, config) in svcs {
        let deps = deps(config);
        for d in &deps {
            if d.required && !svcs.contains_key(&d.service) {
                bail!(
                    "service {name:?} depends on undefined service {:?}",
                    d.service
                );
            }
        }
        let mut replicas = config
            .pointer("/deploy/replicas")
            .or_else(|| config.get("scale"))
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32;
        if let Some(n) = scale.get(name) {
            replicas = *n;
        }
        if replicas > 1 && config.get("container_name").is_some() {
            bail!(
                "service {name:?}: container_name {:?} allows one container, not {replicas}",
                config["container_name"].as_str().unwrap_or("")
            );
        }
        let svc = Service {
            name: name.clone(),
            hash: hash(config),
            config: config.clone(),
            replicas,
            deps,
        };
        out.insert(name.clone(), svc);
    }
    for s in scale.keys() {
        if !out.contains_key(s) {
            bail!("--scale {s}: no such service");
        }
    }
    let order = order(&out)?;
    Ok(order.into_iter().filter_map(|n| out.remove(&n)).collect())
}

fn deps(config: &Value) -> Vec<Dep> {
    let Some(m) = config.get("depends_on").and_then(Value::as_object) else {
        return Vec::new();
    };
    m.iter()
        .map(|(name, d)| Dep {
            service: name.clone(),
            condition: match d.get("condition").and_then(Value::as_str) {
                Some("service_healthy") => Condition::Healthy,
                Some("service_completed_successfully") => Condition::CompletedSuccessfully,
                _ => Condition::Started,
            },
            required: d.get("required").and_then(Value::as_bool).unwrap_or(true),
            restart: d.get("restart").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect()
}

/// Dependencies first, else by name; a cycle is an error that names it.
fn order(svcs: &BTreeMap<String, Service>) -> anyhow::Result<Vec<String>> {
    fn visit(
        n: &str,
        svcs: &BTreeMap<String, Service>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if done.contains(n) {
            return Ok(());
        }
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            bail!("dependency cycle between services: {}", cycle.join(" -> "));
        }
        let Some(s) = svcs.get(n) else { return Ok(()) };
        path.push(n.to_string());
        for d in &s.deps {
            visit(&d.service, svcs, path, done, out)?;
        }
        path.pop();
        done.insert(n.to_string());
        out.push(n.to_string());
        Ok(())
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in svcs.keys() {
        visit(n, svcs, &mut Vec::new(), &mut done, &mut out)?;
    }
    Ok(out)
}

/// The services `up SERVICE...` touches: those named and, unless
/// `--no-deps`, everything they depend on. None named: all.
pub fn select(all: &[Service], named: &[String], no_deps: bool) -> anyhow::Result<Vec<Service>> {
    if named.is_empty() {
        return Ok(all.to_vec());
    }
    let mut want: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = named.to_vec();
    while let Some(n) = todo.pop() {
        let Some(s) = all.iter().find(|s| s.name == n) else {
            bail!("no such service: {n}");
        };
        if want.insert(n.clone()) && !no_deps {
            todo.extend(s.deps.iter().map(|d| d.service.clone()));
        }
    }
    Ok(all
        .iter()
        .filter(|s| want.contains(&s.name))
        .cloned()
        .collect())
}

/// The config hash: the service's normalised mapping without what does
/// not need a new container (the replica count), as Compose hashes it.
pub fn hash(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("scale");
        if let Some(Value::Object(d)) = m.get_mut("deploy") {
            d.remove("replicas");
        }
    }
    hex::encode(Sha256::digest(c.to_string().as_bytes()))
}

/// An existing replica as `up` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub number: u32,
    pub hash: String,
    pub image_id: String,
    pub running: bool,
}

/// What `up` does to one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Up to date and running: nothing.
    Keep { id: String },
    /// Up to date but stopped: start it.
    Start { id: String },
    /// Changed (config, image or --force-recreate): remove, make anew.
    Recreate { id: String, number: u32 },
    /// A new replica.
    Create { number: u32 },
    /// Past the replica count: stop and remove.
    Remove { id: String },
}

/// The actions for one service's replicas.
pub fn actions(
    svc: &Service,
    image_id: Option<&str>,
    existing: &[Existing],
    force_recreate: bool,
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut have: Vec<&Existing> = existing.iter().collect();
    have.sort_by_key(|e| e.number);
    let mut numbers = BTreeSet::new();
    for (i, e) in have.iter().enumerate() {
        if i as u32 >= svc.replicas {
            out.push(Action::Remove { id: e.id.clone() });
            continue;
        }
        numbers.insert(e.number);
        let changed =
            force_recreate || e.hash != svc.hash || image_id.is_some_and(|i| i != e.image_id);
        out.push(if changed {
            Action::Recreate {
                id: e.id.clone(),
                number: e.number,
            }
        } else if e.running {
            Action::Keep { id: e.id.clone() }
        } else {
            Action::Start { id: e.id.clone() }
        });
    }
    let mut next = 1;
    for _ in have.len()..svc.replicas as usize {
        while numbers.contains(&next) {
            next += 1;
        }
        numbers.insert(next);
        out.push(Action::Create { number: next });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> Value {
        json!({"services": {
            "web": {"image": "w", "depends_on": {"app": {"condition": "service_started", "required": true}}},
            "app": {"image": "a", "depends_on": {"db": {"condition": "service_healthy", "required": true}}},
            "db": {"image": "d", "deploy": {"replicas": 2}},
        }})
    }

    #[test]
    fn dependencies_start_first() {
        let s = services(&model(), &BTreeMap::new()).unwrap();
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "app", "web"]);
        assert_eq!(s[0].replicas, 2);
        assert_eq!(s[1].deps[0].condition, Condition::Healthy);
    }

    #[test]
    fn a_cycle_is_named() {
        let m = json!({"services": {
            "a": {"image": "x", "depends_on": {"b": {}}},
            "b": {"image": "x", "depends_on": {"a": {}}},
        }});
        let e = services(&m, &BTreeMap::new()).unwrap_err().to_string();
        assert_eq!(e, "dependency cycle between services: a -> b -> a");
    }

    #[test]
    fn an_undefined_dependency_is_named() {
        let m = json!({"services": {"a": {"image": "x", "depends_on": {"nope": {}}}}});
        let e = services(&m, &BTreeMap::new()).unwrap_err().to_string();
        assert!(
            e.contains("\"a\" depends on undefined service \"nope\""),
            "{e}"
        );
    }

    #[test]
    fn scale_overrides_replicas_and_the_hash_ignores_them() {
        let scale = BTreeMap::from([("db".to_string(), 3)]);
        let s = services(&model(), &scale).unwrap();
        assert_eq!(s[0].replicas, 3);
        let one = json!({"image": "d", "deploy": {"replicas": 1}});
        let two = json!({"image": "d", "deploy": {"replicas": 2}});
        assert_eq!(hash(&one), hash(&two));
        assert_ne!(hash(&one), hash(&json!({"image": "e"})));
    }

    #[test]
    fn select_takes_dependencies_unless_no_deps() {
        let all = services(&model(), &BTreeMap::new()).unwrap();
        let names = |v: Vec<Service>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(select(&all, &["web".into()], false).unwrap()),
            ["db", "app", "web"]
        );
        assert_eq!(names(select(&all, &["web".into()], true).unwrap()), ["web"]);
        assert!(select(&all, &["nope".into()], false).is_err());
    }

    #[test]
    fn unchanged_replicas_are_kept_and_changed_ones_recreated() {
        let svc = services(&model(), &BTreeMap::new()).unwrap().remove(0);
        let e = |id: &str, n, hash: &str, running| Existing {
            id: id.into(),
            number: n,
            hash: hash.into(),
            image_id: "img".into(),
            running,
        };
        let same = [e("a", 1, &svc.hash, true), e("b", 2, &svc.hash, false)];
        assert_eq!(
            actions(&svc, Some("img"), &same, false),
            [
                Action::Keep { id: "a".into() },
                Action::Start { id: "b".into() }
            ]
        );
        assert_eq!(
            actions(&svc, Some("other"), &same[..1], false),
            [
                Action::Recreate {
                    id: "a".into(),
                    number: 1
                },
                Action::Create { number: 2 }
            ]
        );
        let three = [
            e("a", 1, "old", true),
            e("b", 2, &svc.hash, true),
            e("c", 3, &svc.hash, true),
        ];
        assert_eq!(
            actions(&svc, Some("img"), &three, false),
            [
                Action::Recreate {
                    id: "a".into(),
                    number: 1
                },
                Action::Keep { id: "b".into() },
                Action::Remove { id: "c".into() }
            ]
        );
    }
}
