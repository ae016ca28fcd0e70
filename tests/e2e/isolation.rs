//! What a container's processes can reach of burrow and of the user who
//! runs it: burrow's own processes (CVE-2019-5736 through /proc/PID/exe),
//! the caller's session and process group, and the caller's terminal.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::common::*;
use crate::live::{detach, eventually};
use crate::run::ready;

fn probe_mount() -> String {
    format!("{}:/probe:ro", probe_bin().display())
}

/// A copy of burrow owned by the test user, as a `cargo install` or a
/// build in the home dir leaves it: writable by the user, so by root in
/// the user's containers, were they to reach it.
fn users_own_burrow(env: &TestEnv) -> PathBuf {
    let dir = env.mkdir("bin");
    let bin = dir.join("burrow");
    std::fs::copy(burrow_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.user.chown(&bin);
    bin
}

fn sha256(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    format!("{:x}", h.finalize())
}

/// Regression (security review, item 2): a container process polling
/// /proc/*/exe opened the `exec` helper's exe, the host's burrow binary,
/// and wrote it once no burrow ran it. Here the container's command polls
/// from its start (so during `run`, with burrow's init as pid 1) and while
/// `exec` runs, as root in the container with the default capabilities and
/// with all of them; the exec is done by a user-owned copy of burrow that
/// nothing else executes, so a grabbed handle could be written at once.
#[test]
fn burrow_processes_exe_is_out_of_the_containers_reach() {
    let cases: [(User, &[&str]); 3] = [
        (User::Sub, &[]),
        (User::Sub, &["--privileged"]),
        (User::NoSub, &["--cap-add", "ALL"]),
    ];
    for (user, extra) in cases {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let bin = users_own_burrow(&env);
        let before = sha256(&bin);
        let meta = std::fs::metadata(&bin).unwrap();
        let (dev, ino) = (meta.dev().to_string(), meta.ino().to_string());
        let pm = probe_mount();
        let mut args = vec!["--name", "g", "-v", &pm];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "/probe", "grab-exe", "60", &dev, &ino]);
        detach(&env, &args);
        let logs = || env.burrow(&["logs", "g"]).ok().stdout.clone();
        // The helper of one exec is seen in the container for a few
        // milliseconds: exec until the probe saw one (a pid above 2: 1 is
        // the init, 2 the probe), or grabbed it.
        let seen = |text: &str| {
            text.lines().any(|l| {
                l.starts_with("grabbed ")
                    || l.strip_prefix("denied ")
                        .and_then(|r| r.split(' ').next()?.parse::<u32>().ok())
                        .is_some_and(|pid| pid > 2)
            })
        };
        for _ in 0..60 {
            let mut cmd = env.command(&bin, &[]);
            cmd.arg("--root")
                .arg(env.root())
                .args(["exec", "g", "true"]);
            run(cmd, &["exec", "g", "true"], None).ok();
            if seen(&logs()) {
                break;
            }
        }
        let text = logs();
        if text.contains("grabbed ") && !text.contains("grabbed none") {
            // Give it the moment it needs to write.
            eventually("the probe to try writing", || {
                let t = logs();
                t.contains("wrote") || t.contains("write-refused")
            });
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = logs();
        env.burrow(&["rm", "-f", "g"]).ok();
        assert_eq!(
            sha256(&bin),
            before,
            "{user:?} {extra:?}: burrow was overwritten:\n{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("grabbed ")),
            "{user:?} {extra:?}: a burrow process's exe was opened:\n{text}"
        );
        assert!(
            text.contains("denied 1 "),
            "{user:?} {extra:?}: init not seen:\n{text}"
        );
        assert!(
            seen(&text),
            "{user:?} {extra:?}: no exec helper seen:\n{text}"
        );
    }
}

/// CVE-2019-5736 as it was first shown: the command `exec` runs is a
/// script whose interpreter is `/proc/self/exe`, so the container's
/// process runs burrow's own binary (with the image's libraries: debian's
/// glibc is the host's here), dumpable, in the container. burrow then
/// runs from a read-only mount of itself (or a sealed in-memory copy):
/// what the container reaches refuses every write.
#[test]
fn a_script_run_by_proc_self_exe_cannot_write_burrow() {
    let Some((env, _)) = ready(User::Sub) else {
        return;
    };
    let img = registry().image("debian");
    env.burrow(&["pull", "-q", &img]).ok();
    let bin = users_own_burrow(&env);
    let before = sha256(&bin);
    let meta = std::fs::metadata(&bin).unwrap();
    let (dev, ino) = (meta.dev().to_string(), meta.ino().to_string());
    let pm = probe_mount();
    let as_user_bin = |args: &[&str]| {
        let mut cmd = env.command(&bin, &[]);
        cmd.arg("--root").arg(env.root()).args(args);
        run(cmd, args, None)
    };
    detach(
        &env,
        &[
            "--name", "g", "-v", &pm, &img, "/probe", "grab-exe", "60", &dev, &ino,
        ],
    );
    env.burrow(&[
        "exec",
        "g",
        "sh",
        "-c",
        "printf '#!/proc/self/exe\\n' >/s; chmod 755 /s",
    ])
    .ok();
    let logs = || env.burrow(&["logs", "g"]).ok().stdout.clone();
    let seen = |t: &str| t.contains("grabbed ") || t.contains("/memfd:burrow");
    for _ in 0..40 {
        // burrow runs inside and fails on its arguments ("/s").
        let out = as_user_bin(&["exec", "g", "/s"]);
        assert_ne!(out.code, 0, "{}", out.describe());
        if seen(&logs()) {
            break;
        }
    }
    if logs().contains("grabbed ") {
        eventually("the probe to try writing", || {
            let t = logs();
            t.contains("wrote") || t.contains("write-refused")
        });
    }
    let text = logs();
    env.burrow(&["rm", "-f", "g"]).ok();
    assert_eq!(sha256(&bin), before, "burrow was overwritten:\n{text}");
    assert!(!text.contains("wrote"), "{text}");
    eprintln!("the probe saw:\n{text}");
    assert!(
        seen(&text),
        "burrow was never seen running in the container:\n{text}"
    );
    if text.contains("grabbed ") {
        // The read-only mount: the file, but no write to it.
        assert!(text.contains("write-refused EROFS"), "{text}");
    }
}

