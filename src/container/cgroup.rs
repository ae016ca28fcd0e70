//! A container's own cgroup (v2), for `pause` (the core `cgroup.freeze`
//! file, there in every non-root v2 cgroup, with or without controllers)
//! and `stats`. It is made under the caller's own cgroup when that one is
//! delegated (writable by the user): `<ours>/burrow-<short id>`. Only the
//! container's init moves into it, so our own cgroup keeps its processes
//! and gains a child, which the v2 rules allow as long as it enables no
//! controllers for its children (it cannot while it holds processes).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::{access, AccessFlags};

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
