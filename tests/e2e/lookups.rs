//! What burrow reads on the host side from an image or a running
//! container (the passwd and group behind `-u` and `User:`), and the ids
//! it accepts: an image or a container process that points its /etc at
//! the host must not choose the user a process runs as.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::live::detach;
use crate::run::ready;

/// A host dir, outside any image, with a passwd naming `marker`.
fn host_etc(env: &TestEnv) -> PathBuf {
    let dir = env.mkdir("hostetc");
    env.write("hostetc/passwd", b"marker:x:4321:4321::/home/m:/bin/sh\n");
    env.write("hostetc/group", b"marker:x:4321:marker\n");
    dir
}

/// `../` enough times to climb from any layer dir to `/`, then `to`.
fn climbing_to(to: &Path) -> String {
    format!("{}{}", "../".repeat(16), to.display())
}

/// Import a one-layer image whose /etc is a symlink to `target`.
fn import_with_etc_link(env: &TestEnv, name: &str, target: &str) {
    let rootfs = env.mkdir(&format!("rootfs-{name}"));
    std::os::unix::fs::symlink(target, rootfs.join("etc")).unwrap();
    let tar = env.dir().join(format!("{name}.tar"));
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    env.user.chown(&tar);
    env.burrow(&["import", tar.to_str().unwrap(), name]).ok();
}

/// The item 11: `User:`/`-u` was looked up in the host's passwd
/// when the image's /etc was a symlink out of it.
#[test]
fn run_user_lookup_never_follows_etc_out_of_the_image() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let host = host_etc(&env);
        import_with_etc_link(&env, "abs:v1", host.to_str().unwrap());
        import_with_etc_link(&env, "rel:v1", &climbing_to(&host));
        for img in ["abs:v1", "rel:v1"] {
            let out = env.burrow(&["run", "--rm", "-u", "marker", img, "/true"]);
            out.fails(125);
            assert!(
                out.stderr.contains("unable to find user marker"),
                "{img}: {}",
                out.describe()
            );
            let out = env.burrow(&["run", "--rm", "-u", "0:marker", img, "/true"]);
            out.fails(125);
            assert!(
                out.stderr.contains("unable to find group marker"),
                "{img}: {}",
                out.describe()
            );
        }
    }
}

/// The same for `exec -u`, where the container's own process pointed its
/// /etc/passwd and /etc/group at the host's while it runs (its /etc holds
/// mount points, so it cannot be renamed for a link). Once under our tiny
/// init, once with a command named `init` as pid 1 (no tiny init).
#[test]
fn exec_user_lookup_never_follows_etc_out_of_the_container() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let host = host_etc(&env);
        let bin = env.mkdir("bin");
        env.write("bin/init", b"#!/bin/sh\nexec sleep 300\n");
        std::fs::set_permissions(
            bin.join("init"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let vol = format!("{}:/x", bin.display());
        for (name, cmd) in [("tiny", &["sleep", "300"][..]), ("own", &["/x/init"])] {
            let mut args = vec!["--name", name, "-v", &vol, &img];
            args.extend_from_slice(cmd);
            detach(&env, &args);
            // The image's own users resolve (under the tiny init too);
            // without subordinate ids only root exists.
            let (known, uid) = match user {
                User::Sub => ("user", "1000"),
                User::NoSub => ("root", "0"),
            };
            let out = env.burrow(&["exec", "-u", known, name, "id", "-u"]);
            assert_eq!(out.ok().stdout, format!("{uid}\n"), "{name}");
            for to in [host.display().to_string(), climbing_to(&host)] {
                let script =
                    format!("ln -sf {to}/passwd /etc/passwd && ln -sf {to}/group /etc/group");
                env.burrow(&["exec", name, "sh", "-c", &script]).ok();
                let out = env.burrow(&["exec", "-u", "marker", name, "id", "-u"]);
                out.fails(125);
                assert!(
                    out.stderr.contains("unable to find user marker"),
                    "{name} {to}: {}",
                    out.describe()
                );
            }
            // A numeric id needs no lookup and still works.
            let out = env.burrow(&["exec", "-u", uid, name, "id", "-u"]);
            assert_eq!(out.ok().stdout, format!("{uid}\n"));
            env.burrow(&["rm", "-f", name]).ok();
        }
    }
}

/// The item 12: `-u 4294967295` is `(uid_t)-1`, which setuid reads
/// as "unchanged", so the process stayed root.
#[test]
fn user_ids_above_4294967294_are_refused() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    for spec in ["4294967295", "0:4294967295", "4294967295:0", "99999999999"] {
        let out = env.burrow(&["run", "--rm", "-u", spec, &img, "id", "-u"]);
        out.fails(125);
        assert!(out.stderr.contains("out of range"), "{}", out.describe());
        assert_eq!(out.stdout, "", "{spec}: the command ran");
    }
    detach(&env, &["--name", "ids", &img, "sleep", "300"]);
    for spec in ["4294967295", "0:4294967295"] {
        let out = env.burrow(&["exec", "-u", spec, "ids", "id", "-u"]);
        out.fails(125);
        assert!(out.stderr.contains("out of range"), "{}", out.describe());
        assert_eq!(out.stdout, "", "{spec}: the command ran");
    }
    // The largest id that is one still works.
    let out = env.burrow(&["exec", "-u", "4294967294", "ids", "true"]);
    assert!(!out.stderr.contains("out of range"), "{}", out.describe());
    env.burrow(&["rm", "-f", "ids"]).ok();
}

/// The mount plan resolves `-v` targets inside the container's root (by
/// hand, as the image's symlinks would resolve there): an image whose
/// /etc points at a host dir gets its bind mount point made inside the
/// image, never in that host dir. A guard: this held before issue 13.
#[test]
fn volume_targets_under_a_symlink_out_stay_in_the_image() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let host = host_etc(&env);
        import_with_etc_link(&env, "abs:v1", host.to_str().unwrap());
        import_with_etc_link(&env, "rel:v1", &climbing_to(&host));
        let src = env.mkdir("src");
        let vol = format!("{}:/etc/x", src.display());
        let file = format!(
            "{}:/etc/passwd",
            env.write("pw", b"v:x:1:1::/:/\n").display()
        );
        for img in ["abs:v1", "rel:v1"] {
            // No program in the image: the run fails at exec, after the
            // mounts were made.
            let out = env.burrow(&["run", "--rm", "-v", &vol, "-v", &file, img, "/true"]);
            assert_eq!(out.code, 127, "{}", out.describe());
            assert!(out.stderr.contains("exec /true"), "{}", out.describe());
            assert!(!host.join("x").exists(), "{img}: made x in the host dir");
            assert_eq!(
                std::fs::read(host.join("passwd")).unwrap(),
                b"marker:x:4321:4321::/home/m:/bin/sh\n",
                "{img}: the host's passwd changed"
            );
        }
    }
}
