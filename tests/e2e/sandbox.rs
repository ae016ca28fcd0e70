//! `burrow sandbox`: a host program confined. Each wall (writing outside
//! the allowed dirs, reading the home, the host's sockets, the caller's
//! environment, reaching the network) is checked to hold by default and to
//! open with its override.

use std::path::{Path, PathBuf};

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
        let work = env.mkdir("work");
        let out = sandbox(env, &work, &["--", "sh", "-c", "id -u; id -g; exit 7"], &[]);
        assert_eq!(out.code, 7, "{}", out.describe());
        let (uid, gid) = env.user.ids();
        assert_eq!(out.stdout, format!("{uid}\n{gid}\n"), "{}", out.describe());
        // From /, the working dir would make everything writable.
        let out = sandbox(env, Path::new("/"), &["--", "true"], &[]);
        out.fails(125);
        let out = sandbox(env, &work, &["--", "/no/such/program"], &[]);
        assert_eq!(out.code, 127, "{}", out.describe());
        let probe = probe_bin().display().to_string();
        let out = sandbox(env, &work, &["--", &probe, "status"], &[]);
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
fn the_home_is_hidden_unless_allowed() {
    both(|env| {
        // $HOME (the harness's, a scratch dir) holds a key and a note.
        let home = env.dir().join("home");
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("id_ed25519"), "SECRET-KEY\n").unwrap();
        std::fs::write(home.join("notes"), "plain\n").unwrap();
        for p in [&ssh, &ssh.join("id_ed25519"), &home.join("notes")] {
            env.user.chown(p);
        }
        let work = env.mkdir("work");
        let script = "cat ~/notes; cat ~/.ssh/id_ed25519; echo scratch > ~/new && cat ~/new";
        // An allow-list: not even the plain note is there; the home is a
        // private scratch dir that the host never sees.
        let out = sandbox(env, &work, &["--", "sh", "-c", script], &[]);
        assert!(!out.stdout.contains("plain"), "{}", out.describe());
        assert!(!out.stdout.contains("SECRET-KEY"), "{}", out.describe());
        assert!(out.stdout.contains("scratch"), "{}", out.describe());
        assert!(!home.join("new").exists());
        let sd = ssh.display().to_string();
        let out = sandbox(
            env,
            &work,
            &["--allow-read", &sd, "--", "sh", "-c", script],
            &[],
        );
        assert!(out.stdout.contains("SECRET-KEY"), "{}", out.describe());
        assert!(!out.stdout.contains("plain"), "{}", out.describe());
        // Read only, even when allowed.
        // The shell and $HOME work: the write beside .ssh succeeds.
        let write = "echo x > ~/.ssh/new; echo ssh=$?; echo y > ~/beside && echo beside-ok";
        let out = sandbox(
            env,
            &work,
            &["--allow-read", &sd, "--", "sh", "-c", write],
            &[],
        );
        assert_eq!(out.stdout, "ssh=2\nbeside-ok\n", "{}", out.describe());
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.describe()
        );
        assert!(!ssh.join("new").exists());
        // Named by a symlink (dotfiles), it is found where it is named.
        let dotfiles = home.join("dotfiles");
        std::fs::create_dir_all(&dotfiles).unwrap();
        std::fs::write(dotfiles.join("gitconfig"), "[user] name = me\n").unwrap();
        std::os::unix::fs::symlink("dotfiles/gitconfig", home.join(".gitconfig")).unwrap();
        for p in [&dotfiles, &dotfiles.join("gitconfig")] {
            env.user.chown(p);
        }
        let gc = home.join(".gitconfig").display().to_string();
        let out = sandbox(
            env,
            &work,
            &["--allow-read", &gc, "--", "sh", "-c", "cat ~/.gitconfig"],
            &[],
        );
        out.ok();
        assert_eq!(out.stdout, "[user] name = me\n", "{}", out.describe());
    });
}

/// Files made in the test user's real home (the password database's, not
/// the harness's $HOME), removed again when dropped, even after a failed
/// assertion.
struct InRealHome {
    made: Vec<PathBuf>,
}

impl InRealHome {
    fn home(user: User) -> PathBuf {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let line = passwd
            .lines()
            .find(|l| l.starts_with(&format!("{}:", user.name())))
            .expect("test user in /etc/passwd");
        PathBuf::from(line.split(':').nth(5).unwrap())
    }

