//! `image::pull` must leave no thread behind: `run` calls it and then
//! unshares a user namespace, which fails in a threaded process. A test
//! harness runs tests on threads, so this one is its own `main`: it starts
//! the registry as a plain child process, pulls, and checks
//! `/proc/self/status` says `Threads: 1`, then unshares.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn threads() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Threads:")
                .map(|n| n.trim().parse().unwrap())
        })
        .unwrap()
}

fn skip(why: &str) {
    if std::env::var_os("BURROW_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("cannot run in strict mode: {why}");
    }
    eprintln!("skip: {why}");
}

fn fixture_layout() -> Option<PathBuf> {
    let root = match std::env::var_os("BURROW_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => std::fs::read_dir("/var/tmp/burrow-fixtures")
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("done").exists())?,
    };
    Some(root.join("oci/busybox"))
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        return skip("pull_threads needs root (to start a registry and unshare)");
    }
    let Some(layout) = fixture_layout() else {
        return skip("fixtures are not built (run tests/setup/install.sh as root)");
    };
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        ),
    )
    .unwrap();
    let mut registry = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let result = std::panic::catch_unwind(|| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{addr}/t/busybox:latest"))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy failed");

        assert_eq!(threads(), 1, "the test itself must start single-threaded");
        let paths = burrow::paths::Paths::new(Some(dir.path().join("store")));
        let opts = burrow::image::PullOptions {
            quiet: true,
            ..Default::default()
        };
        let image =
            burrow::image::pull(&paths, &format!("{addr}/t/busybox:latest"), &opts).unwrap();
        assert_eq!(image.layers.len(), 3);
        assert_eq!(threads(), 1, "pull left threads running");
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
            .expect("unshare(CLONE_NEWUSER) after pull");
    });
    let _ = registry.kill();
    let _ = registry.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    println!("pull_threads: Threads: 1 after pull, unshare(CLONE_NEWUSER) works");
    println!("1 passed, 0 failed");
}
