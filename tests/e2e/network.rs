//! The default network (`--network bridge`): the container's own
//! namespace with a tap served by burrow's translator in the host's
//! namespace. Traffic only to loopback and namespaces the test makes.

use crate::common::*;
use crate::run::ready;

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// The default is the bridge: eth0 with the address plan, MTU 65520 and
/// default routes via the gateway, for v4 and v6.
#[test]
fn default_network_has_eth0_with_the_address_plan() {
    both(|env, img| {
        let out = env.burrow(&[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "ip addr show eth0; ip route; ip -6 route; cat /sys/class/net/eth0/mtu /sys/class/net/eth0/tx_queue_len",
        ]);
        out.ok();
        let s = &out.stdout;
        for want in [
            "inet 10.0.2.100/24",
            "inet6 fd00::100/64",
            "default via 10.0.2.2 dev eth0",
            "default via fd00::2 dev eth0",
            "\n65520\n",
            "\n10000\n",
        ] {
            assert!(s.contains(want), "no {want:?} in:\n{}", out.describe());
        }
        // No duplicate address detection: usable at once.
        assert!(!s.contains("tentative"), "{}", out.describe());
    });
}

/// `burrow --root <store> ARGS` as the test user in a private mount
/// namespace where root first bind-mounted each `(file, over)`.
fn burrow_with_binds(env: &TestEnv, binds: &[(&std::path::Path, &str)], args: &[&str]) -> Outcome {
    let mut inner = env.command(burrow_bin(), &[]);
    inner.arg("--root").arg(env.root()).args(args);
    let mut script = String::new();
    for (i, _) in binds.iter().enumerate() {
        script.push_str(&format!(
            "mount --bind \"${}\" \"${}\" || exit 99; ",
            2 * i + 1,
            2 * i + 2
        ));
    }
    script.push_str(&format!("shift {}; exec \"$@\"", 2 * binds.len()));
    let mut cmd = std::process::Command::new("unshare");
    cmd.env_clear()
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"]);
    for (file, over) in binds {
        cmd.arg(file).arg(over);
    }
    cmd.arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.current_dir(env.dir());
    run(cmd, args, None)
}

/// /dev/net/tun that the user cannot open (mode 0600 on a fresh
/// machine): one line saying what to do, exit 125, nothing left.
#[test]
fn unusable_tun_device_says_what_to_do() {
    both(|env, img| {
        let dev = env.dir().join("tun-0600");
        std::fs::write(&dev, "").unwrap();
        std::fs::set_permissions(&dev, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let out = burrow_with_binds(
            env,
            &[(&dev, "/dev/net/tun")],
            &["run", "--rm", img, "true"],
        );
        out.fails(125);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        for want in ["/dev/net/tun", "chmod 0666 /dev/net/tun", "--network none"] {
            assert!(out.stderr.contains(want), "no {want:?}: {}", out.describe());
        }
        assert!(
            crate::run::containers_left(env).is_empty(),
            "{}",
            out.describe()
        );
        // --network none does not need it.
        burrow_with_binds(
            env,
            &[(&dev, "/dev/net/tun")],
            &["run", "--rm", "--network", "none", img, "true"],
        )
        .ok();
    });
}

const HOST_GATEWAY: &str = "host.docker.internal:host-gateway";

/// A TCP server on the host's 127.0.0.1 that answers each line with
/// "pong:LINE" and counts its connections.
struct TcpEcho {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TcpEcho {
    fn start() -> TcpEcho {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut line = String::new();
                    let mut r = std::io::BufReader::new(&conn);
                    if r.read_line(&mut line).is_ok() {
                        let _ = (&conn).write_all(format!("pong:{line}").as_bytes());
                    }
                });
            }
        });
        TcpEcho { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A UDP server on the host's 127.0.0.1 that answers "pong:DATA".
fn udp_echo() -> u16 {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let mut reply = b"pong:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = sock.send_to(&reply, from);
        }
    });
    port
}

