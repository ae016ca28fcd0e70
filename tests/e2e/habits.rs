//! Docker habits a newcomer tripped on (issue #20), as the unprivileged
//! test users: each test pins one thing that did not work.

use crate::common::*;
use crate::run::ready;

/// burrow as the test user, killed after `secs` if it has not ended: a hang
/// fails the test instead of stalling the suite. Output goes to files, so
/// a container process left holding them does not keep us waiting.
fn burrow_timed(env: &TestEnv, secs: u64, args: &[&str], stdin: Option<&[u8]>) -> Outcome {
    use std::io::Write;
    use std::process::Stdio;
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root").arg(env.root()).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let mut child = cmd.spawn().expect("spawn burrow");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("burrow {args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Outcome {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: status.code().unwrap_or(-1),
        stdout: read(out),
        stderr: read(err),
    }
}

#[test]
fn an_unknown_flag_before_the_image_is_a_usage_error_before_any_pull() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let img = registry().image("busybox");
        for (args, flag) in [
            (vec!["run", "-d", "-Q", "--name", "web", &img], "'-Q'"),
            (vec!["create", "--publish-none", &img], "'--publish-none'"),
        ] {
            let out = env.burrow(&args);
            out.fails(125);
            assert!(out.stderr.contains(flag), "{}", out.describe());
            assert!(!out.stderr.contains("Unable to find"), "{}", out.describe());
        }
        // Nothing was pulled, nothing was created.
        let images = env.burrow(&["images", "-q"]);
        images.ok();
        assert_eq!(images.stdout.trim(), "", "{}", images.describe());
        let ps = env.burrow(&["ps", "-aq"]);
        ps.ok();
        assert_eq!(ps.stdout.trim(), "", "{}", ps.describe());
    }
}

#[test]
fn it_with_input_that_is_not_a_terminal_is_refused() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let out = burrow_timed(&env, 20, &["run", "-it", "--rm", &img, "sh"], Some(b"ls\n"));
        out.fails(1);
        assert_eq!(out.stderr.trim(), "burrow: the input device is not a TTY");

        env.burrow(&["run", "-d", "--name", "bg", &img, "sleep", "60"])
            .ok();
        let out = burrow_timed(&env, 20, &["exec", "-it", "bg", "sh"], Some(b"ls\n"));
        out.fails(1);
        assert_eq!(out.stderr.trim(), "burrow: the input device is not a TTY");
        // -i alone reads the pipe, as docker does.
        let out = burrow_timed(&env, 20, &["exec", "-i", "bg", "cat"], Some(b"piped\n"));
        out.ok();
        assert_eq!(out.stdout, "piped\n");
        env.burrow(&["rm", "-f", "bg"]).ok();
    }
}

#[test]
fn image_prune_removes_the_untagged_images_that_images_shows() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        env.burrow(&["create", "--name", "keeper", &img, "true"])
            .ok();
        env.burrow(&["rmi", "-f", &img]).ok();
        let images = env.burrow(&["images"]);
        images.ok();
        assert!(images.stdout.contains("<none>"), "{}", images.describe());
        let dangling = env.burrow(&["images", "-q", "-f", "dangling=true"]);
        dangling.ok();
        assert_eq!(
            dangling.stdout.lines().count(),
            1,
            "{}",
            dangling.describe()
        );

        // In use by a container: kept.
        env.burrow(&["image", "prune", "-f"]).ok();
        assert_eq!(env.burrow(&["images", "-q"]).stdout, dangling.stdout);
        env.burrow(&["rm", "keeper"]).ok();
        let out = env.burrow(&["image", "prune", "-f"]);
        out.ok();
        let id = dangling.stdout.trim();
        assert!(
            out.stdout.starts_with("Deleted Images:") && out.stdout.contains(id),
            "{}",
            out.describe()
        );
        let images = env.burrow(&["images", "-q"]);
        assert_eq!(images.stdout, "", "{}", images.describe());
        let layers = std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count();
        assert_eq!(layers, 0, "layers left after the last image went");
    }
}

