//! Where containers meet volumes: the `-v`/`--mount` volumes, the
//! image's `VOLUME`s and `--volumes-from` turned into mounts (volumes made
//! as needed), which containers use a volume (from their records), and
//! the anonymous volumes that go with a container (`rm -v`, `--rm`).

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context};

use super::mounts::{MountSpec, VolumeRef};
use super::record::{self, MountRequest, Record};
use crate::text::escape_control;
use crate::volume::{self, Kind, NewVolume};

/// `--volumes-from CONTAINER[:ro|rw]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    /// None: each mount keeps its own mode.
    pub readonly: Option<bool>,
}

impl VolumesFrom {
    pub fn parse(spec: &str) -> anyhow::Result<VolumesFrom> {
        let (container, mode) = match spec.rsplit_once(':') {
            Some((c, "ro")) => (c, Some(true)),
            Some((c, "rw")) => (c, Some(false)),
            Some((_, m)) => bail!(
                "--volumes-from {:?}: unknown mode {:?} (ro or rw)",
                escape_control(spec),
                escape_control(m)
            ),
            None => (spec, None),
        };
        if container.is_empty() {
            bail!("--volumes-from needs a container");
        }
        Ok(VolumesFrom {
            container: container.into(),
            readonly: mode,
        })
    }
}

/// The mounts of a new container, and the volumes made for it (removed
/// again if the container is not made after all).
#[derive(Debug, Default)]
pub struct Resolved {
    pub mounts: Vec<MountRequest>,
    pub made: Vec<String>,
}

/// Turn the flags' mounts into the launcher's, Docker's precedence: the
/// user's `-v`/`--mount`, then `--volumes-from`, then the image's
/// `VOLUME`s (each path once). Volumes named and missing are made; each
/// anonymous one is new. On error, what was made is removed.
pub fn resolve(
    root: &Path,
    specs: Vec<MountSpec>,
    from: &[VolumesFrom],
    image_volumes: &[String],
) -> anyhow::Result<Resolved> {
    let mut out = Resolved::default();
    match resolve_into(root, specs, from, image_volumes, &mut out) {
        Ok(()) => Ok(out),
        Err(e) => {
            undo(root, &out.made);
            Err(e)
        }
    }
}

fn resolve_into(
    root: &Path,
    specs: Vec<MountSpec>,
    from: &[VolumesFrom],
    image_volumes: &[String],
    out: &mut Resolved,
) -> anyhow::Result<()> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut claim = |target: &str| taken.insert(normalize(target));
    // Checked first: a duplicate makes no volume.
    let mut seen = HashSet::new();
    for s in &specs {
        let t = match s {
            MountSpec::Ready(m) => m.target(),
            MountSpec::Volume(v) => &v.target,
        };
        if !seen.insert(normalize(t)) {
            bail!("duplicate mount point: {}", escape_control(t));
        }
    }
    let mut volumes = Vec::new();
    for s in specs {
        match s {
            MountSpec::Ready(m) => {
                claim(m.target());
                out.mounts.push(m);
            }
            MountSpec::Volume(v) => {
                claim(&v.target);
                volumes.push(v);
            }
        }
    }
    // Sources are read before anything is made.
    let mut inherited = Vec::new();
    for f in from {
        let src = record::find(root, &f.container)
            .with_context(|| format!("--volumes-from {}", escape_control(&f.container)))?;
        for m in src.config.mounts {
            let m = match (m, f.readonly) {
                (MountRequest::Bind { source, target, .. }, Some(ro)) => MountRequest::Bind {
                    source,
                    target,
                    readonly: ro,
                },
                (
                    MountRequest::Volume {
                        name,
                        source,
                        target,
                        fill,
                        tmpfs,
                        ..
                    },
                    Some(ro),
                ) => MountRequest::Volume {
                    name,
                    source,
                    target,
                    readonly: ro,
                    fill,
                    tmpfs,
                },
                // Docker passes volumes and binds on, not tmpfs mounts.
                (MountRequest::Tmpfs { .. }, _) => continue,
                (m, None) => m,
            };
            if claim(m.target()) {
                inherited.push(m);
            }
        }
    }
    for v in volumes {
        let m = attach(root, &v, out)?;
        out.mounts.push(m);
    }
    out.mounts.extend(inherited);
    for path in image_volumes {
        // An image's bad VOLUME path fails the create, as in Docker.
        if !claim(path) {
            continue;
        }
        let v = VolumeRef {
            target: path.clone(),
            ..Default::default()
        };
        let m = attach(root, &v, out)?;
        out.mounts.push(m);
    }
    Ok(())
}

