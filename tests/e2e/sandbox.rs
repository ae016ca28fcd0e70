//! `burrow sandbox`: a host program confined. Each wall (writing outside
//! the allowed dirs, reading ~/.ssh, reaching the network) is checked to
//! hold by default and to open with its override.

use std::path::Path;

use crate::common::*;

/// `burrow sandbox ARGS...` as the test user, started in `cwd`.
/// The probe's dir (under the host's /tmp, which the sandbox replaces)
/// is always allowed for reading.
fn sandbox(env: &TestEnv, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
    let mut cmd = env.command(burrow_bin(), vars);
    cmd.current_dir(cwd)
        .arg("--root")
        .arg(env.root())
        .arg("sandbox")
        .arg("--allow-read")
        .arg(probe_bin().parent().unwrap());
    cmd.args(args);
    run(cmd, args, None)
}

fn both(test: impl Fn(&TestEnv)) {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        test(&env);
    }
}

#[test]
fn exit_code_and_own_ids_pass_through() {
    both(|env| {
        let out = sandbox(
            env,
            env.dir(),
            &["--", "sh", "-c", "id -u; id -g; exit 7"],
            &[],
        );
        assert_eq!(out.code, 7, "{}", out.describe());
        let (uid, gid) = env.user.ids();
        assert_eq!(out.stdout, format!("{uid}\n{gid}\n"), "{}", out.describe());
        // From /, the working dir would make everything writable.
        let out = sandbox(env, Path::new("/"), &["--", "true"], &[]);
        out.fails(125);
        let out = sandbox(env, env.dir(), &["--", "/no/such/program"], &[]);
        assert_eq!(out.code, 127, "{}", out.describe());
        let probe = probe_bin().display().to_string();
        let out = sandbox(env, env.dir(), &["--", &probe, "status"], &[]);
        out.ok();
        assert!(
            out.stdout.contains("capeff 0000000000000000"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("nonewprivs 1"), "{}", out.stdout);
        assert!(out.stdout.contains("seccomp 2"), "{}", out.stdout);
        let fds = out.stdout.lines().find(|l| l.starts_with("fds ")).unwrap();
        let n: Vec<&str> = fds[4..]
            .split(' ')
            .map(|f| f.split('=').next().unwrap())
            .collect();
        assert!(n.iter().all(|f| ["0", "1", "2", "3"].contains(f)), "{fds}");
    });
}

#[test]
fn writes_outside_the_allowed_dirs_fail() {
    both(|env| {
        let work = env.mkdir("work");
        let outside = env.mkdir("outside");
        // A name of this test's own in /tmp, so the host's /tmp can be
        // checked for it afterwards.
        let tmp_name = format!(
            "/tmp/{}-t",
            env.dir().file_name().unwrap().to_string_lossy()
        );
        let script = format!(
            "echo in > {w}/in && echo ok-in; echo out > {o}/out && echo ok-out; \
             echo tmp > {tmp_name} && echo ok-tmp",
            w = work.display(),
            o = outside.display()
        );
        let out = sandbox(env, &work, &["--", "sh", "-c", &script], &[]);
        assert!(out.stdout.contains("ok-in"), "{}", out.describe());
        assert!(out.stdout.contains("ok-tmp"), "{}", out.describe());
        assert!(!out.stdout.contains("ok-out"), "{}", out.describe());
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.describe()
        );
        assert!(!outside.join("out").exists());
        // The private /tmp leaves nothing on the host.
        let od = outside.display().to_string();
        let out = sandbox(
            env,
            &work,
            &["--allow-write", &od, "--", "sh", "-c", &script],
            &[],
        );
        assert!(out.stdout.contains("ok-out"), "{}", out.describe());
        assert_eq!(
            std::fs::read_to_string(outside.join("out")).unwrap(),
            "out\n"
        );
        assert!(out.stdout.contains("ok-tmp"), "{}", out.describe());
        assert!(
            !Path::new(&tmp_name).exists(),
            "{tmp_name} left on the host"
        );
    });
}

