//! The test bed: test users, a private store per test, a real registry.
//!
//! When the machine is not prepared (no test users, no fixtures, not root),
//! a test prints "skip: ..." and returns; with BURROW_TEST_STRICT=1 (set by
//! tests/run, so in CI) a skip is a failure instead.

#![allow(dead_code)]

mod registry;
mod users;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

#[allow(unused_imports)]
pub use registry::{registry, Registry};
pub use users::User;

/// Say why a test cannot run here; fail instead when strict.
pub fn skip(why: &str) {
    if std::env::var_os("BURROW_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("cannot run in strict mode: {why}");
    }
    eprintln!("skip: {why}");
}

/// Say that a check was left out because this kernel lacks what it checks
/// (no /proc/kcore, say). Unlike `skip`, strict mode lets the test pass:
/// no setup of this machine can add the thing, and the rest of the test ran.
pub fn not_on_this_kernel(what: &str) {
    eprintln!("skip (not on this kernel): {what}");
}

/// Processes (by pid) whose mount table names `path`: a container's
/// mounts live in its own mount namespace, so every /proc/PID/mountinfo
/// is read, not only ours.
pub fn processes_mounting(path: &Path) -> Vec<String> {
    let path = path.to_string_lossy();
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(m) = std::fs::read_to_string(p.path().join("mountinfo")) {
            if m.contains(&*path) {
                found.push(p.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found
}

/// The directory the fixture OCI layouts were built in, when they are.
/// `tests/setup/fixtures.sh --dir` names it (its key hashes the script and
/// the Debian release it was built from), so the harness, the benches and
/// the builder cannot disagree; BURROW_FIXTURES reaches the script from our
/// environment.
pub fn fixtures_root() -> Option<PathBuf> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/fixtures.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("--dir")
            .stderr(Stdio::inherit())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end());
        dir.join("done").exists().then_some(dir)
    })
    .clone()
}

/// The OCI layout of a fixture image ("busybox", "debian"), tag "latest".
pub fn fixture_layout(name: &str) -> PathBuf {
    fixtures_root()
        .expect("fixtures are built (run tests/setup/install.sh as root)")
        .join("oci")
        .join(name)
}

/// A copy of the burrow binary that every test user can execute (the
/// build dir may sit under a 0700 home such as /root).
pub fn burrow_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_BIN_EXE_burrow"));
        let dir = std::env::temp_dir().join(format!("{BIN_DIR_PREFIX}{}", std::process::id()));
        remove_stale_bin_copies();
        std::fs::create_dir_all(&dir).unwrap();
        let dst = dir.join("burrow");
        std::fs::copy(&src, &dst).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        dst
    })
}

const BIN_DIR_PREFIX: &str = "burrow-e2e-bin-";

