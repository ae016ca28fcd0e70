//! Containers on our FUSE overlay: the same upper dir as the kernel
//! overlay's, read the same through either driver, and nothing left behind
//! when the supervisor or the FUSE server is killed.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::common::*;
use crate::live::{assert_nothing_left, detach, env_processes, eventually, nix_kill, record_of};
use crate::run::ready;

/// The upper dir's entries as the tests compare them: kind, mode, owner,
/// content; whiteouts and opaque markers as the kernel overlay writes them.
fn upper_tree(upper: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![upper.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_dir() {
                todo.push(p.clone());
                let opaque = xattr::get(&p, "user.overlay.opaque")
                    .ok()
                    .flatten()
                    .is_some();
                format!("dir opaque={opaque}")
            } else if ft.is_char_device() && m.rdev() == 0 {
                "whiteout".into()
            } else if ft.is_symlink() {
                format!("symlink {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_fifo() {
                "fifo".into()
            } else {
                format!("file {:?}", std::fs::read(&p).unwrap())
            };
            let mode = if ft.is_symlink() {
                0
            } else {
                m.mode() & 0o7777
            };
            let rel = p.strip_prefix(upper).unwrap().display().to_string();
            out.insert(rel, format!("{what} {mode:o} {}:{}", m.uid(), m.gid()));
        }
    }
    out
}

/// Changes of each kind (new, copied-up, whiteout, opaque dir, rename,
/// chmod, symlink, fifo), then what the container sees, on the first run;
/// only what it sees on later ones.
const CHANGE_THEN_VIEW: &str = "if [ ! -e /done ]; then \
     echo new > /new.txt; echo more >> /etc/passwd; rm /etc/group; \
     rm -r /home/user; mkdir /home/user; echo again > /home/user/f; \
     mkdir -p /newdir/sub; ln -s ../new.txt /newdir/link; mv /etc/motd /etc/motd.moved; \
     chmod 700 /data/sgid-dir; mkfifo /fifo; touch /done; fi; \
     for p in $(find /etc /data /home /newdir /new.txt /fifo | grep -v -e '^/etc/hosts$' -e '^/etc/hostname$' | sort); do \
       if [ -f $p ] && [ ! -L $p ]; then echo $p $(stat -c '%F %a %u %g %s' $p) $(md5sum < $p); \
       else echo $p $(stat -c '%F %a %u %g' $p); fi; done";

/// Switch a made container to the other driver (the record is JSON).
fn flip_driver(env: &TestEnv, id: &str, to: &str) {
    let p = env.root().join("containers").join(id).join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["config"]["storage_driver"] = to.into();
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The same changes leave the same upper dir under both drivers, and a
/// container's upper dir made by one driver reads the same through the
/// other; in single-id mode too (the image's owners show as root with
/// both: other ids cannot be shown in a namespace that maps only one).
#[test]
fn both_drivers_keep_the_same_upper_dir() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let mut views = Vec::new();
        let mut uppers = Vec::new();
        let mut ids = Vec::new();
        for driver in ["overlay", "fuse-overlay"] {
            let out = env.burrow(&[
                "run",
                "--storage-driver",
                driver,
                &img,
                "sh",
                "-c",
                CHANGE_THEN_VIEW,
            ]);
            out.ok();
            let id = env
                .burrow(&["ps", "-lq", "--no-trunc"])
                .ok()
                .stdout
                .trim()
                .to_string();
            uppers.push(upper_tree(
                &env.root().join("containers").join(&id).join("upper"),
            ));
            views.push(out.stdout.clone());
            ids.push(id);
        }
        assert_eq!(
            views[0], views[1],
            "{user:?}: the drivers show different trees"
        );
        assert!(
            views[0].contains("/home/user/f regular file"),
            "{}",
            views[0]
        );
        assert!(!views[0].contains("/etc/group "), "{}", views[0]);
        assert!(
            views[0].contains("/etc/motd.moved regular file"),
            "{}",
            views[0]
        );
        assert_eq!(
            uppers[0], uppers[1],
            "{user:?}: the drivers wrote different upper dirs"
        );
        assert_eq!(uppers[0]["etc/group"].split(' ').next(), Some("whiteout"));
        assert!(
            uppers[0]["home/user"].starts_with("dir opaque=true"),
            "{:?}",
            uppers[0]
        );
        // Each container again, through the other driver.
        for (id, other) in ids.iter().zip(["fuse-overlay", "overlay"]) {
            flip_driver(&env, id, other);
            let out = env.burrow(&["start", "-a", id]);
            out.ok();
            assert_eq!(out.stdout, views[0], "{user:?}: {id} through {other}");
        }
    }
}

