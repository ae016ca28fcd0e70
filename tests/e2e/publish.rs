//! `-p`/`--publish`, `-P` and `burrow port`: a server in a container
//! reached from the host through a published port, as both test users.
//! Traffic goes only to loopback and to a network namespace the test
//! makes itself (a veth pair whose addresses exist nowhere else).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::live::{assert_nothing_left, detach, env_processes, eventually};
use crate::run::ready;

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let _gone = RemoveAll(&env);
        test(&env, &img);
    }
}

/// Removes the env's containers when a test ends, failed or not, so no
/// supervisor keeps a port of the next test.
struct RemoveAll<'a>(&'a TestEnv);

impl Drop for RemoveAll<'_> {
    fn drop(&mut self) {
        let ids = self.0.burrow(&["ps", "-aq"]).stdout;
        for id in ids.lines() {
            let _ = self.0.burrow(&["rm", "-f", id]);
        }
    }
}

/// A busybox web server on port 80 of the container that serves `text`.
fn web_server(text: &str) -> String {
    format!(
        "mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"
    )
}

/// GET / from 127.0.0.1:port until it answers (the server starts after
/// the container does) or 10 s passed; the body.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "3"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !body.is_empty() {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no answer on port {port}: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether anything listens on TCP `port` of the host.
fn tcp_listening(port: u16) -> bool {
    let out = Command::new("ss").args(["-Htln"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        l.split_whitespace()
            .nth(3)
            .is_some_and(|a| a.ends_with(&format!(":{port}")))
    })
}

#[test]
fn publish_tcp_reaches_a_web_server_and_port_ps_inspect_show_it() {
    both(|env, img| {
        let id = detach(
            env,
            &[
                "--name",
                "web",
                "-p",
                "18080:80",
                img,
                "sh",
                "-c",
                &web_server("hello-web"),
            ],
        );
        assert_eq!(http_get(18080).trim(), "hello-web");
        // A big body both ways: the splice path moves it intact.
        let port = env.burrow(&["port", "web"]);
        port.ok();
        assert_eq!(port.stdout, "80/tcp -> 0.0.0.0:18080\n");
        let one = env.burrow(&["port", "web", "80"]);
        one.ok();
        assert_eq!(one.stdout, "0.0.0.0:18080\n");
        env.burrow(&["port", "web", "81/udp"]).fails(1);
        let ps = env.burrow(&["ps", "--format", "{{.Ports}}"]);
        ps.ok();
        assert_eq!(ps.stdout, "0.0.0.0:18080->80/tcp\n");
        let table = env.burrow(&["ps"]);
        assert!(
            table.stdout.contains("0.0.0.0:18080->80/tcp"),
            "{}",
            table.stdout
        );
        let ports = env.burrow(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]);
        ports.ok();
        assert_eq!(
            ports.stdout.trim(),
            r#"{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"18080"}]}"#
        );
        env.burrow(&["rm", "-f", &id]).ok();
        // The supervisor was the only holder of the host socket.
        eventually("the port to be free", || !tcp_listening(18080));
        assert!(TcpListener::bind("0.0.0.0:18080").is_ok());
        assert_nothing_left(env);
    });
}

