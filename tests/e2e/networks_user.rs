//! User networks (`network create`, `run --network NAME`): containers on
//! one network reach each other by name, alias and short id through a
//! bridge in the namespace burrow's keeper holds. Only the namespaces
//! burrow makes; no outside address.

use crate::common::*;
use crate::run::{containers_left, ready};

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// A detached web server on `net` named `name`, serving "hello from NAME".
fn web_server(env: &TestEnv, img: &str, net: &str, name: &str, alias: &str) -> String {
    let script = format!(
        "mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p 80 -h /www"
    );
    let out = env.burrow(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "--network-alias",
        alias,
        img,
        "sh",
        "-c",
        &script,
    ]);
    out.ok();
    out.stdout.trim().to_string()
}

/// The address and the page of `target`, fetched from a new container on `net`.
fn fetch(env: &TestEnv, img: &str, net: &str, target: &str) -> Outcome {
    // The server may take a moment to listen.
    let script = format!(
        "for i in $(seq 50); do wget -qO- http://{target}/ && exit 0; sleep 0.1; done; exit 1"
    );
    env.burrow(&["run", "--rm", "--network", net, img, "sh", "-c", &script])
}

/// The address `name` has on its user network, from `inspect`.
fn address_of(env: &TestEnv, name: &str, net: &str) -> String {
    let tpl = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    let out = env.burrow(&["inspect", "-f", &tpl, name]);
    out.ok();
    out.stdout.trim().to_string()
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_alias_and_short_id() {
    both(|env, img| {
        env.burrow(&["network", "create", "unet"]).ok();
        let id = web_server(env, img, "unet", "srv", "webalias");
        for target in ["srv", "webalias", &id[..12]] {
            let out = fetch(env, img, "unet", target);
            out.ok();
            assert_eq!(
                out.stdout,
                "hello from srv\n",
                "{target}: {}",
                out.describe()
            );
        }
        // The resolver answers with the server's address on the network
        // (the gateway is the resolver); ping reaches it by alias.
        let ip = address_of(env, "srv", "unet");
        assert!(ip.starts_with("10.89.0."), "{ip}");
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "unet",
            img,
            "sh",
            "-c",
            "cat /etc/resolv.conf; nslookup srv; ip -4 addr show eth1; ping -c1 -W2 webalias",
        ]);
        out.ok();
        for want in [
            "nameserver 10.89.0.1\n".to_string(),
            format!("Address: {ip}\n"),
            "inet 10.89.0.".to_string(),
            "1 packets received".to_string(),
        ] {
            assert!(
                out.stdout.contains(&want),
                "no {want:?}: {}",
                out.describe()
            );
        }
        // A name nobody has: NXDOMAIN (from the host's resolver), not a hang.
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "unet",
            img,
            "nslookup",
            "nosuchname.invalid",
        ]);
        assert!(
            out.stdout.contains("NXDOMAIN") || out.stderr.contains("NXDOMAIN"),
            "{}",
            out.describe()
        );
        // Another network's containers neither resolve nor reach it.
        env.burrow(&["network", "create", "other"]).ok();
        let script = format!("nslookup srv; wget -qO- -T 2 http://{ip}/");
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "other",
            img,
            "sh",
            "-c",
            &script,
        ]);
        assert!(!out.stdout.contains("hello from srv"), "{}", out.describe());
        assert!(
            !out.stdout.contains(&format!("Address: {ip}")),
            "{}",
            out.describe()
        );
        // ps and network inspect list it.
        let ps = env.burrow(&["ps", "--format", "{{.Names}} {{.Networks}}"]);
        assert!(ps.ok().stdout.contains("srv unet\n"), "{}", ps.describe());
        let ni = env.burrow(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
            "unet",
        ]);
        assert_eq!(ni.ok().stdout, format!("srv {ip}/24\n"));
        env.burrow(&["rm", "-f", "srv"]).ok();
    });
}

/// Processes named like the keeper that serve this env's store.
fn keepers(env: &TestEnv) -> Vec<i32> {
    let root = env.root().to_string_lossy().into_owned();
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if comm.trim() == "burrow-netns" && String::from_utf8_lossy(&cmd).contains(&root) {
            found.push(pid);
        }
    }
    found
}