/// The server whose child in the supervisor serves the container's root:
/// the supervisor's child with more than one thread.
fn fuse_server_of(supervisor: i32) -> Option<i32> {
    std::fs::read_dir("/proc").unwrap().flatten().find_map(|p| {
        let pid: i32 = p.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(p.path().join("status")).ok()?;
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let threaded = field("Threads:")?.parse::<u32>().ok()? > 1;
        (field("PPid:")? == supervisor.to_string() && threaded).then_some(pid)
    })
}

/// A killed supervisor takes its FUSE server along: no process, no mount
/// is left, and the container starts again on its kept upper dir. A
/// killed server stops the container, and the log says why.
#[test]
fn a_killed_supervisor_or_server_leaves_nothing_behind() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let fuse = ["--storage-driver", "fuse-overlay"];
    let script = "echo kept > /kept; exec sleep 1000";
    let id = detach(
        &env,
        &[fuse[0], fuse[1], "--name", "k", &img, "sh", "-c", script],
    );
    eventually("the container to write", || {
        env.burrow(&["exec", "k", "cat", "/kept"]).code == 0
    });
    let supervisor = record_of(&env, &id)["monitor"]["pid"].as_i64().unwrap() as i32;
    assert!(
        fuse_server_of(supervisor).is_some(),
        "no FUSE server under {supervisor}"
    );
    nix_kill(supervisor);
    eventually("every process to end", || env_processes(&env).is_empty());
    let merged = env.root().join("containers").join(&id).join("merged");
    assert_no_mount_of(&merged);
    let out = env.burrow(&["start", "k"]);
    out.ok();
    let out = env.burrow(&["exec", "k", "cat", "/kept"]);
    assert_eq!(out.ok().stdout, "kept\n");

    let supervisor = record_of(&env, &id)["monitor"]["pid"].as_i64().unwrap() as i32;
    let server = fuse_server_of(supervisor).expect("a FUSE server");
    nix_kill(server);
    eventually("the container to stop", || {
        crate::live::ps_status(&env, "k").starts_with("Exited (137)")
    });
    let out = env.burrow(&["logs", "k"]);
    assert!(
        out.ok().stderr.contains("FUSE overlay server ended"),
        "{}",
        out.describe()
    );
    env.burrow(&["rm", "k"]).ok();
    assert_nothing_left(&env);
}

fn assert_no_mount_of(path: &Path) {
    let needle = path.display().to_string();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(m) = std::fs::read_to_string(p.path().join("mountinfo")) {
            assert!(
                !m.contains(&needle),
                "{needle} is mounted for {:?}",
                p.file_name()
            );
        }
    }
}

/// A temp file unlinked while open, grown with ftruncate, written through
/// a shared mapping and closed, as apt's package cache is: on our FUSE
/// overlay, ftruncate failed with ENOENT (the node had no name to reach
/// the real file by) and apt stopped at close with EIO. The kernel
/// overlay answers the same.
#[test]
fn an_unlinked_open_file_can_be_truncated_mapped_and_closed() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let pm = format!("{}:/probe:ro", probe_bin().display());
        for driver in ["overlay", "fuse-overlay"] {
            let args = [
                "run",
                "--rm",
                "-v",
                &pm,
                &img,
                "/probe",
                "try",
                "unlinked-temp",
            ];
            let out = env.burrow_with(&args, &[("BURROW_STORAGE_DRIVER", driver)], None);
            assert_eq!(
                out.ok().stdout,
                "unlinked-temp ok\n",
                "{user:?} {driver}: {}",
                out.describe()
            );
        }
    }
}