#[test]
fn publish_splices_a_large_stream_both_ways_with_a_half_close() {
    both(|env, img| {
        // A container that echoes one connection back (busybox nc), on
        // a random host port of 127.0.0.1.
        let id = detach(
            env,
            &[
                "-p",
                "127.0.0.1::7000",
                img,
                "sh",
                "-c",
                "nc -l -p 7000 -e cat",
            ],
        );
        let port = env.burrow(&["port", &id, "7000/tcp"]);
        port.ok();
        let addr = port.stdout.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        let data: Vec<u8> = (0..4u32 << 20).map(|i| (i * 13 % 253) as u8).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = loop {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut w = c.try_clone().unwrap();
            let sent = data.clone();
            let writer = std::thread::spawn(move || {
                let _ = w.write_all(&sent);
                let _ = w.shutdown(std::net::Shutdown::Write);
            });
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            let _ = writer.join();
            // Before nc listens the connection is closed at once.
            if !got.is_empty() || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(got == data, "echoed {} of {} bytes", got.len(), data.len());
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

/// The Debian fixture (perl), pulled into this env.
fn debian(env: &TestEnv) -> String {
    let img = registry().image("debian");
    env.burrow(&["pull", "-q", &img]).ok();
    img
}

/// Perl servers: TCP on 80 says "peer=ADDR" to each client; UDP on 53
/// echoes each datagram as "peer=ADDR DATA".
const PEER_SERVERS: &str = r#"perl -MIO::Socket::INET -e '$l=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1) or die "tcp: $!"; while($c=$l->accept){print $c "peer=".$c->peerhost."\n"; close $c}' &
exec perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>53,Proto=>"udp") or die "udp: $!"; while($s->recv($m,2048)){$s->send("peer=".$s->peerhost." $m")}'"#;

/// Ask the UDP server through `addr` until it answers.
fn udp_ask(sock: &UdpSocket, addr: &str, what: &str) -> String {
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    loop {
        sock.send_to(what.as_bytes(), addr).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(Instant::now() < deadline, "no UDP answer from {addr}");
    }
}

#[test]
fn publish_udp_echoes_through_the_published_port() {
    both(|env, _| {
        let img = debian(env);
        let id = detach(
            env,
            &[
                "-p",
                "15353:53/udp",
                "-p",
                "18081:80",
                &img,
                "sh",
                "-c",
                PEER_SERVERS,
            ],
        );
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let answer = udp_ask(&sock, "127.0.0.1:15353", "ping");
        assert!(
            answer.starts_with("peer=") && answer.ends_with(" ping"),
            "{answer}"
        );
        let again = udp_ask(&sock, "127.0.0.1:15353", "two");
        assert!(again.ends_with(" two"), "{again}");
        let port = env.burrow(&["port", &id]);
        assert_eq!(
            port.stdout,
            "53/udp -> 0.0.0.0:15353\n80/tcp -> 0.0.0.0:18081\n"
        );
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

/// A network namespace standing in for a remote machine: a veth pair
/// with 10.250.N.1/30 and fd7b:250:N::1/64 on the host side and
/// 10.250.N.2/30 and fd7b:250:N::2/64 inside (N: one per test, as tests
/// run side by side). Removed on drop.
struct RemoteNs {
    name: String,
}

impl RemoteNs {
    fn new() -> Option<RemoteNs> {
        Self::numbered(0)
    }

    fn numbered(n: u8) -> Option<RemoteNs> {
        let name = format!("burrow-pub-{}-{n}", std::process::id());
        let host_if = format!("bp{}{n}h", std::process::id() % 100000);
        let ns_if = format!("bp{}{n}n", std::process::id() % 100000);
        let sh = |cmd: &str| {
            Command::new("sh")
                .args(["-c", cmd])
                .status()
                .is_ok_and(|s| s.success())
        };
        let ns = RemoteNs { name: name.clone() };
        let ok = sh(&format!("ip netns add {name}"))
            && sh(&format!("ip link add {host_if} type veth peer name {ns_if} netns {name}"))
            && sh(&format!("ip addr add 10.250.{n}.1/30 dev {host_if} && ip link set {host_if} up"))
            && sh(&format!(
                "ip -n {name} addr add 10.250.{n}.2/30 dev {ns_if} && ip -n {name} link set {ns_if} up && ip -n {name} link set lo up"
            ))
            // No duplicate address detection: the addresses work at once.
            && sh(&format!(
                "ip -6 addr add fd7b:250:{n}::1/64 dev {host_if} nodad && \
                 ip -n {name} -6 addr add fd7b:250:{n}::2/64 dev {ns_if} nodad"
            ));
        if !ok {
            skip("cannot make a network namespace with a veth pair (ip netns, as root)");
            return None;
        }
        Some(ns)
    }

    /// Run python3 code inside; its stdout.
    fn python(&self, code: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", code])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RemoteNs {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn publish_keeps_the_address_of_a_client_off_loopback() {
    let Some(remote) = RemoteNs::new() else {
        return;
    };
    both(|env, _| {
        let img = debian(env);
        let id = detach(
            env,
            &[
                "-p",
                "18082:80",
                "-p",
                "15354:53/udp",
                &img,
                "sh",
                "-c",
                PEER_SERVERS,
            ],
        );
        // From the host (loopback): the plain path answers.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_ask(&sock, "127.0.0.1:15354", "ready");
        let tcp = remote.python(
            "import socket,time\n\
             for i in range(50):\n\
             \x20 try:\n\
             \x20   s=socket.create_connection(('10.250.0.1',18082),timeout=3); print(s.makefile().readline().strip()); break\n\
             \x20 except Exception as e: time.sleep(0.2)\n",
        );
        assert_eq!(tcp.trim(), "peer=10.250.0.2", "TCP");
        let udp = remote.python(
            "import socket\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)\n\
             s.sendto(b'hi',('10.250.0.1',15354)); print(s.recvfrom(2048)[0].decode())\n",
        );
        assert_eq!(udp.trim(), "peer=10.250.0.2 hi", "UDP");
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

/// The servers of PEER_SERVERS on IPv6 too (dual-stack sockets on ::).
const PEER_SERVERS6: &str = r#"perl -MIO::Socket::IP -e '$l=IO::Socket::IP->new(LocalHost=>"::",LocalPort=>80,Listen=>5,ReuseAddr=>1,V6Only=>0) or die "tcp: $!"; while($c=$l->accept){print $c "peer=".$c->peerhost."\n"; close $c}' &
exec perl -MIO::Socket::IP -e '$s=IO::Socket::IP->new(LocalHost=>"::",LocalPort=>53,Proto=>"udp",V6Only=>0) or die "udp: $!"; while($s->recv($m,2048)){$s->send("peer=".$s->peerhost." $m")}'"#;

/// An IPv6 client off loopback keeps its address too, TCP and UDP: it
/// reaches the container's IPv6 address from a transparent socket.
#[test]
fn publish_keeps_the_address_of_an_ipv6_client_off_loopback() {
    let Some(remote) = RemoteNs::numbered(1) else {
        return;
    };
    both(|env, _| {
        let img = debian(env);
        let id = detach(
            env,
            &[
                "-p",
                "[::]:18085:80",
                "-p",
                "[::]:15355:53/udp",
                &img,
                "sh",
                "-c",
                PEER_SERVERS6,
            ],
        );
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_ask(&sock, "127.0.0.1:15355", "ready");
        let tcp = remote.python(
            "import socket,time\n\
             for i in range(50):\n\
             \x20 try:\n\
             \x20   s=socket.create_connection(('fd7b:250:1::1',18085),timeout=3); print(s.makefile().readline().strip()); break\n\
             \x20 except Exception as e: time.sleep(0.2)\n",
        );
        assert_eq!(tcp.trim(), "peer=fd7b:250:1::2", "TCP");
        let udp = remote.python(
            "import socket\n\
             s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.settimeout(3)\n\
             s.sendto(b'hi',('fd7b:250:1::1',15355)); print(s.recvfrom(2048)[0].decode())\n",
        );
        assert_eq!(udp.trim(), "peer=fd7b:250:1::2 hi", "UDP");
        // An IPv4 client of the same dual-stack port keeps its address.
        let tcp4 = remote.python(
            "import socket\n\
             s=socket.create_connection(('10.250.1.1',18085),timeout=3); print(s.makefile().readline().strip())\n",
        );
        assert_eq!(tcp4.trim(), "peer=::ffff:10.250.1.2", "TCP over IPv4");
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

/// The process listening on TCP `port` (ss -p).
fn listener_pid(port: u16) -> u32 {
    let out = Command::new("ss")
        .args(["-Htlnp", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("pid=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no listener on {port}: {text}"))
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// With the bypass turned off (BURROW_PUBLISH_BYPASS=0) the server keeps
/// its own socket and the supervisor relays: the host socket stays the
/// supervisor's alone.
#[test]
fn publish_relays_with_the_bypass_turned_off() {
    both(|env, img| {
        env.set_env("BURROW_PUBLISH_BYPASS", "0");
        let id = detach(
            env,
            &["-p", "18098:80", img, "sh", "-c", &web_server("relayed")],
        );
        assert_eq!(http_get(18098).trim(), "relayed");
        let ss = Command::new("ss")
            .args(["-Htlnp", "sport = :18098"])
            .output()
            .unwrap();
        let ss = String::from_utf8_lossy(&ss.stdout).into_owned();
        assert!(
            !ss.contains("\"httpd\""),
            "handed with the bypass off: {ss}"
        );
        env.burrow(&["rm", "-f", &id]).ok();
        eventually("the port to be free", || !tcp_listening(18098));
        assert_nothing_left(env);
    });
}

/// A forwarded connection costs the supervisor one thread (both
/// directions in one poll loop), not one per direction: ten open
/// connections, ten more threads.
#[test]
fn publish_relays_each_connection_on_one_thread() {
    both(|env, img| {
        // Published on two host ports: the server's socket stays in the
        // container (no bypass) and each connection is relayed.
        let id = detach(
            env,
            &[
                "-p",
                "18086:80",
                "-p",
                "18087:80",
                img,
                "sh",
                "-c",
                &web_server("t"),
            ],
        );
        assert_eq!(http_get(18086).trim(), "t");
        let sup = listener_pid(18086);
        let before = threads(sup);
        // Connected, no request yet: httpd waits, the relay too.
        let open: Vec<TcpStream> = (0..10)
            .map(|_| TcpStream::connect("127.0.0.1:18086").unwrap())
            .collect();
        eventually("a relay per connection", || threads(sup) >= before + 10);
        std::thread::sleep(Duration::from_millis(300));
        let during = threads(sup);
        drop(open);
        assert_eq!(during - before, 10, "threads for 10 connections");
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

/// A TCP server that binds port 80 again for each client (bind, accept
/// one, close both) and tells it "peer=ADDR:PORT", then tries to
/// disconnect the socket (connect with AF_UNSPEC, the first step to
/// connecting it elsewhere) and says why it could not; UDP on 53 as in
/// PEER_SERVERS.
const REBINDING_SERVERS: &str = r#"perl -MIO::Socket::INET -e '$|=1; while(1){$l=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1) or die "tcp: $!"; $c=$l->accept; $c->autoflush(1); print $c "peer=".$c->peerhost.":".$c->peerport."\n"; connect($c, pack("S x14", 0)) or print $c "disconnect: $!\n"; close $c; close $l}' &
exec perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>53,Proto=>"udp") or die "udp: $!"; while($s->recv($m,2048)){$s->send("peer=".$s->peerhost." $m")}'"#;

/// What a TCP server at `addr` says until it closes, retried until it answers
/// (10 s), and the local address of the connection that heard it.
fn what_it_says(addr: &str) -> (String, std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = TcpStream::connect(addr) {
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut line = String::new();
            let _ = c.read_to_string(&mut line);
            if !line.is_empty() {
                return (line.trim().to_string(), c.local_addr().unwrap());
            }
        }
        assert!(Instant::now() < deadline, "no answer from {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bypass: a server's bind of a published TCP port is given the
/// host's listening socket, so it accepts the host's clients itself (the
/// host listener is held by its process, the client's address and port
/// are its own, even from loopback, no relay on the path). It binds again
/// for every client and gets it again each time. The sockets of the
/// host's namespace it holds cannot be connected elsewhere (EPERM). From
/// inside, its port still answers on 127.0.0.1 and the container's
/// address; UDP is still relayed; nothing is left after `rm -f`.
#[test]
fn publish_hands_the_host_socket_to_the_server_that_binds_the_port() {
    both(|env, _| {
        let img = debian(env);
        let id = detach(
            env,
            &[
                "-p",
                "18091:80",
                "-p",
                "15356:53/udp",
                &img,
                "sh",
                "-c",
                REBINDING_SERVERS,
            ],
        );
        for round in 0..3 {
            let (said, me) = what_it_says("127.0.0.1:18091");
            let want = format!("peer={me}\ndisconnect: Operation not permitted");
            assert_eq!(said, want, "connection {round}");
        }
        // The host socket is held by the server in the container (once
        // it bound again after the last client).
        eventually("the server to hold the host socket", || {
            let ss = Command::new("ss")
                .args(["-Htlnp", "sport = :18091"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&ss.stdout).contains("\"perl\"")
        });
        // Inside: loopback and the container's own address answer.
        for addr in ["127.0.0.1", "10.0.2.100"] {
            let get =
                format!("print IO::Socket::INET->new(PeerAddr=>\"{addr}:80\",Timeout=>5)->getline");
            let out = env.burrow(&["exec", &id, "perl", "-MIO::Socket::INET", "-e", &get]);
            out.ok();
            assert!(
                out.stdout.starts_with("peer=127.0.0.1:"),
                "{addr}: {}",
                out.stdout
            );
        }
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let answer = udp_ask(&sock, "127.0.0.1:15356", "ping");
        assert!(answer.ends_with(" ping"), "{answer}");
        env.burrow(&["rm", "-f", &id]).ok();
        eventually("the port to be free", || !tcp_listening(18091));
        assert!(TcpListener::bind("0.0.0.0:18091").is_ok());
        assert_nothing_left(env);
    });
}

/// A restart policy still serves the port: each run's server answers one
/// client and fails; the next run's bind is handed the same host socket
/// (the client waiting meanwhile is answered by it), and the server from
/// the second run sees the client's own address as the first did.
#[test]
fn publish_hands_the_host_socket_again_after_a_restart() {
    both(|env, _| {
        let img = debian(env);
        let once = r#"exec perl -MIO::Socket::INET -e '$l=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1) or die "tcp: $!"; $c=$l->accept; print $c "peer=".$c->peerhost.":".$c->peerport."\n"; close $c; exit 1'"#;
        let id = detach(
            env,
            &[
                "--restart",
                "on-failure:3",
                "-p",
                "18092:80",
                &img,
                "sh",
                "-c",
                once,
            ],
        );
        for run in 0..2 {
            let (said, me) = what_it_says("127.0.0.1:18092");
            assert_eq!(said, format!("peer={me}"), "run {run}");
        }
        let restarts = env.burrow(&["inspect", "-f", "{{.RestartCount}}", &id]);
        restarts.ok();
        let count: u32 = restarts.stdout.trim().parse().unwrap();
        assert!(count >= 1, "restarts: {count}");
        env.burrow(&["rm", "-f", &id]).ok();
        eventually("the port to be free", || !tcp_listening(18092));
        assert_nothing_left(env);
    });
}

/// sendfd/recvfd in core perl (no Socket::MsgHdr in the fixture):
/// SCM_RIGHTS by sendmsg(2)/recvmsg(2) through syscall, x86_64 layout
/// (msghdr, iovec, one cmsghdr with one int).
const PERL_FD_PASSING: &str = r#"sub sendfd { my ($u,$fd)=@_; my $b="x"; my $iov=pack("P Q",$b,1); my $cm=pack("Q i i i x4",20,1,1,$fd); my $m=pack("Q L x4 P Q P Q i x4",0,0,$iov,1,$cm,24,0); syscall(46,fileno($u),$m,0) }
sub recvfd { my ($u)=@_; my $b="\0"; my $iov=pack("P Q",$b,1); my $cm="\0" x 24; my $m=pack("Q L x4 P Q P Q i x4",0,0,$iov,1,$cm,24,0); syscall(47,fileno($u),$m,0) > 0 or return -1; (unpack("Q i i i",$cm))[3] }
"#;

/// A server on port 80 (handed the host's socket) that tells each client
/// "peer=ADDR:PORT" and passes the accepted socket to whoever connects
/// to /tmp/pass.sock next.
const PASSING_SERVER: &str = r#"use IO::Socket::INET; use IO::Socket::UNIX;
$l=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1) or die "tcp: $!";
$p=IO::Socket::UNIX->new(Local=>"/tmp/pass.sock",Listen=>5) or die "unix: $!";
while($c=$l->accept){ $c->autoflush(1); print $c "peer=".$c->peerhost.":".$c->peerport."\n"; $u=$p->accept; sendfd($u,fileno($c)); close $u; close $c }"#;

/// Run by `exec`: takes a socket from /tmp/pass.sock, disconnects it
/// (connect AF_UNSPEC) and connects it to 127.0.0.1:ARGV[0], saying how
/// each went (to the file ARGV[1] if given).
const TAKING_CLIENT: &str = r#"use Socket; use IO::Socket::UNIX;
if ($ARGV[1]) { open(STDOUT,">",$ARGV[1]) or die "$ARGV[1]: $!" } $|=1;
$u=IO::Socket::UNIX->new(Peer=>"/tmp/pass.sock") or die "unix: $!"; $fd=recvfd($u); $fd>=0 or die "no fd passed";
open($h,"+<&=",$fd) or die "fd: $!";
connect($h, pack("S x14",0)) or print "disconnect: $!\n";
if (connect($h, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1")))) { print "connected\n" } else { print "connect: $!\n" }"#;

/// This env's `exec` socket guards (named burrow-exec-net) still alive.
fn exec_guards(env: &TestEnv) -> Vec<String> {
    let root = env.root().display().to_string();
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if comm.trim() == "burrow-exec-net" && String::from_utf8_lossy(&cmdline).contains(&root) {
            found.push(p.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

/// A process started by `exec` (not under the init's filter) that is
/// passed an accepted socket of the host's namespace by the container's
/// server (SCM_RIGHTS) can neither disconnect it nor connect it to the
/// host's loopback (EPERM), foreground or with -d; the host's listener
/// hears nothing. Ordinary binds and connects of an exec'd process still
/// work, and its guard is gone once the process is.
#[cfg(target_arch = "x86_64")]
#[test]
fn publish_an_exec_process_cannot_connect_a_passed_host_socket() {
    use std::io::BufRead;
    both(|env, _| {
        let img = debian(env);
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        target.set_nonblocking(true).unwrap();
        let port = target.local_addr().unwrap().port().to_string();
        let server = format!("{PERL_FD_PASSING}{PASSING_SERVER}");
        let client = format!("{PERL_FD_PASSING}{TAKING_CLIENT}");
        let id = detach(env, &["-p", "18093:80", &img, "perl", "-e", &server]);
        let refused = "disconnect: Operation not permitted\nconnect: Operation not permitted\n";
        for detached in [false, true] {
            // A client of the host: the server's accepted socket is of the
            // host's namespace (its peer is our own address and port).
            let deadline = Instant::now() + Duration::from_secs(10);
            let (conn, line) = loop {
                if let Ok(c) = TcpStream::connect("127.0.0.1:18093") {
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut line = String::new();
                    let _ = std::io::BufReader::new(&c).read_line(&mut line);
                    if !line.is_empty() {
                        break (c, line);
                    }
                }
                assert!(Instant::now() < deadline, "no answer on 18093");
                std::thread::sleep(Duration::from_millis(100));
            };
            let me = conn.local_addr().unwrap();
            assert_eq!(line, format!("peer={me}\n"), "not handed the host socket");
            let said = if detached {
                env.burrow(&["exec", "-d", &id, "perl", "-e", &client, &port, "/tmp/said"])
                    .ok();
                let mut said = String::new();
                eventually("the detached client to say how it went", || {
                    said = env.burrow(&["exec", &id, "cat", "/tmp/said"]).stdout;
                    // Its last line: "connect..." however it went.
                    said.lines().any(|l| l.starts_with("connect"))
                });
                said
            } else {
                let out = env.burrow(&["exec", &id, "perl", "-e", &client, &port]);
                out.ok();
                out.stdout.clone()
            };
            assert_eq!(said, refused, "detached: {detached}");
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                target.accept().is_err(),
                "the host's loopback was reached (detached: {detached})"
            );
            drop(conn);
        }
        // Its own binds and connects: through the guard, let run.
        let own = r#"use IO::Socket::INET; $l=IO::Socket::INET->new(LocalAddr=>"127.0.0.2:7000",Listen=>1) or die "listen: $!"; $c=IO::Socket::INET->new(PeerAddr=>"127.0.0.2:7000") or die "connect: $!"; print "ok\n""#;
        let out = env.burrow(&["exec", &id, "perl", "-e", own]);
        assert_eq!(out.ok().stdout, "ok\n");
        eventually("the exec guards to end", || exec_guards(env).is_empty());
        env.burrow(&["rm", "-f", &id]).ok();
        eventually("the port to be free", || !tcp_listening(18093));
        assert_nothing_left(env);
    });
}

/// Under the bypass, a process that `exec` starts (and a health check)
/// is under the socket guard, yet reaches the container's own servers:
/// the handed port on 127.0.0.1 and the container's address, and another
/// loopback address; the checks pass; nothing is left after `rm -f`.
#[test]
fn publish_exec_and_health_checks_still_reach_the_containers_own_servers() {
    both(|env, img| {
        let cmd = "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && \
                   httpd -p 127.0.0.2:81 -h /tmp/www && exec httpd -f -p 80 -h /tmp/www";
        let id = detach(
            env,
            &[
                "-p",
                "18094:80",
                "--health-cmd",
                "wget -q -O /dev/null http://127.0.0.1/",
                "--health-interval",
                "200ms",
                img,
                "sh",
                "-c",
                cmd,
            ],
        );
        assert_eq!(http_get(18094), "hi\n");
        eventually("the server to hold the host socket", || {
            let ss = Command::new("ss")
                .args(["-Htlnp", "sport = :18094"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&ss.stdout).contains("\"httpd\"")
        });
        for url in [
            "http://127.0.0.1/",
            "http://127.0.0.2:81/",
            "http://10.0.2.100/",
        ] {
            let out = env.burrow(&["exec", &id, "wget", "-q", "-O-", url]);
            assert_eq!(out.ok().stdout, "hi\n", "{url}");
        }
        eventually("the container to be healthy", || {
            let out = env.burrow(&["inspect", "-f", "{{.State.Health.Status}}", &id]);
            out.stdout.trim() == "healthy"
        });
        env.burrow(&["rm", "-f", &id]).ok();
        eventually("the port to be free", || !tcp_listening(18094));
        assert_nothing_left(env);
    });
}

#[test]
fn publish_a_port_in_use_fails_in_one_line_and_leaves_nothing() {
    both(|env, img| {
        let held = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let spec = format!("{port}:80");
        for extra in [&[][..], &["--rm"][..], &["-d"][..]] {
            let mut args = vec!["run"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["-p", "127.0.0.1::81", "-p", &spec, img, "true"]);
            let out = env.burrow(&args);
            out.fails(125);
            assert!(
                out.stderr.contains(&format!("port {port}/tcp")) && out.stderr.contains("in use"),
                "{}",
                out.describe()
            );
            let ps = env.burrow(&["ps", "-a", "-q"]);
            assert_eq!(ps.stdout, "", "{extra:?}: a container was left");
            assert_nothing_left(env);
        }
        // create + start: bound at start; the container stays, Created.
        let id = env.burrow(&["create", "-p", &spec, img, "true"]);
        id.ok();
        let out = env.burrow(&["start", id.stdout.trim()]);
        out.fails(125);
        assert!(
            out.stderr.contains(&format!("port {port}/tcp")),
            "{}",
            out.describe()
        );
        drop(held);
        env.burrow(&["start", "-a", id.stdout.trim()]).ok();
        env.burrow(&["rm", id.stdout.trim()]).ok();
    });
}

#[test]
fn publish_bad_syntax_fails_in_one_line_and_makes_nothing() {
    both(|env, img| {
        for bad in [
            "80:abc",
            "8080:80/sctp",
            "1.2.3:80:80",
            "70000:80",
            "8000-8002:80-81",
        ] {
            let out = env.burrow(&["run", "--rm", "-p", bad, img, "true"]);
            out.fails(125);
            assert!(out.stderr.contains("invalid -p"), "{}", out.describe());
            let out = env.burrow(&["create", "-p", bad, img, "true"]);
            out.fails(125);
        }
        env.burrow(&["run", "--rm", "--expose", "http", img, "true"])
            .fails(125);
        assert_eq!(env.burrow(&["ps", "-a", "-q"]).stdout, "");
    });
}

/// The busybox fixture with EXPOSE 80/tcp 53/udp in its config (umoci),
/// pushed to the test registry as fixtures/exposed.
fn exposed_image(env: &TestEnv) -> String {
    let layout = env.dir().join("layout");
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixture_layout("busybox"))
        .arg(&layout)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("umoci")
        .args(["config", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .args([
            "--config.exposedports",
            "80/tcp",
            "--config.exposedports",
            "53/udp",
        ])
        .args(["--tag", "exposed"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    registry().push_layout(&layout, "exposed", "fixtures/exposed:latest");
    registry().image("exposed")
}

#[test]
fn publish_all_publishes_the_image_expose_and_expose_flags() {
    both(|env, _| {
        let img = exposed_image(env);
        env.burrow(&["pull", "-q", &img]).ok();
        let id = detach(
            env,
            &[
                "-P",
                "--expose",
                "7000",
                &img,
                "sh",
                "-c",
                &web_server("from-expose"),
            ],
        );
        let port = env.burrow(&["port", &id]);
        port.ok();
        let lines: Vec<&str> = port.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{}", port.stdout);
        assert!(
            lines[0].starts_with("53/udp -> 0.0.0.0:"),
            "{}",
            port.stdout
        );
        assert!(
            lines[1].starts_with("80/tcp -> 0.0.0.0:"),
            "{}",
            port.stdout
        );
        assert!(
            lines[2].starts_with("7000/tcp -> 0.0.0.0:"),
            "{}",
            port.stdout
        );
        let web: u16 = lines[1].rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(http_get(web).trim(), "from-expose");
        let exposed = env.burrow(&["inspect", "-f", "{{json .Config.ExposedPorts}}", &id]);
        assert_eq!(
            exposed.stdout.trim(),
            r#"{"53/udp":{},"7000/tcp":{},"80/tcp":{}}"#
        );
        env.burrow(&["rm", "-f", &id]).ok();
        // Without -P, exposed ports are shown but not bound.
        let id = detach(env, &[&img, "sleep", "100"]);
        let ps = env.burrow(&["ps", "--format", "{{.Ports}}"]);
        assert_eq!(ps.stdout, "53/udp, 80/tcp\n");
        assert_eq!(env.burrow(&["port", &id]).stdout, "");
        env.burrow(&["rm", "-f", &id]).ok();
    });
}

#[test]
fn publish_100_runs_leave_no_listener_process_or_fd() {
    both(|env, img| {
        for _ in 0..100 {
            env.burrow(&[
                "run",
                "--rm",
                "-p",
                "127.0.0.1:18083:80",
                "-p",
                "127.0.0.1::81/udp",
                img,
                "true",
            ])
            .ok();
        }
        assert!(!tcp_listening(18083));
        assert_nothing_left(env);
        assert!(env_processes(env).is_empty());
        // Nothing of ours holds a socket: no process of the test user
        // (other tests run as the same user, so look at this env's only).
        assert!(TcpListener::bind("127.0.0.1:18083").is_ok());
    });
}

/// Wait (60 s at most) until the container's log holds `line`; the log.
fn log_with(env: &TestEnv, id: &str, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = env.burrow(&["logs", id]);
        if out.stdout.lines().any(|l| l == line) {
            return out.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "no {line:?} in: {}",
            out.describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server on port 80 that is handed the host's socket accepts a host
/// client (a socket of the host's namespace), then races: one thread
/// disconnects (AF_UNSPEC) and connects fd 100 to 127.0.0.1:ARGV[0] over
/// and over, while another puts the accepted socket and one of its own
/// on fd 100 in turn. It says how the connects went, then "done".
const CONNECT_RACE: &str = r#"use threads; use threads::shared; use Socket; use POSIX ();
$|=1; my ($port, $rounds) = @ARGV;
socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1);
bind($l, pack_sockaddr_in(80, INADDR_ANY)) or die "bind: $!";
listen($l, 5) or die "listen: $!";
accept(my $c, $l) or die "accept: $!";
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
my $n = 100; defined POSIX::dup2(fileno($s), $n) or die "dup2: $!";
open(my $h, "+<&=", $n) or die "fd: $!";
print "racing\n";
my $done :shared = 0;
my $swap = threads->create(sub { until ($done) { POSIX::dup2(fileno($c), $n); select(undef, undef, undef, 0.0002); POSIX::dup2(fileno($s), $n); select(undef, undef, undef, 0.0002) } });
my $to = pack_sockaddr_in($port, inet_aton("127.0.0.1")); my %said;
for (1..$rounds) { connect($h, pack("S x14", 0)); if (connect($h, $to)) { $said{connected}++ } else { $said{"errno " . ($!+0)}++ } }
$done = 1; $swap->join;
print join(", ", map { "$_: $said{$_}" } sort keys %said), "\ndone\n";"#;

/// Issue #15: connect() used to be checked by the supervisor and then run
/// by the kernel, which read the fd number again; a second thread could
/// put a socket of the host's namespace there in between and connect it
/// to the host's loopback. Now the supervisor connects the very socket it
/// checked: the host's listener never hears from the container.
#[test]
fn publish_a_racing_thread_cannot_connect_a_host_socket_to_the_hosts_loopback() {
    both(|env, _| {
        let img = debian(env);
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        target.set_nonblocking(true).unwrap();
        let port = target.local_addr().unwrap().port().to_string();
        let race = ["perl", "-e", CONNECT_RACE, &port, "400"];
        let id = detach(env, &[&["-p", "18095:80", &img][..], &race].concat());
        eventually("the server to hold the host socket", || {
            let ss = Command::new("ss")
                .args(["-Htlnp", "sport = :18095"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&ss.stdout).contains("\"perl\"")
        });
        let client = TcpStream::connect("127.0.0.1:18095").unwrap();
        log_with(env, &id, "racing");
        let log = log_with(env, &id, "done");
        drop(client);
        assert!(!log.contains("connected"), "{log}");
        assert!(
            target.accept().is_err(),
            "the host's loopback was reached: {log}"
        );
        env.burrow(&["rm", "-f", &id]).ok();
        assert_nothing_left(env);
    });
}

/// The connects of a process, as it says how each went: a unix socket by
/// path and an abstract one (their server says the peer's SO_PEERCRED),
/// one in /root (700), a blocking and a non-blocking one to a server on
/// the container's loopback, one to the host (host-gateway, ARGV[0]).
const CONNECT_CHECKS: &str = r#"use Socket; use IO::Socket::UNIX; use IO::Socket::INET; use IO::Select; use Fcntl;
sub checks { my ($port) = @_; my $out = "";
for (["unix", "/tmp/u.sock"], ["abstract", "\0burrow-abstract"], ["private", "/root/p.sock"]) {
  my $c = IO::Socket::UNIX->new(Peer=>$_->[1]); $out .= $c ? "$_->[0] " . $c->getline : "$_->[0]: $!\n" }
my $c = IO::Socket::INET->new(PeerAddr=>"127.0.0.1:7000"); $out .= $c ? "blocking " . $c->getline : "blocking: $!\n";
socket(my $s, PF_INET, SOCK_STREAM, 0); fcntl($s, F_SETFL, O_NONBLOCK);
my $how = connect($s, pack_sockaddr_in(7000, inet_aton("127.0.0.1"))) ? "at once" : $!{EINPROGRESS} ? "in progress" : "failed: $!";
IO::Select->new($s)->can_write(5); my $err = unpack("i", getsockopt($s, SOL_SOCKET, SO_ERROR)); fcntl($s, F_SETFL, 0);
$out .= "nonblocking $how, error $err, " . <$s>;
$c = IO::Socket::INET->new(PeerAddr=>"host.docker.internal:$port", Timeout=>5); $out .= $c ? "outbound " . $c->getline : "outbound: $!\n";
$out }
"#;

/// The container's servers for CONNECT_CHECKS (unix ones say the peer's
/// "uid=U gid=G pid=P", the inet one "hi"), the checks as root and as
/// uid 1000 (to the log, each after a line naming it), then a server
/// bound to port 80 (handed the host's socket).
const CONNECT_SERVERS: &str = r#"sub creds { my ($pid, $uid, $gid) = unpack("i3", getsockopt($_[0], SOL_SOCKET, SO_PEERCRED)); "uid=$uid gid=$gid pid=$pid\n" }
sub serve { my ($l, $say) = @_; $l or die "listen: $!"; return if fork; while (my $c = $l->accept) { print $c $say->($c); close $c } exit }
$| = 1; my ($port) = @ARGV;
serve(IO::Socket::UNIX->new(Local=>"/tmp/u.sock", Listen=>5), \&creds); chmod 0777, "/tmp/u.sock";
serve(IO::Socket::UNIX->new(Local=>"\0burrow-abstract", Listen=>5), \&creds);
serve(IO::Socket::UNIX->new(Local=>"/root/p.sock", Listen=>5), \&creds); chmod 0777, "/root/p.sock";
serve(IO::Socket::INET->new(LocalAddr=>"127.0.0.1:7000", Listen=>5, ReuseAddr=>1), sub { "hi\n" });
my $l = IO::Socket::INET->new(LocalPort=>80, Listen=>5, ReuseAddr=>1) or die "tcp: $!";
print "as root\n", checks($port);
if (!fork) { $) = "1000 1000"; $( = 1000; POSIX::setuid(1000); print "as 1000\n", checks($port); exit }
wait; print "checked\n";
while (my $c = $l->accept) { print $c "peer=" . $c->peerhost . "\n"; close $c }"#;

/// Under the bypass every connect is made by burrow for the caller
/// (issue #15), yet works as the caller's own: unix sockets by path and
/// abstract name, with the caller's uid and gid in SO_PEERCRED (its pid
/// is burrow's, which the container cannot see: 0) and its permissions
/// (uid 1000 cannot reach into /root); blocking and non-blocking
/// (EINPROGRESS, then connected) connects to the container's loopback;
/// one out to the host. From the container's processes and from `exec`.
#[test]
fn publish_connects_made_for_the_caller_work_as_its_own() {
    both(|env, _| {
        let img = debian(env);
        let host = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = host.local_addr().unwrap().port().to_string();
        std::thread::spawn(move || {
            for mut c in host.incoming().flatten() {
                let _ = c.write_all(b"out\n");
            }
        });
        // Single-id mode emulates uid 1000: to the kernel, still root.
        let other = if env.user == User::Sub { 1000 } else { 0 };
        let creds = |uid: u32| format!("uid={uid} gid={uid} pid=0");
        let said = |uid: u32| {
            let private = match uid {
                0 => format!("private {}", creds(0)),
                _ => "private: Permission denied".to_string(),
            };
            let unix = format!("unix {}\nabstract {}\n{private}", creds(uid), creds(uid));
            format!("{unix}\nblocking hi\nnonblocking in progress, error 0, hi\noutbound out\n")
        };
        let program = format!("use POSIX (); {CONNECT_CHECKS}{CONNECT_SERVERS}");
        let id = detach(
            env,
            &[
                "-p",
                "18096:80",
                "--add-host",
                "host.docker.internal:host-gateway",
                &img,
                "perl",
                "-e",
                &program,
                &port,
            ],
        );
        let log = log_with(env, &id, "checked");
        let want = format!("as root\n{}as 1000\n{}checked\n", said(0), said(other));
        assert_eq!(log, want);
        let (peer, me) = what_it_says("127.0.0.1:18096");
        assert_eq!(
            peer,
            format!("peer={}", me.ip()),
            "not handed the host socket"
        );
        let check = format!("{CONNECT_CHECKS}print checks($ARGV[0])");
        // `exec -u` takes only mapped ids (none but root without a range).
        let users: &[(&str, u32)] = match env.user {
            User::Sub => &[("0", 0), ("1000:1000", 1000)],
            _ => &[("0", 0)],
        };
        for &(user, uid) in users {
            let out = env.burrow(&["exec", "-u", user, &id, "perl", "-e", &check, &port]);
            assert_eq!(out.ok().stdout, said(uid), "exec -u {user}");
        }
        env.burrow(&["rm", "-f", &id]).ok();
        assert_nothing_left(env);
    });
}

/// A server handed the host's socket that shuts it (SHUT_RD disconnects
/// a listener) and then tries to make it a client of the host's loopback
/// (ARGV[0]): bind again, connect, a send with MSG_FASTOPEN (a connect
/// without connect()); then the same send on a socket it accepted from a
/// host client. It says how each went.
const FASTOPEN_TRIES: &str = r#"use Socket; $| = 1;
socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1);
bind($l, pack_sockaddr_in(80, INADDR_ANY)) or die "bind: $!";
listen($l, 5) or die "listen: $!";
accept(my $c, $l) or die "accept: $!";
my $to = pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"));
shutdown($l, 0) or print "shutdown: $!\n";
print bind($l, pack_sockaddr_in(0, INADDR_ANY)) ? "bound\n" : "bind: $!\n";
print connect($l, $to) ? "connected\n" : "connect: $!\n";
print defined(send($l, "x", 0x20000000, $to)) ? "sent\n" : "fast open: $!\n";
print defined(send($c, "x", 0x20000000, $to)) ? "sent\n" : "fast open: $!\n";
print "done\n";"#;

/// Issue #15: with TCP Fast Open on the client side (net.ipv4.tcp_fastopen
/// 1, the default), a send with MSG_FASTOPEN connects a socket without
/// connect(). A handed listener shut down, or an accepted socket, cannot
/// be turned into a client of the host's loopback: bind says EINVAL (the
/// port stays), connect EPERM, and sends with MSG_FASTOPEN are refused
/// (EOPNOTSUPP, as where Fast Open is off; the kernel says EINVAL on a
/// shut listener and EISCONN on an accepted socket anyway).
#[test]
fn publish_a_host_socket_cannot_connect_by_fast_open() {
    both(|env, _| {
        let img = debian(env);
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        target.set_nonblocking(true).unwrap();
        let port = target.local_addr().unwrap().port().to_string();
        let tries = ["perl", "-e", FASTOPEN_TRIES, &port];
        let id = detach(env, &[&["-p", "18097:80", &img][..], &tries].concat());
        eventually("the server to hold the host socket", || {
            let ss = Command::new("ss")
                .args(["-Htlnp", "sport = :18097"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&ss.stdout).contains("\"perl\"")
        });
        let client = TcpStream::connect("127.0.0.1:18097").unwrap();
        let log = log_with(env, &id, "done");
        drop(client);
        let want = "bind: Invalid argument\nconnect: Operation not permitted\n\
                    fast open: Operation not supported\nfast open: Operation not supported\ndone\n";
        assert_eq!(log, want);
        assert!(target.accept().is_err(), "the host's loopback was reached");
        env.burrow(&["rm", "-f", &id]).ok();
        assert_nothing_left(env);
    });
}

/// io_uring connects sockets out of any seccomp filter's sight: under the
/// bypass it is refused (EPERM) even where the profile allows it
/// (seccomp=unconfined), and left alone with the bypass off.
#[test]
fn publish_io_uring_is_refused_under_the_bypass_even_unconfined() {
    both(|env, _| {
        let img = debian(env);
        // io_uring_setup(4, params): x86_64 and aarch64 share 425.
        let setup =
            r#"my $p = "\0" x 120; print syscall(425, 4, $p) < 0 ? "refused: $!\n" : "set up\n""#;
        let run = |bypass: &str| {
            let args = ["run", "--rm", "--security-opt", "seccomp=unconfined"];
            let cmd = ["-p", "18099:80", &img, "perl", "-e", setup];
            let out = env.burrow_with(
                &[&args[..], &cmd].concat(),
                &[("BURROW_PUBLISH_BYPASS", bypass)],
                None,
            );
            out.ok().stdout.clone()
        };
        assert_eq!(run("1"), "refused: Operation not permitted\n");
        assert_eq!(run("0"), "set up\n");
    });
}

/// A server that sets TCP_NODELAY and SO_KEEPALIVE on its socket before
/// it binds port 80 (handed the host's socket) tells each client its
/// socket's port (getsockname) and whether the accepted connection has
/// both options.
const OPTIONS_SERVER: &str = r#"use Socket qw(:DEFAULT IPPROTO_TCP TCP_NODELAY); $| = 1;
socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1); setsockopt($l, IPPROTO_TCP, TCP_NODELAY, 1); setsockopt($l, SOL_SOCKET, SO_KEEPALIVE, 1);
bind($l, pack_sockaddr_in(80, INADDR_ANY)) or die "bind: $!"; listen($l, 5) or die "listen: $!";
my ($port) = unpack_sockaddr_in(getsockname($l));
while (accept(my $c, $l)) { my $nd = unpack("i", getsockopt($c, IPPROTO_TCP, TCP_NODELAY)); my $ka = unpack("i", getsockopt($c, SOL_SOCKET, SO_KEEPALIVE));
  syswrite($c, "port=$port nodelay=" . ($nd ? 1 : 0) . " keepalive=" . ($ka ? 1 : 0) . "\n"); close $c }"#;

/// The options a server's connections inherit from its socket (TCP_NODELAY,
/// keepalive) are carried over to the host socket it is handed; its
/// getsockname shows the host's port (documented in `sandbox::bypass`).
#[test]
fn publish_a_handed_socket_takes_the_servers_nodelay_and_keepalive() {
    both(|env, _| {
        let img = debian(env);
        let id = detach(env, &["-p", "18100:80", &img, "perl", "-e", OPTIONS_SERVER]);
        let (said, _) = what_it_says("127.0.0.1:18100");
        assert_eq!(said, "port=18100 nodelay=1 keepalive=1");
        env.burrow(&["rm", "-f", &id]).ok();
        assert_nothing_left(env);
    });
}