/// A child of the busybox fixture (one more layer, made by umoci), pushed
/// to the test registry once; its reference.
fn child_of_busybox() -> String {
    static CHILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CHILD
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let layout = dir.path().join("oci");
            let bundle = dir.path().join("bundle");
            let sh = |script: &str| {
                let out = std::process::Command::new("sh")
                    .args(["-ec", script, "sh"])
                    .arg(fixture_layout("busybox"))
                    .arg(&layout)
                    .arg(&bundle)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            };
            sh(
                "cp -r \"$1\" \"$2\" && umoci unpack --image \"$2:latest\" \"$3\" \
                && echo child > \"$3/rootfs/child\" \
                && umoci repack --image \"$2:child\" \"$3\"",
            );
            registry().push_layout(&layout, "child", "habits/child:latest");
            format!("{}/habits/child:latest", registry().addr())
        })
        .clone()
}

#[test]
fn ps_ancestor_matches_every_spelling_the_id_and_descendants() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let child = child_of_busybox();
        env.burrow(&["pull", "-q", &child]).ok();
        // Started from the reference without its tag.
        let untagged = img.trim_end_matches(":latest");
        let id = |args: &[&str]| env.burrow(args).ok().stdout.trim().to_string();
        let a = id(&["create", "--name", "a", untagged, "true"]);
        let b = id(&["create", "--name", "b", &child, "true"]);
        let busybox_id = id(&["images", "-q", &img]);
        let ps = |filter: &str| {
            let out = env.burrow(&["ps", "-aq", "--no-trunc", "-f", filter]);
            out.ok();
            let mut ids: Vec<String> = out.stdout.lines().map(String::from).collect();
            ids.sort();
            ids
        };
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        assert_eq!(ps(&format!("ancestor={img}")), both);
        assert_eq!(ps(&format!("ancestor={untagged}")), both);
        assert_eq!(ps(&format!("ancestor={busybox_id}")), both);
        assert_eq!(ps(&format!("ancestor={child}")), vec![b.clone()]);
        assert_eq!(ps("ancestor=nothing-like-it"), Vec::<String>::new());
    }
}

#[test]
fn bind_mounts_take_relative_paths_and_make_a_missing_dir_for_v() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        // burrow runs in env.dir(): ./site is env.dir()/site.
        env.mkdir("site");
        env.write("site/index.html", b"hello from the host\n");
        let out = env.burrow(&[
            "run",
            "--rm",
            "-v",
            "./site:/www:ro",
            &img,
            "cat",
            "/www/index.html",
        ]);
        out.ok();
        assert_eq!(out.stdout, "hello from the host\n");

        let made = env.dir().join("new/deep");
        assert!(!made.exists());
        let out = env.burrow(&[
            "run",
            "--rm",
            "-v",
            "./new/deep:/data",
            &img,
            "sh",
            "-c",
            "echo x > /data/f",
        ]);
        out.ok();
        assert_eq!(std::fs::read_to_string(made.join("f")).unwrap(), "x\n");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&made).unwrap().uid(), user.ids().0);

        // --mount never makes its source, as docker refuses there.
        let missing = env.dir().join("missing");
        let spec = format!("type=bind,source={},target=/m", missing.display());
        let out = env.burrow(&["run", "--rm", "--mount", &spec, &img, "true"]);
        out.fails(125);
        assert!(out.stderr.contains("does not exist"), "{}", out.describe());
        assert!(!missing.exists());

        // A bare name is a named volume in the store, not a host dir.
        let out = env.burrow(&["run", "--rm", "-v", "cache:/c", &img, "true"]);
        out.ok();
        assert!(!env.dir().join("cache").exists());
        assert!(env.root().join("volumes/cache/_data").is_dir());
    }
}

