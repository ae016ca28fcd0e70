//! `burrow info` as both test users. Each probe's answer is checked against
//! an independent probe made with other tools (util-linux's unshare,
//! iproute2, python) as the same user, so no answer can be hard-coded.

use serde_json::Value;

use crate::common::*;

fn info(env: &TestEnv, extra_env: &[(&str, &str)]) -> Value {
    let out = env.burrow_with(&["info", "--format", "json"], extra_env, None);
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// Run a shell snippet as the test user; true when it exits 0.
fn sh_ok(env: &TestEnv, script: &str) -> bool {
    let mut cmd = env.command("sh", &[]);
    cmd.args(["-c", script]);
    let out = run(cmd, &["sh"], None);
    out.code == 0
}

/// The range `info` tells an admin to give must not overlap any range that
/// /etc/subuid or /etc/subgid already gives (tests/setup gives 100000:65536
/// to a placeholder and 200000:65536 to burrow-sub).
fn assert_suggestion_is_free(hint: &str) {
    let range = hint
        .split("--add-subuids ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no range in {hint}"));
    assert!(
        hint.contains(&format!("--add-subgids {range} ")),
        "the same range for gids: {hint}"
    );
    let (lo, hi) = range.split_once('-').unwrap();
    let (lo, hi): (u64, u64) = (lo.parse().unwrap(), hi.parse().unwrap());
    assert_eq!(hi - lo + 1, 65536, "{hint}");
    for file in ["/etc/subuid", "/etc/subgid"] {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let f: Vec<&str> = line.split(':').collect();
            let (Some(s), Some(c)) = (f.get(1), f.get(2)) else {
                continue;
            };
            let (s, c): (u64, u64) = (s.parse().unwrap(), c.parse().unwrap());
            assert!(
                hi < s || lo >= s + c,
                "suggested {range} overlaps {file}'s line {line}"
            );
        }
    }
}

#[test]
fn id_map_mode_differs_between_the_users() {
    let Some(sub) = TestEnv::new(User::Sub) else {
        return;
    };
    let Some(nosub) = TestEnv::new(User::NoSub) else {
        return;
    };
    let a = info(&sub, &[]);
    let b = info(&nosub, &[]);
    assert_eq!(a["idMap"]["mode"], "subid", "{a:#}");
    assert_eq!(a["idMap"]["ok"], true, "newuidmap really ran: {a:#}");
    assert!(
        a["idMap"]["value"]
            .as_str()
            .unwrap()
            .contains("200000-265535"),
        "{a:#}"
    );
    assert_eq!(b["idMap"]["mode"], "single", "{b:#}");
    let hint = b["idMap"]["hint"].as_str().unwrap();
    assert!(hint.contains("no entry for burrow-nosub"), "{hint}");
    assert!(hint.contains("usermod --add-subuids"), "{hint}");
    assert_suggestion_is_free(hint);
    assert_eq!(a["user"]["name"], "burrow-sub");
    assert_eq!(b["user"]["uid"], User::NoSub.ids().0);
}

#[test]
fn user_namespace_probe_agrees_with_unshare() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let v = info(&env, &[]);
    let expected = sh_ok(&env, "unshare --user --map-root-user --mount true");
    assert_eq!(v["userNamespaces"]["ok"], expected, "{v:#}");
}

#[test]
fn overlay_probe_agrees_with_a_manual_mount() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let v = info(&env, &[]);
    let d = env.mkdir("manual-overlay");
    let script = format!(
        "cd {} && mkdir l u w m && unshare --user --map-root-user --mount \
         mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w,userxattr m",
        d.display()
    );
    let expected = sh_ok(&env, &script);
    assert_eq!(v["overlay"]["ok"], expected, "{v:#}");
    let auto = match (expected, v["fuse"]["ok"] == true) {
        (true, _) => "overlay",
        (false, true) => "fuse-overlay",
        (false, false) => "none",
    };
    assert_eq!(v["rootfsDriver"]["driver"], auto, "{v:#}");
    // The probe cleans up after itself.
    let leftovers: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("probe-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn device_probes_agree_with_the_device_modes() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let v = info(&env, &[]);
    let fuse = sh_ok(&env, "test -r /dev/fuse -a -w /dev/fuse");
    assert_eq!(v["fuse"]["ok"], fuse, "{v:#}");
    let tun = sh_ok(
        &env,
        "unshare --user --map-root-user --net ip tuntap add dev tap0 mode tap",
    );
    assert_eq!(v["tun"]["ok"], tun, "{v:#}");
}

