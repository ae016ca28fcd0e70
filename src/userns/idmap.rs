//! Id maps for the user namespace.
//!
//! With a subordinate id range (/etc/subuid, /etc/subgid) the setuid helpers
//! newuidmap/newgidmap map the user to root and the range to ids 1..N.
//! Without one, only the user's own id can be mapped (to root), and the
//! other ids of an image are not representable.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use nix::unistd::Pid;

/// How many ids a container gets beyond root, as Podman and Docker give.
pub const RANGE_SIZE: u32 = 65536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMapMode {
    /// root = the user, 1..=count = the subordinate ranges.
    SubIds { uid: SubIdRange, gid: SubIdRange },
    /// root = the user; nothing else mapped.
    Single,
}

/// The mode in force and, for `Single`, why the range could not be used
/// and what the user can do about it.
#[derive(Debug, Clone)]
pub struct IdMapChoice {
    pub mode: IdMapMode,
    pub why_single: Option<String>,
}

/// The user whose ids are mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl HostUser {
    /// Looked up once per process: a start asks several times.
    pub fn current() -> Self {
        static CURRENT: std::sync::OnceLock<HostUser> = std::sync::OnceLock::new();
        CURRENT.get_or_init(Self::look_up).clone()
    }

    fn look_up() -> Self {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| uid.to_string());
        HostUser {
            name,
            uid: uid.as_raw(),
            gid: gid.as_raw(),
        }
    }
}

/// Find the user's range in a subuid/subgid file (`name:start:count` or
/// `uid:start:count`); the first matching line wins, as shadow-utils does.
pub fn find_range(content: &str, user: &HostUser) -> Option<SubIdRange> {
    let uid = user.uid.to_string();
    content.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        let start = parts.next()?.parse().ok()?;
        let count: u32 = parts.next()?.parse().ok()?;
        (count > 0 && (who == user.name || who == uid)).then_some(SubIdRange { start, count })
    })
}

/// The first block of 65536 ids that no line of these subuid/subgid files
/// touches, as `START-END` for usermod: it begins at 100000 (shadow-utils'
/// SUB_UID_MIN) or after the highest range given to anyone, so the
/// suggested fix never overlaps another user's ids.
pub fn first_free_range(files: &[&str]) -> String {
    const COUNT: u64 = 65536;
    let start = files
        .iter()
        .flat_map(|c| c.lines())
        .filter_map(|line| {
            let mut parts = line.trim().split(':').skip(1);
            let start: u64 = parts.next()?.parse().ok()?;
            let count: u64 = parts.next()?.parse().ok()?;
            Some(start + count)
        })
        .fold(100_000, u64::max);
    format!("{start}-{}", start + COUNT - 1)
}

