//! The processes of a running container, found from /proc: those in the
//! pid namespace of its init. For `top` and `stats`.

use std::fs;

/// Pids (ours) of every process in the pid namespace of `init`: those
/// whose ns link matches (the namespace's owner, we may read the links of
/// processes of any mapped id; `exec`'d ones are there too), and the
/// init's descendants (in case a link is unreadable).
pub fn pids_of(init: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect();
    let parents: Vec<(i32, u64)> = all
        .iter()
        .map(|pid| (*pid, status_kib(*pid, "PPid")))
        .collect();
    let mut found = vec![init];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i] as u64;
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    // The pid namespace, from the first process whose /proc entry we may
    // read (our tiny pid 1 is non-dumpable, so not always the init).
    let ns = found
        .iter()
        .find_map(|p| fs::read_link(format!("/proc/{p}/ns/pid")).ok());
    if let Some(ns) = ns {
        found.extend(
            all.iter()
                .filter(|pid| fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns)),
        );
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat; the slice starts at field 3.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// A line of /proc/PID/status, in KiB for the memory fields.
pub fn status_kib(pid: i32, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// MemTotal of the machine, in KiB.
pub fn status_kib_meminfo() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Bytes received and sent on the interfaces of the container's network
/// namespace (its init's /proc/PID/net/dev), loopback left out as Docker
/// does: its NET I/O is the container's traffic with the world.
pub fn net_io(init: i32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{init}/net/dev")).unwrap_or_default();
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((name, nums)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let n: Vec<u64> = nums
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        rx += n.first().copied().unwrap_or(0);
        tx += n.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// Bytes a process made the block layer read and write (/proc/PID/io's
/// read_bytes and write_bytes); None when we may not read it.
pub fn block_io(pid: i32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("read_bytes:")?, field("write_bytes:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_found() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pids = pids_of(me);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            pids.contains(&me) && pids.contains(&(child.id() as i32)),
            "{pids:?}"
        );
        assert!(status_kib(me, "VmRSS") > 0);
    }
}