/// The network outlives its last container and a killed keeper: a
/// stopped server starts again on it and is reached by name.
#[test]
fn a_network_survives_its_last_container_and_a_killed_keeper() {
    both(|env, img| {
        env.burrow(&["network", "create", "keep"]).ok();
        web_server(env, img, "keep", "srv", "www");
        fetch(env, img, "keep", "www").ok();
        env.burrow(&["stop", "-t", "1", "srv"]).ok();
        // No container runs on it: the network is still there.
        let ls = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(ls.ok().stdout.contains("keep\n"), "{}", ls.describe());
        let k = keepers(env);
        assert_eq!(k.len(), 1, "one keeper: {k:?}");
        let status = std::process::Command::new("kill")
            .args(["-9", &k[0].to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        env.burrow(&["start", "srv"]).ok();
        let out = fetch(env, img, "keep", "www");
        out.ok();
        assert_eq!(out.stdout, "hello from srv\n", "{}", out.describe());
        assert_eq!(keepers(env).len(), 1, "a new keeper");
        env.burrow(&["rm", "-f", "srv"]).ok();
        env.burrow(&["network", "rm", "keep"]).ok();
    });
}

/// `network rm` of a network a container is on: one line naming it,
/// exit 1, the network stays; unknown `--network`: exit 125, no container.
#[test]
fn network_rm_refuses_a_network_in_use_and_unknown_networks_make_nothing() {
    both(|env, img| {
        env.burrow(&["network", "create", "busy"]).ok();
        env.burrow(&[
            "create",
            "--name",
            "user1",
            "--network",
            "busy",
            img,
            "true",
        ])
        .ok();
        let out = env.burrow(&["network", "rm", "busy"]);
        out.fails(1);
        assert!(out.stderr.contains("user1"), "{}", out.describe());
        assert!(out.stderr.contains("in use"), "{}", out.describe());
        env.burrow(&["network", "inspect", "busy"]).ok();
        env.burrow(&["rm", "user1"]).ok();
        env.burrow(&["network", "rm", "busy"]).ok();

        let out = env.burrow(&["run", "--rm", "--network", "nosuchnet", img, "true"]);
        out.fails(125);
        assert!(
            out.stderr.contains("network nosuchnet not found"),
            "{}",
            out.describe()
        );
        let out = env.burrow(&["create", "--network", "nosuchnet", img, "true"]);
        out.fails(125);
        assert!(
            containers_left(env).is_empty(),
            "{:?}",
            containers_left(env)
        );
    });
}

/// create, ls, inspect, rm, prune: Docker's shapes and refusals.
#[test]
fn network_verbs_have_dockers_shapes() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let id = env.burrow(&["network", "create", "--label", "team=a", "first"]);
    let id = id.ok().stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    env.burrow(&[
        "network",
        "create",
        "--subnet",
        "10.89.40.0/24",
        "--gateway",
        "10.89.40.254",
        "second",
    ])
    .ok();
    // Overlapping, duplicate and predefined names are refused.
    env.burrow(&["network", "create", "--subnet", "10.89.40.128/25", "third"])
        .fails(125);
    env.burrow(&["network", "create", "first"]).fails(125);
    env.burrow(&["network", "create", "host"]).fails(125);
    env.burrow(&["network", "create", "--subnet", "10.89.40.1/24", "fourth"])
        .fails(125);

    let ls = env.burrow(&["network", "ls"]);
    let lines: Vec<&str> = ls.ok().stdout.lines().collect();
    let words: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words[0],
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"],
        "{}",
        ls.stdout
    );
    let names: Vec<&str> = words[1..].iter().map(|w| w[1]).collect();
    assert_eq!(
        names,
        ["bridge", "first", "host", "none", "second"],
        "{}",
        ls.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&id[..12])),
        "{}",
        ls.stdout
    );
    let f = env.burrow(&[
        "network",
        "ls",
        "-f",
        "label=team=a",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(f.ok().stdout, "first\n");
    let f = env.burrow(&[
        "network",
        "ls",
        "-f",
        "type=custom",
        "-f",
        "name=sec",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(f.ok().stdout, "second\n");
    env.burrow(&["network", "ls", "-f", "bogus=1"]).fails(125);
    let q = env.burrow(&["network", "ls", "-q"]);
    assert_eq!(q.ok().stdout.lines().count(), 5);
    assert!(q.stdout.lines().all(|l| l.len() == 12), "{}", q.stdout);

    let i = env.burrow(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}}",
        "first",
        "second",
    ]);
    assert_eq!(
        i.ok().stdout,
        "first bridge 10.89.0.0/24 10.89.0.1 a\nsecond bridge 10.89.40.0/24 10.89.40.254 <no value>\n"
    );
    let missing = env.burrow(&["network", "inspect", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("network nope not found"),
        "{}",
        missing.describe()
    );

    let rm = env.burrow(&["network", "rm", "bridge"]);
    rm.fails(1);
    env.burrow(&["network", "rm", "first"]).ok();
    let prune = env.burrow(&["network", "prune", "-f"]);
    assert!(prune.ok().stdout.contains("second"), "{}", prune.describe());
    let q = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(q.ok().stdout, "bridge\nhost\nnone\n");
    assert!(
        std::fs::read_dir(env.root().join("networks"))
            .unwrap()
            .flatten()
            .all(|e| e.file_name() == ".lock"),
        "records left"
    );
}

/// `network connect` and `disconnect` change a created or stopped
/// container's networks from its next start, and a running one's in
/// place (when it started on a user network).
#[test]
fn connect_and_disconnect_change_stopped_and_running_containers() {
    both(|env, img| {
        env.burrow(&["network", "create", "na"]).ok();
        env.burrow(&["network", "create", "nb"]).ok();
        env.burrow(&[
            "create",
            "--name",
            "c1",
            "--network",
            "na",
            img,
            "ip",
            "-4",
            "-o",
            "addr",
        ])
        .ok();
        env.burrow(&["network", "connect", "--alias", "other", "nb", "c1"])
            .ok();
        let out = env.burrow(&["start", "-a", "c1"]);
        out.ok();
        assert!(
            out.stdout.contains("eth1    inet 10.89.0."),
            "{}",
            out.describe()
        );
        assert!(
            out.stdout.contains("eth2    inet 10.89.1."),
            "{}",
            out.describe()
        );
        let nets = env.burrow(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.Aliases}} {{end}}",
            "c1",
        ]);
        // (range over a map: in no fixed order here)
        let mut got: Vec<&str> = nets.ok().stdout.split_whitespace().collect();
        got.sort();
        assert_eq!(got, ["na=[]", "nb=[other]"], "{}", nets.describe());
        env.burrow(&["network", "disconnect", "na", "c1"]).ok();
        let out = env.burrow(&["start", "-a", "c1"]);
        out.ok();
        assert!(
            out.stdout.contains("eth1    inet 10.89.1."),
            "{}",
            out.describe()
        );
        assert!(!out.stdout.contains("eth2"), "{}", out.describe());
        // Now nothing is on na: it can go.
        env.burrow(&["network", "rm", "na"]).ok();
        env.burrow(&["network", "disconnect", "nb", "c1"]).ok();
        env.burrow(&["network", "disconnect", "nb", "c1"])
            .fails(125);
        env.burrow(&["rm", "c1"]).ok();

        env.burrow(&[
            "run",
            "-d",
            "--name",
            "live",
            "--network",
            "nb",
            img,
            "sleep",
            "60",
        ])
        .ok();
        let out = env.burrow(&["network", "connect", "bridge", "live"]);
        assert_ne!(out.code, 0, "{}", out.describe());
        // A running container joins and leaves a network in place: a new
        // interface on nc's subnet, reachable by name from nc.
        env.burrow(&["network", "create", "nc"]).ok();
        env.burrow(&["network", "connect", "--alias", "lv", "nc", "live"])
            .ok();
        let ip_on = |net: &str| {
            let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
            let out = env.burrow(&["inspect", "-f", &f, "live"]);
            out.ok().stdout.trim().to_string()
        };
        let (on_nb, on_nc) = (ip_on("nb"), ip_on("nc"));
        let addrs = env.burrow(&["exec", "live", "ip", "-4", "-o", "addr"]);
        assert!(
            addrs
                .ok()
                .stdout
                .contains(&format!("eth1    inet {on_nb}/"))
                && addrs.stdout.contains(&format!("eth2    inet {on_nc}/")),
            "{}",
            addrs.describe()
        );
        let ping = "ping -c1 -W5 lv && ping -c1 -W5 live";
        env.burrow(&["run", "--rm", "--network", "nc", img, "sh", "-c", ping])
            .ok();
        env.burrow(&["network", "disconnect", "nb", "live"]).ok();
        let addrs = env.burrow(&["exec", "live", "ip", "-4", "-o", "addr"]);
        assert!(
            !addrs.ok().stdout.contains("eth1") && addrs.stdout.contains("eth2"),
            "{}",
            addrs.describe()
        );
        // nb is free now: nothing holds its bridge.
        env.burrow(&["network", "rm", "nb"]).ok();
        // The first free name is taken again.
        env.burrow(&["network", "create", "nd"]).ok();
        env.burrow(&["network", "connect", "nd", "live"]).ok();
        let addrs = env.burrow(&["exec", "live", "ip", "-4", "-o", "addr"]);
        assert!(
            addrs
                .ok()
                .stdout
                .contains(&format!("eth1    inet {}/", ip_on("nd"))),
            "{}",
            addrs.describe()
        );
        env.burrow(&["rm", "-f", "live"]).ok();

        // One started on the default network has no way to the bridges.
        env.burrow(&["run", "-d", "--name", "plain", img, "sleep", "60"])
            .ok();
        let out = env.burrow(&["network", "connect", "nc", "plain"]);
        out.fails(125);
        assert!(
            out.stderr.contains("started without a user network"),
            "{}",
            out.describe()
        );
        let nets = env.burrow(&[
            "inspect",
            "-f",
            "{{len .NetworkSettings.Networks}}",
            "plain",
        ]);
        assert_eq!(nets.ok().stdout, "1\n", "{}", nets.describe());
        env.burrow(&["rm", "-f", "plain"]).ok();
    });
}

