//! `burrow run`, `create` and `start` as the unprivileged test users,
//! against the fixture images from the local registry.

use crate::common::*;

/// A test env with the busybox fixture pulled and the one-time id-map
/// note already shown (so stderr holds only what a test causes).
pub fn ready(user: User) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    let first = env.burrow(&["run", "--rm", &img, "true"]);
    first.ok();
    assert!(first.stderr.contains("note:"), "{}", first.describe());
    Some((env, img))
}

/// Wait until the background deletion of `--rm` containers is done and
/// return what is left in containers/ (besides the lock).
pub fn containers_left(env: &TestEnv) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: Vec<String> = std::fs::read_dir(env.root().join("containers"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".lock")
                    .collect()
            })
            .unwrap_or_default();
        if !left.iter().any(|n| n.starts_with(".trash-")) || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// The root is the driver the tests run on (tests/run runs this module
/// again with BURROW_TEST_STORAGE_DRIVER=fuse-overlay), for both users.
#[test]
fn root_is_served_by_the_driver_under_test() {
    both(|env, img| {
        let out = env.burrow(&[
            "run",
            "--rm",
            img,
            "awk",
            "$2==\"/\"{print $3}",
            "/proc/mounts",
        ]);
        out.ok();
        assert_eq!(
            out.stdout.trim(),
            root_fs_type_under_test(),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn echo_and_exit_codes() {
    both(|env, img| {
        let out = env.burrow(&["run", "--rm", img, "echo", "hello"]);
        out.ok();
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.stderr, "");
        let out = env.burrow(&[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(out.code, 3, "{}", out.describe());
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        env.burrow(&["run", "--rm", img, "nonexistent-cmd"])
            .fails(127);
        env.burrow(&["run", "--rm", img, "/etc/passwd"]).fails(126);
        env.burrow(&["run", "--rm", img, "/no/such/file"])
            .fails(127);
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", "kill -9 $$"]);
        assert_eq!(out.code, 137, "{}", out.describe());
    });
}

#[test]
fn environment_from_image_flags_file_and_caller() {
    both(|env, img| {
        let file = env.write("vars.env", b"# comment\nFROM_FILE=f\n\nPASSED\n");
        let out = env.burrow_with(
            &[
                "run",
                "--rm",
                "--hostname",
                "box",
                "-e",
                "A=1",
                "-e",
                "PASSED",
                "-e",
                "UNSET_HERE",
                "--env-file",
                file.to_str().unwrap(),
                img,
                "env",
            ],
            &[("PASSED", "from-caller")],
            None,
        );
        out.ok();
        let vars: Vec<&str> = out.stdout.lines().collect();
        for want in [
            "A=1",
            "PASSED=from-caller",
            "FROM_FILE=f",
            "PATH=/bin",
            "HOSTNAME=box",
            "HOME=/root",
        ] {
            assert!(vars.contains(&want), "{want} missing:\n{}", out.stdout);
        }
        assert!(!out.stdout.contains("UNSET_HERE"), "{}", out.stdout);
        let out = env.burrow(&[
            "run",
            "--rm",
            "--hostname",
            "box",
            img,
            "sh",
            "-c",
            "hostname; cat /etc/hostname; grep box /etc/hosts",
        ]);
        out.ok();
        assert!(out.stdout.starts_with("box\nbox\n"), "{}", out.stdout);
    });
}

#[test]
fn workdir_entrypoint_and_name() {
    both(|env, img| {
        let out = env.burrow(&["run", "--rm", "-w", "/made/by/workdir", img, "pwd"]);
        out.ok();
        assert_eq!(out.stdout, "/made/by/workdir\n");
        let out = env.burrow(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/echo",
            img,
            "via",
            "entrypoint",
        ]);
        out.ok();
        assert_eq!(out.stdout, "via entrypoint\n");
        // The image's Cmd (sh) reads an empty stdin and exits 0.
        env.burrow(&["run", "--rm", img]).ok();
        env.burrow(&["run", "--name", "web", img, "true"]).ok();
        env.burrow(&["run", "--name", "web", img, "true"])
            .fails(125);
        env.burrow(&["run", "--rm", "-w", "rel", img, "true"])
            .fails(125);
    });
}

#[test]
fn user_switching_and_image_owners_with_subids() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let img = img.as_str();
    let out = env.burrow(&[
        "run",
        "--rm",
        "-u",
        "user",
        img,
        "sh",
        "-c",
        "id -u; id -g; id -G; echo $HOME",
    ]);
    out.ok();
    assert_eq!(out.stdout, "1000\n1000\n1000 50\n/home/user\n");
    let out = env.burrow(&[
        "run",
        "--rm",
        "-u",
        "4242:7",
        img,
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    out.ok();
    assert_eq!(out.stdout, "4242\n7\n");
    let out = env.burrow(&[
        "run",
        "--rm",
        img,
        "stat",
        "-c",
        "%u:%g %a",
        "/data/owned",
        "/home/user",
        "/data/sgid-dir",
    ]);
    out.ok();
    assert_eq!(out.stdout, "1000:1000 640\n1000:1000 755\n0:50 2775\n");
    // uid 1000 may read its own 0640 file, and root in the container may chown.
    env.burrow(&["run", "--rm", "-u", "1000", img, "cat", "/data/owned"])
        .ok();
    let out = env.burrow(&[
        "run",
        "--rm",
        img,
        "sh",
        "-c",
        "touch /x && chown 123:45 /x && stat -c %u:%g /x",
    ]);
    out.ok();
    assert_eq!(out.stdout, "123:45\n");
}

#[test]
fn single_id_mode_is_root_only_and_chown_is_a_no_op() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let img = img.as_str();
    let out = env.burrow(&[
        "run",
        "--rm",
        img,
        "sh",
        "-c",
        "id -u; touch /x && chown 123:45 /x && echo chowned",
    ]);
    out.ok();
    assert_eq!(out.stdout, "0\nchowned\n");
    env.burrow(&["run", "--rm", "-u", "user", img, "true"])
        .fails(125);
}

#[test]
fn bind_mounts_read_only_root_and_tmpfs() {
    both(|env, img| {
        let data = env.mkdir("data");
        env.write("data/in.txt", b"from host\n");
        let v = format!("{}:/data", data.display());
        let out = env.burrow(&[
            "run",
            "--rm",
            "-v",
            &v,
            img,
            "sh",
            "-c",
            "cat /data/in.txt; echo back > /data/out.txt",
        ]);
        out.ok();
        assert_eq!(out.stdout, "from host\n");
        assert_eq!(
            std::fs::read_to_string(data.join("out.txt")).unwrap(),
            "back\n"
        );
        let ro = format!("{}:/data:ro", data.display());
        let out = env.burrow(&[
            "run",
            "--rm",
            "-v",
            &ro,
            img,
            "sh",
            "-c",
            "cat /data/in.txt && touch /data/nope",
        ]);
        assert_ne!(out.code, 0, "{}", out.describe());
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.describe()
        );
        let m = format!("type=bind,source={},target=/m,readonly", data.display());
        // The flag is accepted and the bind works; only the write fails.
        let script = "cat /m/in.txt && touch /m/x; echo touch=$?";
        let out = env.burrow(&["run", "--rm", "--mount", &m, img, "sh", "-c", script]);
        out.ok();
        assert_eq!(out.stdout, "from host\ntouch=1\n", "{}", out.describe());
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.describe()
        );
        // --read-only: the root refuses writes; tmpfs, /dev/shm and binds do not.
        let out = env.burrow(&["run", "--rm", "--read-only", "--tmpfs", "/scratch", "-v", &v, img, "sh", "-c",
            "touch /x 2>/dev/null && echo root-writable; touch /scratch/a /dev/shm/b /data/c && echo ok; grep -c ' /scratch tmpfs' /proc/mounts"]);
        out.ok();
        assert_eq!(out.stdout, "ok\n1\n");
        assert!(!std::fs::read_dir(&data)
            .unwrap()
            .any(|e| e.unwrap().file_name() == "x"));
    });
}

#[test]
fn rm_leaves_nothing_and_records_keep_exit_codes() {
    both(|env, img| {
        let containers = env.root().join("containers");
        let count = || containers_left(env).len();
        let before = count();
        // Files made by another uid in the upper dir go too.
        env.burrow(&[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "mkdir -p /a/b && touch /a/b/f && chown -R 1000 /a && chmod 000 /a",
        ])
        .ok();
        env.burrow(&["run", "--rm", img, "sh", "-c", "exit 4"]);
        assert_eq!(count(), before);
        env.burrow(&["run", "--name", "kept", img, "sh", "-c", "exit 4"]);
        assert_eq!(count(), before + 1);
        let rec = std::fs::read_to_string(
            containers
                .join(
                    std::fs::read_dir(&containers)
                        .unwrap()
                        .flatten()
                        .find(|e| {
                            std::fs::read_to_string(e.path().join("config.json"))
                                .is_ok_and(|c| c.contains("\"kept\""))
                        })
                        .unwrap()
                        .file_name(),
                )
                .join("config.json"),
        )
        .unwrap();
        assert!(rec.contains("\"exit_code\": 4"), "{rec}");
    });
}

#[test]
fn create_then_start_attached() {
    both(|env, img| {
        let out = env.burrow(&[
            "create",
            "--name",
            "later",
            img,
            "sh",
            "-c",
            "echo run >> /count; wc -l < /count; exit 2",
        ]);
        out.ok();
        let id = out.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "{}", out.describe());
        let out = env.burrow(&["start", "-a", "later"]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (2, "1\n"),
            "{}",
            out.describe()
        );
        // Started again on its kept upper dir.
        let out = env.burrow(&["start", "-a", &id[..12]]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (2, "2\n"),
            "{}",
            out.describe()
        );
        let out = env.burrow_with(&["create", "-i", img, "cat"], &[], None);
        out.ok();
        let out = env.burrow_with(
            &["start", "-a", "-i", out.stdout.trim()],
            &[],
            Some(b"piped in\n"),
        );
        out.ok();
        assert_eq!(out.stdout, "piped in\n");
        env.burrow(&["start", "-a", "no-such-container"]).fails(1);
        // Detached by default: it prints what it was given.
        assert_eq!(env.burrow(&["start", "later"]).ok().stdout, "later\n");
    });
}

#[test]
fn stdin_only_with_interactive() {
    both(|env, img| {
        let out = env.burrow_with(
            &["run", "--rm", "-i", img, "cat"],
            &[],
            Some(b"hello stdin\n"),
        );
        out.ok();
        assert_eq!(out.stdout, "hello stdin\n");
        let out = env.burrow_with(&["run", "--rm", img, "cat"], &[], Some(b"not read\n"));
        out.ok();
        assert_eq!(out.stdout, "");
    });
}

#[test]
fn bad_input_is_one_line_with_dockers_code() {
    both(|env, img| {
        let missing = format!("{}/fixtures/nope:latest", registry().addr());
        let out = env.burrow(&["run", "--rm", &missing, "true"]);
        assert_eq!(out.code, 125, "{}", out.describe());
        assert!(
            out.stderr.lines().last().unwrap().starts_with("burrow: "),
            "{}",
            out.describe()
        );
        // -v makes a missing host dir, as docker does; --mount refuses.
        let nosrc = format!("type=bind,source={}/absent,target=/x", env.dir().display());
        let out = env.burrow(&["run", "--rm", "--mount", &nosrc, img, "true"]);
        out.fails(125);
        assert!(out.stderr.contains("does not exist"), "{}", out.describe());
        assert!(!env.dir().join("absent").exists());
        let rel = format!("{}:relative", env.dir().display());
        env.burrow(&["run", "--rm", "-v", &rel, img, "true"])
            .fails(125);
        let out = env.burrow(&["run", "--rm", "-u", "nosuchuser", img, "true"]);
        out.fails(125);
        assert!(
            out.stderr.contains("unable to find user nosuchuser"),
            "{}",
            out.describe()
        );
        env.burrow(&["run", "--rm", img, "no-such-command"])
            .fails(127);
        // Nothing was left behind by the failures.
        assert_eq!(containers_left(env), Vec::<String>::new());
    });
}

#[test]
fn debian_package_tools_work_with_subids() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let img = registry().image("debian");
    env.burrow(&["pull", "-q", &img]).ok();
    let out = env.burrow(&[
        "run",
        "--rm",
        &img,
        "sh",
        "-c",
        "apt-get check && dpkg -l | grep -c '^ii'",
    ]);
    out.ok();
    let n: u32 = out.stdout.lines().last().unwrap().trim().parse().unwrap();
    assert!(n > 50, "{}", out.describe());
    // _apt (uid 42) owns a dir in the image, and shows as such.
    let out = env.burrow(&[
        "run",
        "--rm",
        &img,
        "stat",
        "-c",
        "%U",
        "/var/cache/apt/archives/partial",
    ]);
    out.ok();
    assert_eq!(out.stdout.trim(), "_apt");
}