/// With `--add-host host.docker.internal:host-gateway` the container
/// reaches a TCP and a UDP server on the host's loopback by that name
/// (UDP from bash's /dev/udp in the Debian image: busybox nc has no -u).
#[test]
fn host_gateway_reaches_tcp_and_udp_servers_on_the_hosts_loopback() {
    both(|env, img| {
        let tcp = TcpEcho::start();
        let udp = udp_echo();
        let script = format!("echo hello | nc host.docker.internal {}", tcp.port);
        let out = env.burrow(&[
            "run",
            "--rm",
            "--add-host",
            HOST_GATEWAY,
            img,
            "sh",
            "-c",
            &script,
        ]);
        out.ok();
        assert_eq!(out.stdout, "pong:hello\n", "{}", out.describe());
        assert_eq!(tcp.accepted(), 1);
        let hosts = env.burrow(&[
            "run",
            "--rm",
            "--add-host",
            HOST_GATEWAY,
            img,
            "cat",
            "/etc/hosts",
        ]);
        hosts.ok();
        assert!(
            hosts.stdout.contains("10.0.2.2\thost.docker.internal\n")
                && hosts.stdout.contains("host.containers.internal"),
            "{}",
            hosts.describe()
        );
        let deb = registry().image("debian");
        env.burrow(&["pull", "-q", &deb]).ok();
        let script = format!(
            "exec 3<>/dev/udp/host.docker.internal/{udp}; echo datagram >&3; timeout 5 head -n1 <&3"
        );
        let out = env.burrow(&[
            "run",
            "--rm",
            "--add-host",
            HOST_GATEWAY,
            &deb,
            "bash",
            "-c",
            &script,
        ]);
        out.ok();
        assert_eq!(out.stdout, "pong:datagram\n", "{}", out.describe());
    });
}

/// Without it the gateway address does not reach the host: the connect
/// is refused and the server never sees it; the name does not exist.
#[test]
fn without_host_gateway_the_hosts_loopback_is_out_of_reach() {
    both(|env, img| {
        let tcp = TcpEcho::start();
        let script = format!(
            "echo hello | nc 10.0.2.2 {p}; echo rc=$?; grep -c host.docker.internal /etc/hosts",
            p = tcp.port
        );
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", &script]);
        assert!(out.stdout.contains("rc=1\n0\n"), "{}", out.describe());
        assert!(!out.stdout.contains("pong"), "{}", out.describe());
        assert_eq!(tcp.accepted(), 0, "{}", out.describe());
    });
}

/// A resolver (dnsmasq) on 127.0.0.53 (or another loopback address) that
/// knows one name; stopped on drop.
struct Resolver(std::process::Child);

impl Resolver {
    const NAME: &'static str = "burrow-dns.test";
    const ADDR: &'static str = "192.0.2.45";

    fn start() -> Option<Resolver> {
        Self::start_on("127.0.0.53")
    }