/// Where the helpers are looked up: PATH first, then the usual places.
pub fn helper(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(["/usr/bin", "/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Choose the mode for `user` from the files and helpers on this machine.
/// Whether the helpers really work is proven by `probe::idmap`.
pub fn choose(user: &HostUser) -> IdMapChoice {
    // Once per process for the usual user: a start asks several times.
    static CHOSEN: std::sync::OnceLock<(HostUser, IdMapChoice)> = std::sync::OnceLock::new();
    match CHOSEN.get() {
        Some((u, c)) if u == user => c.clone(),
        _ => {
            let c = choose_from(user, Path::new("/etc/subuid"), Path::new("/etc/subgid"));
            let _ = CHOSEN.set((user.clone(), c.clone()));
            c
        }
    }
}

pub fn choose_from(user: &HostUser, subuid: &Path, subgid: &Path) -> IdMapChoice {
    let single = |why: String| IdMapChoice {
        mode: IdMapMode::Single,
        why_single: Some(why),
    };
    let subuid_text = fs::read_to_string(subuid).unwrap_or_default();
    let subgid_text = fs::read_to_string(subgid).unwrap_or_default();
    let free = first_free_range(&[&subuid_text, &subgid_text]);
    let admin_fix = format!(
        "ask an admin to run: usermod --add-subuids {free} --add-subgids {free} {}",
        user.name
    );
    let uid = find_range(&subuid_text, user);
    let gid = find_range(&subgid_text, user);
    let (uid, gid) = match (uid, gid) {
        (Some(u), Some(g)) => (u, g),
        (None, _) => {
            return single(format!(
                "no entry for {} in {} (usual for LDAP/AD accounts); {admin_fix}",
                user.name,
                subuid.display()
            ))
        }
        (_, None) => {
            return single(format!(
                "no entry for {} in {}; {admin_fix}",
                user.name,
                subgid.display()
            ))
        }
    };
    if helper("newuidmap").is_none() || helper("newgidmap").is_none() {
        return single(
            "newuidmap/newgidmap are not installed; ask an admin to install the uidmap package"
                .into(),
        );
    }
    let clamp = |r: SubIdRange| SubIdRange {
        start: r.start,
        count: r.count.min(RANGE_SIZE),
    };
    IdMapChoice {
        mode: IdMapMode::SubIds {
            uid: clamp(uid),
            gid: clamp(gid),
        },
        why_single: None,
    }
}

/// Write the id maps of `pid`, a process that has just unshared its user
/// namespace. Called from the parent user namespace.
pub fn apply(pid: Pid, mode: &IdMapMode, user: &HostUser) -> anyhow::Result<()> {
    start(pid, mode, user)?.finish()
}

/// newuidmap and newgidmap at work on a namespace's maps.
pub struct Helpers {
    running: Vec<(&'static str, std::process::Child)>,
}

impl Helpers {
    /// Wait for them; the first failure is the error.
    pub fn finish(self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for (name, child) in self.running {
            let r = finish_helper(name, child);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Begin writing the id maps of `pid` (see `apply`): in subuid mode the
/// two setuid helpers are left running, for `Helpers::finish`.
pub fn start(pid: Pid, mode: &IdMapMode, user: &HostUser) -> anyhow::Result<Helpers> {
    let mut helpers = Helpers {
        running: Vec::new(),
    };
    match mode {
        IdMapMode::SubIds { uid, gid } => {
            // Both at once: each is a setuid exec, the slowest step of a
            // container's start.
            let u = spawn_helper("newuidmap", pid, user.uid, uid)?;
            helpers.running.push(("newuidmap", u));
            match spawn_helper("newgidmap", pid, user.gid, gid) {
                Ok(g) => helpers.running.push(("newgidmap", g)),
                Err(e) => {
                    let _ = helpers.finish();
                    return Err(e);
                }
            }
        }
        IdMapMode::Single => {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            // An unprivileged writer must deny setgroups before gid_map.
            write_map(&proc.join("setgroups"), "deny")?;
            write_map(&proc.join("uid_map"), &format!("0 {} 1", user.uid))?;
            write_map(&proc.join("gid_map"), &format!("0 {} 1", user.gid))?;
        }
    }
    Ok(helpers)
}

/// The (inside, outside, count) lines a container's uid and gid maps get
/// in `mode`.
fn expected_maps(mode: &IdMapMode, user: &HostUser) -> [Vec<(u32, u32, u32)>; 2] {
    match mode {
        IdMapMode::Single => [vec![(0, user.uid, 1)], vec![(0, user.gid, 1)]],
        IdMapMode::SubIds { uid, gid } => [
            vec![(0, user.uid, 1), (1, uid.start, uid.count)],
            vec![(0, user.gid, 1), (1, gid.start, gid.count)],
        ],
    }
}

/// Parse /proc/PID/uid_map (or gid_map): one "inside outside count" a line.
fn parse_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let n: Vec<u32> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (n.len() == 3).then(|| (n[0], n[1], n[2]))
        })
        .collect()
}

/// Whether process `pid`'s user namespace maps ids as a container gets
/// them in `mode` (`--network container:` runs in the other's).
pub fn maps_match(pid: i32, mode: &IdMapMode, user: &HostUser) -> bool {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).map(|t| parse_map(&t));
    let [uids, gids] = expected_maps(mode, user);
    read("uid_map").is_ok_and(|m| m == uids) && read("gid_map").is_ok_and(|m| m == gids)
}

/// Map the user's uid and gid to themselves, nothing else (`burrow
/// sandbox`: the command sees its own ids, not root).
pub fn apply_identity(pid: Pid, user: &HostUser) -> anyhow::Result<()> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    write_map(&proc.join("setgroups"), "deny")?;
    write_map(&proc.join("uid_map"), &format!("{0} {0} 1", user.uid))?;
    write_map(&proc.join("gid_map"), &format!("{0} {0} 1", user.gid))?;
    Ok(())
}

fn write_map(path: &Path, content: &str) -> anyhow::Result<()> {
    fs::write(path, content).with_context(|| format!("write {}", path.display()))
}

fn spawn_helper(
    name: &str,
    pid: Pid,
    own: u32,
    range: &SubIdRange,
) -> anyhow::Result<std::process::Child> {
    let path = helper(name).with_context(|| format!("{name} not found; install uidmap"))?;
    Command::new(&path)
        .arg(pid.to_string())
        .args(["0", &own.to_string(), "1"])
        .args(["1", &range.start.to_string(), &range.count.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("run {}", path.display()))
}

fn finish_helper(name: &str, child: std::process::Child) -> anyhow::Result<()> {
    let out = child
        .wait_with_output()
        .with_context(|| format!("wait for {name}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        bail!("{name} failed: {}", msg.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> HostUser {
        HostUser {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
        }
    }

    #[test]
    fn proc_maps_are_compared_line_by_line() {
        let sub = IdMapMode::SubIds {
            uid: SubIdRange {
                start: 100000,
                count: 65536,
            },
            gid: SubIdRange {
                start: 200000,
                count: 65536,
            },
        };
        let text = "         0       1000          1\n         1     100000      65536\n";
        let [uids, gids] = expected_maps(&sub, &alice());
        assert_eq!(parse_map(text), uids);
        assert_ne!(parse_map(text), gids);
        let [single, _] = expected_maps(&IdMapMode::Single, &alice());
        assert_eq!(parse_map("0 1000 1\n"), single);
    }

    #[test]
    fn finds_range_by_name_or_uid() {
        let r = find_range("bob:1:2\nalice:100000:65536\n", &alice());
        assert_eq!(
            r,
            Some(SubIdRange {
                start: 100000,
                count: 65536
            })
        );
        let r = find_range("1000:200000:10\n", &alice());
        assert_eq!(r.unwrap().start, 200000);
        assert_eq!(find_range("alicex:1:2\nbad line\n", &alice()), None);
    }

    #[test]
    fn no_entry_means_single_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("subuid");
        fs::write(&f, "bob:100000:65536\n").unwrap();
        let c = choose_from(&alice(), &f, &f);
        assert_eq!(c.mode, IdMapMode::Single);
        let why = c.why_single.unwrap();
        assert!(why.contains("no entry for alice"), "{why}");
        assert!(why.contains("usermod --add-subuids"), "{why}");
        // bob holds 100000-165535: the fix must not hand those out again.
        assert!(
            why.contains("--add-subuids 165536-231071 --add-subgids 165536-231071 alice"),
            "{why}"
        );
    }

    #[test]
    fn the_suggested_range_follows_every_range_of_both_files() {
        assert_eq!(first_free_range(&["", ""]), "100000-165535");
        assert_eq!(
            first_free_range(&["a:100000:65536\nb:300000:10\n", "c:500000:65536\n# x\n"]),
            "565536-631071"
        );
        // Lines below 100000 do not pull the start down.
        assert_eq!(first_free_range(&["a:1000:10\n"]), "100000-165535");
    }
}