#[test]
fn network_none_has_loopback_up_and_host_shares_the_hosts() {
    both(|env, img| {
        let ifaces = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '";
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "none",
            img,
            "sh",
            "-c",
            &format!("{ifaces}; cat /sys/class/net/lo/operstate"),
        ]);
        out.ok();
        // lo reports "unknown" once up ("down" otherwise).
        assert_eq!(out.stdout, "lo\nunknown\n", "{}", out.describe());
        let out = env.burrow(&["run", "--rm", "--network", "host", img, "sh", "-c", ifaces]);
        out.ok();
        let host = std::fs::read_to_string("/proc/net/dev").unwrap();
        assert_eq!(
            out.stdout.lines().count(),
            host.lines().count() - 2,
            "{}",
            out.describe()
        );
        // /sys is read-only either way.
        for net in ["none", "host"] {
            let out = env.burrow(&[
                "run",
                "--rm",
                "--network",
                net,
                img,
                "sh",
                "-c",
                "touch /sys/x 2>&1; grep ' /sys ' /proc/mounts",
            ]);
            out.ok();
            assert!(
                out.stdout.contains("Read-only file system"),
                "{}",
                out.describe()
            );
            assert!(out.stdout.contains(" ro,"), "{}", out.describe());
        }
    });
}

#[test]
fn run_pulls_a_missing_image_first() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&[
        "run",
        "--rm",
        &registry().image("busybox"),
        "echo",
        "pulled",
    ]);
    out.ok();
    assert_eq!(out.stdout, "pulled\n");
    assert!(
        out.stderr.contains("Unable to find image"),
        "{}",
        out.describe()
    );
}

