//! One container reaching another: `--network container:NAME` (sharing
//! its network namespace) and `--link NAME[:ALIAS]` on the default
//! network (its own namespace, the linked one reached through a link
//! address). Traffic stays inside the containers' namespaces.

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

/// A shell line that fetches `url`, retrying while the server starts.
fn fetch(url: &str) -> String {
    format!("for i in $(seq 100); do wget -qO- {url} && break; sleep 0.1; done")
}

/// Pids of processes whose command line names `marker` (the store:
/// burrow's processes keep the caller's arguments).
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

/// Container names in the store (`ps -a`).
fn names(env: &TestEnv) -> Vec<String> {
    let out = env.burrow(&["ps", "-a", "--format", "{{.Names}}"]);
    out.ok();
    out.stdout.lines().map(String::from).collect()
}

/// `--network container:srv`: the joiner sees srv's loopback (a server
/// bound to 127.0.0.1 there), is in its network namespace, and has its
/// hostname.
#[test]
fn network_container_shares_the_targets_loopback() {
    both(|env, img| {
        env.burrow(&[
            "run", "-d", "--name", "srv", img, "sh", "-c",
            "mkdir -p /w && echo shared-page > /w/index.html && exec httpd -f -p 127.0.0.1:8080 -h /w",
        ])
        .ok();
        let theirs = env.burrow(&[
            "exec",
            "srv",
            "sh",
            "-c",
            "readlink /proc/self/ns/net; hostname",
        ]);
        theirs.ok();
        let script = format!(
            "{}; readlink /proc/self/ns/net; hostname",
            fetch("http://localhost:8080/")
        );
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "container:srv",
            img,
            "sh",
            "-c",
            &script,
        ]);
        env.burrow(&["rm", "-f", "srv"]).ok();
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.first(), Some(&"shared-page"), "{}", out.describe());
        let want: Vec<&str> = theirs.stdout.lines().collect();
        assert_eq!(lines[1..], want[..], "{}", out.describe());
    });
}

/// The target stops while the joiner runs: as with Docker, the joiner
/// keeps the namespace it is in (its loopback still works; the target's
/// servers are gone) and runs on; a new joiner is refused.
#[test]
fn network_container_outlives_its_target() {
    both(|env, img| {
        env.burrow(&["run", "-d", "--name", "srv", img, "sleep", "1000"])
            .ok();
        env.burrow(&[
            "run", "-d", "--name", "joiner", "--network", "container:srv", img, "sh", "-c",
            "mkdir -p /w && echo still-here > /w/index.html && exec httpd -f -p 127.0.0.1:8081 -h /w",
        ])
        .ok();
        env.burrow(&["stop", "-t", "1", "srv"]).ok();
        let out = env.burrow(&[
            "exec",
            "joiner",
            "sh",
            "-c",
            &fetch("http://127.0.0.1:8081/"),
        ]);
        let later = env.burrow(&["run", "--rm", "--network", "container:srv", img, "true"]);
        let ps = env.burrow(&["ps", "--format", "{{.Names}}"]);
        env.burrow(&["rm", "-f", "joiner", "srv"]).ok();
        out.ok();
        assert_eq!(out.stdout, "still-here\n", "{}", out.describe());
        ps.ok();
        assert_eq!(ps.stdout, "joiner\n", "{}", ps.describe());
        later.fails(125);
        assert!(
            later
                .stderr
                .contains("cannot join network of a non running container"),
            "{}",
            later.describe()
        );
    });
}

/// Sharing the network of a container on the host's network is the
/// host's network (nobody may join the host's namespace from a
/// container's user namespace: that failed with EPERM).
#[test]
fn network_container_of_a_host_network_container_is_the_hosts() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    env.burrow(&[
        "run",
        "-d",
        "--name",
        "h",
        "--network",
        "host",
        &img,
        "sleep",
        "100",
    ])
    .ok();
    let out = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "container:h",
        &img,
        "readlink",
        "/proc/self/ns/net",
    ]);
    env.burrow(&["rm", "-f", "h"]).ok();
    out.ok();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        out.stdout.trim(),
        ours.to_string_lossy(),
        "{}",
        out.describe()
    );
}

