//! Containers that live on: `run -d`, `ps`, `logs`, `stop`, `start`,
//! `rm` and friends, as the unprivileged test users.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::run::{containers_left, ready};

const TICK: &str = "while true; do echo tick; sleep 0.2; done";

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// `run -d`, returning the id it printed.
fn detach(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let out = env.burrow(&all);
    out.ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{}", out.describe());
    id
}

/// Poll until `check` holds or 10 s passed.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes of this env: its burrows (their command line names the
/// store) and containers (their root or cwd is under the store). Other
/// tests run as the same users at once, so the uid alone says nothing.
fn env_processes(env: &TestEnv) -> Vec<String> {
    let root = env.root().display().to_string();
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = p.path();
        let link = |n: &str| {
            std::fs::read_link(path.join(n))
                .map(|l| l.display().to_string())
                .unwrap_or_default()
        };
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if link("root").starts_with(&root)
            || link("cwd").starts_with(&root)
            || cmdline.contains(&root)
        {
            found.push(format!("{:?}: {cmdline}", p.file_name()));
        }
    }
    found
}

/// Nothing of a container is left: no record, no process, no mount.
fn assert_nothing_left(env: &TestEnv) {
    assert_eq!(containers_left(env), Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = env_processes(env);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left: {left:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let root = env.root().display().to_string();
    let mut mounted = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(m) = std::fs::read_to_string(p.path().join("mountinfo")) {
            if m.contains(&root) {
                mounted.push(p.file_name());
            }
        }
    }
    assert!(mounted.is_empty(), "mounts of {root} in {mounted:?}");
}

#[test]
fn detached_container_lives_on() {
    both(|env, img| {
        let id = detach(env, &["--name", "ticker", img, "sh", "-c", TICK]);
        // The burrow that started it is gone; the container runs on.
        let ps = env.burrow(&["ps"]);
        ps.ok();
        let lines: Vec<&str> = ps.stdout.lines().collect();
        assert!(
            lines[0].starts_with("CONTAINER ID   IMAGE"),
            "{}",
            ps.stdout
        );
        assert_eq!(lines.len(), 2, "{}", ps.stdout);
        assert!(lines[1].starts_with(&id[..12]), "{}", ps.stdout);
        assert!(lines[1].contains("Up "), "{}", ps.stdout);
        assert!(lines[1].ends_with("ticker"), "{}", ps.stdout);
        let q = env.burrow(&["ps", "-q", "--no-trunc"]);
        assert_eq!(q.ok().stdout.trim(), id);
        let f = env.burrow(&["ps", "--format", "{{.Names}} {{.State}}"]);
        assert_eq!(f.ok().stdout, "ticker running\n");

        eventually("ticks in the log", || {
            env.burrow(&["logs", "ticker"])
                .stdout
                .matches("tick")
                .count()
                >= 3
        });
        let tail = env.burrow(&["logs", "--tail", "1", "ticker"]);
        assert_eq!(tail.ok().stdout, "tick\n");

        // exec: same root and namespaces, its exit code back.
        let out = env.burrow(&[
            "exec",
            "ticker",
            "sh",
            "-c",
            "echo kept > /kept; hostname; exit 7",
        ]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (7, &*format!("{}\n", &id[..12])),
            "{}",
            out.describe()
        );
        let out = env.burrow(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/tmp",
            "ticker",
            "sh",
            "-c",
            "echo $A $(pwd) $$",
        ]);
        // Our pid is not 1: the container's init is.
        let words: Vec<&str> = out.ok().stdout.split_whitespace().collect();
        assert_eq!(&words[..2], ["b", "/tmp"], "{}", out.stdout);
        assert_ne!(words[2], "1");
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        let out = env.burrow_with(&["exec", "-i", "ticker", "cat"], &[], Some(b"in\n"));
        assert_eq!(out.ok().stdout, "in\n");
        env.burrow(&["exec", "ticker", "no-such-cmd"]).fails(127);

        let t = Instant::now();
        env.burrow(&["stop", "-t", "2", "ticker"]).ok();
        // sh as the command under burrow's init gets SIGTERM and ends.
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let ps = env.burrow(&["ps", "-a", "--format", "{{.Status}}"]);
        assert!(
            ps.ok().stdout.starts_with("Exited (143)"),
            "{}\n{}\n{}",
            ps.stdout,
            env.burrow(&["logs", "ticker"]).stderr,
            env.burrow(&["container", "inspect", "ticker"]).stdout
        );
        assert_eq!(env.burrow(&["ps", "-q"]).ok().stdout, "");

        let out = env.burrow(&["exec", "ticker", "true"]);
        out.fails(1);
        assert!(out.stderr.contains("is not running"), "{}", out.stderr);

        env.burrow(&["start", "ticker"]).ok();
        let out = env.burrow(&["exec", "ticker", "cat", "/kept"]);
        assert_eq!(out.ok().stdout, "kept\n");
        assert_eq!(
            env.burrow(&["ps", "--format", "{{.State}}"]).ok().stdout,
            "running\n"
        );
        env.burrow(&["rm", "-f", "ticker"]).ok();
        assert_eq!(env.burrow(&["ps", "-aq"]).ok().stdout, "");
        assert_nothing_left(env);
    });
}