    fn start_on(addr: &str) -> Option<Resolver> {
        if std::process::Command::new("dnsmasq")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("no dnsmasq (tests/setup/install.sh installs dnsmasq-base)");
            return None;
        }
        let mut child = std::process::Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                &format!("--listen-address={addr}"),
                "--bind-interfaces",
                "--port=53",
                &format!("--address=/{}/{}", Self::NAME, Self::ADDR),
            ])
            .spawn()
            .expect("start dnsmasq");
        // Ready once it answers on TCP (it serves both).
        for _ in 0..100 {
            if std::net::TcpStream::connect((addr, 53)).is_ok() {
                return Some(Resolver(child));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("dnsmasq did not come up on {addr}");
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host's resolv.conf names 127.0.0.53 (systemd-resolved's stub):
/// the container's names burrow's resolver, whose queries reach it.
#[test]
fn dns_works_when_the_hosts_resolver_is_on_loopback() {
    let Some(_resolver) = Resolver::start() else {
        return;
    };
    both(|env, img| {
        let resolv = env.write(
            "resolv.conf",
            b"nameserver 127.0.0.53\nsearch example.test\n",
        );
        let out = burrow_with_binds(
            env,
            &[(&resolv, "/etc/resolv.conf")],
            &[
                "run",
                "--rm",
                img,
                "sh",
                "-c",
                &format!("cat /etc/resolv.conf; nslookup -type=a {}", Resolver::NAME),
            ],
        );
        out.ok();
        assert!(
            out.stdout.starts_with("nameserver 10.0.2.3\n")
                && out.stdout.contains("search example.test\n")
                && !out.stdout.contains("127.0.0.53"),
            "{}",
            out.describe()
        );
        assert!(
            out.stdout.contains(&format!("Address: {}", Resolver::ADDR)),
            "{}",
            out.describe()
        );
    });
}

/// The host's first resolver is silent: the container's first query
/// goes to the next one after a second, and the queries after it go
/// there at once (the silent one hears one query per container).
#[test]
fn dns_fails_over_to_the_next_resolver_when_one_is_silent() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let silent = std::net::UdpSocket::bind("127.0.0.54:53").expect("bind 127.0.0.54:53");
    let heard = Arc::new(AtomicUsize::new(0));
    let count = heard.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while silent.recv_from(&mut buf).is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    let Some(_resolver) = Resolver::start_on("127.0.0.55") else {
        return;
    };
    both(|env, img| {
        let resolv = env.write(
            "resolv.conf",
            b"nameserver 127.0.0.54\nnameserver 127.0.0.55\n",
        );
        let before = heard.load(Ordering::SeqCst);
        let out = burrow_with_binds(
            env,
            &[(&resolv, "/etc/resolv.conf")],
            &[
                "run",
                "--rm",
                img,
                "sh",
                "-c",
                &format!(
                    "for i in 1 2 3; do nslookup -type=a {} || exit 1; done",
                    Resolver::NAME
                ),
            ],
        );
        out.ok();
        let answers = out
            .stdout
            .matches(&format!("Address: {}", Resolver::ADDR))
            .count();
        assert_eq!(answers, 3, "{}", out.describe());
        assert_eq!(
            heard.load(Ordering::SeqCst) - before,
            1,
            "queries the silent resolver heard; {}",
            out.describe()
        );
    });
}

/// --dns, --dns-search and --dns-option make the container's
/// resolv.conf; bad values are one line and 125.
#[test]
fn dns_flags_write_resolv_conf() {
    both(|env, img| {
        let out = env.burrow(&[
            "run",
            "--rm",
            "--dns",
            "192.0.2.1",
            "--dns-search",
            "a.test",
            "--dns-option",
            "ndots:2",
            img,
            "cat",
            "/etc/resolv.conf",
        ]);
        out.ok();
        assert_eq!(
            out.stdout,
            "nameserver 192.0.2.1\nsearch a.test\noptions ndots:2\n",
            "{}",
            out.describe()
        );
        for bad in [["--dns", "nope"], ["--add-host", "justaname"]] {
            let out = env.burrow(&["run", "--rm", bad[0], bad[1], img, "true"]);
            out.fails(125);
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
            assert!(out.stderr.contains(bad[0]), "{}", out.describe());
        }
        assert!(crate::run::containers_left(env).is_empty());
    });
}

/// Run a command as root; panics on failure.
fn sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace made by the test, linked to the host's by a veth
/// pair (10.213.7.1 here, 10.213.7.2 there): a stand-in for a remote
/// machine. Removed on drop.
struct Remote;

impl Remote {
    const NS: &'static str = "burrow-e2e-remote";
    const ADDR: &'static str = "10.213.7.2";

    fn make() -> Remote {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", Self::NS])
            .output();
        sh(&format!(
            "ip netns add {ns} && ip link add bre2e0 type veth peer name bre2e1 netns {ns} && \
             ip addr add 10.213.7.1/30 dev bre2e0 && ip link set bre2e0 up && \
             ip -n {ns} addr add {a}/30 dev bre2e1 && ip -n {ns} link set bre2e1 up && \
             ip -n {ns} link set lo up",
            ns = Self::NS,
            a = Self::ADDR
        ));
        Remote
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", Self::NS])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "bre2e0"])
            .output();
    }
}