#[test]
fn landlock_abi_matches_the_kernel() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let v = info(&env, &[]);
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION), via python.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import ctypes,os;l=ctypes.CDLL(None,use_errno=True);\
             n={'x86_64':444,'aarch64':444}[os.uname().machine];\
             r=l.syscall(n,None,ctypes.c_size_t(0),ctypes.c_uint(1));print(r)",
        ])
        .output()
        .unwrap();
    let abi: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    if abi > 0 {
        assert_eq!(v["landlock"]["abi"], abi, "{v:#}");
    } else {
        assert_eq!(v["landlock"]["ok"], false, "{v:#}");
    }
}

#[test]
fn seccomp_probe_agrees_with_proc() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let v = info(&env, &[]);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let has = status.lines().any(|l| l.starts_with("Seccomp_filters:"));
    assert_eq!(v["seccomp"]["ok"], has, "{v:#}");
}

#[test]
fn cgroup_probe_says_no_without_delegation() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let v = info(&env, &[]);
    // The test users get no delegated cgroup here (no systemd user session).
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/");
    let writable = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .any(|m| sh_ok(&env, &format!("test -w {m}{path}/cgroup.subtree_control")));
    if !writable {
        assert_eq!(v["cgroups"]["ok"], false, "{v:#}");
        assert!(
            v["cgroups"]["hint"].as_str().unwrap().contains("ignored"),
            "{v:#}"
        );
    }
}

#[test]
fn storage_root_file_system_is_named() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let v = info(&env, &[]);
    // stat(1) names ext4 "ext2/ext3"; compare on the families we know.
    let mut cmd = env.command("stat", &[]);
    cmd.args(["-f", "-c", "%T"]).arg(env.root());
    let stat = run(cmd, &["stat"], None).stdout.trim().to_string();
    let ours = v["storage"]["fsType"].as_str().unwrap();
    let same = match stat.as_str() {
        "ext2/ext3" => ours == "ext4",
        other => other == ours,
    };
    assert!(same, "stat says {stat}, burrow says {ours}");

    // A root on tmpfs (/dev/shm is tmpfs everywhere) is named as such.
    let tmpfs_root = format!("/dev/shm/burrow-e2e-{}", std::process::id());
    let out = env.burrow(&["--root", &tmpfs_root, "info", "--format", "json"]);
    let _ = std::fs::remove_dir_all(&tmpfs_root);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["storage"]["fsType"], "tmpfs", "{v:#}");
}

#[test]
fn runtime_dir_falls_back_when_xdg_is_missing_or_foreign() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let uid = User::NoSub.ids().0;
    let v = info(&env, &[]);
    assert_eq!(v["runtime"]["dir"], format!("/tmp/burrow-{uid}"));
    assert!(
        v["runtime"]["hint"].as_str().unwrap().contains("not set"),
        "{v:#}"
    );

    // After `su`, XDG_RUNTIME_DIR often still names the other user's dir.
    let v = info(&env, &[("XDG_RUNTIME_DIR", "/root")]);
    assert_eq!(v["runtime"]["dir"], format!("/tmp/burrow-{uid}"));
    assert!(
        v["runtime"]["hint"]
            .as_str()
            .unwrap()
            .contains("belongs to uid 0"),
        "{v:#}"
    );

    let own = env.mkdir("xdg");
    let v = info(&env, &[("XDG_RUNTIME_DIR", own.to_str().unwrap())]);
    assert_eq!(v["runtime"]["dir"], own.join("burrow").to_str().unwrap());
    assert!(v["runtime"].get("hint").is_none(), "{v:#}");
}

#[test]
fn text_report_has_a_line_per_probe() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["info"]);
    out.ok();
    for label in [
        "User namespaces:",
        "Id mapping:",
        "Kernel overlay:",
        "FUSE:",
        "TUN device:",
        "Seccomp:",
        "Landlock:",
        "Cgroups:",
        "Storage root:",
        "Runtime dir:",
        "Rootfs driver:",
    ] {
        assert!(
            out.stdout.contains(label),
            "{label} missing:\n{}",
            out.stdout
        );
    }
    // Every "no" and warning comes with what to do.
    assert!(out.stdout.contains("-> "), "{}", out.stdout);
}