/// Flags that cannot apply to another container's network are refused
/// with Docker's words; a target that does not run (or does not exist)
/// is one line, exit 125, and no container is left behind.
#[test]
fn network_container_refuses_conflicts_and_targets_that_do_not_run() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    env.burrow(&["create", "--name", "idle", &img, "true"]).ok();
    let shared = "container:idle";
    for (flags, words) in [
        (
            &["-p", "8080:80"][..],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            &["-P"],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            &["--expose", "80"],
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            &["--hostname", "h"],
            "conflicting options: hostname and the network mode",
        ),
        (
            &["--dns", "10.0.0.1"],
            "conflicting options: dns and the network mode",
        ),
        (
            &["--add-host", "a:10.0.0.1"],
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            &["--link", "idle"],
            "conflicting options: container type network can't be used with links",
        ),
    ] {
        let mut args = vec!["run", "--rm", "--network", shared];
        args.extend_from_slice(flags);
        args.extend([img.as_str(), "true"]);
        let out = env.burrow(&args);
        out.fails(125);
        assert!(out.stderr.contains(words), "{flags:?}: {}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    }
    for (target, words) in [
        (
            "container:idle",
            "cannot join network of a non running container",
        ),
        ("container:nope", "no such container: nope"),
        ("container:", "invalid container format container:<name|id>"),
    ] {
        let out = env.burrow(&["run", "--network", target, &img, "true"]);
        out.fails(125);
        assert!(out.stderr.contains(words), "{target}: {}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert_eq!(names(&env), ["idle"], "{target}: left a container behind");
    }
}

/// `--link db:web` on the default network: the linked container's
/// server is reached by alias and by name, and the link's variables
/// name its exposed port at the link's address.
#[test]
fn link_reaches_the_linked_containers_server_by_alias_and_name() {
    both(|env, img| {
        env.burrow(&[
            "run",
            "-d",
            "--name",
            "db",
            "--expose",
            "80",
            "-e",
            "SECRET=s3",
            img,
            "sh",
            "-c",
            "mkdir -p /w && echo linked-page > /w/index.html && exec httpd -f -p 80 -h /w",
        ])
        .ok();
        let script = format!(
            "{}; wget -qO- http://db/; env | grep ^WEB_ | sort; grep -w web /etc/hosts",
            fetch("http://web/")
        );
        let out = env.burrow(&[
            "run", "--rm", "--name", "app", "--link", "db:web", img, "sh", "-c", &script,
        ]);
        // The command sees no fd of the link's socket maker.
        let fds = env.burrow(&["run", "--rm", "--link", "db", img, "ls", "/proc/self/fd"]);
        // An unnamed linker's variables carry the name it gets.
        let unnamed = env.burrow(&["run", "-d", "--link", "db", img, "sleep", "100"]);
        let named = env.burrow(&["ps", "-l", "--format", "{{.Names}}"]);
        let var = env.burrow(&["exec", unnamed.stdout.trim(), "sh", "-c", "echo $DB_NAME"]);
        env.burrow(&["rm", "-f", unnamed.stdout.trim()]).ok();
        env.burrow(&["rm", "-f", "db"]).ok();
        out.ok();
        fds.ok();
        assert_eq!(fds.stdout, "0\n1\n2\n3\n", "{}", fds.describe());
        assert_eq!(
            var.stdout,
            format!("/{}/db\n", named.stdout.trim()),
            "{}",
            var.describe()
        );
        // Nothing is left: the makers went with their supervisors.
        let store = env.root().to_string_lossy().into_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !processes_naming(&store).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "processes left: {:?}",
                processes_naming(&store)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let s = &out.stdout;
        assert_eq!(s.matches("linked-page").count(), 2, "{}", out.describe());
        for want in [
            "WEB_PORT=tcp://10.0.2.10:80\n",
            "WEB_PORT_80_TCP=tcp://10.0.2.10:80\n",
            "WEB_PORT_80_TCP_ADDR=10.0.2.10\n",
            "WEB_NAME=/app/web\n",
            "WEB_ENV_SECRET=s3\n",
        ] {
            assert!(s.contains(want), "no {want:?}: {}", out.describe());
        }
        let hosts = s.lines().last().unwrap_or("");
        assert!(
            hosts.starts_with("10.0.2.10\tweb ") && hosts.ends_with(" db"),
            "{}",
            out.describe()
        );
    });
}

/// The linked container is stopped and started again (new namespaces):
/// the link follows it, as Docker's does, without restarting the linker.
#[test]
fn a_link_follows_its_target_across_a_restart() {
    both(|env, img| {
        let serve = "mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 80 -h /w";
        env.burrow(&["run", "-d", "--name", "db", img, "sh", "-c", serve])
            .ok();
        env.burrow(&[
            "run", "-d", "--name", "app", "--link", "db", img, "sleep", "1000",
        ])
        .ok();
        let before = env.burrow(&["exec", "app", "sh", "-c", &fetch("http://db/")]);
        env.burrow(&["stop", "-t", "1", "db"]).ok();
        let stopped = env.burrow(&["exec", "app", "wget", "-qO-", "http://db/"]);
        env.burrow(&["start", "db"]).ok();
        let after = env.burrow(&["exec", "app", "sh", "-c", &fetch("http://db/")]);
        env.burrow(&["rm", "-f", "app", "db"]).ok();
        before.ok();
        assert!(!before.stdout.trim().is_empty(), "{}", before.describe());
        // Refused while it is down, not hung.
        assert_ne!(stopped.code, 0, "{}", stopped.describe());
        after.ok();
        assert_eq!(after.stdout, before.stdout, "{}", after.describe());
    });
}

/// A link to a container that does not exist or does not run: one
/// line, exit 125, nothing made.
#[test]
fn link_to_an_unknown_or_stopped_container_is_refused() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    env.burrow(&["create", "--name", "idle", &img, "true"]).ok();
    for (link, words) in [
        ("nope:web", "no such container: nope"),
        (
            "idle:web",
            "cannot link to a non running container: /idle AS /",
        ),
        ("bad name", "invalid --link"),
    ] {
        let out = env.burrow(&["run", "--rm", "--link", link, &img, "true"]);
        out.fails(125);
        assert!(out.stderr.contains(words), "{link}: {}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert_eq!(names(&env), ["idle"], "{link}: left a container behind");
    }
    let out = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--link",
        "idle",
        &img,
        "true",
    ]);
    out.fails(125);
    assert!(
        out.stderr
            .contains("conflicting options: host type networking can't be used with links"),
        "{}",
        out.describe()
    );
}