    /// Write `rel` (and its missing parent dirs) in `user`'s home.
    fn write(&mut self, user: User, rel: &str, content: &str) -> PathBuf {
        let home = Self::home(user);
        let p = home.join(rel);
        let mut top = p.clone();
        while top.parent() != Some(&home) {
            top = top.parent().unwrap().to_path_buf();
        }
        if !top.exists() && !self.made.contains(&top) {
            self.made.push(top);
        }
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        let mut q = p.clone();
        while q != home {
            user.chown(&q);
            q = q.parent().unwrap().to_path_buf();
        }
        p
    }
}

impl Drop for InRealHome {
    fn drop(&mut self) {
        for p in &self.made {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

/// Regression (security review, item 6): secrets off the old fixed list,
/// burrow's store, and the real home when $HOME points elsewhere or is
/// unset were all readable.
#[test]
fn secrets_of_the_real_home_and_the_store_stay_hidden() {
    both(|env| {
        let mut made = InRealHome { made: vec![] };
        let tag = format!("{}", std::process::id());
        let secrets = [
            ".ssh/id_ed25519",
            ".docker/config.json",
            ".config/containers/auth.json",
            ".local/share/containers/auth.json",
            ".vault-token",
            ".pgpass",
            ".my.cnf",
            ".s3cfg",
            ".terraform.d/credentials.tfrc.json",
            ".config/rclone/rclone.conf",
            ".config/sops/age/keys.txt",
            ".bash_history",
            ".zsh_history",
        ];
        let mut paths = Vec::new();
        for s in secrets {
            paths.push(made.write(env.user, s, &format!("SECRET-{s}\n")));
        }
        let proj = format!("burrow-e2e-proj-{tag}");
        made.write(env.user, &format!("{proj}/README"), "project\n");
        let proj = InRealHome::home(env.user).join(proj);
        // Another container's record in burrow's store.
        let record = env.root().join("containers/c0ffee/config.json");
        std::fs::create_dir_all(record.parent().unwrap()).unwrap();
        std::fs::write(&record, "SECRET-STORE GITHUB_TOKEN=x\n").unwrap();
        paths.push(record);
        let script: String = paths
            .iter()
            .map(|p| format!("cat {} 2>/dev/null; ", p.display()))
            .collect::<String>()
            + "cat README";
        // $HOME pointing elsewhere (the harness's scratch home), then unset.
        for (what, unset_home) in [("HOME elsewhere", false), ("HOME unset", true)] {
            let mut cmd = env.command(burrow_bin(), &[]);
            if unset_home {
                cmd.env_remove("HOME");
            }
            cmd.current_dir(&proj)
                .arg("--root")
                .arg(env.root())
                .args(["sandbox", "--", "sh", "-c", &script]);
            let out = run(cmd, &[what], None);
            out.ok();
            // The working dir inside the home is there, nothing else.
            assert!(out.stdout.contains("project"), "{what}: {}", out.describe());
            assert!(!out.stdout.contains("SECRET"), "{what}: {}", out.describe());
        }
        // Named, a secret can be read.
        let pg = paths[5].display().to_string();
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.current_dir(&proj).arg("--root").arg(env.root()).args([
            "sandbox",
            "--allow-read",
            &pg,
            "--",
            "sh",
            "-c",
            &script,
        ]);
        let out = run(cmd, &["allow-read"], None);
        assert_eq!(
            out.stdout,
            "SECRET-.pgpass\nproject\n",
            "{}",
            out.describe()
        );
    });
}

/// Regression (security review, item 5): started in the home, the program
/// could write ~/.bashrc, which the user's next shell runs unconfined.
#[test]
fn a_home_as_the_working_dir_is_refused() {
    both(|env| {
        let home = InRealHome::home(env.user);
        let bashrc = home.join(".bashrc");
        let before = std::fs::read_to_string(&bashrc).ok();
        let script = "echo 'echo PWNED' >> .bashrc; echo ran";
        // The harness's $HOME is a scratch dir: the password database
        // decides what the home is.
        let out = sandbox(env, &home, &["--", "sh", "-c", script], &[]);
        let after = std::fs::read_to_string(&bashrc).ok();
        if after != before {
            match &before {
                Some(b) => std::fs::write(&bashrc, b).unwrap(),
                None => std::fs::remove_file(&bashrc).unwrap(),
            }
        }
        assert_eq!(after, before, "~/.bashrc was changed: {}", out.describe());
        out.fails(125);
        assert!(
            out.stderr
                .contains(&format!("--allow-write {}", home.display())),
            "{}",
            out.describe()
        );
        // Above the home, a dir of it whose files run later, and a dir
        // holding startup files.
        let out = sandbox(env, home.parent().unwrap(), &["--", "true"], &[]);
        out.fails(125);
        // (~/bin, on the PATH: a dir no other test here makes.)
        let mut made = InRealHome { made: vec![] };
        made.write(env.user, "bin/keep", "");
        let bin = home.join("bin");
        let trojan = "printf '#!/bin/sh\\necho PWNED\\n' > ls && chmod +x ls";
        let out = sandbox(env, &bin, &["--", "sh", "-c", trojan], &[]);
        out.fails(125);
        assert!(!bin.join("ls").exists(), "{}", out.describe());
        drop(made);
        let other = env.mkdir("other");
        std::fs::create_dir_all(other.join(".config/autostart")).unwrap();
        let out = sandbox(env, &other, &["--", "sh", "-c", "echo x > y"], &[]);
        out.fails(125);
        assert!(!other.join("y").exists());
        // Named explicitly, it is the user's choice.
        let od = other.display().to_string();
        let out = sandbox(
            env,
            &other,
            &["--allow-write", &od, "--", "sh", "-c", "echo x > y"],
            &[],
        );
        out.ok();
        assert!(other.join("y").exists());
    });
}

/// Regression (security review, item 6): the caller's whole environment,
/// tokens included, went into the sandbox.
#[test]
fn the_environment_is_an_allow_list() {
    both(|env| {
        let work = env.mkdir("work");
        let vars = [
            ("GITHUB_TOKEN", "ghp-SECRET"),
            ("AWS_SECRET_ACCESS_KEY", "aws-SECRET"),
            ("LC_TIME", "C"),
        ];
        let out = sandbox(env, &work, &["--", "env"], &vars);
        out.ok();
        assert!(!out.stdout.contains("SECRET"), "{}", out.describe());
        for want in ["PATH=", "LANG=C.UTF-8", "LC_TIME=C", "USER=", "HOME="] {
            assert!(out.stdout.contains(want), "{want}: {}", out.describe());
        }
        assert!(
            out.stdout.contains(&format!("PWD={}\n", work.display())),
            "{}",
            out.describe()
        );
        let out = sandbox(
            env,
            &work,
            &["--env", "GITHUB_TOKEN", "-e", "FOO=bar", "--", "env"],
            &vars,
        );
        out.ok();
        assert!(
            out.stdout.contains("GITHUB_TOKEN=ghp-SECRET\n"),
            "{}",
            out.describe()
        );
        assert!(out.stdout.contains("FOO=bar\n"), "{}", out.describe());
        assert!(!out.stdout.contains("aws-SECRET"), "{}", out.describe());
    });
}

/// `/run/user/UID` for a test user, with what the test put in it; removed
/// again when dropped (with the dirs the test had to make).
struct RunUserDir {
    dir: PathBuf,
    made: Vec<PathBuf>,
}

impl RunUserDir {
    fn new(user: User) -> RunUserDir {
        let (uid, _) = user.ids();
        let dir = PathBuf::from(format!("/run/user/{uid}"));
        let mut made = Vec::new();
        for d in [Path::new("/run/user"), &dir] {
            if !d.exists() {
                std::fs::create_dir(d).unwrap();
                made.push(d.to_path_buf());
            }
        }
        user.chown(&dir);
        RunUserDir { dir, made }
    }
}

impl Drop for RunUserDir {
    fn drop(&mut self) {
        let tag = format!("burrow-e2e-{}", std::process::id());
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&tag) {
                    let p = e.path();
                    let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
                }
            }
        }
        for d in self.made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Regression (security review, item 6): Landlock ABI < 9 cannot stop a
/// connect() to a socket by path, and /run/user/UID (the session bus,
/// ssh-agent, podman's socket and its auth.json) was in reach.
#[test]
fn host_sockets_are_out_of_reach() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        skip("no /usr/bin/python3 to connect to a UNIX socket with");
        return;
    }
    both(|env| {
        let run_user = RunUserDir::new(env.user);
        let tag = format!("burrow-e2e-{}", std::process::id());
        let sock = run_user.dir.join(format!("{tag}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        listener.set_nonblocking(true).unwrap();
        env.user.chown(&sock);
        // podman keeps its registry logins here.
        let auth = run_user.dir.join(format!("{tag}-containers/auth.json"));
        std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
        std::fs::write(&auth, "SECRET-PODMAN\n").unwrap();
        env.user.chown(auth.parent().unwrap());
        env.user.chown(&auth);
        let work = env.mkdir("work");
        let connect = format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\n\
             try:\n    s.connect({:?}); print('CONNECTED')\n\
             except OSError as e: print('refused', e.strerror)\n\
             try:\n    print(open({:?}).read())\n\
             except OSError as e: print('unread', e.strerror)",
            sock.display().to_string(),
            auth.display().to_string(),
        );
        let var_run = connect.replace("/run/user", "/var/run/user");
        for code in [&connect, &var_run] {
            let out = sandbox(env, &work, &["--", "/usr/bin/python3", "-c", code], &[]);
            out.ok();
            // The listener is the witness: nothing came in.
            assert!(listener.accept().is_err(), "{}", out.describe());
            assert!(out.stdout.starts_with("refused"), "{}", out.describe());
            assert!(!out.stdout.contains("SECRET"), "{}", out.describe());
        }
    });
}

/// Issue #20 item 11: without a network the errors are those of a machine
/// without one (a refused connection, no route), not Landlock's EACCES,
/// which tools such as wget retry for minutes.
#[test]
fn the_network_is_out_of_reach() {
    both(|env| {
        let work = env.mkdir("work");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let vars = [("PROBE_PORT", port.as_str())];
        let probe = probe_bin().display().to_string();
        // Loopback of its own, where nobody listens: the port is not
        // even passed in (an allow-listed environment), then it is.
        for args in [&[][..], &["--env", "PROBE_PORT"][..]] {
            let args = [args, &["--", &probe, "try", "connect-loopback"]].concat();
            let out = sandbox(env, &work, &args, &vars);
            out.ok();
            assert_eq!(
                out.stdout,
                "connect-loopback ECONNREFUSED\n",
                "{}",
                out.describe()
            );
        }
        let out = sandbox(
            env,
            &work,
            &[
                "--network",
                "host",
                "-e",
                "PROBE_PORT",
                "--",
                &probe,
                "try",
                "connect-loopback",
            ],
            &vars,
        );
        out.ok();
        assert_eq!(out.stdout, "connect-loopback ok\n", "{}", out.describe());
    });
}

/// Issue #20 item 11: what Landlock cannot enforce here is said once, not
/// on every call; `--log-level info` says it again.
#[test]
fn the_landlock_warning_is_said_once() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let work = env.mkdir("work");
    let first = sandbox(&env, &work, &["--", "true"], &[]);
    first.ok();
    let warned = first.stderr.contains("warning: Landlock");
    let second = sandbox(&env, &work, &["--", "true"], &[]);
    second.ok();
    assert!(!second.stderr.contains("Landlock"), "{}", second.describe());
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.current_dir(&work).arg("--root").arg(env.root()).args([
        "--log-level",
        "info",
        "sandbox",
        "--",
        "true",
    ]);
    let third = run(cmd, &["--log-level info"], None);
    third.ok();
    assert_eq!(
        third.stderr.contains("Landlock"),
        warned,
        "{}",
        third.describe()
    );
    if !warned {
        skip("this kernel's Landlock enforces all the sandbox asks: no warning to check");
    }
}

#[test]
fn seccomp_holds_in_the_sandbox() {
    both(|env| {
        let work = env.mkdir("work");
        let probe = probe_bin().display().to_string();
        let out = sandbox(env, &work, &["--", &probe, "try", "keyctl"], &[]);
        assert_eq!(out.stdout, "keyctl EPERM\n", "{}", out.describe());
        let out = sandbox(
            env,
            &work,
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
    let work = env.mkdir("work");
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
        &work,
        &["--profile", &rp, "--", "sh", "-c", script],
        &[],
    );
    assert!(!out.stdout.contains("WROTE"), "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    let out = sandbox(&env, &work, &["--", "sh", "-c", script], &[]);
    assert_eq!(out.stdout, "WROTE\n", "{}", out.describe());
    let out = sandbox(&env, &work, &["--profile", "nope", "--", "true"], &[]);
    out.fails(125);
    // A terminal passes through (script(1) gives burrow one). It runs
    // in the scratch dir, which holds $HOME: allowed by naming it.
    let probe = probe_bin();
    let args = format!(
        "sandbox --allow-write {} --allow-read {} -- sh -c \
         'test -t 0 && test -t 1 && echo IS-TTY; {} try tiocsti; exit 4'",
        env.dir().display(),
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
