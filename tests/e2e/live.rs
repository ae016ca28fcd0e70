//! Containers that live on: `run -d`, `ps`, `logs`, `stop`, `start`,
//! `rm` and friends, as the unprivileged test users.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::run::{containers_left, ready};

pub(crate) const TICK: &str = "while true; do echo tick; sleep 0.2; done";

pub(crate) fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// `run -d`, returning the id it printed.
pub(crate) fn detach(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let out = env.burrow(&all);
    out.ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{}", out.describe());
    id
}

/// Poll until `check` holds or 10 s passed.
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes of this env: its burrows (their command line names the
/// store) and containers (their root or cwd is under the store). Other
/// tests run as the same users at once, so the uid alone says nothing.
pub(crate) fn env_processes(env: &TestEnv) -> Vec<String> {
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
pub(crate) fn assert_nothing_left(env: &TestEnv) {
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
    // A mount namespace goes with its last process, which may still be
    // exiting (a health probe killed by `rm -f`): wait as for processes.
    let root = env.root().display().to_string();
    loop {
        let mut mounted = Vec::new();
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(m) = std::fs::read_to_string(p.path().join("mountinfo")) {
                if m.contains(&root) {
                    let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                    mounted.push(format!("{} {cmd}", p.file_name().to_string_lossy()));
                }
            }
        }
        if mounted.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "mounts of {root} in {mounted:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
        // Confined as the container's init: seccomp, no_new_privs, Docker's caps.
        let st = env.burrow(&["exec", "ticker", "cat", "/proc/self/status"]);
        let st = st.ok().stdout.clone();
        let field = |k: &str| {
            st.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("Seccomp:"), "2", "{st}");
        assert_eq!(field("NoNewPrivs:"), "1", "{st}");
        assert_eq!(field("CapEff:"), "00000000a80425fb", "{st}");
        let size = env.burrow(&["ps", "-s", "--format", "{{.Size}}"]);
        assert!(
            size.ok().stdout.starts_with("5B (virtual "),
            "{}",
            size.stdout
        );

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
        // Starting a running one changes nothing, as in docker.
        assert_eq!(env.burrow(&["start", "ticker"]).ok().stdout, "ticker\n");
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

/// The record of a container, as JSON.
pub(crate) fn record_of(env: &TestEnv, id: &str) -> serde_json::Value {
    let p = env.root().join("containers").join(id).join("config.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub(crate) fn ps_status(env: &TestEnv, name: &str) -> String {
    let f = format!("name={name}");
    let out = env.burrow(&["ps", "-a", "-f", &f, "--format", "{{.Status}}"]);
    out.ok().stdout.trim().to_string()
}

#[test]
fn logs_follow_and_keep_streams_apart() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    detach(
        &env,
        &[
            "--name",
            "f",
            &img,
            "sh",
            "-c",
            "echo to-err >&2; while true; do echo tick; sleep 0.2; done",
        ],
    );
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root").arg(env.root()).args(["logs", "-f", "f"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut follower = cmd.spawn().unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(follower.stdout.take().unwrap()));
    for _ in 0..5 {
        assert_eq!(lines.next().unwrap().unwrap(), "tick");
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    let out = env.burrow(&["logs", "-t", "f"]);
    assert_eq!(out.ok().stderr.split_once(' ').unwrap().1, "to-err\n");
    assert!(out.stderr.starts_with("20"), "{}", out.stderr);
    // A follower ends by itself when the container does.
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root")
        .arg(env.root())
        .args(["logs", "-f", "--tail", "0", "f"]);
    cmd.stdout(std::process::Stdio::null());
    let mut follower = cmd.spawn().unwrap();
    env.burrow(&["kill", "f"]).ok();
    let t = Instant::now();
    while follower.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(5), "logs -f did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        ps_status(&env, "f").split(' ').take(2).collect::<Vec<_>>(),
        ["Exited", "(137)"]
    );
    env.burrow(&["rm", "f"]).ok();
    assert_nothing_left(&env);
}

#[test]
fn killed_supervisor_or_init_is_shown_truthfully() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let a = detach(&env, &["--name", "a", &img, "sh", "-c", TICK]);
    let b = detach(&env, &["--name", "b", &img, "sh", "-c", TICK]);
    let mon = record_of(&env, &a)["monitor"]["pid"].as_i64().unwrap() as i32;
    let init = record_of(&env, &b)["init"]["pid"].as_i64().unwrap() as i32;
    nix_kill(mon);
    nix_kill(init);
    eventually("a's status", || {
        ps_status(&env, "a").starts_with("Exited (unknown")
    });
    eventually("b's status", || {
        ps_status(&env, "b").starts_with("Exited (137)")
    });
    let out = env.burrow(&["container", "inspect", "a"]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["Dead"], true);
    // Start works again on a stale record; rm removes both.
    env.burrow(&["start", "a"]).ok();
    assert!(ps_status(&env, "a").starts_with("Up"));
    env.burrow(&["rm", "-f", "a", "b"]).ok();
    assert_nothing_left(&env);
}

pub(crate) fn nix_kill(pid: i32) {
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn log_is_capped_by_max_size() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let id = detach(
        &env,
        &[
            "--log-opt",
            "max-size=4k",
            "--log-opt",
            "max-file=2",
            &img,
            "sh",
            "-c",
            "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done",
        ],
    );
    assert_eq!(env.burrow(&["wait", &id]).ok().stdout, "0\n");
    let dir = env.root().join("containers").join(&id);
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(total <= 2 * 4096, "{total}");
    let out = env.burrow(&["logs", "--tail", "2", &id]);
    assert_eq!(out.ok().stdout, "line 2998\nline 2999\n");
    env.burrow(&["rm", &id]).ok();
}

#[test]
fn ps_answers_while_the_lock_is_held_and_rm_races() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let id = detach(&env, &["--name", "r", &img, "sh", "-c", TICK]);
    let lock = env.root().join("containers/.lock");
    // --no-fork: the lock dies with the process we kill.
    assert!(lock.exists(), "no lock file at {lock:?}");
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    // Wait until it really holds the lock: a try by anyone else must
    // find it taken (flock -n exits with -E's code on a conflict).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let probe = std::process::Command::new("flock")
            .args(["-n", "-E", "75"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap();
        if probe.code() == Some(75) {
            break;
        }
        assert!(Instant::now() < deadline, "the holder never took {lock:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    let out = env.burrow(&["ps", "-q"]);
    assert_eq!(out.ok().stdout.trim(), &id[..12]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Two rm -f at once: both end well, nothing is left.
    let spawn = || {
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.arg("--root").arg(env.root()).args(["rm", "-f", "r"]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (one, two) = (spawn(), spawn());
    for c in [one, two] {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() || err.contains("no such container"),
            "{:?} {err}",
            out.status
        );
    }
    assert_eq!(env.burrow(&["ps", "-aq"]).ok().stdout, "");
    assert_nothing_left(&env);
}

#[test]
fn bad_input_is_one_line_with_dockers_code() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let out = env.burrow(&["stop", "nope"]);
    out.fails(1);
    assert_eq!(out.stderr, "burrow: no such container: nope\n");
    env.burrow(&["logs", "nope"]).fails(1);
    env.burrow(&["exec", "nope", "true"]).fails(1);
    env.burrow(&["rm", "nope"]).fails(1);
    // Sixteen hex digits: seventeen ids share a first digit somewhere.
    let mut ids = Vec::new();
    for _ in 0..17 {
        let out = env.burrow(&["create", &img, "true"]);
        ids.push(out.ok().stdout.trim().to_string());
    }
    let shared = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b[..1] == a[..1]).count() > 1)
        .unwrap();
    let out = env.burrow(&["rm", &shared[..1]]);
    out.fails(1);
    assert!(out.stderr.contains("ambiguous"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);
    env.burrow(&["create", "--name", "taken", &img, "true"])
        .ok();
    let out = env.burrow(&["run", "-d", "--name", "taken", &img, "true"]);
    out.fails(125);
    assert!(out.stderr.contains("already in use"), "{}", out.stderr);
    env.burrow(&["rename", &ids[0], "taken"]).fails(125);
    env.burrow(&["rename", &ids[0], "free"]).ok();
    assert_eq!(ps_status(&env, "free"), "Created");
    let out = env.burrow(&["container", "prune"]);
    assert_eq!(out.ok().stdout.lines().count(), 1 + 18);
    assert_nothing_left(&env);
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn fifty_detached_containers() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(detach(&env, &[&img, "sleep", "600"]));
    }
    let t = Instant::now();
    let out = env.burrow(&["ps", "-q"]);
    let listed = t.elapsed();
    assert_eq!(out.ok().stdout.lines().count(), 50);
    assert!(listed < Duration::from_secs(1), "ps took {listed:?}");
    let rss: Vec<u64> = ids
        .iter()
        .map(|id| rss_kib(record_of(&env, id)["monitor"]["pid"].as_i64().unwrap() as i32))
        .collect();
    let max = *rss.iter().max().unwrap();
    let mean = rss.iter().sum::<u64>() / rss.len() as u64;
    let one = record_of(&env, &ids[0])["monitor"]["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{one}/status")).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{one}/smaps_rollup")).unwrap_or_default();
    let pick = |text: &str, keys: &[&str]| {
        text.lines()
            .filter(|l| keys.iter().any(|k| l.starts_with(k)))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "50 containers: ps in {listed:?}; supervisor VmRSS mean {mean} KiB, max {max} KiB; one: {}; {}",
        pick(&status, &["RssAnon", "RssFile"]),
        pick(&rollup, &["Pss:", "Private_Dirty"])
    );
    // VmRSS counts the pages of the burrow binary every supervisor shares
    // (most of it in a debug build); the proportional share is the cost
    // of one more container.
    let pss: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(pss > 0 && pss < 4096, "supervisor Pss {pss} KiB");
    // --rm with -d: the supervisor removes it at the end.
    detach(&env, &["--rm", &img, "true"]);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.burrow(&args).ok();
    assert_nothing_left(&env);
}

#[test]
fn top_and_stats_see_the_containers_processes() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    detach(&env, &["--name", "t", &img, "sleep", "600"]);
    // A process of a subordinate id, started in the background by exec -d.
    let out = env.burrow(&["exec", "-u", "1000", "t", "id"]);
    assert!(out.stdout.starts_with("uid=1000"), "{}", out.describe());
    let out = env.burrow(&["exec", "-d", "-u", "1000", "t", "sleep", "555"]);
    assert!(out.ok().stderr.is_empty(), "{}", out.describe());
    let mut top = String::new();
    let t = Instant::now();
    while !top.contains("sleep 555") {
        assert!(t.elapsed() < Duration::from_secs(10), "{top}");
        top = env.burrow(&["top", "t"]).ok().stdout.clone();
    }
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 600"), "{top}");
    assert!(!top.contains("top t"), "{top}");
    let out = env.burrow(&["stats", "--no-stream"]);
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID"), "{}", out.stdout);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    // init, sleep 600 and sleep 555.
    assert!(lines[1].ends_with(" 3"), "{}", out.stdout);
    env.burrow(&["stop", "t"]).ok();
    env.burrow(&["top", "t"]).fails(1);
    env.burrow(&["rm", "t"]).ok();
    assert_nothing_left(&env);
}

#[test]
fn restart_kill_labels_filters_and_formats() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let a = detach(
        &env,
        &[
            "--name", "a", "-l", "tier=web", "-l", "x", &img, "sh", "-c", TICK,
        ],
    );
    let b = detach(&env, &["--name", "b", &img, "sh", "-c", "exit 3"]);
    assert_eq!(env.burrow(&["wait", "b"]).ok().stdout, "3\n");
    let q = |args: &[&str]| {
        let mut all = vec!["ps", "-q", "--no-trunc"];
        all.extend_from_slice(args);
        env.burrow(&all).ok().stdout.clone()
    };
    assert_eq!(q(&["-f", "label=tier=web"]), format!("{a}\n"));
    assert_eq!(q(&["-f", "label=x", "-a"]), format!("{a}\n"));
    assert_eq!(q(&["-f", "exited=3"]), format!("{b}\n"));
    assert_eq!(q(&["-f", "status=exited"]), format!("{b}\n"));
    assert_eq!(q(&["-l"]), format!("{b}\n"));
    assert_eq!(q(&["-n", "2"]).lines().count(), 2);
    assert_eq!(q(&["-f", &format!("id={}", &a[..5])]), format!("{a}\n"));
    let out = env.burrow(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
    assert_eq!(v["Names"], "a");
    assert_eq!(v["State"], "running");
    assert_eq!(v["Labels"], "tier=web,x=");
    env.burrow(&["ps", "--format", "{{.Nope}}"]).fails(125);
    env.burrow(&["ps", "-f", "colour=red"]).fails(125);

    let before = record_of(&env, &a)["init"]["pid"].clone();
    env.burrow(&["restart", "-t", "1", "a"]).ok();
    assert!(ps_status(&env, "a").starts_with("Up"));
    assert_ne!(record_of(&env, &a)["init"]["pid"], before);
    // kill -s: a signal the shell dies of.
    env.burrow(&["kill", "-s", "USR1", "a"]).ok();
    eventually("a to end", || {
        ps_status(&env, "a").starts_with("Exited (138)")
    });
    env.burrow(&["kill", "a"]).fails(1);
    env.burrow(&["kill", "-s", "NOPE", "a"]).fails(125);
    // -d with -t: the supervisor reads the pty into the log.
    let t = detach(&env, &["-t", &img, "sh", "-c", "tty; echo done"]);
    assert_eq!(env.burrow(&["wait", &t]).ok().stdout, "0\n");
    assert_eq!(
        env.burrow(&["logs", &t]).ok().stdout,
        "/dev/pts/0\r\ndone\r\n"
    );
    env.burrow(&["rm", "a", "b", &t]).ok();
    assert_nothing_left(&env);
}

#[test]
fn exec_with_a_tty_through_a_real_terminal() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        detach(&env, &["--name", "s", &img, "sleep", "600"]);
        let (code, text) = env.burrow_in_terminal(
            "exec -it s sh",
            b"tty; test -t 0 && echo stdin-is-tty; exit 6\n",
        );
        assert_eq!(code, Some(6), "{text}");
        assert!(text.contains("/dev/pts/"), "{text}");
        assert!(text.contains("stdin-is-tty"), "{text}");
        env.burrow(&["rm", "-f", "s"]).ok();
        assert_nothing_left(&env);
    }
}

#[test]
fn foreground_container_is_seen_by_other_commands() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root")
        .arg(env.root())
        .args(["run", "--name", "fg", &img, "sleep", "600"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut fg = cmd.spawn().unwrap();
    eventually("fg to run", || {
        env.burrow(&["exec", "fg", "true"]).code == 0
    });
    assert!(ps_status(&env, "fg").starts_with("Up"));
    let out = env.burrow(&["exec", "fg", "sh", "-c", "echo hi; exit 4"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (4, "hi\n"),
        "{}",
        out.describe()
    );
    assert!(env.burrow(&["top", "fg"]).ok().stdout.contains("sleep 600"));
    env.burrow(&["stop", "-t", "5", "fg"]).ok();
    assert_eq!(fg.wait().unwrap().code(), Some(143));
    assert!(ps_status(&env, "fg").starts_with("Exited (143)"));
    // Its output went to its terminal; `logs` says so instead of nothing.
    let out = env.burrow(&["logs", "fg"]);
    assert_eq!(out.ok().stdout, "");
    assert!(
        out.stderr.contains("ran in the foreground"),
        "{}",
        out.describe()
    );
    env.burrow(&["rm", "fg"]).ok();
    assert_nothing_left(&env);
}
