//! Merging compose files (`-f a -f b`, override files, `extends`) by the
//! Compose specification's rules: mappings merge key by key; `command`,
//! `entrypoint` and `healthcheck.test` are replaced; `environment`,
//! `labels` and friends merge as mappings whether written as lists or
//! not; `ports`, `expose`, `dns`... are appended without duplicates;
//! `volumes` merge by target, `secrets`/`configs` by source.

use serde_json::{Map, Value};

/// Merge file `over` into the model `base`.
pub fn files(base: &mut Value, over: Value) {
    let Value::Object(over) = over else { return };
    let Some(b) = base.as_object_mut() else {
        *base = Value::Object(over);
        return;
    };
    for (k, v) in over {
        match (k.as_str(), b.get_mut(&k)) {
            ("services", Some(Value::Object(bs))) => {
                let Value::Object(os) = v else { continue };
                for (name, svc) in os {
                    match bs.get_mut(&name) {
                        Some(existing) => service(existing, svc),
                        None => {
                            bs.insert(name, svc);
                        }
                    }
                }
            }
            (_, Some(existing)) => deep(existing, v),
            (_, None) => {
                b.insert(k, v);
            }
        }
    }
}

/// Merge service `over` into service `base`.
pub fn service(base: &mut Value, over: Value) {
    let Value::Object(over) = over else { return };
    let Some(b) = base.as_object_mut() else {
        *base = Value::Object(over);
        return;
    };
    for (k, v) in over {
        let Some(old) = b.get_mut(&k) else {
            b.insert(k, v);
            continue;
        };
        match k.as_str() {
            "command" | "entrypoint" => *old = v,
            "environment" | "labels" | "annotations" | "extra_hosts" | "sysctls" => {
                let mut m = to_map(old.take(), '=');
                if k == "extra_hosts" {
                    m = to_map(Value::Object(m), ':');
                }
                for (key, val) in to_map(v, if k == "extra_hosts" { ':' } else { '=' }) {
                    m.insert(key, val);
                }
                *old = Value::Object(m);
            }
            "ports"
            | "expose"
            | "dns"
            | "dns_search"
            | "dns_opt"
            | "cap_add"
            | "cap_drop"
            | "security_opt"
            | "env_file"
            | "tmpfs"
            | "external_links"
            | "group_add"
            | "profiles"
            | "links"
            | "volumes_from"
            | "device_cgroup_rules" => append_unique(old, v),
            "volumes" | "devices" => by_key(old, v, volume_target),
            "secrets" | "configs" => by_key(old, v, source_of),
            "depends_on" => {
                let mut m = depends_map(old.take());
                for (key, val) in depends_map(v) {
                    m.insert(key, val);
                }
                *old = Value::Object(m);
            }
            "networks" => {
                let mut m = names_map(old.take());
                for (key, val) in names_map(v) {
                    match m.get_mut(&key) {
                        Some(existing) => deep(existing, val),
                        None => {
                            m.insert(key, val);
                        }
                    }
                }
                *old = Value::Object(m);
            }
            "build" => {
                let mut b = build_map(old.take());
                deep(&mut b, build_map(v));
                *old = b;
            }
            "healthcheck" => {
                // Its test is a command: replaced, never appended.
                if let (Value::Object(o), Value::Object(n)) = (&mut *old, v.clone()) {
                    for (hk, hv) in n {
                        o.insert(hk, hv);
                    }
                } else {
                    *old = v;
                }
            }
            _ => deep(old, v),
        }
    }
}