/// The host's net.ipv4.ping_group_range, set for a test and restored;
/// one test at a time holds it.
struct PingRange(
    String,
    #[allow(dead_code)] std::sync::MutexGuard<'static, ()>,
);

static PING_RANGE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl PingRange {
    const FILE: &'static str = "/proc/sys/net/ipv4/ping_group_range";

    fn set(range: &str) -> PingRange {
        let held = PING_RANGE.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::fs::read_to_string(Self::FILE).unwrap();
        std::fs::write(Self::FILE, range).unwrap();
        PingRange(old.trim().replace('\t', " "), held)
    }
}

impl Drop for PingRange {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::FILE, &self.0);
    }
}

/// `ping` (as root in the container) goes out through the host's ping
/// sockets: it reaches a namespace the test made when the host's
/// ping_group_range allows it, and gets no made-up answer when it does
/// not; host.docker.internal answers either way.
#[test]
fn ping_goes_through_the_hosts_ping_sockets() {
    let _remote = Remote::make();
    both(|env, img| {
        let ping = |target: &str| {
            env.burrow(&[
                "run",
                "--rm",
                "--add-host",
                HOST_GATEWAY,
                img,
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                target,
            ])
        };
        {
            let _range = PingRange::set("0 2147483647");
            let out = ping(Remote::ADDR);
            out.ok();
            assert!(
                out.stdout.contains("1 packets received"),
                "{}",
                out.describe()
            );
            ping("host.docker.internal").ok();
        }
        let _range = PingRange::set("1 0");
        let out = ping(Remote::ADDR);
        assert!(
            out.stdout.contains("0 packets received"),
            "{}",
            out.describe()
        );
        ping("host.docker.internal").ok();
    });
}

/// Pids of processes whose command line names `marker` (the env's store:
/// burrow's stages keep the caller's arguments).
fn processes_naming(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(marker) {
                found.push(p.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found
}

/// After 20 `run --rm` on the default network, nothing of burrow is left
/// (no supervisor, translator or namespace maker; no container dir), and
/// the command never saw the tap's or the namespace's fd.
#[test]
fn run_rm_on_the_default_network_leaves_nothing() {
    both(|env, img| {
        let store = env.root().to_string_lossy().into_owned();
        for _ in 0..20 {
            let out = env.burrow(&["run", "--rm", img, "ls", "/proc/self/fd"]);
            out.ok();
            assert_eq!(out.stdout, "0\n1\n2\n3\n", "{}", out.describe());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = processes_naming(&store);
            if left.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "processes left: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(crate::run::containers_left(env).is_empty());
    });
}

/// The first check: Debian's package manager on the default
/// network (DNS through the host's resolvers, HTTP to Debian's mirror:
/// the one test that leaves the machine, as the issue asks).
#[test]
fn apt_get_installs_nginx_on_the_default_network() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let deb = registry().image("debian");
        env.burrow(&["pull", "-q", &deb]).ok();
        // Without subordinate ids only root exists: apt cannot drop to _apt.
        let sandbox = match user {
            User::NoSub => "-o APT::Sandbox::User=root",
            User::Sub => "",
        };
        let script = format!(
            "apt-get {sandbox} update -q && DEBIAN_FRONTEND=noninteractive \
             apt-get {sandbox} install -y -q nginx && nginx -v"
        );
        let out = env.burrow(&["run", "--rm", &deb, "sh", "-c", &script]);
        out.ok();
        assert!(out.stderr.contains("nginx version"), "{}", out.describe());
    }
}

/// `burrow info` says whether ping gets out (the host's ping sockets) and
/// whether containers get IPv6.
#[test]
fn info_reports_ping_and_ipv6() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let info = || {
        let out = env.burrow(&["info"]);
        out.ok();
        let line = |label: &str| {
            let mut lines = out.stdout.lines().skip_while(|l| !l.contains(label));
            format!(
                "{}\n{}",
                lines.next().unwrap_or(""),
                lines.next().unwrap_or("")
            )
        };
        (line("Ping:"), line("IPv6:"))
    };
    {
        let _range = PingRange::set("0 2147483647");
        let (ping, ipv6) = info();
        assert!(
            ping.contains("yes (ping sockets; net.ipv4.ping_group_range 0 2147483647)"),
            "{ping}"
        );
        let want = if std::path::Path::new("/proc/sys/net/ipv6").exists() {
            "yes"
        } else {
            "no"
        };
        assert!(ipv6.contains(want), "{ipv6}");
    }
    let _range = PingRange::set("1 0");
    let (ping, _) = info();
    assert!(
        ping.contains("no ping sockets") && ping.contains("sysctl -w net.ipv4.ping_group_range"),
        "{ping}"
    );
}

