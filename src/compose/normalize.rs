//! The model in the shape `docker compose config` prints: paths made
//! absolute, short syntaxes in their long form (ports, volumes,
//! depends_on, build, networks), `environment` as a mapping with the
//! `env_file`s read into it, the project's default network and the names
//! of its networks and volumes filled in.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Map, Value};

use super::interpolate::Vars;
use super::merge;

/// Make the relative paths of a model absolute against `dir` (the
/// directory of the file they were written in).
pub fn absolutize(model: &mut Value, dir: &Path) {
    let abs = |s: &str| -> String {
        if let Some(rest) = s.strip_prefix("~/") {
            if let Some(home) = std::env::var_os("HOME") {
                return Path::new(&home).join(rest).display().to_string();
            }
        }
        if Path::new(s).is_absolute() {
            s.to_string()
        } else {
            clean(&dir.join(s))
        }
    };
    let is_path = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    if let Some(services) = model.get_mut("services").and_then(Value::as_object_mut) {
        for svc in services.values_mut() {
            let Some(m) = svc.as_object_mut() else {
                continue;
            };
            match m.get_mut("build") {
                Some(Value::String(s)) if !s.contains("://") => *s = abs(s),
                Some(Value::Object(b)) => {
                    if let Some(Value::String(c)) = b.get_mut("context") {
                        if !c.contains("://") {
                            *c = abs(c);
                        }
                    }
                }
                _ => {}
            }
            match m.get_mut("env_file") {
                Some(Value::String(s)) => *s = abs(s),
                Some(Value::Array(a)) => {
                    for e in a {
                        match e {
                            Value::String(s) => *s = abs(s),
                            Value::Object(o) => {
                                if let Some(Value::String(p)) = o.get_mut("path") {
                                    *p = abs(p);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            if let Some(Value::Array(vols)) = m.get_mut("volumes") {
                for v in vols {
                    match v {
                        Value::String(s) => {
                            if let Some((src, rest)) = s.split_once(':') {
                                if is_path(src) {
                                    *s = format!("{}:{rest}", abs(src));
                                }
                            }
                        }
                        Value::Object(o)
                            if o.get("type").and_then(Value::as_str) == Some("bind") =>
                        {
                            if let Some(Value::String(src)) = o.get_mut("source") {
                                *src = abs(src);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(items) = model.get_mut(section).and_then(Value::as_object_mut) {
            for item in items.values_mut() {
                if let Some(Value::String(f)) = item.get_mut("file") {
                    *f = abs(f);
                }
            }
        }
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (the path
/// may not exist yet, as a bind mount's source may not).
fn clean(p: &Path) -> String {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if out.len() > 1 {
                    out.pop();
                }
            }
            std::path::Component::RootDir => out.push(std::ffi::OsStr::new("/")),
            c => out.push(c.as_os_str()),
        }
    }
    let mut s = std::path::PathBuf::new();
    for c in out {
        s.push(c);
    }
    s.display().to_string()
}

/// The whole model, for `config`.
pub fn project(name: &str, mut model: Map<String, Value>, vars: &Vars) -> anyhow::Result<Value> {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name.into()));
    let mut uses_default = false;
    let mut services = Map::new();
    if let Some(Value::Object(svcs)) = model.remove("services") {
        let mut names: Vec<String> = svcs.keys().cloned().collect();
        names.sort();
        let mut svcs = svcs;
        for n in names {
            let svc = svcs.remove(&n).unwrap_or(Value::Null);
            let (svc, default) = service(svc, vars).with_context(|| format!("service {n:?}"))?;
            uses_default |= default;
            services.insert(n, svc);
        }
    }
    out.insert("services".into(), Value::Object(services));
    // Networks and volumes get the project's prefix unless named or external.
    let mut networks = match model.remove("networks") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if uses_default && !networks.contains_key("default") {
        networks.insert("default".into(), json!({}));
    }
    named(&mut networks, name);
    if !networks.is_empty() {
        out.insert("networks".into(), Value::Object(sorted(networks)));
    }
    for section in ["volumes", "secrets", "configs"] {
        if let Some(Value::Object(mut m)) = model.remove(section) {
            if section == "volumes" {
                named(&mut m, name);
            } else {
                for (k, v) in m.iter_mut() {
                    if v.is_null() {
                        *v = json!({});
                    }
                    if let Value::Object(o) = v {
                        o.entry("name")
                            .or_insert_with(|| Value::String(format!("{name}_{k}")));
                    }
                }
            }
            out.insert(section.into(), Value::Object(sorted(m)));
        }
    }
    // Extensions and anything else, after the known sections.
    for (k, v) in model {
        if k != "name" && k != "version" && k != "include" {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

fn named(m: &mut Map<String, Value>, project: &str) {
    for (k, v) in m.iter_mut() {
        if v.is_null() {
            *v = json!({});
        }
        if let Value::Object(o) = v {
            let external = o.get("external").is_some_and(|e| e == &Value::Bool(true));
            let default = if external {
                k.clone()
            } else {
                format!("{project}_{k}")
            };
            o.entry("name").or_insert(Value::String(default));
        }
    }
}

/// One service; also whether it is on the project's default network.
fn service(svc: Value, vars: &Vars) -> anyhow::Result<(Value, bool)> {
    let mut m = match svc {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => anyhow::bail!("must be a mapping"),
    };
    m.remove("extends");
    // environment: the env files first, then the service's own keys.
    let mut env = Map::new();
    if let Some(files) = m.remove("env_file") {
        let list = match files {
            Value::Array(a) => a,
            one => vec![one],
        };
        for f in list {
            let (path, required) = match &f {
                Value::String(s) => (s.clone(), true),
                Value::Object(o) => (
                    o.get("path")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    o.get("required").and_then(Value::as_bool).unwrap_or(true),
                ),
                _ => continue,
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    for (k, v) in super::dotenv::parse(&text, vars)? {
                        env.insert(k, Value::String(v));
                    }
                }
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("env file {path} not found: {e}"),
            }
        }
    }
    if let Some(e) = m.remove("environment") {
        for (k, v) in merge::to_map(e, '=') {
            let v = match v {
                // A bare NAME takes the caller's value, or stays unset.
                Value::Null => vars
                    .get(&k)
                    .map_or(Value::Null, |s| Value::String(s.into())),
                Value::String(s) => Value::String(s),
                other => Value::String(scalar_text(&other)),
            };
            env.insert(k, v);
        }
    }
    if !env.is_empty() {
        m.insert("environment".into(), Value::Object(sorted(env)));
    }
    for key in ["labels", "annotations", "sysctls"] {
        if let Some(v) = m.remove(key) {
            let map: Map<String, Value> = merge::to_map(v, '=')
                .into_iter()
                .map(|(k, v)| (k, Value::String(scalar_text(&v))))
                .collect();
            m.insert(key.into(), Value::Object(sorted(map)));
        }
    }
    for key in ["command", "entrypoint"] {
        if let Some(Value::String(s)) = m.get(key) {
            let words =
                shell_words(s).with_context(|| format!("{key}: unbalanced quotes in {s:?}"))?;
            m.insert(key.into(), json!(words));
        }
    }
    if let Some(b) = m.remove("build") {
        let mut b = merge::build_map(b);
        if let Value::Object(o) = &mut b {
            o.entry("dockerfile").or_insert(json!("Dockerfile"));
        }
        m.insert("build".into(), b);
    }
    if let Some(d) = m.remove("depends_on") {
        let mut deps = merge::depends_map(d);
        for v in deps.values_mut() {
            if let Value::Object(o) = v {
                o.entry("condition").or_insert(json!("service_started"));
                o.entry("required").or_insert(json!(true));
            }
        }
        m.insert("depends_on".into(), Value::Object(sorted(deps)));
    }
    if let Some(Value::Array(ports)) = m.remove("ports") {
        let mut long = Vec::new();
        for p in ports {
            long.extend(port(&p).with_context(|| format!("ports: bad entry {p}"))?);
        }
        m.insert("ports".into(), Value::Array(long));
    }
    if let Some(Value::Array(e)) = m.remove("expose") {
        let e: Vec<Value> = e.iter().map(|x| Value::String(scalar_text(x))).collect();
        m.insert("expose".into(), Value::Array(e));
    }
    if let Some(Value::Array(vols)) = m.remove("volumes") {
        let long: Vec<Value> = vols.into_iter().map(volume).collect();
        m.insert("volumes".into(), Value::Array(long));
    }
    let mut default = false;
    if !m.contains_key("network_mode") {
        let nets = merge::names_map(m.remove("networks").unwrap_or(Value::Null));
        let nets = if nets.is_empty() {
            default = true;
            let mut d = Map::new();
            d.insert("default".into(), Value::Null);
            d
        } else {
            default = nets.contains_key("default");
            nets
        };
        m.insert("networks".into(), Value::Object(sorted(nets)));
    }
    Ok((Value::Object(sorted(m)), default))
}

/// Keys in order, as Go prints its maps (and compose-go's service
/// fields, which it declares in that order).
fn sorted(mut m: Map<String, Value>) -> Map<String, Value> {
    let mut keys: Vec<String> = m.keys().cloned().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| m.remove(&k).map(|v| (k, v)))
        .collect()
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A port entry in its long form(s): `[ip:][host[-range]:]container[-range][/proto]`.
fn port(p: &Value) -> anyhow::Result<Vec<Value>> {
    let s = match p {
        Value::Object(o) => {
            let mut o = o.clone();
            o.entry("mode").or_insert(json!("ingress"));
            o.entry("protocol").or_insert(json!("tcp"));
            if let Some(pb) = o.get_mut("published") {
                *pb = Value::String(scalar_text(pb));
            }
            return Ok(vec![Value::Object(o)]);
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => anyhow::bail!("not a port"),
    };
    let (spec, proto) = s.split_once('/').unwrap_or((&s, "tcp"));
    // The container side is after the last colon; an IPv6 host address
    // is in brackets.
    let (front, target) = match spec.rsplit_once(':') {
        Some((f, t)) => (Some(f), t),
        None => (None, spec),
    };
    let (ip, published) = match front {
        None => (None, None),
        Some(f) => match f.rsplit_once(':') {
            Some((ip, host)) => (Some(ip.trim_matches(['[', ']'])), Some(host)),
            None => (None, Some(f)),
        },
    };
    let range = |r: &str| -> anyhow::Result<(u16, u16)> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        Ok((a.parse()?, b.parse()?))
    };
    let (t0, t1) = range(target)?;
    let mut out = Vec::new();
    for (i, t) in (t0..=t1).enumerate() {
        let mut o = Map::new();
        o.insert("mode".into(), json!("ingress"));
        if let Some(ip) = ip.filter(|i| !i.is_empty()) {
            o.insert("host_ip".into(), json!(ip));
        }
        o.insert("target".into(), json!(t));
        match published.filter(|p| !p.is_empty()) {
            Some(p) if p.contains('-') && t0 == t1 => {
                o.insert("published".into(), json!(p));
            }
            Some(p) => {
                let (p0, _) = range(p)?;
                o.insert("published".into(), json!((p0 + i as u16).to_string()));
            }
            None => {}
        }
        o.insert("protocol".into(), json!(proto));
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// A volume entry in its long form.
fn volume(v: Value) -> Value {
    let Value::String(s) = v else { return v };
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => (None, *dst, None),
        [src, dst] => (Some(*src), *dst, None),
        [src, dst, mode] => (Some(*src), *dst, Some(*mode)),
        _ => return Value::String(s),
    };
    let mut o = Map::new();
    let bind = src.is_some_and(|s| s.starts_with('/'));
    o.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
    if let Some(src) = src {
        o.insert("source".into(), json!(src));
    }
    o.insert("target".into(), json!(dst));
    let modes: Vec<&str> = mode.map(|m| m.split(',').collect()).unwrap_or_default();
    if modes.contains(&"ro") {
        o.insert("read_only".into(), json!(true));
    }
    if bind {
        o.insert("bind".into(), json!({"create_host_path": true}));
    } else {
        o.insert("volume".into(), json!({}));
    }
    Value::Object(o)
}

/// A command string split as a POSIX shell splits words (quotes and
/// backslashes), as Compose splits a string `command`.
pub fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => cur.push(x),
                            x => {
                                cur.push('\\');
                                cur.push(x);
                            }
                        },
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_take_their_long_form() {
        let p = |s: &str| port(&json!(s)).unwrap();
        assert_eq!(
            p("8080:80"),
            [json!({"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"})]
        );
        assert_eq!(
            p("127.0.0.1:53:53/udp"),
            [
                json!({"mode": "ingress", "host_ip": "127.0.0.1", "target": 53, "published": "53", "protocol": "udp"})
            ]
        );
        assert_eq!(p("3000-3001").len(), 2);
        assert_eq!(
            p("9000")[0],
            json!({"mode": "ingress", "target": 9000, "protocol": "tcp"})
        );
    }

    #[test]
    fn volumes_take_their_long_form() {
        assert_eq!(
            volume(json!("/src:/dst:ro")),
            json!({"type": "bind", "source": "/src", "target": "/dst", "read_only": true, "bind": {"create_host_path": true}})
        );
        assert_eq!(
            volume(json!("data:/var/lib")),
            json!({"type": "volume", "source": "data", "target": "/var/lib", "volume": {}})
        );
        assert_eq!(
            volume(json!("/anon")),
            json!({"type": "volume", "target": "/anon", "volume": {}})
        );
    }

    #[test]
    fn commands_split_as_a_shell_does() {
        assert_eq!(
            shell_words(r#"sh -c "echo 'a b'" x\ y"#).unwrap(),
            ["sh", "-c", "echo 'a b'", "x y"]
        );
        assert_eq!(shell_words("a ''").unwrap(), ["a", ""]);
        assert_eq!(shell_words("'open"), None);
    }

    #[test]
    fn paths_become_absolute_against_their_files_dir() {
        let mut m = json!({"services": {"a": {"build": "./app", "volumes": ["./data:/d", "named:/n"], "env_file": ["../e.env"]}}});
        absolutize(&mut m, Path::new("/p/q"));
        assert_eq!(m["services"]["a"]["build"], "/p/q/app");
        assert_eq!(
            m["services"]["a"]["volumes"],
            json!(["/p/q/data:/d", "named:/n"])
        );
        assert_eq!(m["services"]["a"]["env_file"], json!(["/p/e.env"]));
    }
}
