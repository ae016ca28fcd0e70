//! Named and anonymous volumes: `volumes/<name>/volume.json` (what
//! `volume inspect` shows) and `volumes/<name>/_data` (what containers
//! mount), beside `containers/` and the image store. A volume dir is made
//! under a temp name and renamed into place, so it appears whole or not at
//! all. Which containers use a volume is read from their records
//! (`container::volumes`); this module knows nothing of containers.

pub mod options;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use crate::error::Coded;
use crate::text::escape_control;
pub use options::{Kind, Options};

/// Docker's mark on a volume nobody named (`-v /path`, an image's
/// `VOLUME`): `volume prune` removes only these unless `--all`.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What `volume.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339, seconds.
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's `-o` options, as given.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Where it lives (`volumes/<name>/_data`); filled in when read.
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// The options, parsed (they were checked when the volume was made).
    pub fn kind(&self) -> anyhow::Result<Kind> {
        Options::from_map(&self.options).map(|o| o.kind)
    }

    /// Docker's `volume inspect` object.
    pub fn inspect_json(&self) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": self.created_at,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": self.options,
            "Scope": "local",
        })
    }
}

/// `root/volumes`.
pub fn volumes_dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
/// Also what keeps a name one plain path component.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

pub fn check_name(name: &str) -> anyhow::Result<()> {
    if !valid_name(name) {
        bail!(
            "invalid volume name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two \
             characters (for a host directory, give an absolute path or start it with ./)",
            escape_control(name)
        );
    }
    Ok(())
}

/// Docker's error for a volume that is not there (exit 1).
pub fn no_such_volume(name: &str) -> anyhow::Error {
    Coded::new(1, format!("no such volume: {}", escape_control(name))).into()
}

/// The volume store's lock: creation, removal and the in-use check hold it.
pub fn lock(root: &Path) -> anyhow::Result<Flock<fs::File>> {
    // Bounded, as the container store's.
    crate::fsutil::lock_store(
        &volumes_dir(root),
        "volume store",
        std::time::Duration::from_secs(10),
    )
}

/// Read one volume; `None` when there is none of that name.
pub fn get(root: &Path, name: &str) -> anyhow::Result<Option<Volume>> {
    if !valid_name(name) {
        return Ok(None);
    }
    let dir = volumes_dir(root).join(name);
    let meta = dir.join("volume.json");
    let data = match fs::read(&meta) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", meta.display())),
    };
    let mut v: Volume =
        serde_json::from_slice(&data).with_context(|| format!("parse {}", meta.display()))?;
    if v.name != name {
        bail!("{} names another volume", meta.display());
    }
    v.mountpoint = dir.join("_data");
    Ok(Some(v))
}

/// Every volume, sorted by name (as `docker volume ls`).
pub fn list(root: &Path) -> Vec<Volume> {
    let Ok(entries) = fs::read_dir(volumes_dir(root)) else {
        return Vec::new();
    };
    let mut out: Vec<Volume> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| get(root, &n).ok().flatten())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What `create` makes.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// None: a random 64-hex name, marked anonymous.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// Make a volume; an existing one of that name is returned as it is (as
/// Docker's `volume create` does). The second value says whether it is new.
pub fn create(root: &Path, new: NewVolume) -> anyhow::Result<(Volume, bool)> {
    Options::from_map(&new.options)?;
    let mut labels = new.labels;
    let name = match new.name {
        Some(n) => {
            check_name(&n)?;
            n
        }
        None => {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
            crate::random_id::new_id()?
        }
    };
    let _lock = lock(root)?;
    if let Some(v) = get(root, &name)? {
        return Ok((v, false));
    }
    let dir = volumes_dir(root);
    sweep_temps(&dir);
    let tmp = dir.join(format!("{}{name}", crate::fsutil::tmp_prefix()));
    let v = Volume {
        name: name.clone(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        labels,
        options: new.options,
        mountpoint: dir.join(&name).join("_data"),
    };
    let made = (|| -> anyhow::Result<()> {
        fs::create_dir(&tmp)?;
        // Docker's _data is 0755 root-owned: containers may read it whatever
        // user they run as, and root inside may write.
        fs::create_dir(tmp.join("_data"))?;
        let body = serde_json::to_vec_pretty(&v)?;
        fs::write(tmp.join("volume.json"), body)?;
        fs::rename(&tmp, dir.join(&name))?;
        Ok(())
    })();
    if let Err(e) = made {
        let _ = crate::fsutil::remove_tree(&tmp);
        return Err(e).with_context(|| format!("create volume {name}"));
    }
    Ok((v, true))
}

/// Temp dirs of creators that died mid-way (their pid is gone).
fn sweep_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(crate::fsutil::TMP_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = crate::fsutil::remove_tree(&e.path());
        }
    }
}

/// Remove a volume's dir: moved out of the way first (so no later command
/// finds it half-deleted), then deleted with `remove` (which can delete
/// files of subordinate ids). The caller holds the lock and has checked
/// that no container uses it.
pub fn remove_unlocked(
    root: &Path,
    name: &str,
    remove: &dyn Fn(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if !valid_name(name) {
        return Err(no_such_volume(name));
    }
    let dir = volumes_dir(root).join(name);
    let trash = volumes_dir(root).join(format!("{}{name}", crate::fsutil::tmp_prefix()));
    match fs::rename(&dir, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_such_volume(name)),
        Err(e) => return Err(e).with_context(|| format!("remove volume {name}")),
    }
    remove(&trash).with_context(|| format!("remove volume {name}"))
}

/// Bytes of regular files under a volume's data (as `du --apparent-size`
/// of files counts them; what `system df` shows).
pub fn size(v: &Volume) -> u64 {
    du(&v.mountpoint)
}

/// Bytes of regular files under `dir`.
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "data", "a.b-c_d", "0x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a", "-ab", ".ab", "a/b", "..", "a b", "é1", "_x"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_is_whole_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (v, new) = create(
            root,
            NewVolume {
                name: Some("data".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(new && v.mountpoint.is_dir() && !v.anonymous());
        fs::write(v.mountpoint.join("f"), "hi").unwrap();
        let (again, new) = create(
            root,
            NewVolume {
                name: Some("data".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!new);
        assert_eq!(again.created_at, v.created_at);
        assert_eq!(size(&again), 2);
        // A bad name or bad options make nothing.
        assert!(create(
            root,
            NewVolume {
                name: Some("a/b".into()),
                ..Default::default()
            }
        )
        .is_err());
        let bad_opts = NewVolume {
            name: Some("opts".into()),
            options: [("bogus".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        assert!(create(root, bad_opts).is_err());
        let names: Vec<String> = fs::read_dir(volumes_dir(root))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n != ".lock")
            .collect();
        assert_eq!(names, ["data"]);
        let (anon, _) = create(root, NewVolume::default()).unwrap();
        assert!(anon.anonymous() && anon.name.len() == 64);
        assert_eq!(list(root).len(), 2);
        remove_unlocked(root, "data", &|p| Ok(crate::fsutil::remove_tree(p)?)).unwrap();
        assert!(get(root, "data").unwrap().is_none());
        let e = remove_unlocked(root, "data", &|_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("no such volume"), "{e:#}");
    }
}