/// `stats` NET I/O counts the container's eth0 (not its loopback): a
/// container that fetched 2 MB from the host and sent it 1 MB shows them
/// received and sent.
#[test]
fn stats_shows_the_containers_network_traffic() {
    both(|env, img| {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = listener.accept() {
                let _ = c.write_all(&vec![b'x'; 2_000_000]);
            }
        });
        // Reads 1 MB, then closes (which ends the container's nc).
        let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sink_port = sink.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::Read;
            if let Ok((c, _)) = sink.accept() {
                let _ = c.take(1_000_000).read_to_end(&mut Vec::new());
            }
        });
        let script = format!(
            "mkdir /tmp/w; dd if=/dev/zero of=/tmp/w/f bs=1k count=3000 2>/dev/null; \
             httpd -p 127.0.0.1:8080 -h /tmp/w; wget -qO /dev/null http://127.0.0.1:8080/f; \
             nc host.docker.internal {port} > /dev/null; \
             dd if=/dev/zero bs=1k count=1000 2>/dev/null | nc host.docker.internal {sink_port}; \
             echo fetched; sleep 600"
        );
        env.burrow(&[
            "run",
            "-d",
            "--name",
            "netio",
            "--add-host",
            HOST_GATEWAY,
            img,
            "sh",
            "-c",
            &script,
        ])
        .ok();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !env.burrow(&["logs", "netio"]).stdout.contains("fetched") {
            assert!(
                std::time::Instant::now() < deadline,
                "the fetch never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = env.burrow(&["stats", "--no-stream", "--format", "{{.NetIO}}", "netio"]);
        out.ok();
        env.burrow(&["rm", "-f", "netio"]).ok();
        let (rx, tx) = out.stdout.trim().split_once(" / ").expect("rx / tx");
        // 2 MB and the frames' headers; not the 3 MB sent to loopback.
        let mb: f64 = rx
            .strip_suffix("MB")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        assert!((2.0..2.2).contains(&mb), "{}", out.describe());
        // 1 MB and headers; not the 3 MB the loopback carried.
        let sent: f64 = tx
            .strip_suffix("MB")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        assert!((1.0..1.2).contains(&sent), "{}", out.describe());
    });
}

/// The container's network namespace is made once and kept across
/// restarts (--restart): every run of the command sees the same one.
#[test]
fn the_network_namespace_survives_restarts() {
    both(|env, img| {
        let dir = env.mkdir("ns-log");
        let vol = format!("{}:/v", dir.display());
        env.burrow(&[
            "run", "-d", "--name", "again", "--restart", "on-failure:2", "-v", &vol, img, "sh",
            "-c", "readlink /proc/self/ns/net >> /v/ns; ip -4 addr show eth0 | grep -c 10.0.2.100 >> /v/ns; exit 3",
        ])
        .ok();
        let file = dir.join("ns");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let lines = loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(String::from).collect();
            if lines.len() >= 6 {
                break lines;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "3 runs expected: {lines:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        env.burrow(&["rm", "-f", "again"]).ok();
        assert!(lines[0].starts_with("net:["), "{lines:?}");
        assert!(lines[2] == lines[0] && lines[4] == lines[0], "{lines:?}");
        assert!(
            lines[1] == "1" && lines[3] == "1" && lines[5] == "1",
            "{lines:?}"
        );
    });
}
