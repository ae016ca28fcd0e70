//! A real registry (Debian's docker-registry) on 127.0.0.1 and a free port,
//! started once per test process with the fixtures pushed by skopeo. It is
//! started with a parent-death signal, so it ends when the tests end.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

pub struct Registry {
    addr: String,
    data: PathBuf,
}

/// The shared registry with the fixtures pushed, or a panic saying why.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let reg = Registry::start();
        for name in ["busybox", "debian"] {
            reg.push_layout(
                &super::fixture_layout(name),
                "latest",
                &format!("fixtures/{name}:latest"),
            );
        }
        reg
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Remove the data dirs of registries whose test process has gone.
fn sweep_old_data() {
    let Ok(entries) = std::fs::read_dir("/var/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("burrow-e2e-registry-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Registry {
    fn start() -> Registry {
        sweep_old_data();
        let data = PathBuf::from(format!(
            "/var/tmp/burrow-e2e-registry-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&data).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = data.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                data.join("storage").display()
            ),
        )
        .unwrap();
        // The parent-death signal fires when the spawning *thread* ends, so
        // spawn from a thread that lives as long as the test process.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--", "docker-registry", "serve"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => {
                    tx.send(Err(format!("start docker-registry: {e}"))).unwrap();
                    return;
                }
            };
            tx.send(Ok(())).unwrap();
            let _ = child.wait();
            // Keep this thread (and so the registry) alive while tests run.
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap().unwrap();
        let reg = Registry { addr, data };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .get("/v2/")
                .is_some_and(|s| s.starts_with("HTTP/1.1 200"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on {} within 20s", self.addr);
    }

    /// A raw HTTP GET; the status line and the rest.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// "127.0.0.1:PORT".
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The reference of a fixture image: "127.0.0.1:PORT/fixtures/NAME:latest".
    pub fn image(&self, name: &str) -> String {
        format!("{}/fixtures/{name}:latest", self.addr)
    }

    /// Push an OCI layout's tag as `repo:tag` with skopeo.
    pub fn push_layout(&self, layout: &Path, tag: &str, dest: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.addr))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {} -> {dest}: {}",
            layout.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}
