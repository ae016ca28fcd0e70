//! A container's record: `containers/<id>/config.json`, replaced
//! atomically (temp file + rename), with creation and name checks under
//! an flock on `containers/.lock`. Kept small on purpose; `ps`, `rm` and
//! friends extend it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::sandbox::{MountRequest, Network, ProcessSpec};

/// What `create` decided and `start` runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Overlay lower dirs, top-most first.
    pub lower_dirs: Vec<PathBuf>,
    pub process: ProcessSpec,
    pub hostname: String,
    pub mounts: Vec<MountRequest>,
    pub read_only: bool,
    pub network: Network,
    /// Remove the container when it exits.
    pub auto_remove: bool,
    /// Run under the tiny init (the command is not an init itself).
    pub init: bool,
    /// `--privileged`, `--cap-add`, `--cap-drop`, `--security-opt`.
    #[serde(default)]
    pub security: crate::sandbox::confine::SecurityOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// The image as the user named it, and its id.
    pub image: String,
    pub image_id: String,
    /// Unix seconds.
    pub created: u64,
    pub status: Status,
    #[serde(default)]
    pub exit_code: Option<i32>,
    pub config: RunConfig,
}

/// The containers dir of a store root.
pub fn containers_dir(root: &Path) -> PathBuf {
    root.join("containers")
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    containers_dir(root).join(id)
}

/// 64 random hex digits.
pub fn new_id() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn lock(root: &Path) -> anyhow::Result<Flock<fs::File>> {
    let dir = containers_dir(root);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .context("open the containers lock")?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .context("lock the containers dir")
}

/// Write `record` to `dir/config.json` atomically. The fsync (tens of ms
/// on a busy disk) is skipped for a `--rm` container, whose record never
/// outlives the command.
pub fn write(dir: &Path, record: &Record) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(record)?)?;
    if !record.config.auto_remove {
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join("config.json")).context("replace the container record")?;
    Ok(())
}

pub fn read(dir: &Path) -> anyhow::Result<Record> {
    let p = dir.join("config.json");
    let data = fs::read(&p).with_context(|| format!("read {}", p.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))
}

/// Every record that can be read (half-made dirs without one are skipped).
pub fn all(root: &Path) -> Vec<Record> {
    let Ok(entries) = fs::read_dir(containers_dir(root)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        // Dot-names are containers being deleted (`.trash-*`).
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| read(&e.path()).ok())
        .collect()
}

/// Make the container's dir and first record, refusing a name in use.
/// Returns the dir.
pub fn create(root: &Path, record: &Record) -> anyhow::Result<PathBuf> {
    let _lock = lock(root)?;
    if all(root).iter().any(|r| r.name == record.name) {
        bail!(
            "the container name {:?} is already in use (remove that container or pick another name)",
            record.name
        );
    }
    let dir = container_dir(root, &record.id);
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    write(&dir, record)?;
    Ok(dir)
}

/// Find a container by full id, name, or unique id prefix.
pub fn find(root: &Path, wanted: &str) -> anyhow::Result<Record> {
    let records = all(root);
    if let Some(r) = records.iter().find(|r| r.id == wanted || r.name == wanted) {
        return Ok(r.clone());
    }
    let matches: Vec<&Record> = records
        .iter()
        .filter(|r| !wanted.is_empty() && r.id.starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no such container: {}", crate::text::escape_control(wanted)),
        _ => bail!(
            "container id prefix {} is ambiguous ({} matches)",
            crate::text::escape_control(wanted),
            matches.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "img".into(),
            image_id: "sha256:x".into(),
            created: 1,
            status: Status::Created,
            exit_code: None,
            config: RunConfig {
                lower_dirs: vec![],
                process: ProcessSpec {
                    args: vec!["true".into()],
                    env: vec![],
                    cwd: "/".into(),
                    uid: 0,
                    gid: 0,
                    additional_gids: vec![],
                    tty: false,
                    stdin: false,
                },
                hostname: "h".into(),
                mounts: vec![],
                read_only: false,
                network: Network::None,
                auto_remove: false,
                init: true,
                security: Default::default(),
            },
        }
    }

    #[test]
    fn create_find_and_refuse_a_taken_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        create(root, &record("abc123", "one")).unwrap();
        create(root, &record("abd456", "two")).unwrap();
        assert_eq!(find(root, "one").unwrap().id, "abc123");
        assert_eq!(find(root, "abd").unwrap().name, "two");
        assert!(format!("{:#}", find(root, "ab").unwrap_err()).contains("ambiguous"));
        assert!(format!("{:#}", find(root, "zz").unwrap_err()).contains("no such container"));
        let e = create(root, &record("fff", "one")).unwrap_err();
        assert!(format!("{e:#}").contains("already in use"));
        assert!(!container_dir(root, "fff").exists());
    }

    #[test]
    fn write_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let d = create(dir.path(), &record("a1", "n")).unwrap();
        let mut r = read(&d).unwrap();
        r.status = Status::Exited;
        r.exit_code = Some(3);
        write(&d, &r).unwrap();
        assert_eq!(read(&d).unwrap().exit_code, Some(3));
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);
        assert_eq!(new_id().unwrap().len(), 64);
    }
}