/// Find or make the volume and say how to mount it.
fn attach(root: &Path, v: &VolumeRef, out: &mut Resolved) -> anyhow::Result<MountRequest> {
    crate::sandbox::mounts::plan::check_target(&v.target)
        .map_err(|e| anyhow::anyhow!("{}", escape_control(&e.to_string())))?;
    let (vol, new) = volume::create(
        root,
        NewVolume {
            name: v.name.clone(),
            labels: v.labels.clone(),
            options: v.options.clone(),
        },
    )?;
    if new {
        out.made.push(vol.name.clone());
    }
    let (source, tmpfs) = match vol.kind()? {
        Kind::Plain => (vol.mountpoint.clone(), None),
        Kind::Tmpfs { options } => (vol.mountpoint.clone(), Some(options)),
        Kind::Bind { device } => {
            if !device.is_dir() {
                bail!(
                    "volume {}: its device {} is not a directory",
                    vol.name,
                    escape_control(&device.display().to_string())
                );
            }
            (device, None)
        }
    };
    Ok(MountRequest::Volume {
        name: vol.name,
        source,
        target: v.target.clone(),
        readonly: v.readonly,
        fill: !v.nocopy && tmpfs.is_none(),
        tmpfs,
    })
}

fn normalize(target: &str) -> String {
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// Remove volumes made for a container that was not made.
pub fn undo(root: &Path, made: &[String]) {
    if made.is_empty() {
        return;
    }
    let Ok(_lock) = volume::lock(root) else {
        return;
    };
    for name in made {
        let _ = volume::remove_unlocked(root, name, &|p| remove_tree(p));
    }
}

/// The volume names a container mounts.
pub fn names_of(rec: &Record) -> impl Iterator<Item = &str> {
    rec.config.mounts.iter().filter_map(|m| match m {
        MountRequest::Volume { name, .. } => Some(name.as_str()),
        _ => None,
    })
}

/// The ids of the containers that mount `name`.
pub fn users_of(records: &[Record], name: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| names_of(r).any(|n| n == name))
        .map(|r| r.id.clone())
        .collect()
}

/// Delete a tree that may hold files of subordinate ids (through a helper
/// in a user namespace when needed; directly when we are root there).
pub fn remove_tree(p: &Path) -> anyhow::Result<()> {
    crate::image::remove_owned_tree(&crate::image::OwnerMode::detect(), p)
}

/// Docker's refusal to remove a volume in use (exit 1).
fn in_use(name: &str, users: &[String]) -> anyhow::Error {
    crate::error::Coded::new(
        1,
        format!(
            "remove {}: volume is in use - [{}]",
            escape_control(name),
            users.join(", ")
        ),
    )
    .into()
}

/// `volume rm`: refused while any container (running or not) mounts it.
pub fn remove(root: &Path, name: &str) -> anyhow::Result<()> {
    let _lock = volume::lock(root)?;
    if volume::get(root, name)?.is_none() {
        return Err(volume::no_such_volume(name));
    }
    let users = users_of(&record::all(root), name);
    if !users.is_empty() {
        return Err(in_use(name, &users));
    }
    volume::remove_unlocked(root, name, &|p| remove_tree(p))
}

/// The anonymous volumes of a container that is being removed, unless
/// another container mounts them too (`--volumes-from`): `rm -v`, `--rm`.
pub fn remove_anonymous_of(root: &Path, rec: &Record) -> anyhow::Result<()> {
    let names: Vec<String> = names_of(rec).map(String::from).collect();
    if names.is_empty() {
        return Ok(());
    }
    let _lock = volume::lock(root)?;
    let others: Vec<Record> = record::all(root)
        .into_iter()
        .filter(|r| r.id != rec.id)
        .collect();
    for name in names {
        let anonymous = volume::get(root, &name)?.is_some_and(|v| v.anonymous());
        if anonymous && users_of(&others, &name).is_empty() {
            volume::remove_unlocked(root, &name, &|p| remove_tree(p))?;
        }
    }
    Ok(())
}

/// Volumes no container mounts, for `prune`; `all` adds named ones.
pub fn unused(root: &Path, all: bool) -> Vec<volume::Volume> {
    let records = record::all(root);
    volume::list(root)
        .into_iter()
        .filter(|v| all || v.anonymous())
        .filter(|v| users_of(&records, &v.name).is_empty())
        .collect()
}

/// `volume prune`, `system prune --volumes`: remove the unused volumes
/// (re-checked under the lock); returns their names and bytes freed.
pub fn prune(root: &Path, all: bool) -> anyhow::Result<(Vec<String>, u64)> {
    let _lock = volume::lock(root)?;
    let mut names = Vec::new();
    let mut freed = 0;
    for v in unused(root, all) {
        let size = volume::size(&v);
        volume::remove_unlocked(root, &v.name, &|p| remove_tree(p))?;
        freed += size;
        names.push(v.name);
    }
    Ok((names, freed))
}