#[test]
fn unshare_lets_the_user_remove_what_a_container_chowned() {
    // Subuid mode: the container's uid 1000 is a subordinate id on the host.
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    env.mkdir("data");
    env.burrow(&[
        "run",
        "--rm",
        "-v",
        "./data:/data",
        &img,
        "sh",
        "-c",
        "mkdir /data/sub && echo x > /data/sub/f && chown -R 1000:1000 /data/sub",
    ])
    .ok();
    let sub = env.dir().join("data/sub");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&sub).unwrap().uid();
    assert_ne!(owner, User::Sub.ids().0, "chowned to a subordinate id");
    // The user's own rm cannot empty a dir a subordinate id owns...
    let mut rm = env.command("rm", &[]);
    rm.args(["-rf", "data/sub"]);
    let rm = run(rm, &["rm"], None);
    assert_ne!(rm.code, 0, "{}", rm.describe());
    assert!(sub.join("f").exists());
    // ...burrow unshare can, as root of the containers' namespace.
    let out = env.burrow(&["unshare", "sh", "-c", "id -u; rm -rf data/sub"]);
    out.ok();
    assert_eq!(out.stdout, "0\n");
    assert!(!sub.exists());

    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let out = env.burrow(&["unshare", "cat", "/proc/self/uid_map"]);
        out.ok();
        let first: Vec<&str> = out
            .stdout
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            first,
            ["0", &user.ids().0.to_string(), "1"],
            "{}",
            out.stdout
        );
        assert_eq!(
            out.stdout.lines().count(),
            if user == User::Sub { 2 } else { 1 }
        );
        env.burrow(&["unshare", "no-such-command"]).fails(127);
    }
}

#[test]
fn exec_reaches_a_container_on_the_host_network() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        env.burrow(&[
            "run",
            "-d",
            "--network",
            "host",
            "--name",
            "h",
            &img,
            "sleep",
            "60",
        ])
        .ok();
        // In the container's own pid namespace and root, on the host's network.
        let out = env.burrow(&[
            "exec",
            "h",
            "sh",
            "-c",
            "ps -o comm | grep -x sleep; cat /etc/motd",
        ]);
        out.ok();
        assert_eq!(out.stdout, "sleep\nburrow fixture\n");
        let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
        let out = env.burrow(&["exec", "h", "readlink", "/proc/self/ns/net"]);
        out.ok();
        assert_eq!(out.stdout.trim(), host_net.to_string_lossy());
        env.burrow(&["rm", "-f", "h"]).ok();
    }
}

