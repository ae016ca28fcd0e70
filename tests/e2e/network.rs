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
