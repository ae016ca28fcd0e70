//! burrow as an OCI runtime: `burrow oci ...` and the binary invoked as
//! `burrow-runc`, on bundles made by `burrow export-bundle`, driven
//! directly (the runtime-spec's state machine) and by podman.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::common::*;
use crate::live::eventually;

/// A test env with the busybox fixture exported as a bundle, and a
/// `burrow-runc` link to the binary.
struct Oci {
    env: TestEnv,
    bundle: PathBuf,
    runc: PathBuf,
}

impl Oci {
    fn new(user: User, image: &str) -> Option<Oci> {
        let env = TestEnv::new(user)?;
        let img = registry().image(image);
        env.burrow(&["pull", "-q", &img]).ok();
        let bundle = env.dir().join("bundle");
        env.burrow(&["export-bundle", &img, bundle.to_str().unwrap()])
            .ok();
        let runc = env.dir().join("burrow-runc");
        std::os::unix::fs::symlink(burrow_bin(), &runc).unwrap();
        env.mkdir("run");
        Some(Oci { env, bundle, runc })
    }

    fn config(&self) -> Value {
        let text = std::fs::read_to_string(self.bundle.join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn set_config(&self, edit: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        edit(&mut c);
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    fn set_args(&self, args: &[&str]) {
        self.set_config(|c| c["process"]["args"] = json!(args));
    }

    /// The runtime's state root in this env.
    fn state_root(&self) -> PathBuf {
        self.env.dir().join("run/burrow-runc")
    }

    /// `burrow-runc ARGS` as the test user, in the bundle dir. Its output
    /// goes through files: a container it creates keeps its stdio (as
    /// runc's does), so pipes would stay open as long as the container.
    fn runc(&self, args: &[&str]) -> Outcome {
        let run = self.env.dir().join("run");
        let mut cmd = self
            .env
            .command(&self.runc, &[("XDG_RUNTIME_DIR", run.to_str().unwrap())]);
        cmd.current_dir(&self.bundle).args(args);
        let (out, err) = (self.env.dir().join("out"), self.env.dir().join("err"));
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        let status = cmd.status().expect("spawn");
        Outcome {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out).unwrap(),
            stderr: std::fs::read_to_string(&err).unwrap(),
        }
    }

    /// `burrow oci ARGS` (the same runtime under burrow's own verb).
    fn oci(&self, args: &[&str]) -> Outcome {
        let run = self.env.dir().join("run");
        let mut all = vec!["oci"];
        all.extend_from_slice(args);
        let mut cmd = self
            .env
            .command(burrow_bin(), &[("XDG_RUNTIME_DIR", run.to_str().unwrap())]);
        cmd.current_dir(&self.bundle).args(&all);
        crate::common::run(cmd, &all, None)
    }

    fn state(&self, id: &str) -> Value {
        let out = self.runc(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }
}

fn each_user(test: impl Fn(&Oci)) {
    for user in [User::Sub, User::NoSub] {
        let Some(oci) = Oci::new(user, "busybox") else {
            return;
        };
        test(&oci);
    }
}

fn cmdline(pid: i64) -> String {
    let b = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&b).replace('\0', " ")
}

#[test]
fn oci_state_machine_create_start_kill_delete() {
    each_user(|oci| {
        oci.set_args(&["sleep", "1000"]);
        let pid_file = oci.env.dir().join("c1.pid");
        oci.runc(&["create", "--pid-file", pid_file.to_str().unwrap(), "c1"])
            .ok();
        let st = oci.state("c1");
        assert_eq!(st["status"], "created", "{st}");
        assert_eq!(st["ociVersion"], "1.0.2");
        assert_eq!(st["bundle"], oci.bundle.to_str().unwrap());
        let pid = st["pid"].as_i64().unwrap();
        let written = std::fs::read_to_string(&pid_file).unwrap();
        assert_eq!(written.trim(), pid.to_string());
        // Created: set up but waiting, not the command yet.
        assert!(!cmdline(pid).contains("sleep"), "{}", cmdline(pid));
        // The same container seen through `burrow oci`.
        let out = oci.oci(&["state", "c1"]);
        assert!(out.ok().stdout.contains("\"created\""));

        oci.runc(&["start", "c1"]).ok();
        assert_eq!(oci.state("c1")["status"], "running");
        eventually("the command runs", || {
            cmdline(pid).starts_with("sleep 1000")
        });
        // The wrong order: the spec's errors, one line each.
        let e = oci.runc(&["start", "c1"]);
        e.fails(125);
        assert!(e.stderr.contains("already running"), "{}", e.describe());
        let e = oci.runc(&["delete", "c1"]);
        e.fails(125);
        assert!(e.stderr.contains("is running"), "{}", e.describe());

        oci.runc(&["kill", "c1", "KILL"]).ok();
        eventually("the container stops", || {
            oci.state("c1")["status"] == "stopped"
        });
        assert_eq!(oci.state("c1")["pid"], 0);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || cmdline(pid).is_empty());
        let e = oci.runc(&["kill", "c1"]);
        e.fails(125);
        assert!(e.stderr.contains("not running"), "{}", e.describe());
        let e = oci.runc(&["start", "c1"]);
        e.fails(125);

        oci.runc(&["delete", "c1"]).ok();
        assert!(!oci.state_root().join("c1").exists());
        let e = oci.runc(&["state", "c1"]);
        e.fails(125);
        assert!(e.stderr.contains("does not exist"), "{}", e.describe());
        // A created container is not stopped: delete refuses it (the
        // spec), --force kills its waiting init.
        oci.runc(&["create", "c2"]).ok();
        let pid = oci.state("c2")["pid"].as_i64().unwrap();
        let e = oci.runc(&["delete", "c2"]);
        e.fails(125);
        assert!(e.stderr.contains("is created"), "{}", e.describe());
        assert_eq!(oci.state("c2")["status"], "created");
        oci.runc(&["delete", "--force", "c2"]).ok();
        assert!(cmdline(pid).is_empty(), "{}", cmdline(pid));
    });
}

/// The runtime-spec: `process` is optional at create and required by
/// start, which must fail; the container then ends and delete removes it.
#[test]
fn oci_create_without_process_then_start_fails() {
    each_user(|oci| {
        oci.set_config(|c| {
            c.as_object_mut().unwrap().remove("process");
        });
        oci.runc(&["create", "np"]).ok();
        let st = oci.state("np");
        assert_eq!(st["status"], "created", "{st}");
        let pid = st["pid"].as_i64().unwrap();
        assert!(!cmdline(pid).is_empty(), "the init waits");

        let e = oci.runc(&["start", "np"]);
        e.fails(125);
        assert!(e.stderr.contains("has no process"), "{}", e.describe());
        assert_eq!(e.stderr.lines().count(), 1, "{}", e.describe());
        // Nothing ran; the waiting init is gone.
        assert_eq!(oci.state("np")["status"], "stopped");
        assert!(cmdline(pid).is_empty(), "{}", cmdline(pid));
        oci.runc(&["delete", "np"]).ok();
        assert!(!oci.state_root().join("np").exists());
    });
}

/// runc's `spec --rootless` lists ambient caps with no inheritable set;
/// the kernel cannot raise those, and runc runs the command without them.
#[test]
fn oci_ambient_caps_without_inheritable_are_left_out_as_runc_does() {
    each_user(|oci| {
        oci.set_config(|c| {
            c["process"]["args"] = json!(["grep", "-E", "Cap(Eff|Amb)", "/proc/self/status"]);
            let kill = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
            c["process"]["capabilities"] = json!({
                "bounding": kill, "permitted": kill, "effective": kill, "ambient": kill
            });
        });
        let out = oci.runc(&["run", "amb"]);
        assert_eq!(out.code, 0, "{}", out.describe());
        // CAP_KILL (5) and CAP_NET_BIND_SERVICE (10); no ambient set.
        assert!(
            out.stdout.contains("CapEff:\t0000000000000420"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("CapAmb:\t0000000000000000"),
            "{}",
            out.stdout
        );
    });
}

#[test]
fn oci_run_gives_the_output_exit_code_and_config() {
    each_user(|oci| {
        oci.set_config(|c| {
            c["hostname"] = json!("oci-test");
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "echo hello from $(hostname) as $(id -u):$(id -g) in $PWD; \
                 grep -E 'Cap(Eff|Inh|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status; \
                 ulimit -n; exit 3"
            ]);
            c["process"]["user"] = json!({"uid": 0, "gid": 0});
            c["process"]["cwd"] = json!("/tmp");
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"],
                "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
            });
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 100}]);
        });
        // Hooks get the state on stdin.
        let hook = |name: &str| {
            let f = oci.env.dir().join(format!("{name}.json"));
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", f.display())]})
        };
        oci.set_config(|c| {
            c["hooks"] = json!({"prestart": [hook("prestart")], "poststop": [hook("poststop")]})
        });
        let out = oci.runc(&["run", "r1"]);
        assert_eq!(out.code, 3, "{}", out.describe());
        let read = |name: &str| -> Value {
            let p = oci.env.dir().join(format!("{name}.json"));
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let (pre, post) = (read("prestart"), read("poststop"));
        assert_eq!(
            (&pre["id"], &pre["status"]),
            (&json!("r1"), &json!("created"))
        );
        assert!(pre["pid"].as_i64().unwrap() > 0, "{pre}");
        assert_eq!(post["status"], "stopped");
        oci.set_config(|c| c["hooks"] = json!({}));
        assert!(
            out.stdout.contains("hello from oci-test as 0:0 in /tmp"),
            "{}",
            out.describe()
        );
        // CAP_KILL alone is bit 5.
        for set in ["CapEff", "CapInh", "CapAmb"] {
            let line = format!("{set}:\t0000000000000020");
            assert!(out.stdout.contains(&line), "{set}: {}", out.stdout);
        }
        assert!(out.stdout.contains("NoNewPrivs:\t1"), "{}", out.stdout);
        assert!(out.stdout.lines().any(|l| l == "100"), "{}", out.stdout);
        // run deletes what it made.
        assert!(!oci.state_root().join("r1").exists());

        // The spec's seccomp format, through burrow's compiler.
        oci.set_config(|c| {
            c["process"]["args"] = json!(["mkdir", "/tmp/d"]);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
        });
        let out = oci.runc(&["run", "r2"]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(
            out.stderr.contains("Operation not permitted"),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn oci_refuses_what_it_cannot_do_naming_the_field() {
    let Some(oci) = Oci::new(User::Sub, "busybox") else {
        return;
    };
    oci.set_config(|c| c["linux"]["resources"] = json!({"memory": {"limit": 1000000}}));
    let log = oci.env.dir().join("runtime.log");
    let log_arg = format!("--log={}", log.display());
    let e = oci.runc(&[
        &log_arg,
        "--log-format",
        "json",
        "--systemd-cgroup",
        "create",
        "m1",
    ]);
    e.fails(125);
    // The log gets the error (conmon reads it) and the note that
    // --systemd-cgroup is not supported, one JSON object a line.
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "warning"
            && l["msg"]
                .as_str()
                .unwrap()
                .starts_with("--systemd-cgroup: not supported")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["level"] == "error"
            && l["msg"]
                .as_str()
                .unwrap()
                .starts_with("linux.resources.memory:")),
        "{lines:?}"
    );
    assert!(
        e.stderr.starts_with("burrow: linux.resources.memory:"),
        "{}",
        e.describe()
    );
    assert!(!oci.state_root().join("m1").exists(), "nothing half-made");
    oci.set_config(|c| {
        c["linux"]["resources"] = json!({});
        c["process"]["args"] = json!(["no-such-command"]);
    });
    let e = oci.runc(&["create", "m2"]);
    e.fails(127);
    assert!(
        e.stderr.contains("executable file not found"),
        "{}",
        e.describe()
    );
    assert!(!oci.state_root().join("m2").exists());
    let e = oci.runc(&["pause", "m2"]);
    e.fails(125);
    let e = oci.runc(&["create", "../x"]);
    e.fails(125);
    assert!(
        e.stderr.contains("invalid container id"),
        "{}",
        e.describe()
    );
}

#[test]
fn oci_joins_namespaces_by_path() {
    let Some(oci) = Oci::new(User::Sub, "busybox") else {
        return;
    };
    oci.set_args(&["sleep", "1000"]);
    oci.runc(&["run", "--detach", "a"]).ok();
    let a = oci.state("a")["pid"].as_i64().unwrap();
    oci.set_config(|c| {
        let ns = |t: &str| json!({"type": t, "path": format!("/proc/{a}/ns/{t}")});
        // The hostname goes to the joined uts namespace (runc's rule).
        c["hostname"] = json!("joined");
        c["linux"]["namespaces"] = json!([
            ns("user"), {"type": "network", "path": format!("/proc/{a}/ns/net")},
            ns("uts"), {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}
        ]);
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        c["linux"].as_object_mut().unwrap().remove("gidMappings");
    });
    oci.runc(&["run", "--detach", "b"]).ok();
    let b = oci.state("b")["pid"].as_i64().unwrap();
    let ns = |pid: i64, t: &str| std::fs::read_link(format!("/proc/{pid}/ns/{t}")).unwrap();
    assert_eq!(ns(a, "net"), ns(b, "net"));
    assert_eq!(ns(a, "user"), ns(b, "user"));
    assert_eq!(ns(a, "uts"), ns(b, "uts"));
    assert_ne!(ns(a, "pid"), ns(b, "pid"));
    let out = oci.runc(&["exec", "a", "hostname"]);
    assert_eq!(out.ok().stdout.trim(), "joined");
    oci.runc(&["delete", "--force", "b"]).ok();
    oci.runc(&["delete", "--force", "a"]).ok();
}

#[test]
fn oci_exec_ps_and_forced_delete() {
    each_user(|oci| {
        oci.set_args(&["sleep", "1000"]);
        oci.runc(&["create", "e1"]).ok();
        oci.runc(&["start", "e1"]).ok();
        let pid = oci.state("e1")["pid"].as_i64().unwrap();
        let out = oci.runc(&[
            "exec",
            "e1",
            "sh",
            "-c",
            "echo in $(cat /proc/1/cmdline | tr '\\0' ' '); exit 4",
        ]);
        assert_eq!(out.code, 4, "{}", out.describe());
        assert_eq!(out.stdout.trim(), "in sleep 1000");
        // A process.json and --detach, as conmon calls it.
        let process = json!({
            "args": ["sleep", "999"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}
        });
        let pf = oci.env.write("p.json", process.to_string().as_bytes());
        let epid = oci.env.dir().join("exec.pid");
        oci.runc(&[
            "exec",
            "--detach",
            "--process",
            pf.to_str().unwrap(),
            "--pid-file",
            epid.to_str().unwrap(),
            "e1",
        ])
        .ok();
        let exec_pid: i64 = std::fs::read_to_string(&epid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        eventually("the exec'd process runs", || {
            cmdline(exec_pid).starts_with("sleep 999")
        });
        let out = oci.runc(&["ps", "--format", "json", "e1"]);
        let pids: Vec<i64> = serde_json::from_str(&out.ok().stdout).unwrap();
        assert!(pids.contains(&pid) && pids.contains(&exec_pid), "{pids:?}");

        oci.runc(&["delete", "--force", "e1"]).ok();
        assert!(cmdline(pid).is_empty() && cmdline(exec_pid).is_empty());
        assert!(!oci.state_root().join("e1").exists());
    });
}

/// podman's environment for the test user: its own storage and runtime
/// dirs under the env.
fn podman(oci: &Oci, args: &[&str]) -> Outcome {
    let d = oci.env.dir();
    let run = d.join("run");
    let mut cmd = oci.env.command(
        "podman",
        &[
            ("XDG_RUNTIME_DIR", run.to_str().unwrap()),
            ("XDG_CONFIG_HOME", d.join("home/.config").to_str().unwrap()),
            (
                "XDG_DATA_HOME",
                d.join("home/.local/share").to_str().unwrap(),
            ),
        ],
    );
    // The kernel's overlay (podman picks vfs here, which copies Debian's
    // tree for each container: 15 s a run).
    cmd.args(["--storage-driver", "overlay", "--runtime"])
        .arg(&oci.runc)
        .args(args);
    crate::common::run(cmd, args, None)
}

/// Stop podman's pause process (it holds the user namespace it made).
fn stop_podman(oci: &Oci) {
    let _ = podman(oci, &["rm", "-a", "-f"]);
    let p = oci.env.dir().join("run/libpod/tmp/pause.pid");
    if let Ok(pid) = std::fs::read_to_string(p) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
}

#[test]
fn podman_runs_the_fixtures_with_burrow_runc() {
    if std::process::Command::new("podman")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        skip("podman is not installed");
        return;
    }
    let Some(oci) = Oci::new(User::Sub, "busybox") else {
        return;
    };
    for name in ["busybox", "debian"] {
        let src = format!("oci:{}:latest", fixture_layout(name).display());
        podman(&oci, &["pull", "-q", &src]).ok();
        let id = podman(
            &oci,
            &["images", "-q", "--filter", &format!("reference=*{name}*")],
        );
        let id = id.ok().stdout.lines().next().unwrap().to_string();
        podman(&oci, &["tag", &id, &format!("localhost/{name}:latest")]).ok();
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| podman_checks(&oci)));
    stop_podman(&oci);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn podman_checks(oci: &Oci) {
    // Output and exit code, on podman's default network (slirp4netns).
    let out = podman(
        oci,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo hi from $(cat /etc/motd); exit 5",
        ],
    );
    assert_eq!(out.code, 5, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "hi from burrow fixture");
    let out = podman(
        oci,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "debian",
            "cat",
            "/etc/debian_version",
        ],
    );
    assert!(
        out.ok().stdout.trim().starts_with("12"),
        "{}",
        out.describe()
    );
    let out = podman(
        oci,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "no-such-command",
        ],
    );
    assert_eq!(out.code, 127, "{}", out.describe());
    // exec and stop of a detached container.
    podman(
        oci,
        &[
            "run",
            "-d",
            "--name",
            "s1",
            "--network",
            "none",
            "debian",
            "sleep",
            "1000",
        ],
    )
    .ok();
    let out = podman(
        oci,
        &[
            "exec",
            "s1",
            "sh",
            "-c",
            "echo in $(cat /proc/1/cmdline | tr '\\0' ' '); exit 6",
        ],
    );
    assert_eq!(out.code, 6, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "in sleep 1000");
    podman(oci, &["stop", "-t", "1", "s1"]).ok();
    let out = podman(
        oci,
        &["ps", "-a", "--filter", "name=s1", "--format", "{{.Status}}"],
    );
    assert!(
        out.ok().stdout.starts_with("Exited (137)"),
        "{}",
        out.describe()
    );
    podman(oci, &["rm", "s1"]).ok();
    // -it through script(1): the pty comes over the console socket.
    let cmd = format!(
        "podman --storage-driver overlay --runtime {} run --rm -it --network none busybox sh",
        oci.runc.display()
    );
    let d = oci.env.dir();
    let mut child = oci
        .env
        .command(
            "script",
            &[
                ("XDG_RUNTIME_DIR", d.join("run").to_str().unwrap()),
                ("XDG_CONFIG_HOME", d.join("home/.config").to_str().unwrap()),
                (
                    "XDG_DATA_HOME",
                    d.join("home/.local/share").to_str().unwrap(),
                ),
            ],
        )
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"tty; exit 4\n").unwrap();
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{shown}");
    assert!(shown.contains("/dev/pts/0"), "{shown}");
}

