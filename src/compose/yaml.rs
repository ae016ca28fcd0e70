//! YAML in and out. In: yaml-rust2 (YAML 1.2's core schema, as Compose's
//! Go parser reads it: `no` stays a string), aliases resolved by the
//! loader, then merge keys (`<<`) applied here, into a JSON value (key
//! order kept) that the rest of the model works on. Out: the block style
//! `docker compose config` prints (go-yaml's layout).

use anyhow::bail;
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Parse one compose file's text (`name` for errors) into a JSON value.
pub fn parse(name: &str, text: &str) -> anyhow::Result<Value> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{name}: line {}, column {}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    match docs.len() {
        0 => Ok(Value::Object(Map::new())),
        1 => to_json(name, &docs[0], "").map(|v| match v {
            // An empty file is an empty model.
            Value::Null => Value::Object(Map::new()),
            v => v,
        }),
        _ => bail!("{name}: holds several YAML documents; a compose file is one"),
    }
}

fn to_json(name: &str, y: &Yaml, path: &str) -> anyhow::Result<Value> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(s) => match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            // .inf and .nan have no JSON form: kept as written.
            None => Value::String(s.clone()),
        },
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| to_json(name, v, &format!("{path}[{i}]")))
                .collect::<anyhow::Result<_>>()?,
        ),
        Yaml::Hash(h) => {
            let mut out = Map::new();
            let mut merged: Vec<Map<String, Value>> = Vec::new();
            for (k, v) in h {
                let key = key_string(name, k, path)?;
                let here = join(path, &key);
                if key == "<<" {
                    // Merge keys: a mapping, or a list of them (earlier wins).
                    match to_json(name, v, &here)? {
                        Value::Object(m) => merged.push(m),
                        Value::Array(list) => {
                            for m in list {
                                match m {
                                    Value::Object(m) => merged.push(m),
                                    _ => bail!("{name}: {here}: a merge key takes mappings"),
                                }
                            }
                        }
                        _ => bail!("{name}: {here}: a merge key takes a mapping"),
                    }
                    continue;
                }
                out.insert(key, to_json(name, v, &here)?);
            }
            // Keys of the mapping itself win over merged ones.
            for m in merged {
                for (k, v) in m {
                    out.entry(k).or_insert(v);
                }
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            bail!("{name}: {}: a value that cannot be read", display(path))
        }
    })
}

fn key_string(name: &str, k: &Yaml, path: &str) -> anyhow::Result<String> {
    Ok(match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        _ => bail!("{name}: {}: a mapping key must be a scalar", display(path)),
    })
}

/// `a.b` paths as Compose prints them.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "(top level)"
    } else {
        path
    }
}

/// Print a value as go-yaml does for `compose config`: block mappings and
/// sequences, two spaces a level, strings quoted when they would read
/// back as something else.
pub fn emit(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out),
        v => {
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
    out
}

fn emit_map(m: &Map<String, Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote(k));
        out.push(':');
        emit_child(v, indent, out);
    }
}

fn emit_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            // A mapping in a list starts on the dash's line.
            Value::Object(m) if !m.is_empty() => {
                let mut inner = String::new();
                emit_map(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            _ => emit_child(v, indent, out),
        }
    }
}

fn emit_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(a, indent + 2, out);
        }
        v => {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

const YAML11_BOOLS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// A string as a plain scalar when it reads back as the same string,
/// else double-quoted (JSON's escapes are YAML's).
fn quote(s: &str) -> String {
    // `-`, `?` and `:` start a plain scalar unless a space follows.
    let indicator =
        s.starts_with(['-', '?', ':']) && s[1..].chars().next().is_none_or(char::is_whitespace);
    let awkward = s.is_empty()
        || indicator
        || s.starts_with(|c: char| " ,[]{}#&*!|>'\"%@`".contains(c))
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control())
        // go-yaml quotes YAML 1.1's booleans too, for older readers.
        || YAML11_BOOLS.contains(&s);
    let plain = !awkward
        && matches!(
            YamlLoader::load_from_str(s).ok().as_deref(),
            Some([Yaml::String(back)]) if back == s
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_merge_keys_resolve() {
        let v = parse(
            "c.yaml",
            "x-base: &base\n  image: busybox\n  environment:\n    A: \"1\"\nservices:\n  web:\n    <<: *base\n    image: nginx\n",
        )
        .unwrap();
        assert_eq!(v["services"]["web"]["image"], "nginx");
        assert_eq!(v["services"]["web"]["environment"]["A"], "1");
        let v = parse(
            "c.yaml",
            "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n",
        )
        .unwrap();
        assert_eq!(v["c"], serde_json::json!({"x": 1, "y": 2}));
    }

    #[test]
    fn yaml_1_2_scalars_and_errors_with_a_line() {
        let v = parse("c.yaml", "a: no\nb: 010\nc: true\nd: 1.5\n").unwrap();
        assert_eq!(v["a"], "no");
        assert_eq!(v["c"], true);
        assert_eq!(v["d"], 1.5);
        let e = parse("c.yaml", "a: [1\n").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml: line"), "{e}");
        let e = parse("c.yaml", "a: 1\na: 2\n").unwrap_err().to_string();
        assert!(e.contains("duplicated key"), "{e}");
    }

    #[test]
    fn emitting_quotes_what_would_read_back_otherwise() {
        let v = serde_json::json!({
            "name": "p",
            "services": {"web": {"command": ["echo", "hi"], "environment": {"A": "1", "B": "yes", "C": null, "D": "a: b"}, "ports": [{"target": 80, "published": "8080"}]}},
        });
        assert_eq!(
            emit(&v),
            "name: p\nservices:\n  web:\n    command:\n      - echo\n      - hi\n    environment:\n      A: \"1\"\n      B: \"yes\"\n      C: null\n      D: \"a: b\"\n    ports:\n      - target: 80\n        published: \"8080\"\n"
        );
    }
}