#[test]
fn default_confinement_is_dockers() {
    both(|env, img| {
        let script = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \
                      wc -c < /proc/timer_list; ls /sys/firmware | wc -l; (echo x > /proc/sys/kernel/hostname) 2>&1 | grep -c Read-only";
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", script]);
        out.ok();
        let want = "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
                    NoNewPrivs:\t1\nSeccomp:\t2\n0\n0\n1\n";
        assert_eq!(out.stdout, want, "{}", out.describe());
        // A call the default profile refuses, with EPERM...
        let unshare = "unshare -U true 2>&1; echo $?";
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", unshare]);
        out.ok();
        assert!(
            out.stdout.contains("Operation not permitted") && out.stdout.ends_with("\n1\n"),
            "{}",
            out.describe()
        );
        // ...and the filter's doing: without it the same command works.
        let unconfined = ["run", "--rm", "--security-opt", "seccomp=unconfined", img];
        let out = env.burrow(&[&unconfined[..], &["sh", "-c", unshare]].concat());
        out.ok();
        assert_eq!(out.stdout, "0\n", "{}", out.describe());
    });
}

#[test]
fn rmi_refuses_an_image_a_container_uses_and_force_only_untags() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    env.burrow(&["create", "--name", "keeper", &img, "cat", "/etc/motd"])
        .ok();
    let out = env.burrow(&["rmi", &img]);
    out.fails(125);
    assert!(
        out.stderr.contains("used by a container"),
        "{}",
        out.describe()
    );
    assert!(env.burrow(&["images", "-q"]).stdout.trim().len() >= 12);

    // -f untags; the image stays (dangling) and prune keeps it while the
    // container exists, so the container still runs on its layers.
    let out = env.burrow(&["rmi", "-f", &img]);
    out.ok();
    assert!(out.stdout.contains("Untagged:"), "{}", out.describe());
    assert!(!out.stdout.contains("Deleted:"), "{}", out.describe());
    env.burrow(&["image", "prune"]).ok();
    assert!(!env.burrow(&["images", "-q"]).stdout.trim().is_empty());
    let out = env.burrow(&["start", "-a", "keeper"]);
    out.ok();
    assert_eq!(out.stdout, "burrow fixture\n");
}

