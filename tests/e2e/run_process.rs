//! The container's process under `burrow run`: signals forwarded, zombies
//! reaped, a pty session through a real pseudo-terminal, and nothing left
//! behind after many runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::*;
use crate::run::ready;

/// `burrow run ARGS` as the test user, not waited for.
fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    env.command(burrow_bin(), &[])
        .arg("--root")
        .arg(env.root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn burrow")
}

/// Wait for `child`, killing it (and failing) when it outlives `limit`.
fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("burrow did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_line(out: &mut impl BufRead, want: &str) {
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if line.trim_end() == want {
            return;
        }
        line.clear();
    }
    panic!("no line {want:?} before end of output");
}

/// The user's processes whose command line has `marker` (other tests
/// share the test users, so "all of them" would be wrong).
fn user_processes(user: User, marker: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-u", user.name(), "-o", "pid=,args="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(marker))
        .map(String::from)
        .collect()
}

/// Wait until no such process is left (they exit asynchronously).
fn assert_no_processes(user: User, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = user_processes(user, marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signals_are_forwarded() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        for (sig, code) in [
            (Signal::SIGTERM, 7),
            (Signal::SIGINT, 8),
            (Signal::SIGHUP, 9),
        ] {
            let script = format!(
                "trap 'echo got-{sig}; exit {code}' {}; echo ready; while :; do sleep 0.1; done",
                sig.as_str().trim_start_matches("SIG")
            );
            let mut child = spawn(&env, &["run", "--rm", &img, "sh", "-c", &script]);
            let mut out = BufReader::new(child.stdout.take().unwrap());
            wait_line(&mut out, "ready");
            kill(Pid::from_raw(child.id() as i32), sig).unwrap();
            let status = wait_at_most(&mut child, Duration::from_secs(20));
            let mut rest = String::new();
            out.read_to_string(&mut rest).unwrap();
            assert_eq!(status.code(), Some(code), "{sig}: {rest}");
            assert_eq!(rest, format!("got-{sig}\n"));
        }
        // SIGKILL of burrow itself takes the whole container down.
        let mut child = spawn(
            &env,
            &["run", "--rm", &img, "sh", "-c", "echo ready; sleep 7654321"],
        );
        let mut out = BufReader::new(child.stdout.take().unwrap());
        wait_line(&mut out, "ready");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert_no_processes(user, "7654321");
        assert_no_processes(user, env.root().to_str().unwrap());
    }
}

#[test]
fn orphans_are_reaped_by_pid_1() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    // Three orphans exit at once; without a reaping pid 1 they stay zombies.
    let script = "sh -c 'sleep 0.2 & sleep 0.2 & sleep 0.2 &'; sleep 1; \
                  cat /proc/[0-9]*/stat | awk '$3 == \"Z\"' | wc -l; echo $$";
    let out = env.burrow(&["run", "--rm", &img, "sh", "-c", script]);
    out.ok();
    assert_eq!(out.stdout, "0\n2\n", "{}", out.describe());
}

#[test]
fn tty_session_through_a_real_terminal() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let (code, text) = env.burrow_in_terminal(
            &format!("run --rm -it {img} sh"),
            b"tty; test -t 0 && echo stdin-is-tty; echo TERM=$TERM; exit 5\n",
        );
        assert_eq!(code, Some(5), "{text}");
        assert!(text.contains("/dev/pts/0"), "{text}");
        assert!(text.contains("stdin-is-tty"), "{text}");
        assert!(text.contains("TERM=xterm"), "{text}");
    }
}

#[test]
fn window_size_is_passed_on() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let ws = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 77,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).unwrap();
    let slave_path =
        std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
    let (uid, gid) = env.user.ids();
    nix::unistd::chown(&slave_path, Some(uid.into()), Some(gid.into())).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut child = env
        .command(burrow_bin(), &[])
        .arg("--root")
        .arg(env.root())
        .args([
            "run",
            "--rm",
            "-it",
            &img,
            "sh",
            "-c",
            "stty size; read x; stty size",
        ])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut seen = String::new();
    let mut read_until = |want: &str, master: &mut std::fs::File| {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains(want) {
            // Never hang: wait for output at most until the deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&*master),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let ready = nix::poll::poll(&mut fds, ms).unwrap_or(0);
            assert!(ready > 0, "no {want:?} within 20s: {seen:?}");
            let n = master.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "pty closed before {want:?}: {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until("33 77", &mut master);
    // What a terminal emulator does on resize: set the size, send SIGWINCH.
    let status = Command::new("stty")
        .args([
            "-F",
            slave_path.to_str().unwrap(),
            "rows",
            "44",
            "cols",
            "99",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGWINCH).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"\r").unwrap();
    read_until("44 99", &mut master);
    assert_eq!(
        wait_at_most(&mut child, Duration::from_secs(20)).code(),
        Some(0)
    );
}

#[test]
fn no_leaks_after_many_runs() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let runs: usize = std::env::var("BURROW_LEAK_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    for i in 0..runs {
        let out = env.burrow(&["run", "--rm", &img, "true"]);
        assert_eq!(out.code, 0, "run {i}: {}", out.describe());
    }
    // Only stdio (and ls's own dir fd) reach the command.
    let out = env.burrow(&["run", "--rm", &img, "ls", "/proc/self/fd"]);
    out.ok();
    assert_eq!(out.stdout, "0\n1\n2\n3\n");
    assert_no_processes(User::Sub, env.root().to_str().unwrap());
    let left = crate::run::containers_left(&env);
    assert!(left.is_empty(), "left in containers/: {left:?}");
    let mounted = processes_mounting(env.dir());
    assert!(
        mounted.is_empty(),
        "mounts of {:?} in {mounted:?}",
        env.dir()
    );
    // No temp files anywhere in the store.
    let found = Command::new("find")
        .arg(env.root())
        .args(["-name", ".*tmp*"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&found.stdout), "");
}
