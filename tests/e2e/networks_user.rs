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
        "mkdir /www && echo hello from {name} > /www/index.html && exec httpd -f -p 80 -h /www"
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
        // The resolver's answer is the server's address on the network,
        // reached through eth1 at that address; ping works too.
        let inspect = env.burrow(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "srv"]);
        inspect.ok();
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "unet",
            img,
            "sh",
            "-c",
            "nslookup srv; ip -4 addr show eth1; ping -c1 -W2 webalias; nslookup nosuchname.invalid; true",
        ]);
        out.ok();
        for want in ["10.89.0.2", "inet 10.89.0.3/24", "1 packets received"] {
            assert!(out.stdout.contains(want), "no {want:?}: {}", out.describe());
        }
        // Another network's containers do not see it.
        env.burrow(&["network", "create", "other"]).ok();
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "other",
            img,
            "sh",
            "-c",
            "wget -qO- -T 2 http://srv/",
        ]);
        assert_ne!(out.code, 0, "{}", out.describe());
        env.burrow(&["rm", "-f", "srv"]).ok();
    });
}
