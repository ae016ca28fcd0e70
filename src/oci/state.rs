//! The runtime's state: one dir per container under the state root
//! (`--root`; default `$XDG_RUNTIME_DIR/burrow-runc`, else
//! `/run/burrow-runc` for root, else `/tmp/burrow-runc-UID`), holding
//! `state.json` and, until `start`, the exec fifo. The status is read
//! from the init's /proc entry each time, never stored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The runtime-spec's version burrow follows.
pub const OCI_VERSION: &str = "1.0.2";

/// The state root.
pub fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("burrow-runc"),
        None if nix::unistd::geteuid().is_root() => PathBuf::from("/run/burrow-runc"),
        None => PathBuf::from(format!("/tmp/burrow-runc-{}", nix::unistd::geteuid())),
    }
}

/// What `create` keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/PID/stat when created: a reused pid differs.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// config.json had no `process`: `start` must fail (runtime-spec).
    #[serde(default)]
    pub no_process: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// The state root and the containers in it.
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: Option<PathBuf>) -> Store {
        Store {
            root: root.unwrap_or_else(default_root),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Make a new container's dir and its exec fifo; an existing id is an
    /// error.
    pub fn begin(&self, id: &str) -> anyhow::Result<PathBuf> {
        check_id(id)?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("create the state root {}", self.root.display()))?;
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container {id} already exists")
            }
            Err(e) => return Err(e).with_context(|| format!("create {}", dir.display())),
        }
        nix::unistd::mkfifo(
            &self.fifo(id),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .context("make the exec fifo")?;
        Ok(dir)
    }

    pub fn save(&self, r: &Record) -> anyhow::Result<()> {
        let dir = self.dir(&r.id);
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(r)?).context("write state.json")?;
        std::fs::rename(&tmp, dir.join("state.json")).context("write state.json")?;
        Ok(())
    }

    pub fn load(&self, id: &str) -> anyhow::Result<Record> {
        check_id(id)?;
        let path = self.dir(id).join("state.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("container {id} does not exist")
            }
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// The container's status now.
    pub fn status(&self, r: &Record) -> Status {
        if !alive(r.pid, r.pid_start) {
            return Status::Stopped;
        }
        if self.fifo(&r.id).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Every container id, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("state.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }

    pub fn remove(&self, id: &str) -> anyhow::Result<()> {
        let dir = self.dir(id);
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))
    }
}

/// runc's rule for ids: letters, digits, `_+-.`, not `.` or `..`.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if !ok {
        bail!(
            "invalid container id {:?} (use letters, digits, '_', '+', '-', '.')",
            crate::text::escape_control(id)
        );
    }
    Ok(())
}

/// Field 22 (start time) of /proc/PID/stat, and its state letter.
fn stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time of `pid`, for the record.
pub fn start_time(pid: i32) -> u64 {
    stat(pid).map(|s| s.1).unwrap_or(0)
}

/// `pid` is the same process and has not ended (a zombie has).
pub fn alive(pid: i32, start: u64) -> bool {
    matches!(stat(pid), Some((state, s)) if s == start && state != 'Z' && state != 'X')
}

/// Pids in the same pid namespace as `pid` (itself included), where that
/// namespace is not ours; else just `pid`.
pub fn pids_in_container(pid: i32) -> Vec<i32> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let theirs = ns(&pid.to_string());
    if theirs.is_none() || theirs == ns("self") {
        return vec![pid];
    }
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(&p.to_string()) == theirs)
        .collect();
    out.sort();
    out
}

/// The runtime-spec's state of a container, as JSON.
pub fn state_json(r: &Record, status: Status) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": r.id,
        "status": status.as_str(),
        "pid": if status == Status::Stopped { 0 } else { r.pid },
        "bundle": r.bundle,
        "rootfs": r.rootfs,
        "created": r.created,
        "owner": "",
        "annotations": r.annotations,
    })
}

/// Now, as RFC 3339 (UTC, nanoseconds), as runc writes `created`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, day) = civil(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 as (year, month, day) (Howard Hinnant's method).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        for ok in ["abc", "a.b-c_d+1", "1"] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19723), (2024, 1, 1));
        assert_eq!(civil(11016), (2000, 2, 29));
    }

    #[test]
    fn our_own_process_is_alive_and_a_changed_start_is_not() {
        let me = std::process::id() as i32;
        let start = start_time(me);
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
        assert_eq!(pids_in_container(me), vec![me]);
    }
}
