//! A container's record: `containers/<id>/config.json`, replaced
//! atomically (temp file + rename), with creation and name checks under
//! an flock on `containers/.lock`. Kept small on purpose; `ps`, `rm` and
//! friends extend it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

// The launcher's types a record keeps, named here for the record's readers.
pub use crate::sandbox::confine::SecurityOpts;
pub use crate::sandbox::{MountRequest, Network, ProcessSpec};

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
    /// `--dns*`, `--add-host` (none in older records).
    #[serde(default)]
    pub net: crate::net::Options,
    /// The user networks it is on (`--network NAME`, `network connect`).
    #[serde(default)]
    pub networks: Vec<crate::net::user::Attachment>,
    /// Remove the container when it exits.
    pub auto_remove: bool,
    /// Run under the tiny init (the command is not an init itself).
    pub init: bool,
    /// `--privileged`, `--cap-add`, `--cap-drop`, `--security-opt`.
    #[serde(default)]
    pub security: SecurityOpts,
    /// The root's driver, fixed at create (`auto` resolved then).
    #[serde(default)]
    pub storage_driver: crate::rootfs::driver::Driver,
    /// `--link`s, in order (the k-th has the k-th link address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<crate::net::link::Link>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Ended; its supervisor starts it again after a delay (`--restart`).
    Restarting,
    Exited,
}

/// A process we may signal later, named by pid and start time (field 22
/// of /proc/PID/stat) so a reused pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: i32,
    pub start: u64,
}

impl ProcRef {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: i32) -> Option<ProcRef> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parens: fields follow the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let start = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(ProcRef { pid, start })
    }

    /// Whether this very process still runs (a zombie counts as gone).
    pub fn alive(&self) -> bool {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let mut f = rest.split_whitespace();
        let state = f.next();
        let start = f.nth(18).and_then(|s| s.parse::<u64>().ok());
        state != Some("Z") && start == Some(self.start)
    }

    /// Wait until this process is gone (as `alive` says), at most
    /// `timeout` (`None`: for ever); false when it still runs then. A
    /// pidfd wakes us at its end; without one (a kernel before 5.3) we
    /// look every 25 ms.
    pub fn wait_gone(&self, timeout: Option<std::time::Duration>) -> bool {
        use std::time::{Duration, Instant};
        let deadline = timeout.map(|t| Instant::now() + t);
        // Opened before the check: the pid cannot be reused under the fd.
        let pidfd = crate::sys::pidfd_open(self.pid).ok();
        loop {
            if !self.alive() {
                return true;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            let most = if pidfd.is_some() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(25)
            };
            let nap = left.map_or(most, |l| l.min(most));
            match &pidfd {
                Some(fd) => {
                    use std::os::fd::AsFd;
                    let ms = u16::try_from(nap.as_millis().max(1)).unwrap_or(u16::MAX);
                    let mut fds = [nix::poll::PollFd::new(
                        fd.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
                }
                None => std::thread::sleep(nap),
            }
        }
    }
}

/// Settings kept beside the run config (all optional in older records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extras {
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--log-opt max-size` in bytes and `max-file`.
    #[serde(default)]
    pub log_max_size: Option<u64>,
    #[serde(default)]
    pub log_max_file: Option<u32>,
    /// The image's STOPSIGNAL.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--restart`, applied by the detached supervisor while it lives.
    #[serde(default)]
    pub restart: super::restart::RestartPolicy,
    /// `--pids-limit`, `--memory`, `--cpus`.
    #[serde(default)]
    pub limits: super::limits::Limits,
    /// The health check: the image's `HEALTHCHECK` under `--health-*`
    /// (merged at create; `None` or a `NONE` test: no check).
    #[serde(default)]
    pub health: Option<super::health::HealthConfig>,
    /// `-p`, `-P`, EXPOSE and `--expose`, and what the last start bound.
    #[serde(default)]
    pub ports: crate::net::publish::PortConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// The image as the user named it, and its id.
    pub image: String,
    pub image_id: String,
    /// Unix seconds, and the nanoseconds within (to order containers
    /// made in one second).
    pub created: u64,
    #[serde(default)]
    pub created_nanos: u32,
    pub status: Status,
    #[serde(default)]
    pub exit_code: Option<i32>,
    pub config: RunConfig,
    /// Unix seconds of the last start and exit.
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// The process that writes the exit into this record: the detached
    /// supervisor, or the foreground `burrow` itself.
    #[serde(default)]
    pub monitor: Option<ProcRef>,
    /// The container's init (pid 1 inside), when known.
    #[serde(default)]
    pub init: Option<ProcRef>,
    /// Whether the monitor is a detached supervisor.
    #[serde(default)]
    pub detached: bool,
    #[serde(default)]
    pub extras: Extras,
    /// Restarts by the policy since the last start by the user.
    #[serde(default)]
    pub restart_count: u32,
    /// `stop` or `kill` by the user: the policy restarts it no more.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Stopped to be removed (`rm -f`, `compose down`): its root need not
    /// be flushed to disk before the stop is done.
    #[serde(default)]
    pub removing: bool,
    /// The container's own cgroup (for pause and stats), when placed.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
    /// Set at start when the `-p` bypass may hand the container sockets
    /// of the host's network namespace: that namespace's cookie, whose
    /// sockets an `exec`'d process may not connect (`sandbox::enter`).
    #[serde(default)]
    pub bypass_netns: Option<u64>,
}