/// README's "Coming from Docker" table: every burrow command in it runs,
/// in order, as each test user, with `busybox` read as the local fixture.
#[test]
fn the_coming_from_docker_table_is_true() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Coming from Docker\n")
        .nth(1)
        .expect("README has a Coming from Docker section");
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let commands: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("| `docker"))
        .filter_map(|l| {
            let burrow = l.split(" | ").nth(1)?.trim();
            Some(
                burrow
                    .strip_prefix("`burrow ")?
                    .strip_suffix('`')?
                    .to_string(),
            )
        })
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let img = registry().image("busybox");
        for c in &commands {
            let args: Vec<String> = c
                .split(' ')
                .map(|w| {
                    if w == "busybox" {
                        img.clone()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            let line = args.join(" ");
            // -it needs a terminal (script(1)); the rest runs under sh, for
            // the quoting the table uses.
            let (code, shown) = if c.contains(" -it ") {
                env.burrow_in_terminal(&line, b"exit\n")
            } else {
                let mut sh = env.command("sh", &[]);
                sh.arg("-c")
                    .arg(format!("exec \"$0\" --root \"$1\" {line}"))
                    .arg(burrow_bin())
                    .arg(env.root());
                let out = run(sh, &[c], None);
                (Some(out.code), out.describe())
            };
            assert_eq!(code, Some(0), "burrow {c} as {}:\n{shown}", user.name());
        }
        assert!(env.dir().join("site").is_dir(), "-v ./site made the dir");
    }
}

#[test]
fn a_pull_says_what_it_did_and_warns_once() {
    // The Debian fixture's layer holds device nodes, which burrow leaves out.
    let img = registry().image("debian");
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let first = env.burrow(&["pull", &img]);
    first.ok();
    assert!(
        first
            .stdout
            .contains(&format!("Status: Downloaded newer image for {img}")),
        "{}",
        first.describe()
    );
    assert_eq!(
        first.stderr.matches("device node").count(),
        1,
        "{}",
        first.describe()
    );
    let again = env.burrow(&["pull", &img]);
    again.ok();
    assert!(
        again
            .stdout
            .contains(&format!("Status: Image is up to date for {img}")),
        "{}",
        again.describe()
    );
    assert!(
        !again.stderr.contains("device node"),
        "{}",
        again.describe()
    );

    // -q: the name alone, nothing on stderr.
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let quiet = env.burrow(&["pull", "-q", &img]);
    quiet.ok();
    assert_eq!(quiet.stdout, format!("{img}\n"));
    assert_eq!(quiet.stderr, "", "{}", quiet.describe());
}

/// Is a process with exactly this command line running (any user)?
fn running(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == cmdline)
    })
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_foreground_rm_container_is_visible_and_every_verb_reaches_it() {
    for (user, n) in [(User::Sub, 3131), (User::NoSub, 3132)] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let spawn = |name: &str, secs: String| {
            let mut cmd = env.command(burrow_bin(), &[]);
            cmd.arg("--root")
                .arg(env.root())
                .args(["run", "--rm", "--name", name, &img, "sleep", &secs])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().unwrap()
        };
        let sleep = format!("sleep {n}");
        let mut client = spawn("fg", n.to_string());
        wait_for("the container to run", || {
            env.burrow(&["ps", "--format", "{{.Names}} {{.Status}}"])
                .stdout
                .starts_with("fg Up")
        });
        // Up once the supervisor runs; exec once the init's pid is noted.
        let mut out = None;
        wait_for("exec to reach it", || {
            let o = env.burrow(&["exec", "fg", "ps", "-o", "args"]);
            let started = !o.stderr.contains("is starting");
            out = Some(o);
            started
        });
        let out = out.unwrap();
        out.ok();
        assert!(out.stdout.contains(&sleep), "{}", out.describe());
        env.burrow(&["stop", "-t", "2", "fg"]).ok();
        wait_for("the client to end", || client.try_wait().unwrap().is_some());
        assert!(
            !running(&sleep),
            "stop left the container's {sleep} running"
        );
        assert_eq!(env.burrow(&["ps", "-aq"]).stdout, "", "--rm removed it");

        // The client killed outright: rm -f must really end it, or fail.
        let mut client = spawn("fg2", (n + 10).to_string());
        let sleep = format!("sleep {}", n + 10);
        wait_for("the container to run", || running(&sleep));
        client.kill().unwrap();
        client.wait().unwrap();
        env.burrow(&["rm", "-f", "fg2"]).ok();
        wait_for("the container to end", || !running(&sleep));
        assert_eq!(env.burrow(&["ps", "-aq"]).stdout, "");
    }
}

#[test]
fn a_relative_root_works() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let img = registry().image("busybox");
        // burrow runs in env.dir(): the store is env.dir()/rel.
        let burrow = |args: &[&str]| {
            let mut cmd = env.command(burrow_bin(), &[]);
            cmd.args(["--root", "rel"]).args(args);
            run(cmd, args, None)
        };
        burrow(&["pull", "-q", &img]).ok();
        let out = burrow(&["run", "--rm", &img, "echo", "hi"]);
        out.ok();
        assert_eq!(out.stdout, "hi\n");
        assert!(env.dir().join("rel/images.json").is_file());
    }
}