#[test]
fn secrets_are_hidden_unless_allowed() {
    both(|env| {
        let home = env.dir().join("home");
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("id_ed25519"), "SECRET-KEY\n").unwrap();
        std::fs::write(home.join("notes"), "plain\n").unwrap();
        for p in [&ssh, &ssh.join("id_ed25519"), &home.join("notes")] {
            env.user.chown(p);
        }
        let h = home.display().to_string();
        let vars = [("HOME", h.as_str())];
        let script = "cat ~/notes; cat ~/.ssh/id_ed25519";
        // The working dir holds $HOME, so only the mask hides .ssh.
        let out = sandbox(env, env.dir(), &["--", "sh", "-c", script], &vars);
        assert!(out.stdout.contains("plain"), "{}", out.describe());
        assert!(!out.stdout.contains("SECRET-KEY"), "{}", out.describe());
        let sd = ssh.display().to_string();
        let out = sandbox(
            env,
            env.dir(),
            &["--allow-read", &sd, "--", "sh", "-c", script],
            &vars,
        );
        assert!(out.stdout.contains("SECRET-KEY"), "{}", out.describe());
        // Read only, even when allowed.
        // The shell and $HOME work: the write beside .ssh succeeds.
        let write = "echo x > ~/.ssh/new; echo ssh=$?; echo y > ~/beside && echo beside-ok";
        let out = sandbox(
            env,
            env.dir(),
            &["--allow-read", &sd, "--", "sh", "-c", write],
            &vars,
        );
        assert_eq!(out.stdout, "ssh=2\nbeside-ok\n", "{}", out.describe());
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.describe()
        );
        assert!(!ssh.join("new").exists());
        assert!(home.join("beside").exists());
    });
}

#[test]
fn the_network_is_out_of_reach() {
    both(|env| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let vars = [("PROBE_PORT", port.as_str())];
        let probe = probe_bin().display().to_string();
        let out = sandbox(
            env,
            env.dir(),
            &["--", &probe, "try", "connect-loopback"],
            &vars,
        );
        out.ok();
        assert!(
            out.stdout.starts_with("connect-loopback "),
            "{}",
            out.describe()
        );
        assert!(!out.stdout.contains(" ok"), "{}", out.describe());
        let out = sandbox(
            env,
            env.dir(),
            &["--network", "host", "--", &probe, "try", "connect-loopback"],
            &vars,
        );
        out.ok();
        assert_eq!(out.stdout, "connect-loopback ok\n", "{}", out.describe());
    });
}

#[test]
fn seccomp_holds_in_the_sandbox() {
    both(|env| {
        let probe = probe_bin().display().to_string();
        let out = sandbox(env, env.dir(), &["--", &probe, "try", "keyctl"], &[]);
        assert_eq!(out.stdout, "keyctl EPERM\n", "{}", out.describe());
        let out = sandbox(
            env,
            env.dir(),
            &["--seccomp", "unconfined", "--", &probe, "try", "keyctl"],
            &[],
        );
        assert_eq!(out.stdout, "keyctl ok\n", "{}", out.describe());
    });
}

#[test]
fn profiles_and_the_terminal() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // A profile file that grants no write: Landlock refuses what the
    // mounts allow.
    let ro = env.write(
        "ro.json",
        br#"{"paths":[{"path":"/","access":["read","execute"]}]}"#,
    );
    let script = "echo x > here && echo WROTE";
    let rp = ro.display().to_string();
    let out = sandbox(
        &env,
        env.dir(),
        &["--profile", &rp, "--", "sh", "-c", script],
        &[],
    );
    assert!(!out.stdout.contains("WROTE"), "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    let out = sandbox(&env, env.dir(), &["--", "sh", "-c", script], &[]);
    assert_eq!(out.stdout, "WROTE\n", "{}", out.describe());
    let out = sandbox(&env, env.dir(), &["--profile", "nope", "--", "true"], &[]);
    out.fails(125);
    // A terminal passes through (script(1) gives burrow one).
    let probe = probe_bin();
    let args = format!(
        "sandbox --allow-read {} -- sh -c \
         'test -t 0 && test -t 1 && echo IS-TTY; {} try tiocsti; exit 4'",
        probe.parent().unwrap().display(),
        probe.display()
    );
    let (code, text) = env.burrow_in_terminal(&args, b"");
    assert!(text.contains("IS-TTY"), "{text}");
    // No typing into the terminal's input queue.
    assert!(text.contains("tiocsti EPERM"), "{text}");
    assert_eq!(code, Some(4), "{text}");
}

#[test]
fn the_program_itself_is_granted_not_its_neighbours() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let work = env.mkdir("work");
    let bin = env.mkdir("bin");
    let p = bin.join("p");
    std::fs::copy(probe_bin(), &p).unwrap();
    env.user.chown(&p);
    let ps = p.display().to_string();
    // untrusted-binary grants the system dirs and the working dir only;
    // the program named on the command line is granted too.
    let prof = ["--profile", "untrusted-binary", "--"];
    let out = sandbox(
        &env,
        &work,
        &[&prof[..], &[&ps, "try", "keyctl"]].concat(),
        &[],
    );
    assert_eq!(out.stdout, "keyctl EPERM\n", "{}", out.describe());
    let script = format!("{ps} try keyctl");
    let out = sandbox(
        &env,
        &work,
        &[&prof[..], &["sh", "-c", &script]].concat(),
        &[],
    );
    assert_eq!(out.code, 126, "{}", out.describe());
}