/// The mount points every container needs are made once per image, in a
/// layer beside the image's top layer, not in each container's upper dir;
/// `rmi` removes that layer with the image.
#[test]
fn mount_points_live_in_a_layer_of_their_own() {
    both(|env, img| {
        let layers = env.root().join("layers");
        let init_layers = || -> Vec<std::path::PathBuf> {
            std::fs::read_dir(&layers)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "init"))
                .collect()
        };
        let id = env
            .burrow(&["create", img, "true"])
            .ok()
            .stdout
            .trim()
            .to_string();
        env.burrow(&["start", "-a", &id]).ok();
        let upper = env.root().join("containers").join(&id).join("upper");
        let made: Vec<_> = std::fs::read_dir(&upper).unwrap().flatten().collect();
        assert!(made.is_empty(), "upper dir holds {made:?}");
        let built = init_layers();
        assert_eq!(built.len(), 1, "{built:?}");
        for p in [
            "proc",
            "sys",
            "dev",
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
        ] {
            assert!(
                built[0].join(p).exists(),
                "{p} missing in {}",
                built[0].display()
            );
        }
        // The container still sees the image's /etc beside the mount points.
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", "cat /etc/motd; ls /etc"]);
        out.ok();
        assert!(
            out.stdout.contains("hosts") && out.stdout.contains("passwd"),
            "{}",
            out.describe()
        );
        env.burrow(&["rm", &id]).ok();
        env.burrow(&["rmi", img]).ok();
        assert_eq!(init_layers(), Vec::<std::path::PathBuf>::new());
    });
}
