//! A container's own cgroup (v2), for `pause` (the core `cgroup.freeze`
//! file, there in every non-root v2 cgroup, with or without controllers)
//! and `stats`. It is made under the caller's own cgroup when that one is
//! delegated (writable by the user): `<ours>/burrow-<short id>`. Only the
//! container's init moves into it, so our own cgroup keeps its processes
//! and gains a child, which the v2 rules allow as long as it enables no
//! domain controllers (memory) for its children: it cannot while it holds
//! processes. The threaded ones (pids, cpu) it can, for `apply_limits`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::{access, AccessFlags};

use super::limits::{show_cpus, show_memory, Limits};

/// Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
/// in the hybrid layout), from /proc/self/mountinfo.
pub fn v2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        // Fields after " - " are: fstype source options.
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Our cgroup's path in the v2 hierarchy ("0::/user.slice/...").
pub fn own_path() -> Option<String> {
    let content = fs::read_to_string("/proc/self/cgroup").ok()?;
    content
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// Our own v2 cgroup dir when it is delegated to us; else why not, as a
/// clause that completes "not possible here: ...".
pub fn delegated_dir() -> Result<PathBuf, String> {
    let mount = v2_mount().ok_or("cgroup v2 is not mounted (only v1)")?;
    let own = own_path().ok_or("this process is in no cgroup v2")?;
    let dir = mount.join(own.trim_start_matches('/'));
    let writable = |p: &Path| access(p, AccessFlags::W_OK).is_ok();
    if own.trim_matches('/').is_empty() || !writable(&dir) || !writable(&dir.join("cgroup.procs")) {
        return Err(format!(
            "your cgroup {} is not delegated to you",
            dir.display()
        ));
    }
    Ok(dir)
}

/// What would make pause possible, for the error line.
pub const HOW_TO_DELEGATE: &str = "an admin can delegate one: Delegate=yes for systemd's \
     user@.service, or a cgroup v2 dir chowned to you with your shell in it";

/// Make the container's cgroup under ours, if ours is delegated.
pub fn make_for(id: &str) -> Option<PathBuf> {
    let dir = delegated_dir()
        .ok()?
        .join(format!("burrow-{}", &id[..12.min(id.len())]));
    match fs::create_dir(&dir) {
        Ok(()) => Some(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Some(dir),
        Err(_) => None,
    }
}

/// Whether the cgroup is frozen (or being frozen) by `pause`.
pub fn is_frozen(dir: Option<&Path>) -> bool {
    dir.and_then(|d| fs::read_to_string(d.join("cgroup.freeze")).ok())
        .is_some_and(|s| s.trim() == "1")
}

/// Freeze or thaw, and wait (bounded) until the kernel reports it done.
pub fn set_frozen(dir: &Path, frozen: bool) -> io::Result<()> {
    fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let events = fs::read_to_string(dir.join("cgroup.events"))?;
        if events.lines().any(|l| l == want) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the kernel did not finish within 5 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Bytes read and written by the cgroup's processes on every device
/// (io.stat's rbytes and wbytes), when the io controller is on for it.
pub fn io_bytes(dir: &Path) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(dir.join("io.stat")).ok()?;
    let mut total = (0, 0);
    for word in stat.split_whitespace() {
        let num = |key: &str| word.strip_prefix(key).and_then(|v| v.parse::<u64>().ok());
        total.0 += num("rbytes=").unwrap_or(0);
        total.1 += num("wbytes=").unwrap_or(0);
    }
    Some(total)
}

/// CPU time used in the cgroup (cpu.stat's usage_usec, present without
/// controllers too).
pub fn cpu_usage(dir: &Path) -> Option<Duration> {
    let stat = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_micros)
}

/// A limit as the user gave it ("--memory 64m"), its controller, and the
/// files to write (the last one may be missing).
type Wanted = (String, &'static str, Vec<(&'static str, String)>);

/// Where a container's limits went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The pids limit for the init to set as RLIMIT_NPROC, where no cgroup
    /// took it.
    pub nproc: Option<u64>,
    /// One line for stderr naming the limits not enforced, and why.
    pub warning: Option<String>,
}

/// Write the limits into the container's cgroup (`dir`, made by
/// `make_for`) where it has the controller for them. The pids limit falls
/// back to RLIMIT_NPROC, which since Linux 5.14 counts the processes of
/// one user id in the container's user namespace, not the user's others.
/// Memory and CPU have no such fallback (RLIMIT_AS is per process and
/// counts address space, not memory): they are named in the warning.
pub fn apply_limits(dir: Option<&Path>, limits: &Limits) -> Applied {
    let mut applied = Applied::default();
    let mut wanted: Vec<Wanted> = Vec::new();
    if let Some(n) = limits.pids {
        wanted.push((
            format!("--pids-limit {n}"),
            "pids",
            vec![("pids.max", n.to_string())],
        ));
    }
    if let Some(m) = limits.memory {
        // Docker's --memory alone allows as much swap again.
        let files = vec![
            ("memory.max", m.to_string()),
            ("memory.swap.max", m.to_string()),
        ];
        wanted.push((format!("--memory {}", show_memory(m)), "memory", files));
    }
    if let Some(n) = limits.nano_cpus {
        // A quota per 100 ms period: 1.5 CPUs is 150 ms of CPU time.
        let files = vec![("cpu.max", format!("{} 100000", n / 10_000))];
        wanted.push((format!("--cpus {}", show_cpus(n)), "cpu", files));
    }
    let mut missed: Vec<(String, String)> = Vec::new();
    for (what, controller, files) in wanted {
        let result = match dir {
            Some(d) => write_limit(d, controller, &files).map_err(|why| why.to_string()),
            None => Err(match delegated_dir() {
                Err(why) => format!("no cgroup is delegated to you ({why}); {HOW_TO_DELEGATE}"),
                Ok(d) => format!("no cgroup could be made in {}", d.display()),
            }),
        };
        match result {
            Ok(()) => {}
            Err(_) if controller == "pids" => applied.nproc = limits.pids,
            Err(why) => missed.push((what, why)),
        }
    }
    if !missed.is_empty() {
        applied.warning = Some(warning(&missed));
    }
    applied
}