/// The containers dir of a store root.
pub fn containers_dir(root: &Path) -> PathBuf {
    root.join("containers")
}

/// `containers/<id>`. Ids come from records (checked by `read`) or from
/// `new_id`; should a bad one still arrive, it maps to a dot-name that no
/// container has, never to `..` or a path with `/`.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    if !is_valid_id(id) {
        debug_assert!(false, "bad container id {id:?}");
        return containers_dir(root).join(".bad-id");
    }
    containers_dir(root).join(id)
}

/// 1 to 64 lowercase hex digits (ours are 64): always one plain path
/// component, never `.`, `..` or a name with `/`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

pub use crate::random_id::new_id;

fn lock(root: &Path) -> anyhow::Result<Flock<fs::File>> {
    crate::fsutil::lock_store(&containers_dir(root), "container store", LOCK_WAIT)
}

/// How long a writer waits for the store's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Read, change and write a container's record under the lock. Fails
/// when the container is gone.
pub fn update(root: &Path, id: &str, change: impl FnOnce(&mut Record)) -> anyhow::Result<Record> {
    let _lock = lock(root)?;
    let dir = container_dir(root, id);
    let mut rec = read(&dir)?;
    change(&mut rec);
    write(&dir, &rec)?;
    Ok(rec)
}

/// Move a container's dir out of `containers/` under the lock, so no
/// later command finds it; returns where it went, or `None` when someone
/// else removed it first.
pub fn take_out(root: &Path, id: &str) -> anyhow::Result<Option<PathBuf>> {
    let _lock = lock(root)?;
    let dir = container_dir(root, id);
    let trash = containers_dir(root).join(format!("{}{id}", crate::sandbox::TRASH_PREFIX));
    match fs::rename(&dir, &trash) {
        Ok(()) => Ok(Some(trash)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("move {} aside", dir.display())),
    }
}

/// Change a container's name under the lock, refusing a taken one.
pub fn rename(root: &Path, id: &str, name: &str) -> anyhow::Result<()> {
    let _lock = lock(root)?;
    if all(root).iter().any(|r| r.name == name && r.id != id) {
        bail!("the container name {name:?} is already in use");
    }
    let dir = container_dir(root, id);
    let mut rec = read(&dir)?;
    rec.name = name.to_string();
    write(&dir, &rec)
}

/// Write `record` to `dir/config.json` atomically. The fsync (tens of ms
/// on a busy disk) is skipped for a `--rm` container, whose record never
/// outlives the command, and for one being removed.
pub fn write(dir: &Path, record: &Record) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(record)?;
    let durable = !record.config.auto_remove && !record.removing;
    crate::fsutil::write_atomic(&dir.join("config.json"), &body, durable)
        .context("replace the container record")
}

/// Read a record; its id must be valid and the name of its dir, since
/// every later path for the container is built from it.
pub fn read(dir: &Path) -> anyhow::Result<Record> {
    let p = dir.join("config.json");
    let data = fs::read(&p).with_context(|| format!("read {}", p.display()))?;
    let rec: Record =
        serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))?;
    let dir_name = dir.file_name().and_then(|n| n.to_str());
    if !is_valid_id(&rec.id) || dir_name != Some(rec.id.as_str()) {
        bail!(
            "{} holds a record whose id {:?} is not its dir's name",
            p.display(),
            crate::text::escape_control(&rec.id)
        );
    }
    Ok(rec)
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
    if !is_valid_id(&record.id) {
        bail!("bad container id {:?}", record.id);
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

/// A minimal record for unit tests.
/// Seconds since the epoch, as the records keep their times.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) fn test_record(id: &str, name: &str) -> Record {
    tests::record(id, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn record(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "img".into(),
            image_id: "sha256:x".into(),
            created: 1,
            created_nanos: 0,
            status: Status::Created,
            exit_code: None,
            started_at: None,
            finished_at: None,
            monitor: None,
            init: None,
            detached: false,
            extras: Extras::default(),
            restart_count: 0,
            manually_stopped: false,
            removing: false,
            cgroup: None,
            bypass_netns: None,
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
                net: Default::default(),
                networks: vec![],
                auto_remove: false,
                init: true,
                security: Default::default(),
                storage_driver: Default::default(),
                links: vec![],
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

    #[test]
    fn a_record_whose_id_could_name_another_path_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        create(root, &record("abc", "ok")).unwrap();
        for bad in ["..", "../x", "", "ABC", "abc"] {
            let d = containers_dir(root).join("f00");
            fs::create_dir_all(&d).unwrap();
            let r = record(bad, "evil");
            fs::write(d.join("config.json"), serde_json::to_vec(&r).unwrap()).unwrap();
            assert!(read(&d).is_err(), "{bad:?}");
            let names: Vec<String> = all(root).into_iter().map(|r| r.name).collect();
            assert_eq!(names, ["ok"], "{bad:?}");
        }
        assert!(create(root, &record("..", "x")).is_err());
        assert!(!is_valid_id(&"a".repeat(65)));
    }
}
