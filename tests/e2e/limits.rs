//! What a container may take: `--pids-limit` (RLIMIT_NPROC without a
//! cgroup, pids.max in a delegated one), `--memory`/`--cpus` (a delegated
//! cgroup, else one warning line), and its log on disk (rotated by default,
//! compact, `logs -n` read from the end), as the unprivileged test users.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::live::{both, detach, eventually, record_of};
use crate::pause::delegated;
use crate::run::{containers_left, ready};

/// Starts 200 `sleep 10` in a subshell (which dies at the first fork that
/// fails), then counts the processes in the container with shell builtins
/// alone (no fork is left to spare): the sleeps, this shell and the init.
const BOMB: &str = "grep processes /proc/self/limits; \
    ( i=0; while [ $i -lt 200 ]; do sleep 10 & i=$((i+1)); done ) 2>/dev/null; \
    n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; \
    echo processes $n";

/// The soft and hard "Max processes" of /proc/self/limits in `out`.
fn nproc(out: &str) -> (String, String) {
    let line = out
        .lines()
        .find(|l| l.starts_with("Max processes"))
        .unwrap_or_else(|| panic!("no limit line in {out:?}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[2].to_string(), f[3].to_string())
}

fn started(out: &str) -> u32 {
    out.lines()
        .find_map(|l| l.strip_prefix("processes "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {out:?}"))
}

fn inspect(env: &TestEnv, id: &str) -> serde_json::Value {
    let out = env.burrow(&["container", "inspect", id]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    v[0].clone()
}

#[test]
fn pids_limit_bounds_a_fork_bomb() {
    both(|env, img| {
        let t = Instant::now();
        let out = env.burrow(&["run", "--rm", "--pids-limit", "50", img, "sh", "-c", BOMB]);
        out.ok();
        assert_eq!(nproc(&out.stdout), ("50".into(), "50".into()));
        let n = started(&out.stdout);
        // Some started (the shell could fork), never more than the limit.
        assert!((10..=50).contains(&n), "{n} processes: {}", out.describe());
        // It ended with its shell: the sleeps were not waited for.
        assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
        // Without a limit the same loop starts them all.
        let out = env.burrow(&["run", "--rm", "--pids-limit", "-1", img, "sh", "-c", BOMB]);
        let n = started(&out.ok().stdout);
        assert!(n > 200, "{n} processes: {}", out.describe());
        assert_ne!(nproc(&out.stdout).0, "2048");
        // exec'd commands count with the container's, under its limit.
        let id = detach(env, &["--pids-limit", "30", img, "sleep", "60"]);
        let out = env.burrow(&["exec", &id, "sh", "-c", BOMB]);
        assert_eq!(nproc(&out.ok().stdout), ("30".into(), "30".into()));
        let n = started(&out.stdout);
        assert!((5..=30).contains(&n), "{n} processes: {}", out.describe());
        env.burrow(&["rm", "-f", &id]).ok();
        assert!(containers_left(env).is_empty());
    });
}

#[test]
fn pids_limit_defaults_to_2048_and_inspect_keeps_the_limits() {
    both(|env, img| {
        let out = env.burrow(&["run", "--rm", img, "grep", "processes", "/proc/self/limits"]);
        assert_eq!(nproc(&out.ok().stdout), ("2048".into(), "2048".into()));
        // The container cannot raise it (that takes CAP_SYS_RESOURCE on the host).
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", "ulimit -u 100000"]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(out.stderr.contains("not permitted"), "{}", out.describe());

        let out = env.burrow(&["create", "--memory", "64m", "--cpus", "1.5", img, "true"]);
        let id = out.ok().stdout.trim().to_string();
        let host = &inspect(env, &id)["HostConfig"];
        assert_eq!(host["PidsLimit"], 2048);
        assert_eq!(host["Memory"], 64 << 20);
        assert_eq!(host["NanoCpus"], 1_500_000_000u64);
        env.burrow(&["rm", &id]).ok();
        let out = env.burrow(&["create", "--pids-limit", "0", img, "true"]);
        let id = out.ok().stdout.trim().to_string();
        assert_eq!(
            inspect(env, &id)["HostConfig"]["PidsLimit"],
            serde_json::Value::Null
        );
        env.burrow(&["rm", &id]).ok();
    });
}

#[test]
fn memory_and_cpus_warn_where_no_cgroup_is_delegated() {
    both(|env, img| {
        // The tests run in root's cgroup: nothing is delegated to the user.
        let args = ["run", "--rm", "--memory", "64m", "--cpus", "1", img];
        let mut all = args.to_vec();
        all.extend(["grep", "processes", "/proc/self/limits"]);
        let out = env.burrow(&all);
        out.ok();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", out.describe());
        assert!(
            lines[0].starts_with(
                "burrow: warning: --memory 64m and --cpus 1 are not enforced: no cgroup is \
                 delegated to you ("
            ),
            "{}",
            lines[0]
        );
        // The pids limit holds all the same.
        assert_eq!(nproc(&out.stdout).0, "2048");
    });
}

/// The container's own cgroup, from its record.
fn own_cgroup(env: &TestEnv, id: &str) -> PathBuf {
    PathBuf::from(record_of(env, id)["cgroup"].as_str().unwrap())
}

#[test]
fn limits_in_a_delegated_cgroup() {
    both(|env, img| {
        let Some(cg) = delegated(env) else { return };
        let offered = std::fs::read_to_string(cg.join("cgroup.controllers")).unwrap();
        let offered: Vec<&str> = offered.split_whitespace().collect();
        let script = "grep processes /proc/self/limits; sleep 30";
        let out = env.burrow_in_cgroup(
            &cg,
            &[
                "run",
                "-d",
                "--pids-limit",
                "40",
                "--memory",
                "64m",
                img,
                "sh",
                "-c",
                script,
            ],
        );
        let id = out.ok().stdout.trim().to_string();
        let own = own_cgroup(env, &id);
        assert!(own.starts_with(&cg), "{}", own.display());
        // memory is a domain controller: our cgroup holds burrow, so it can
        // never hand it to the container's; the line says so.
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(
            out.stderr
                .starts_with("burrow: warning: --memory 64m is not enforced: "),
            "{}",
            out.describe()
        );
        if offered.contains(&"pids") {
            let max = std::fs::read_to_string(own.join("pids.max")).unwrap();
            assert_eq!(max.trim(), "40");
        } else {
            // This machine's cgroup v2 has no pids controller (it is on v1):
            // the limit falls back to RLIMIT_NPROC.
            assert!(
                out.stderr.contains("not delegated to"),
                "{}",
                out.describe()
            );
            eventually("the limit in the log", || {
                let logs = env.burrow(&["logs", &id]);
                logs.code == 0 && logs.stdout.contains("Max processes")
            });
            let logs = env.burrow(&["logs", &id]);
            assert_eq!(nproc(&logs.stdout), ("40".into(), "40".into()));
        }
        env.burrow(&["rm", "-f", &id]).ok();
        assert!(!own.exists(), "{} is left", own.display());
    });
}

#[test]
fn bad_limits_and_log_opts_are_one_line() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let bad = [
        ("--pids-limit", "-5"),
        ("--pids-limit", "many"),
        ("--memory", "lots"),
        ("--memory", "1k"),
        ("--cpus", "0.001"),
        ("--cpus", "99999"),
        ("--log-opt", "max-size=1"),
        ("--log-opt", "max-size=10q"),
        ("--log-opt", "max-file=0"),
        ("--log-opt", "max-file=x"),
        ("--log-opt", "compress=true"),
    ];
    for (flag, value) in bad {
        let out = env.burrow(&["create", flag, value, &img, "true"]);
        out.fails(125);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", out.describe());
        assert!(lines[0].starts_with("burrow: "), "{}", lines[0]);
        assert!(lines[0].contains(flag), "{}", lines[0]);
    }
    assert!(containers_left(&env).is_empty());
}

/// The container's log files and their sizes.
fn log_files(env: &TestEnv, id: &str) -> Vec<(String, u64)> {
    let dir = env.root().join("containers").join(id);
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("container.log"))
        .map(|n| {
            let len = std::fs::metadata(Path::new(&dir).join(&n)).unwrap().len();
            (n, len)
        })
        .collect();
    files.sort();
    files
}

fn wait_ok(env: &TestEnv, id: &str) {
    assert_eq!(env.burrow(&["wait", id]).ok().stdout, "0\n");
}

#[test]
fn a_flood_of_newlines_is_logged_compactly_and_rotated_by_default() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    // 2 MiB of newlines: 149 MB as one JSON object per line.
    let id = detach(
        &env,
        &[
            &img,
            "sh",
            "-c",
            "head -c 2097152 /dev/zero | tr '\\0' '\\n'",
        ],
    );
    wait_ok(&env, &id);
    let total: u64 = log_files(&env, &id).iter().map(|f| f.1).sum();
    assert!(total < 2_200_000, "{total} bytes for 2 MiB");
    let all = env.burrow(&["logs", &id]);
    assert_eq!(all.ok().stdout.len(), 2 << 20);
    assert!(all.stdout.bytes().all(|b| b == b'\n'));
    assert_eq!(
        env.burrow(&["logs", "-n", "5", &id]).ok().stdout,
        "\n\n\n\n\n"
    );
    env.burrow(&["rm", &id]).ok();

    // More than 5 x 20 MiB: five files of 20 MiB at most are kept.
    let id = detach(
        &env,
        &[
            &img,
            "sh",
            "-c",
            "head -c 125829120 /dev/zero | tr '\\0' '\\n'; echo last",
        ],
    );
    wait_ok(&env, &id);
    let files = log_files(&env, &id);
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files.iter().all(|f| f.1 <= 20 << 20), "{files:?}");
    let out = env.burrow(&["logs", "--tail", "2", &id]);
    assert_eq!(out.ok().stdout, "\nlast\n");
    env.burrow(&["rm", &id]).ok();
}

#[test]
fn log_rotates_at_max_size_and_tail_reads_across_files() {
    both(|env, img| {
        let id = detach(
            env,
            &[
                "--log-opt",
                "max-size=10k",
                "--log-opt",
                "max-file=3",
                img,
                "sh",
                "-c",
                "i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done",
            ],
        );
        wait_ok(env, &id);
        let files = log_files(env, &id);
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.iter().all(|f| f.1 <= 10 << 10), "{files:?}");
        // What is kept is the end, in order.
        let all = env.burrow(&["logs", &id]).ok().stdout.clone();
        let nums: Vec<u32> = all
            .lines()
            .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
            .collect();
        assert_eq!(*nums.last().unwrap(), 4999);
        assert!(nums[0] > 0, "nothing was dropped");
        assert!(nums.windows(2).all(|w| w[0] + 1 == w[1]), "out of order");
        // -n N is the last N of those, whichever files they are in: the
        // live file holds ~1000 lines at most, so these cross into .1 and .2.
        let lines: Vec<&str> = all.lines().collect();
        for n in [5, lines.len() / 2, lines.len() - 1, lines.len() + 10] {
            let want: String = lines[lines.len().saturating_sub(n)..]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect();
            let out = env.burrow(&["logs", "-n", &n.to_string(), &id]);
            assert_eq!(out.ok().stdout, want, "-n {n}");
        }
        env.burrow(&["rm", &id]).ok();
    });
}
