//! The local driver's `-o` options, as Docker's reads them: `type`,
//! `device`, `o`. Without root, burrow can mount what a user namespace may
//! mount: a tmpfs (`type=tmpfs`) or a bind of a host directory
//! (`type=none,o=bind,device=/path`, or `type=bind`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;

use crate::text::escape_control;

/// What a volume is backed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Its own dir in the store (no options).
    Plain,
    /// A fresh tmpfs each time it is mounted, with these mount options.
    Tmpfs { options: String },
    /// A host directory, bound.
    Bind { device: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub kind: Kind,
}

impl Options {
    /// Parse `-o KEY=VALUE` flags into the map a volume keeps.
    pub fn parse_flags(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        for f in flags {
            let Some((k, v)) = f.split_once('=') else {
                bail!("invalid option {:?}: KEY=VALUE", escape_control(f));
            };
            map.insert(k.to_string(), v.to_string());
        }
        Options::from_map(&map)?;
        Ok(map)
    }

    pub fn from_map(map: &BTreeMap<String, String>) -> anyhow::Result<Options> {
        for k in map.keys() {
            if !matches!(k.as_str(), "type" | "device" | "o") {
                bail!(
                    "invalid option key: {:?} (the local driver takes type, device and o)",
                    escape_control(k)
                );
            }
        }
        let get = |k: &str| map.get(k).map(String::as_str);
        let o = get("o").unwrap_or("");
        let binds = o.split(',').any(|x| x == "bind" || x == "rbind");
        let kind = match get("type") {
            None if map.is_empty() => Kind::Plain,
            Some("tmpfs") => {
                if get("device").is_some_and(|d| d != "tmpfs") {
                    bail!("a tmpfs volume takes device=tmpfs or no device");
                }
                Kind::Tmpfs { options: o.into() }
            }
            Some("bind") | Some("none") | None if binds || get("type") == Some("bind") => {
                let Some(device) = get("device") else {
                    bail!("a bind volume needs device=/host/dir");
                };
                if !device.starts_with('/') {
                    bail!(
                        "device {:?}: the host directory must be an absolute path",
                        escape_control(device)
                    );
                }
                Kind::Bind {
                    device: device.into(),
                }
            }
            Some(t) => bail!(
                "volume type {:?} is not supported without root (use type=tmpfs, or \
                 type=none,o=bind,device=/dir)",
                escape_control(t)
            ),
            None => bail!("volume options need type= (tmpfs, or none with o=bind)"),
        };
        Ok(Options { kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> anyhow::Result<Kind> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        Options::from_map(&Options::parse_flags(&flags)?).map(|o| o.kind)
    }

    #[test]
    fn dockers_local_options() {
        assert_eq!(parse(&[]).unwrap(), Kind::Plain);
        assert_eq!(
            parse(&["type=tmpfs", "device=tmpfs", "o=size=1m,uid=5"]).unwrap(),
            Kind::Tmpfs {
                options: "size=1m,uid=5".into()
            }
        );
        assert_eq!(
            parse(&["type=none", "o=bind", "device=/srv"]).unwrap(),
            Kind::Bind {
                device: "/srv".into()
            }
        );
        assert!(parse(&["type=bind", "device=/srv"]).is_ok());
        for bad in [
            &["type=nfs", "device=:/x"][..],
            &["bogus=1"],
            &["type"],
            &["type=none", "o=bind"],
            &["type=bind", "device=rel"],
            &["device=/x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