/// The state of `pid` from /proc/PID/stat ('Z' for a zombie), if it exists.
fn proc_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Regression (security review, item 3): `exec` without -t ran the
/// command in the caller's session and process group: `kill -TERM 0`
/// killed the caller's other processes, and /dev/tty was the caller's
/// terminal. Like `run`, it gets a session of its own.
#[test]
fn exec_runs_in_a_session_of_its_own() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        detach(&env, &["--name", "s", &img, "sleep", "600"]);
        // A shell in a new session: a sleeping sibling, then burrow exec
        // in the same process group.
        let script = format!(
            "sleep 60 >/dev/null 2>&1 & echo $!; exec {} --root {} exec s sh -c 'kill -TERM 0; echo after-kill'",
            burrow_bin().display(),
            env.root().display()
        );
        let mut cmd = env.command("setsid", &[]);
        cmd.args(["sh", "-c", &script]);
        let out = run(cmd, &["exec", "s", "kill 0"], None);
        let sibling = out.stdout.lines().next().unwrap_or("").trim().to_string();
        assert!(!sibling.is_empty(), "{}", out.describe());
        let state = proc_state(&sibling);
        let _ = std::process::Command::new("kill").arg(&sibling).status();
        // No controlling terminal: /dev/tty is not the caller's.
        let (code, text) = env.burrow_in_terminal(
            "exec s sh -c '(: </dev/tty) && echo TTY-OPENED || echo TTY-REFUSED'",
            b"",
        );
        assert!(text.contains("TTY-REFUSED"), "{user:?}: {text}");
        assert!(!text.contains("TTY-OPENED"), "{user:?}: {text}");
        assert_eq!(code, Some(0), "{text}");
        assert!(
            matches!(state, Some(s) if s != 'Z'),
            "{user:?}: the caller's sibling was killed (state {state:?}):\n{}",
            out.describe()
        );
        // Killed itself (its own group), not the caller: exit 143.
        assert_eq!(out.code, 143, "{}", out.describe());
        assert!(!out.stdout.contains("after-kill"), "{}", out.describe());
        env.burrow(&["rm", "-f", "s"]).ok();
    }
}

/// What the container's stdio fds are, and what it could read by
/// reopening its stderr (the caller's terminal, before the fix).
const LOOK: &str = "for f in 0 1 2; do readlink /proc/self/fd/$f; done; /probe read-fd 2 1500";

/// The fds' targets and the `stolen:` line from LOOK's output.
fn looked(text: &str) -> (Vec<String>, String) {
    let lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    let fds = lines
        .iter()
        .filter(|l| l.starts_with('/') || l.starts_with("pipe:"))
        .cloned()
        .collect();
    let stolen = lines
        .iter()
        .find(|l| l.starts_with("stolen:") || l.starts_with("read-fd "))
        .cloned()
        .unwrap_or_default();
    (fds, stolen)
}

/// Regression (security review, item 4): without -t, `run` gave the
/// container the caller's terminal as stdout and stderr; reopening fd 2
/// for reading got what the user typed. Now every terminal fd is a pipe
/// (stdin /dev/null without -i) that burrow copies, for `run`, `start -a`
/// and `exec`; the output still reaches the terminal.
#[test]
fn the_callers_terminal_is_never_the_containers_stdio() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let pm = probe_mount();
        env.burrow(&["create", "--name", "c", "-v", &pm, &img, "sh", "-c", LOOK])
            .ok();
        detach(&env, &["--name", "d", "-v", &pm, &img, "sleep", "600"]);
        for how in [
            format!("run --rm -v {pm} {img} sh -c '{LOOK}'"),
            "start -a c".to_string(),
            format!("exec d sh -c '{LOOK}'"),
        ] {
            let (code, text) = env.burrow_in_terminal(&how, b"typed-secret\n");
            assert_eq!(code, Some(0), "{how}: {text}");
            let (fds, stolen) = looked(&text);
            assert_eq!(fds.len(), 3, "{how}: {text}");
            assert_eq!(fds[0], "/dev/null", "{user:?} {how}: {text}");
            for fd in &fds[1..] {
                assert!(fd.starts_with("pipe:"), "{user:?} {how}: {text}");
            }
            assert!(stolen.starts_with("stolen:"), "{how}: {text}");
            assert!(!stolen.contains("typed"), "{user:?} {how}: {text}");
        }
        // With -i, a terminal stdin is a pipe too, and what is typed
        // arrives through it.
        for how in [
            format!("run --rm -i {img} sh -c 'readlink /proc/self/fd/0; read l; echo got-$l'"),
            "exec -i d sh -c 'readlink /proc/self/fd/0; read l; echo got-$l'".to_string(),
        ] {
            let (code, text) = env.burrow_in_terminal(&how, b"hello\n");
            assert_eq!(code, Some(0), "{how}: {text}");
            assert!(text.contains("pipe:"), "{user:?} {how}: {text}");
            assert!(text.contains("got-hello"), "{user:?} {how}: {text}");
        }
        env.burrow(&["rm", "-f", "c", "d"]).ok();
    }
}