/// The single-node Slurm cluster of tests/setup/slurm.sh, up, with its
/// oci.conf's runtime link pointed at the burrow under test.
fn slurm_ready() -> bool {
    if !Path::new("/usr/bin/srun").exists() {
        skip("slurm-wlm is not installed (tests/setup/install.sh)");
        return false;
    }
    static UP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    UP.get_or_init(slurm_up);
    true
}

fn slurm_up() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/slurm.sh");
    let st = std::process::Command::new("bash")
        .arg(script)
        .status()
        .unwrap();
    assert!(st.success(), "tests/setup/slurm.sh failed");
    let link = Path::new("/var/lib/burrow-e2e/burrow-runc");
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(burrow_bin(), &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// A Slurm command as the test user.
fn slurm(oci: &Oci, program: &str, args: &[&str]) -> Outcome {
    let mut cmd = oci.env.command(program, &[]);
    cmd.args(args);
    crate::common::run(cmd, args, None)
}

/// The runtime's state root for this user under Slurm (oci.conf's --root).
fn slurm_state_root(oci: &Oci) -> PathBuf {
    PathBuf::from(format!("/tmp/burrow-runc-slurm-{}", oci.env.user.name()))
}

#[test]
fn slurm_srun_container_gives_output_and_exit_code() {
    if !slurm_ready() {
        return;
    }
    each_user(|oci| {
        let b = oci.bundle.to_str().unwrap();
        let out = slurm(
            oci,
            "srun",
            &[
                "--container",
                b,
                "sh",
                "-c",
                "echo in $(cat /etc/motd) as $(id -u); exit 3",
            ],
        );
        assert_eq!(out.code, 3, "{}", out.describe());
        assert_eq!(out.stdout.trim(), "in burrow fixture as 0");
        // Several steps in one batch job, each in the container.
        let log = oci.env.dir().join("steps.out");
        let script = format!(
            "#!/bin/sh\nsrun --container {b} echo one\nsrun --container {b} sh -c 'echo two; exit 2'\n\
             echo after $?\n"
        );
        let s = oci.env.write("steps.sh", script.as_bytes());
        let out = slurm(
            oci,
            "sbatch",
            &["--wait", "-o", log.to_str().unwrap(), s.to_str().unwrap()],
        );
        out.ok();
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("srun:")).collect();
        assert_eq!(lines, ["one", "two", "after 2"], "{text}");
    });
}