/// `--internal`: no default route and no forwarded names, while `-p`
/// still reaches a container on a user network from the host.
#[test]
fn internal_networks_have_no_way_out_and_publish_still_works() {
    both(|env, img| {
        env.burrow(&["network", "create", "--internal", "closed"])
            .ok();
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "closed",
            img,
            "sh",
            "-c",
            "ip route; nslookup example.com",
        ]);
        assert!(out.stdout.contains("dev eth1"), "{}", out.describe());
        assert!(!out.stdout.contains("default"), "{}", out.describe());
        assert!(out.stdout.contains("NXDOMAIN"), "{}", out.describe());

        env.burrow(&["network", "create", "open"]).ok();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let publish = format!("127.0.0.1:{port}:80");
        let script =
            "mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www";
        env.burrow(&[
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            &publish,
            "--network",
            "open",
            img,
            "sh",
            "-c",
            script,
        ])
        .ok();
        let url = format!("http://127.0.0.1:{port}/");
        let mut got = String::new();
        for _ in 0..50 {
            let o = std::process::Command::new("curl")
                .args(["-s", &url])
                .output()
                .unwrap();
            got = String::from_utf8_lossy(&o.stdout).into_owned();
            if got == "published\n" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(got, "published\n");
        env.burrow(&["rm", "-f", "pub"]).ok();
    });
}

/// A container restarted by its policy keeps its link and its name.
#[test]
fn a_restarted_container_keeps_its_user_network() {
    both(|env, img| {
        env.burrow(&["network", "create", "rs"]).ok();
        // Serves for 2 s, then fails: the policy starts it again.
        let script = "mkdir -p /www && echo up > /www/index.html && httpd -p 80 -h /www && sleep 2 && exit 1";
        env.burrow(&[
            "run",
            "-d",
            "--name",
            "flaky",
            "--restart",
            "on-failure",
            "--network",
            "rs",
            img,
            "sh",
            "-c",
            script,
        ])
        .ok();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let n = env.burrow(&["inspect", "-f", "{{.RestartCount}}", "flaky"]);
            if n.ok().stdout.trim() != "0" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never restarted");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let out = fetch(env, img, "rs", "flaky");
        out.ok();
        assert_eq!(out.stdout, "up\n", "{}", out.describe());
        env.burrow(&["rm", "-f", "flaky"]).ok();
    });
}