/// Mappings merge recursively; anything else is replaced.
fn deep(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(old) => deep(old, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn append_unique(old: &mut Value, v: Value) {
    let mut list = match old.take() {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    let add = match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    for x in add {
        if !list.contains(&x) {
            list.push(x);
        }
    }
    *old = Value::Array(list);
}

/// Lists whose entries are keyed: a later entry with the same key
/// replaces the earlier one in place.
fn by_key(old: &mut Value, v: Value, key: fn(&Value) -> Option<String>) {
    let mut list = match old.take() {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    for x in match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    } {
        let k = key(&x);
        match list.iter().position(|e| k.is_some() && key(e) == k) {
            Some(i) => list[i] = x,
            None => list.push(x),
        }
    }
    *old = Value::Array(list);
}

/// A volume's (or device's) target: `src:dst[:mode]`, or `target:` of
/// the long form.
pub fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.as_slice() {
                [one] => one.to_string(),
                [_, dst, ..] => dst.to_string(),
                [] => return None,
            })
        }
        Value::Object(m) => m.get("target").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

fn source_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("source").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// `KEY=VALUE` lists (or `KEY:VALUE` for extra_hosts) as a mapping; a
/// bare `KEY` maps to null.
pub fn to_map(v: Value, sep: char) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Array(a) => a
            .into_iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(match s.split_once(sep) {
                    Some((k, val)) => (k.to_string(), Value::String(val.to_string())),
                    None => (s, Value::Null),
                }),
                _ => None,
            })
            .collect(),
        _ => Map::new(),
    }
}

/// `depends_on` as a mapping: a list means `service_started`.
pub fn depends_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Array(a) => a
            .into_iter()
            .filter_map(|x| x.as_str().map(String::from))
            .map(|s| (s, serde_json::json!({"condition": "service_started"})))
            .collect(),
        _ => Map::new(),
    }
}

/// Service `networks` as a mapping: a list means no settings (null).
pub fn names_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Array(a) => a
            .into_iter()
            .filter_map(|x| x.as_str().map(|s| (s.to_string(), Value::Null)))
            .collect(),
        _ => Map::new(),
    }
}

/// `build: ./dir` as `build: {context: ./dir}`.
pub fn build_map(v: Value) -> Value {
    match v {
        Value::String(s) => serde_json::json!({ "context": s }),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_merge_by_the_specs_rules() {
        let mut base = json!({"services": {"web": {
            "image": "a", "command": ["x", "y"], "environment": ["A=1", "B=2"],
            "ports": ["80:80"], "volumes": ["./a:/data", "cache:/cache"],
            "depends_on": ["db"], "healthcheck": {"test": ["CMD", "a"], "retries": 2},
            "labels": {"l": "1"},
        }, "db": {"image": "pg"}}, "volumes": {"cache": {}}});
        files(
            &mut base,
            json!({"services": {"web": {
                "image": "b", "command": "z", "environment": {"B": "3", "C": "4"},
                "ports": ["80:80", "443:443"], "volumes": ["./b:/data"],
                "depends_on": {"cache": {"condition": "service_healthy"}},
                "healthcheck": {"test": ["CMD", "b"]},
                "labels": ["m=2"],
            }, "new": {"image": "n"}}, "volumes": {"cache": {"driver": "local"}}}),
        );
        let web = &base["services"]["web"];
        assert_eq!(web["image"], "b");
        assert_eq!(web["command"], "z");
        assert_eq!(web["environment"], json!({"A": "1", "B": "3", "C": "4"}));
        assert_eq!(web["ports"], json!(["80:80", "443:443"]));
        assert_eq!(web["volumes"], json!(["./b:/data", "cache:/cache"]));
        assert_eq!(
            web["depends_on"],
            json!({"db": {"condition": "service_started"}, "cache": {"condition": "service_healthy"}})
        );
        assert_eq!(
            web["healthcheck"],
            json!({"test": ["CMD", "b"], "retries": 2})
        );
        assert_eq!(web["labels"], json!({"l": "1", "m": "2"}));
        assert_eq!(base["services"]["new"]["image"], "n");
        assert_eq!(base["services"]["db"]["image"], "pg");
        assert_eq!(base["volumes"]["cache"]["driver"], "local");
    }

    #[test]
    fn build_strings_and_maps_merge() {
        let mut s = json!({"build": "./app"});
        service(&mut s, json!({"build": {"args": {"A": "1"}}}));
        assert_eq!(s["build"], json!({"context": "./app", "args": {"A": "1"}}));
    }
}