/// Enable `controller` for the container's cgroup (in our own cgroup's
/// subtree_control) and write its files. The kernel enables the threaded
/// controllers (pids, cpu) for a cgroup with processes, but not memory:
/// cgroup v2 gives domain controllers only to cgroups without processes
/// of their own, and ours holds burrow.
fn write_limit(dir: &Path, controller: &str, files: &[(&str, String)]) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    let offered = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    if !offered.split_whitespace().any(|c| c == controller) {
        return Err(format!(
            "the {controller} controller is not delegated to {}",
            parent.display()
        ));
    }
    let _ = fs::write(
        parent.join("cgroup.subtree_control"),
        format!("+{controller}"),
    );
    let last = files.len() - 1;
    for (i, (file, value)) in files.iter().enumerate() {
        // Never created: a file the kernel does not show is a controller
        // the cgroup lacks.
        let written = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(dir.join(file))
            .and_then(|mut f| io::Write::write_all(&mut f, value.as_bytes()));
        match written {
            Ok(()) => {}
            // memory.swap.max is missing without swap accounting.
            Err(e) if e.kind() == io::ErrorKind::NotFound && i == last && i > 0 => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!(
                    "{} cannot hand the {controller} controller to a child while it holds \
                     processes (cgroup v2 allows that for pids and cpu only)",
                    parent.display()
                ))
            }
            Err(e) => return Err(format!("write {}: {e}", dir.join(file).display())),
        }
    }
    Ok(())
}

/// "burrow: warning: --memory 512m and --cpus 1.5 are not enforced: WHY",
/// one clause per distinct reason.
fn warning(missed: &[(String, String)]) -> String {
    let mut reasons: Vec<(Vec<&str>, &str)> = Vec::new();
    for (what, why) in missed {
        match reasons.iter_mut().find(|(_, w)| *w == why.as_str()) {
            Some((whats, _)) => whats.push(what),
            None => reasons.push((vec![what.as_str()], why.as_str())),
        }
    }
    let clauses: Vec<String> = reasons
        .iter()
        .map(|(whats, why)| {
            let verb = if whats.len() == 1 { "is" } else { "are" };
            format!("{} {verb} not enforced: {why}", whats.join(" and "))
        })
        .collect();
    format!("burrow: warning: {}", clauses.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup dir as the kernel shows one: our own (offering
    /// `controllers`) and the container's under it, with `files`.
    fn fake(controllers: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let own = tempfile::tempdir().unwrap();
        fs::write(own.path().join("cgroup.controllers"), controllers).unwrap();
        fs::write(own.path().join("cgroup.subtree_control"), "").unwrap();
        let dir = own.path().join("burrow-0123456789ab");
        fs::create_dir(&dir).unwrap();
        for f in files {
            fs::write(dir.join(f), "max").unwrap();
        }
        (own, dir)
    }

    fn limits() -> Limits {
        Limits {
            pids: Some(50),
            memory: Some(64 << 20),
            nano_cpus: Some(1_500_000_000),
        }
    }

    #[test]
    fn a_cgroup_with_the_controllers_takes_every_limit() {
        let files = ["pids.max", "memory.max", "memory.swap.max", "cpu.max"];
        let (_own, dir) = fake("cpu io memory pids", &files);
        assert_eq!(apply_limits(Some(&dir), &limits()), Applied::default());
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("pids.max"), "50");
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), (64u64 << 20).to_string());
        assert_eq!(read("cpu.max"), "150000 100000");
    }

    #[test]
    fn without_memory_for_children_it_says_so_and_pids_fall_back() {
        // The kernel gave our cgroup no pids controller, and memory only
        // to itself (it holds processes): pids.max and memory.max are not
        // in the container's cgroup.
        let (_own, dir) = fake("cpu memory", &["cpu.max"]);
        let applied = apply_limits(Some(&dir), &limits());
        assert_eq!(applied.nproc, Some(50));
        let w = applied.warning.unwrap();
        assert!(
            w.starts_with("burrow: warning: --memory 64m is not enforced: "),
            "{w}"
        );
        assert!(w.contains("while it holds processes"), "{w}");
        assert!(!w.contains("--cpus") && !w.contains("--pids"), "{w}");
        assert_eq!(
            fs::read_to_string(dir.join("cpu.max")).unwrap(),
            "150000 100000"
        );
    }

    #[test]
    fn without_a_cgroup_only_the_pids_limit_holds() {
        let applied = apply_limits(None, &limits());
        assert_eq!(applied.nproc, Some(50));
        let w = applied.warning.unwrap();
        assert!(
            w.contains("--memory 64m and --cpus 1.5 are not enforced"),
            "{w}"
        );
        assert_eq!(w.lines().count(), 1);
        let only_pids = Limits {
            pids: Some(2048),
            ..Limits::default()
        };
        assert_eq!(
            apply_limits(None, &only_pids),
            Applied {
                nproc: Some(2048),
                warning: None
            }
        );
    }
}