/// The copies earlier test runs left (no teardown runs after the last
/// test): 130 MB each, they filled the disk after a few hundred runs.
fn remove_stale_bin_copies() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(BIN_DIR_PREFIX) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// What a burrow command did.
#[derive(Debug)]
pub struct Outcome {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Assert success; show everything when it was not.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code,
            0,
            "burrow {:?} failed:\n{}",
            self.args,
            self.describe()
        );
        self
    }

    /// Assert a failure with this exit code and a one-line `burrow: ` error.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "burrow {:?}:\n{}",
            self.args,
            self.describe()
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "want one error line:\n{}", self.describe());
        assert!(lines[0].starts_with("burrow: "), "{}", self.describe());
        self
    }

    pub fn describe(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A private storage root and scratch dir, owned by a test user, and the
/// means to run burrow as that user.
pub struct TestEnv {
    pub user: User,
    dir: tempfile::TempDir,
    /// Environment every command of this env gets (`set_env`).
    extra_env: std::cell::RefCell<Vec<(String, String)>>,
}

impl TestEnv {
    /// None (after saying why) when this machine cannot run as `user`.
    pub fn new(user: User) -> Option<TestEnv> {
        if let Err(why) = user.available() {
            skip(&why);
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("burrow-e2e-")
            .tempdir_in("/var/tmp")
            .unwrap();
        user.chown(dir.path());
        let env = TestEnv {
            user,
            dir,
            extra_env: Default::default(),
        };
        std::fs::create_dir(env.dir().join("home")).unwrap();
        env.user.chown(&env.dir().join("home"));
        Some(env)
    }

    /// The scratch dir, owned by the test user.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The storage root burrow uses in this env.
    pub fn root(&self) -> PathBuf {
        self.dir().join("store")
    }

    /// Make a dir owned by the test user under the scratch dir.
    pub fn mkdir(&self, name: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::create_dir_all(&p).unwrap();
        self.user.chown(&p);
        p
    }

    /// Write a file owned by the test user under the scratch dir.
    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::write(&p, content).unwrap();
        self.user.chown(&p);
        p
    }

    /// `burrow --root <store> ARGS...` as the test user.
    pub fn burrow(&self, args: &[&str]) -> Outcome {
        self.burrow_with(args, &[], None)
    }

    /// The same with extra environment and standard input.
    pub fn burrow_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Outcome {
        let mut cmd = self.command(burrow_bin(), env);
        cmd.arg("--root").arg(self.root()).args(args);
        run(cmd, args, stdin)
    }

    /// `burrow --root <store> ARGS` run by script(1), so burrow has a real
    /// terminal; `input` is typed into it. `args` is shell text (quote it).
    /// Returns the exit code and everything the terminal showed.
    pub fn burrow_in_terminal(&self, args: &str, input: &[u8]) -> (Option<i32>, String) {
        let cmd = format!(
            "{} --root {} {args}",
            burrow_bin().display(),
            self.root().display()
        );
        let mut child = self
            .command("script", &[])
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script(1)");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `burrow --root <store> ARGS` as the test user, moved (by root, before
    /// it drops to the user) into the cgroup `cg`.
    pub fn burrow_in_cgroup(&self, cg: &Path, args: &[&str]) -> Outcome {
        let mut inner = self.command(burrow_bin(), &[]);
        inner.arg("--root").arg(self.root()).args(args);
        let mut cmd = Command::new("sh");
        cmd.env_clear()
            .arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(cg)
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        run(cmd, args, None)
    }

    /// Any program as the test user, in the same environment as burrow.
    pub fn command(&self, program: impl AsRef<OsStr>, env: &[(&str, &str)]) -> Command {
        let home = self.dir().join("home");
        let mut cmd = self.user.command(program);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("USER", self.user.name())
            .env("LOGNAME", self.user.name())
            .env("LANG", "C.UTF-8")
            .current_dir(self.dir());
        // tests/run runs the container tests a second time on our FUSE
        // overlay by setting this; a test's own `env` still wins.
        if let Some(d) = std::env::var_os(DRIVER_UNDER_TEST) {
            cmd.env("BURROW_STORAGE_DRIVER", d);
        }
        for (k, v) in self.extra_env.borrow().iter() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Give every later command of this env the variable `k`.
    pub fn set_env(&self, k: &str, v: &str) {
        self.extra_env.borrow_mut().push((k.into(), v.into()));
    }
}

/// Set (to `fuse-overlay`, say) to run every container of the tests on
/// that storage driver: burrow gets it as BURROW_STORAGE_DRIVER.
pub const DRIVER_UNDER_TEST: &str = "BURROW_TEST_STORAGE_DRIVER";

/// The file system type a container's `/` shows in /proc/mounts under
/// the driver the tests run on.
pub fn root_fs_type_under_test() -> &'static str {
    match std::env::var(DRIVER_UNDER_TEST).as_deref() {
        Ok("fuse-overlay") => "fuse.burrow-overlay",
        _ => "overlay",
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Files in the store may belong to subordinate ids and sit in dirs
        // with mode 000; root can remove them, a plain user may not.
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+rwX"])
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

/// Run, feed stdin, capture everything.
pub fn run(mut cmd: Command, args: &[&str], stdin: Option<&[u8]>) -> Outcome {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(data).unwrap();
    }
    let out = child.wait_with_output().expect("wait");
    Outcome {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// tests/probe, built static (crt-static) so it runs in any image, copied
/// beside the burrow binary where every test user can run it. Bind-mount
/// it into a container: `-v PROBE:/probe:ro`.
pub fn probe_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = manifest.join("target/probe");
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--release",
                "--locked",
                "--target",
                &triple,
            ])
            .arg("--manifest-path")
            .arg(manifest.join("tests/probe/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .status()
            .expect("run cargo for tests/probe");
        assert!(status.success(), "building tests/probe failed");
        let built = target_dir.join(&triple).join("release/burrow-probe");
        let dst = burrow_bin().with_file_name("burrow-probe");
        std::fs::copy(&built, &dst).unwrap();
        dst
    })
}
