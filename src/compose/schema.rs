//! Checking a compose file's shape. With the compose-spec JSON schema at
//! hand (`BURROW_COMPOSE_SCHEMA`, or where a package put it: see
//! [`schema_path`]) the file is checked against it by a small evaluator
//! of the draft-07 keywords that schema uses; without it, by a built-in
//! check of the keys and the common types. The schema is the spec
//! project's file: burrow does not carry a copy of it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Where the schema is looked for, first found wins.
pub fn schema_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BURROW_COMPOSE_SCHEMA") {
        return Some(PathBuf::from(p));
    }
    let candidates = [
        "/usr/local/share/burrow/compose-spec.json",
        "/usr/share/burrow/compose-spec.json",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(data_home().map(|d| d.join("burrow/compose-spec.json")))
        .find(|p| p.is_file())
}

fn data_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")),
    }
}

/// The schema, when one is installed (a broken one is an error: the user
/// pointed at it).
pub fn load_schema() -> anyhow::Result<Option<Value>> {
    let Some(p) = schema_path() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&p)
        .map_err(|e| anyhow::anyhow!("read the compose schema {}: {e}", p.display()))?;
    let v = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the compose schema {} is not JSON: {e}", p.display()))?;
    Ok(Some(v))
}

/// The first problem in `doc` (a path and what is wrong), or None.
pub fn check(doc: &Value, schema: Option<&Value>) -> Option<(String, String)> {
    match schema {
        Some(s) => Evaluator { root: s }.first_error(doc, s, ""),
        None => builtin(doc),
    }
}

struct Evaluator<'a> {
    root: &'a Value,
}