#[test]
fn slurm_scancel_of_a_container_job_leaves_nothing() {
    if !slurm_ready() {
        return;
    }
    each_user(|oci| {
        let log = oci.env.dir().join("job.out");
        let out = slurm(
            oci,
            "sbatch",
            &[
                "--parsable",
                "--container",
                oci.bundle.to_str().unwrap(),
                "-o",
                log.to_str().unwrap(),
                "--wrap",
                "echo started; exec sleep 1000",
            ],
        );
        let job = out.ok().stdout.trim().to_string();
        eventually("the job's container runs", || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started"))
        });
        let name = format!(".{}.{job}.", oci.env.user.name());
        let ids = || -> Vec<String> {
            std::fs::read_dir(slurm_state_root(oci))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(&name))
                .collect()
        };
        let running = ids();
        assert_eq!(running.len(), 1, "{running:?}");
        let state: Value = serde_json::from_slice(
            &std::fs::read(slurm_state_root(oci).join(&running[0]).join("state.json")).unwrap(),
        )
        .unwrap();
        let pid = state["pid"].as_i64().unwrap();
        assert!(cmdline(pid).starts_with("sleep 1000"), "{}", cmdline(pid));

        slurm(oci, "scancel", &[&job]).ok();
        eventually("the job ends", || {
            let q = slurm(oci, "squeue", &["-h", "-j", &job]);
            q.stdout.trim().is_empty()
        });
        eventually("the container's record goes", || ids().is_empty());
        eventually("its process goes", || cmdline(pid).is_empty());
        assert_eq!(processes_mounting(&oci.bundle), Vec::<String>::new());
    });
}
