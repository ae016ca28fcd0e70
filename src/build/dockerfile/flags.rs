//! An instruction's `--name=value` flags, checked against the flags that
//! instruction takes (BuildKit's BFlags): unknown, repeated, valueless and
//! non-boolean flags are errors.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    /// May be given several times (`--mount`, `--exclude`).
    Strings,
}

/// The flags given, by name.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    /// Check `given` (as the parser found them) against `known`.
    pub fn parse(given: &[String], known: &[(&str, Kind)]) -> Result<Flags, String> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in given {
            if a == "--" {
                break;
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, kind)) = known.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            if values.contains_key(name) && kind != Kind::Strings {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let v = match (kind, value) {
                (Kind::Bool, Some("")) => return Err(format!("missing a value on flag: --{name}")),
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {v}"
                        ))
                    }
                },
                (_, None) => return Err(format!("missing a value on flag: --{name}")),
                (_, Some(v)) => v.to_string(),
            };
            values.entry(name.to_string()).or_default().push(v);
        }
        Ok(Flags { values })
    }

    /// A string flag's value, if given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    /// A boolean flag: false when absent.
    pub fn bool(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    /// A boolean flag that may be absent (`--keep-git-dir`, `--unpack`).
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[(&str, Kind)] = &[
        ("link", Kind::Bool),
        ("from", Kind::String),
        ("exclude", Kind::Strings),
    ];

    fn parse(args: &[&str]) -> Result<Flags, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Flags::parse(&v, KNOWN)
    }

    #[test]
    fn parses_each_kind() {
        let f = parse(&["--link", "--from=a", "--exclude=x", "--exclude=y"]).unwrap();
        assert!(f.bool("link"));
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
    }

    #[test]
    fn rejects_bad_flags() {
        assert_eq!(parse(&["--nope"]).unwrap_err(), "unknown flag: --nope");
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            "duplicate flag specified: --from"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "missing a value on flag: --from"
        );
        assert!(parse(&["--link=maybe"]).is_err());
        assert!(parse(&["--link="]).is_err());
    }
}