impl Evaluator<'_> {
    fn resolve<'b>(&'b self, schema: &'b Value) -> &'b Value {
        let mut s = schema;
        // `#/definitions/name` only: the compose schema refers to no more.
        for _ in 0..32 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            let Some(path) = r.strip_prefix("#/") else {
                return s;
            };
            let mut t = self.root;
            for part in path.split('/') {
                t = match t.get(part) {
                    Some(x) => x,
                    None => return s,
                };
            }
            s = t;
        }
        s
    }

    fn first_error(&self, v: &Value, schema: &Value, path: &str) -> Option<(String, String)> {
        let s = self.resolve(schema);
        let Some(s) = s.as_object() else {
            // `true` allows all; `false` nothing.
            return (schema == &Value::Bool(false))
                .then(|| (path.to_string(), "is not allowed".into()));
        };
        let here = || {
            if path.is_empty() {
                "(top level)".to_string()
            } else {
                path.to_string()
            }
        };
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.is_empty() && !types.iter().any(|t| has_type(v, t)) {
                return Some((here(), format!("must be {}", kinds(&types))));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
                return Some((here(), format!("must be one of {}", allowed.join(", "))));
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            if let (Some(text), Ok(re)) = (v.as_str(), regex::Regex::new(p)) {
                if !re.is_match(text) {
                    return Some((here(), format!("does not match {p:?}")));
                }
            }
        }
        if let Some(n) = v.as_f64() {
            if s.get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                return Some((here(), format!("must be at least {}", s["minimum"])));
            }
            if s.get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                return Some((here(), format!("must be at most {}", s["maximum"])));
            }
        }
        if let Some(alts) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            let alts = alts.as_array()?;
            let errors: Vec<(String, String)> = alts
                .iter()
                .filter_map(|a| self.first_error(v, a, path))
                .collect();
            if errors.len() == alts.len() {
                // The error of the alternative that got deepest says most.
                return errors.into_iter().max_by_key(|(p, _)| p.len());
            }
        }
        match v {
            Value::Object(m) => self.object(m, s, path),
            Value::Array(a) => {
                if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                    for (i, x) in a.iter().enumerate() {
                        if a[..i].contains(x) {
                            return Some((format!("{path}[{i}]"), format!("{x} is a duplicate")));
                        }
                    }
                }
                let items = s.get("items")?;
                a.iter()
                    .enumerate()
                    .find_map(|(i, x)| self.first_error(x, items, &format!("{path}[{i}]")))
            }
            _ => None,
        }
    }

    fn object(
        &self,
        m: &Map<String, Value>,
        s: &Map<String, Value>,
        path: &str,
    ) -> Option<(String, String)> {
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !m.contains_key(r) {
                    return Some((
                        if path.is_empty() {
                            "(top level)".into()
                        } else {
                            path.to_string()
                        },
                        format!("{r} is required"),
                    ));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        let patterns: Vec<(regex::Regex, &Value)> = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| regex::Regex::new(k).ok().map(|r| (r, v)))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in m {
            let sub = super::yaml::join(path, k);
            let mut known = false;
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                known = true;
                if let Some(e) = self.first_error(v, ps, &sub) {
                    return Some(e);
                }
            }
            for (re, ps) in &patterns {
                if re.is_match(k) {
                    known = true;
                    if let Some(e) = self.first_error(v, ps, &sub) {
                        return Some(e);
                    }
                }
            }
            if !known {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let at = if path.is_empty() { "(top level)" } else { path };
                        return Some((
                            at.to_string(),
                            format!("additional property {k:?} is not allowed"),
                        ));
                    }
                    Some(extra @ Value::Object(_)) => {
                        if let Some(e) = self.first_error(v, extra, &sub) {
                            return Some(e);
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

/// "a string or an array".
fn kinds(types: &[&str]) -> String {
    let one = |t: &&str| match *t {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "integer" => "an integer".to_string(),
        "null" => "null".to_string(),
        t => format!("a {t}"),
    };
    types.iter().map(one).collect::<Vec<_>>().join(" or ")
}

/// JSON schema's types. A string from interpolation stands for the number
/// or boolean it spells, as Compose casts such values before it checks.
fn has_type(v: &Value, t: &str) -> bool {
    match (t, v) {
        ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) | ("null", Value::Null) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("integer", Value::String(s)) => s.parse::<i64>().is_ok(),
        ("number", Value::String(s)) => s.parse::<f64>().is_ok(),
        ("boolean", Value::String(s)) => matches!(s.as_str(), "true" | "false"),
        _ => false,
    }
}

const TOP: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

/// The service keys of the Compose specification.
const SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Without the schema: the keys, and the types of the keys burrow reads.
fn builtin(doc: &Value) -> Option<(String, String)> {
    let top = match doc.as_object() {
        Some(t) => t,
        None => return Some(("(top level)".into(), "must be a mapping".into())),
    };
    let unknown = |m: &Map<String, Value>, known: &[&str], at: &str| {
        m.keys()
            .find(|k| !k.starts_with("x-") && !known.contains(&k.as_str()))
            .map(|k| {
                (
                    at.to_string(),
                    format!("additional property {k:?} is not allowed"),
                )
            })
    };
    if let Some(e) = unknown(top, TOP, "(top level)") {
        return Some(e);
    }
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        match top.get(section) {
            None | Some(Value::Object(_)) | Some(Value::Null) => {}
            Some(_) => return Some((section.into(), "must be a mapping".into())),
        }
    }
    let services = top.get("services").and_then(Value::as_object);
    for (name, svc) in services.into_iter().flatten() {
        let at = format!("services.{name}");
        let Some(m) = svc.as_object() else {
            if svc.is_null() {
                continue;
            }
            return Some((at, "must be a mapping".into()));
        };
        if let Some(e) = unknown(m, SERVICE, &at) {
            return Some(e);
        }
        for (k, v) in m {
            let want: &[&str] = match k.as_str() {
                "image" | "container_name" | "hostname" | "user" | "working_dir" | "restart"
                | "stop_signal" | "platform" | "network_mode" | "pull_policy" => &["string"],
                "command" | "entrypoint" => &["string", "array", "null"],
                "environment" | "labels" | "extra_hosts" | "sysctls" | "annotations" => {
                    &["object", "array"]
                }
                "ports" | "expose" | "volumes" | "cap_add" | "cap_drop" | "security_opt"
                | "profiles" | "dns_search" | "devices" | "volumes_from" => &["array"],
                "depends_on" | "networks" => &["object", "array"],
                "build" | "extends" => &["string", "object"],
                "healthcheck" | "deploy" | "logging" | "ulimits" => &["object"],
                "tty" | "stdin_open" | "init" | "read_only" | "privileged" => &["boolean"],
                _ => continue,
            };
            if !want.iter().any(|t| has_type(v, t)) {
                return Some((format!("{at}.{k}"), format!("must be {}", kinds(want))));
            }
        }
    }
    None
}

/// Check `doc`, read from `file`, and say what is wrong in one line.
pub fn validate(file: &Path, doc: &Value, schema: Option<&Value>) -> anyhow::Result<()> {
    match check(doc, schema) {
        Some((path, problem)) => Err(anyhow::anyhow!(
            "{}: {path}: {problem}",
            crate::text::escape_control(&file.display().to_string())
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "services": {"type": "object", "patternProperties": {"^[a-z]+$": {"$ref": "#/definitions/service"}}, "additionalProperties": false},
            },
            "patternProperties": {"^x-": {}},
            "additionalProperties": false,
            "definitions": {
                "service": {"type": "object", "properties": {
                    "image": {"type": "string"},
                    "ports": {"type": "array", "items": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "object", "properties": {"target": {"type": "integer"}}, "additionalProperties": false}]}, "uniqueItems": true},
                    "restart": {"type": "string", "enum": ["no", "always"]},
                }, "additionalProperties": false}
            }
        })
    }

    #[test]
    fn the_schema_names_the_path_and_the_problem() {
        let s = schema();
        let c = |v: Value| check(&v, Some(&s));
        assert_eq!(
            c(json!({"services": {"web": {"image": "x"}}, "x-a": 1})),
            None
        );
        assert_eq!(
            c(json!({"services": {"web": {"imgae": "x"}}})),
            Some((
                "services.web".into(),
                "additional property \"imgae\" is not allowed".into()
            ))
        );
        assert_eq!(
            c(json!({"services": {"web": {"image": 3}}})),
            Some(("services.web.image".into(), "must be a string".into()))
        );
        assert_eq!(
            c(json!({"services": {"web": {"ports": [{"target": "x"}]}}}))
                .unwrap()
                .0,
            "services.web.ports[0].target"
        );
        assert_eq!(
            c(json!({"services": {"web": {"ports": [80, 80]}}}))
                .unwrap()
                .0,
            "services.web.ports[1]"
        );
        assert!(c(json!({"services": {"web": {"restart": "sometimes"}}}))
            .unwrap()
            .1
            .starts_with("must be one of"));
        assert!(c(json!({"servics": {}})).is_some());
    }

    #[test]
    fn without_the_schema_the_keys_and_common_types_are_checked() {
        assert_eq!(builtin(&json!({"services": {"a": {"image": "x"}}})), None);
        assert_eq!(
            builtin(&json!({"services": {"a": {"imgae": "x"}}}))
                .unwrap()
                .0,
            "services.a"
        );
        assert_eq!(
            builtin(&json!({"services": {"a": {"ports": "80"}}}))
                .unwrap()
                .0,
            "services.a.ports"
        );
        assert!(builtin(&json!({"service": {}})).is_some());
    }
}