/// `inspect`'s Mounts array, as Docker shapes it.
pub fn inspect_mounts(rec: &Record) -> serde_json::Value {
    let mounts: Vec<serde_json::Value> = rec
        .config
        .mounts
        .iter()
        .map(|m| match m {
            MountRequest::Bind {
                source,
                target,
                readonly,
            } => serde_json::json!({
                "Type": "bind",
                "Source": source,
                "Destination": target,
                "Mode": if *readonly { "ro" } else { "" },
                "RW": !readonly,
                "Propagation": "rprivate",
            }),
            MountRequest::Volume {
                name,
                source,
                target,
                readonly,
                ..
            } => serde_json::json!({
                "Type": "volume",
                "Name": name,
                "Source": source,
                "Destination": target,
                "Driver": "local",
                "Mode": if *readonly { "ro" } else { "z" },
                "RW": !readonly,
                "Propagation": "",
            }),
            MountRequest::Tmpfs { target, .. } => serde_json::json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": target,
                "Mode": "",
                "RW": true,
                "Propagation": "",
            }),
        })
        .collect();
    serde_json::Value::Array(mounts)
}

/// `ps`'s Mounts column: volume names, else bind sources (Docker's
/// ellipsis at 15 characters unless `--no-trunc`), and how many of them
/// are volumes (LocalVolumes).
pub fn ps_mounts(rec: &Record, trunc: bool) -> (String, usize) {
    let mut names = Vec::new();
    let mut volumes = 0;
    for m in &rec.config.mounts {
        let name = match m {
            MountRequest::Volume { name, .. } => {
                volumes += 1;
                name.clone()
            }
            MountRequest::Bind { source, .. } => source.display().to_string(),
            MountRequest::Tmpfs { .. } => continue,
        };
        let name = if trunc && name.chars().count() > 15 {
            name.chars().take(14).collect::<String>() + "…"
        } else {
            name
        };
        names.push(escape_control(&name));
    }
    (names.join(","), volumes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::mounts::parse_volume;

    fn specs(v: &[&str]) -> Vec<MountSpec> {
        v.iter().map(|s| parse_volume(s).unwrap()).collect()
    }

    #[test]
    fn flags_win_over_volumes_from_and_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut src = record::test_record("abc", "src");
        src.config.mounts = vec![
            MountRequest::Bind {
                source: "/host".into(),
                target: "/data".into(),
                readonly: false,
            },
            MountRequest::Bind {
                source: "/host2".into(),
                target: "/shared".into(),
                readonly: false,
            },
            MountRequest::Tmpfs {
                target: "/tmpfs".into(),
                options: String::new(),
            },
        ];
        record::create(root, &src).unwrap();
        let from = [VolumesFrom::parse("src:ro").unwrap()];
        let image = [
            "/data".to_string(),
            "/img".to_string(),
            "/shared".to_string(),
        ];
        let r = resolve(root, specs(&["named:/data"]), &from, &image).unwrap();
        let targets: Vec<(&str, &str)> = r
            .mounts
            .iter()
            .map(|m| match m {
                MountRequest::Volume { name, target, .. } if name == "named" => {
                    ("named", &**target)
                }
                MountRequest::Volume { target, .. } => ("anonymous", target.as_str()),
                MountRequest::Bind { target, .. } => ("bind", target.as_str()),
                MountRequest::Tmpfs { target, .. } => ("tmpfs", target.as_str()),
            })
            .collect();
        assert_eq!(
            targets,
            [
                ("named", "/data"),
                ("bind", "/shared"),
                ("anonymous", "/img")
            ]
        );
        assert!(matches!(
            &r.mounts[1],
            MountRequest::Bind { readonly: true, .. }
        ));
        assert_eq!(r.made.len(), 2);
        let anon = volume::get(root, &r.made[1]).unwrap().unwrap();
        assert!(anon.anonymous());
        // Undo takes back exactly what was made.
        undo(root, &r.made);
        assert!(volume::list(root).is_empty());
    }

    #[test]
    fn an_error_makes_no_volume() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let e = resolve(root, specs(&["a1:/x", "/x"]), &[], &[]).unwrap_err();
        assert!(format!("{e:#}").contains("duplicate mount point"), "{e:#}");
        let from = [VolumesFrom::parse("gone").unwrap()];
        let e = resolve(root, specs(&["a1:/x"]), &from, &[]).unwrap_err();
        assert!(format!("{e:#}").contains("no such container"), "{e:#}");
        // A bad image VOLUME path after a good volume: the good one goes too.
        let e = resolve(root, specs(&["a1:/x"]), &[], &["rel".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("not absolute"), "{e:#}");
        assert!(volume::list(root).is_empty());
        assert!(VolumesFrom::parse("c:bogus").is_err());
    }
}
