//! Volumes as both test users: named volumes that keep data, the copy of
//! the image's files on first use, anonymous volumes (`-v /path`, the
//! image's VOLUME) and when they go, `--volumes-from`, refusals, prune,
//! owners in both id-map modes, read-only mounts, `system df`/`prune`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The names `volume ls -q` lists.
fn volumes(env: &TestEnv) -> Vec<String> {
    let out = env.burrow(&["volume", "ls", "-q"]);
    out.ok();
    out.stdout.lines().map(String::from).collect()
}

/// A volume's data dir on the host, from `volume inspect`.
fn mountpoint(env: &TestEnv, name: &str) -> PathBuf {
    let out = env.burrow(&["volume", "inspect", "--format", "{{.Mountpoint}}", name]);
    PathBuf::from(out.ok().stdout.trim())
}

/// Entries of the store's volumes dir (besides its lock): nothing half
/// made or left behind.
fn volume_dirs(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.root().join("volumes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".lock")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_named_volume_keeps_data_across_containers() {
    both(|env, img| {
        env.burrow(&[
            "run",
            "--rm",
            "-v",
            "data:/d",
            img,
            "sh",
            "-c",
            "echo hi > /d/f",
        ])
        .ok();
        let out = env.burrow(&["run", "--rm", "-v", "data:/d", img, "cat", "/d/f"]);
        assert_eq!(out.ok().stdout, "hi\n");
        // --mount reaches the same volume.
        let out = env.burrow(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=data,target=/m",
            img,
            "cat",
            "/m/f",
        ]);
        assert_eq!(out.ok().stdout, "hi\n");
        assert_eq!(volumes(env), ["data"]);
        let out = env.burrow(&["volume", "ls"]);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", out.stdout);
        assert!(lines[0].starts_with("DRIVER") && lines[0].ends_with("VOLUME NAME"));
        assert!(lines[1].starts_with("local") && lines[1].ends_with(" data"));
        // On the host, in the store.
        let mp = mountpoint(env, "data");
        assert_eq!(mp, env.root().join("volumes/data/_data"));
        assert_eq!(std::fs::read_to_string(mp.join("f")).unwrap(), "hi\n");
        let out = env.burrow(&["volume", "inspect", "data"]);
        let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
        assert_eq!(v[0]["Name"], "data");
        assert_eq!(v[0]["Driver"], "local");
        assert_eq!(v[0]["Scope"], "local");
        assert!(v[0]["CreatedAt"].as_str().unwrap().ends_with('Z'));
        // The top-level inspect finds volumes too.
        let out = env.burrow(&[
            "inspect",
            "--type",
            "volume",
            "-f",
            "{{.Mountpoint}}",
            "data",
        ]);
        assert_eq!(PathBuf::from(out.ok().stdout.trim()), mp);
        let out = env.burrow(&["inspect", "-f", "{{.Name}}", "data"]);
        assert_eq!(out.ok().stdout, "data\n");
    });
}

/// `find PATH | stat` inside a container: name, owner, mode, type.
const LISTING: &str = "find /data | sort | while read f; do stat -c '%n %u:%g %a %F' \"$f\"; done";

#[test]
fn a_new_volume_is_filled_from_the_image_with_owners_and_modes() {
    both(|env, img| {
        let want = env.burrow(&["run", "--rm", img, "sh", "-c", LISTING]);
        want.ok();
        assert!(want.stdout.contains("/data/sgid-dir"), "{}", want.stdout);
        let got = env.burrow(&[
            "run",
            "--rm",
            "-v",
            "filled:/data",
            img,
            "sh",
            "-c",
            LISTING,
        ]);
        assert_eq!(got.ok().stdout, want.stdout);
        // Copied into the volume, not only seen through the image.
        let mp = mountpoint(env, "filled");
        assert_eq!(
            std::fs::read_to_string(mp.join("owned")).unwrap(),
            "owned by uid 1000\n"
        );
        // A volume with files is not filled again.
        env.burrow(&[
            "run",
            "--rm",
            "-v",
            "filled:/data",
            img,
            "sh",
            "-c",
            "rm /data/owned",
        ])
        .ok();
        let out = env.burrow(&["run", "--rm", "-v", "filled:/data", img, "ls", "/data"]);
        assert!(!out.ok().stdout.contains("owned\n"), "{}", out.stdout);
        // volume-nocopy: left empty.
        let out = env.burrow(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=bare,target=/data,volume-nocopy",
            img,
            "ls",
            "-A",
            "/data",
        ]);
        assert_eq!(out.ok().stdout, "");
    });
}

#[test]
fn anonymous_volumes_go_with_run_rm_and_rm_v_and_stay_with_rm() {
    both(|env, img| {
        env.burrow(&[
            "run",
            "--rm",
            "-v",
            "/anon",
            img,
            "sh",
            "-c",
            "echo x > /anon/f",
        ])
        .ok();
        assert_eq!(volumes(env), Vec::<String>::new());
        // Plain rm keeps it, as Docker does.
        let id = env.burrow(&["create", "-v", "/anon", img, "true"]);
        let id = id.ok().stdout.trim().to_string();
        let vols = volumes(env);
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].len(), 64, "{vols:?}");
        let out = env.burrow(&["inspect", "--format", "{{json .Mounts}}", &id]);
        let mounts: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
        assert_eq!(mounts[0]["Type"], "volume");
        assert_eq!(mounts[0]["Name"], vols[0].as_str());
        assert_eq!(mounts[0]["Destination"], "/anon");
        assert_eq!(mounts[0]["RW"], true);
        env.burrow(&["rm", &id]).ok();
        assert_eq!(volumes(env), vols);
        // rm -v removes the anonymous one and keeps a named one.
        let id = env.burrow(&["create", "-v", "/anon", "-v", "named:/n", img, "true"]);
        let id = id.ok().stdout.trim().to_string();
        assert_eq!(volumes(env).len(), 3);
        env.burrow(&["rm", "-v", &id]).ok();
        let mut left = vols.clone();
        left.push("named".into());
        left.sort();
        assert_eq!(volumes(env), left);
        // A detached --rm container's go when it ends (its supervisor).
        env.burrow(&["run", "-d", "--rm", "-v", "/gone", img, "true"])
            .ok();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while volumes(env) != left && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(volumes(env), left);
        assert_eq!(volume_dirs(env), left);
    });
}

/// The busybox fixture with `VOLUME /data` in its config, loaded.
fn image_with_volume(env: &TestEnv) -> String {
    let layout = env.dir().join("layout");
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixture_layout("busybox"))
        .arg(&layout)
        .status()
        .unwrap();
    assert!(status.success());
    let image = format!("{}:latest", layout.display());
    let out = Command::new("umoci")
        .args(["config", "--image", &image, "--config.volume", "/data"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let archive = env.dir().join("vol.tar");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{image}"))
        .arg(format!(
            "docker-archive:{}:with/volume:1",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    env.user.chown(&archive);
    env.burrow(&["load", "-i", archive.to_str().unwrap()]).ok();
    "with/volume:1".into()
}

#[test]
fn an_images_volume_is_an_anonymous_volume_filled_from_it() {
    both(|env, _| {
        let img = image_with_volume(env);
        let out = env.burrow(&["run", "--name", "v1", &img, "cat", "/data/owned"]);
        assert_eq!(out.ok().stdout, "owned by uid 1000\n");
        let vols = volumes(env);
        assert_eq!(vols.len(), 1, "{vols:?}");
        let mp = mountpoint(env, &vols[0]);
        assert!(mp.join("owned").is_file(), "{}", mp.display());
        // A -v at the same path wins over the image's.
        let out = env.burrow(&["run", "--rm", "-v", "mine:/data", &img, "true"]);
        out.ok();
        assert_eq!(volumes(env).len(), 2);
        env.burrow(&["rm", "-v", "v1"]).ok();
        assert_eq!(volumes(env), ["mine"]);
    });
}

#[test]
fn volumes_from_shares_the_mounts_with_their_mode() {
    both(|env, img| {
        let src = env.burrow(&[
            "create",
            "--name",
            "src",
            "-v",
            "shared:/s",
            "-v",
            "/anon",
            img,
            "true",
        ]);
        src.ok();
        env.burrow(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            img,
            "sh",
            "-c",
            "echo z > /s/f && echo a > /anon/f",
        ])
        .ok();
        let out = env.burrow(&["run", "--rm", "-v", "shared:/x", img, "cat", "/x/f"]);
        assert_eq!(out.ok().stdout, "z\n");
        // :ro makes them read-only.
        let out = env.burrow(&[
            "run",
            "--rm",
            "--volumes-from",
            "src:ro",
            img,
            "sh",
            "-c",
            "cat /anon/f; echo y > /s/f",
        ]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert_eq!(out.stdout, "a\n");
        assert!(out.stderr.contains("Read-only"), "{}", out.describe());
        // The anonymous volume went with neither --rm container.
        assert_eq!(volumes(env).len(), 2);
        let out = env.burrow(&["run", "--rm", "--volumes-from", "nosuch", img, "true"]);
        out.fails(125);
        assert!(out.stderr.contains("no such container"), "{}", out.stderr);
    });
}

#[test]
fn a_volume_in_use_is_not_removed() {
    both(|env, img| {
        let id = env.burrow(&["create", "-v", "keep:/k", img, "true"]);
        let id = id.ok().stdout.trim().to_string();
        let out = env.burrow(&["volume", "rm", "keep"]);
        out.fails(1);
        assert!(
            out.stderr.contains("volume is in use") && out.stderr.contains(&id),
            "{}",
            out.stderr
        );
        assert!(env.root().join("volumes/keep/_data").is_dir());
        // Nor by prune --all.
        env.burrow(&["volume", "prune", "-f", "--all"]).ok();
        assert_eq!(volumes(env), ["keep"]);
        let out = env.burrow(&["volume", "ls", "--filter", "dangling=true", "-q"]);
        assert_eq!(out.ok().stdout, "");
        env.burrow(&["rm", &id]).ok();
        let out = env.burrow(&["volume", "ls", "--filter", "dangling=true", "-q"]);
        assert_eq!(out.ok().stdout, "keep\n");
        let out = env.burrow(&["volume", "rm", "keep"]);
        assert_eq!(out.ok().stdout, "keep\n");
        assert_eq!(volume_dirs(env), Vec::<String>::new());
    });
}

#[test]
fn prune_removes_unused_anonymous_volumes_and_named_ones_with_all() {
    both(|env, img| {
        env.burrow(&["volume", "create", "named"]).ok();
        env.burrow(&["volume", "create", "--label", "team=db", "labelled"])
            .ok();
        let anon = env.burrow(&["volume", "create"]);
        let anon = anon.ok().stdout.trim().to_string();
        let used = env.burrow(&["create", "-v", "/used", img, "true"]);
        used.ok();
        assert_eq!(volumes(env).len(), 4);
        let out = env.burrow(&["volume", "ls", "-q", "--filter", "label=team=db"]);
        assert_eq!(out.ok().stdout, "labelled\n");
        let out = env.burrow(&["volume", "ls", "-q", "--filter", "name=named"]);
        assert_eq!(out.ok().stdout, "named\n");
        let out = env.burrow(&["volume", "prune", "-f"]);
        assert!(out.ok().stdout.contains(&anon), "{}", out.stdout);
        let left = volumes(env);
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(!left.contains(&anon));
        // Without -f it asks; "n" keeps everything.
        let out = env.burrow_with(&["volume", "prune", "--all"], &[], Some(b"n\n"));
        assert!(out.ok().stdout.contains("Are you sure"), "{}", out.stdout);
        assert_eq!(volumes(env).len(), 3);
        env.burrow(&["volume", "prune", "-f", "--all"]).ok();
        let left = volumes(env);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].len(), 64);
    });
}

/// Subordinate ids: uid 33 inside is the 33rd id of the range on the host.
fn host_id_of_33(env: &TestEnv) -> u32 {
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap();
    let start: u32 = subuid
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", env.user.name())))
        .and_then(|r| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    start + 32
}

#[test]
fn owners_inside_a_volume_are_the_containers_ids() {
    for driver in ["overlay", "fuse-overlay"] {
        let vars = [("BURROW_STORAGE_DRIVER", driver)];
        both(|env, img| {
            let run = |args: &[&str]| env.burrow_with(args, &vars, None);
            run(&[
                "run",
                "--rm",
                "-v",
                "own:/o",
                img,
                "sh",
                "-c",
                "touch /o/f /o/g && chown 33:33 /o/g && mkdir -p /o/dir/sub && \
                 touch /o/dir/sub/x && chown -R 33:33 /o/dir && chmod 700 /o/dir",
            ])
            .ok();
            let out = run(&[
                "run", "--rm", "-v", "own:/o", img, "stat", "-c", "%u:%g", "/o/f", "/o/g",
            ]);
            let host = std::fs::metadata(mountpoint(env, "own").join("g")).unwrap();
            let (uid, _) = env.user.ids();
            match env.user {
                User::Sub => {
                    assert_eq!(out.ok().stdout, "0:0\n33:33\n", "{driver}");
                    let want = host_id_of_33(env);
                    assert_eq!((host.uid(), host.gid()), (want, want), "{driver}");
                }
                // One id: the owner is recorded (and shown inside), the
                // files are the user's outside.
                User::NoSub => {
                    assert_eq!(out.ok().stdout, "0:0\n33:33\n", "{driver}");
                    assert_eq!(host.uid(), uid, "{driver}");
                }
            }
            // The volume goes whatever its files' owners.
            env.burrow(&["volume", "rm", "own"]).ok();
            assert_eq!(volume_dirs(env), Vec::<String>::new(), "{driver}");
        });
    }
}

#[test]
fn read_only_volumes() {
    both(|env, img| {
        for args in [
            &["-v", "ro:/d:ro"][..],
            &["--mount", "type=volume,source=ro,target=/d,readonly"],
        ] {
            let mut all = vec!["run", "--rm"];
            all.extend_from_slice(args);
            all.extend([img, "sh", "-c", "touch /d/f"]);
            let out = env.burrow(&all);
            assert_eq!(out.code, 1, "{args:?}: {}", out.describe());
            assert!(out.stderr.contains("Read-only"), "{}", out.describe());
        }
        assert_eq!(std::fs::read_dir(mountpoint(env, "ro")).unwrap().count(), 0);
        let id = env.burrow(&["create", "-v", "ro:/d:ro", img, "true"]);
        let id = id.ok().stdout.trim().to_string();
        let out = env.burrow(&["inspect", "--format", "{{json .Mounts}}", &id]);
        let m: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
        assert_eq!((&m[0]["RW"], &m[0]["Mode"]), (&false.into(), &"ro".into()));
        let out = env.burrow(&["ps", "-a", "--format", "{{.Mounts}} {{.LocalVolumes}}"]);
        assert_eq!(out.ok().stdout, "ro 1\n");
    });
}

/// Bytes of the regular files under `dir`, walked as root.
fn file_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                file_bytes(&e.path())
            } else if t.is_file() {
                e.metadata().unwrap().len()
            } else {
                0
            }
        })
        .sum()
}

/// Docker's human sizes for the few figures used here (go-units, 3 digits).
fn human(bytes: u64) -> String {
    match bytes {
        0..1000 => format!("{bytes}B"),
        _ => {
            let kb = bytes as f64 / 1000.0;
            let s = format!("{kb:.*}", if kb < 10.0 { 2 } else { 1 });
            format!("{}kB", s.trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

#[test]
fn system_df_shows_the_real_sizes_and_prune_frees_them() {
    both(|env, img| {
        env.burrow(&[
            "run",
            "--rm",
            "-v",
            "big:/d",
            img,
            "sh",
            "-c",
            "head -c 12345 /dev/zero > /d/a && mkdir /d/sub && head -c 678 /dev/zero > /d/sub/b",
        ])
        .ok();
        env.burrow(&[
            "run",
            "--name",
            "writer",
            img,
            "sh",
            "-c",
            "head -c 5000 /dev/zero > /w",
        ])
        .ok();
        let vol_bytes = file_bytes(&mountpoint(env, "big"));
        assert_eq!(vol_bytes, 12345 + 678);
        let upper = env.root().join("containers");
        let id = env.burrow(&["inspect", "--format", "{{.Id}}", "writer"]);
        let id = id.ok().stdout.trim().to_string();
        let c_bytes = file_bytes(&upper.join(&id).join("upper"));
        assert!(c_bytes >= 5000, "{c_bytes}");
        let images = env.burrow(&["images", "--format", "{{.Size}}"]);
        let image_size = images.ok().stdout.trim().to_string();
        let out = env.burrow(&["system", "df"]);
        let rows: Vec<Vec<String>> = out
            .ok()
            .stdout
            .lines()
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect();
        assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
        assert_eq!(rows[1][..4], ["Images", "1", "1", image_size.as_str()]);
        let c = human(c_bytes);
        assert_eq!(
            rows[2],
            ["Containers", "1", "0", c.as_str(), &format!("{c} (100%)")]
        );
        let v = human(vol_bytes);
        assert_eq!(
            rows[3],
            [
                "Local Volumes",
                "1",
                "0",
                v.as_str(),
                &format!("{v} (100%)")
            ]
        );
        assert_eq!(rows[4], ["Build Cache", "0", "0", "0B", "0B"]);
        let out = env.burrow(&["system", "df", "-v"]);
        assert!(
            out.ok().stdout.lines().any(|l| l.starts_with("big ")
                && l.split_whitespace().collect::<Vec<_>>() == ["big", "0", v.as_str()]),
            "{}",
            out.stdout
        );
        // An anonymous volume, unused: system prune --volumes takes it, the
        // stopped container and nothing named; and the unused network, not
        // the one a running container is on.
        env.burrow(&["volume", "create"]).ok();
        env.burrow(&["network", "create", "idle-net"]).ok();
        env.burrow(&["network", "create", "busy-net"]).ok();
        let run = [
            "run",
            "-d",
            "--name",
            "busy",
            "--network",
            "busy-net",
            img,
            "sleep",
            "60",
        ];
        env.burrow(&run).ok();
        let out = env.burrow(&["system", "prune", "-f", "--volumes"]);
        let text = out.ok().stdout.clone();
        assert!(text.contains("Deleted Networks:\nidle-net\n"), "{text}");
        let nets = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
        assert_eq!(nets.ok().stdout, "bridge\nbusy-net\nhost\nnone\n");
        env.burrow(&["rm", "-f", "busy"]).ok();
        env.burrow(&["network", "rm", "busy-net"]).ok();
        assert!(
            text.contains("Deleted Containers:\n") && text.contains(&id),
            "{text}"
        );
        assert!(text.contains("Deleted Volumes:\n"), "{text}");
        assert!(text.contains("Total reclaimed space: "), "{text}");
        assert_eq!(volumes(env), ["big"]);
        let out = env.burrow(&["ps", "-aq"]);
        assert_eq!(out.ok().stdout, "");
        // The image stays: it has a tag.
        let out = env.burrow(&["images", "-q"]);
        assert_eq!(out.ok().stdout.lines().count(), 1);
    });
}

#[test]
fn bad_volume_input_is_one_line_and_makes_nothing() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let env = &env;
    for (args, code, says) in [
        (
            vec!["run", "--rm", "-v", "a$b:/d", &img, "true"],
            125,
            "invalid volume name",
        ),
        (
            vec!["create", "-v", "x:/d", &img, "true"],
            125,
            "invalid volume name",
        ),
        (vec!["volume", "create", "-bad"], 125, ""),
        (vec!["volume", "create", "a/b"], 125, "invalid volume name"),
        (
            vec!["volume", "create", "-o", "type=nfs", "n1"],
            125,
            "not supported",
        ),
        (
            vec!["volume", "create", "-o", "bogus=1", "n2"],
            125,
            "invalid option key",
        ),
        (vec!["volume", "rm", "nosuch"], 1, "no such volume: nosuch"),
        (
            vec!["volume", "inspect", "nosuch"],
            1,
            "no such volume: nosuch",
        ),
        (
            vec!["volume", "ls", "--filter", "color=red"],
            125,
            "invalid filter",
        ),
        (
            vec![
                "run",
                "--rm",
                "--mount",
                "type=volume,source=ok1,target=rel",
                &img,
                "true",
            ],
            125,
            "not absolute",
        ),
        (
            vec!["run", "--rm", "-v", "v1:/d", "-v", "v2:/d", &img, "true"],
            125,
            "duplicate mount point",
        ),
    ] {
        let out = env.burrow(&args);
        out.fails(code);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert_eq!(volume_dirs(env), Vec::<String>::new(), "{args:?}");
    }
    // A create that fails after its volumes were made takes them back.
    env.burrow(&["create", "--name", "taken", &img, "true"])
        .ok();
    let out = env.burrow(&[
        "create", "--name", "taken", "-v", "/anon", "-v", "fresh:/f", &img, "true",
    ]);
    out.fails(125);
    assert_eq!(volume_dirs(env), Vec::<String>::new());
    // rm -f of a missing volume is quiet.
    env.burrow(&["volume", "rm", "-f", "nosuch"]).ok();
}

#[test]
fn local_driver_options_give_a_tmpfs_or_a_host_dir() {
    both(|env, img| {
        env.burrow(&[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m",
            "scratch",
        ])
        .ok();
        let out = env.burrow(&[
            "run",
            "--rm",
            "-v",
            "scratch:/t",
            img,
            "sh",
            "-c",
            "awk '$2==\"/t\"{print $3}' /proc/mounts; echo x > /t/f",
        ]);
        assert_eq!(out.ok().stdout, "tmpfs\n");
        // Nothing reached the store's dir.
        assert_eq!(
            std::fs::read_dir(mountpoint(env, "scratch"))
                .unwrap()
                .count(),
            0
        );
        let host = env.mkdir("hostdir");
        let device = format!("device={}", host.display());
        env.burrow(&[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &device,
            "hd",
        ])
        .ok();
        env.burrow(&[
            "run",
            "--rm",
            "-v",
            "hd:/h",
            img,
            "sh",
            "-c",
            "echo via-volume > /h/f",
        ])
        .ok();
        assert_eq!(
            std::fs::read_to_string(host.join("f")).unwrap(),
            "via-volume\n"
        );
        let out = env.burrow(&["volume", "inspect", "--format", "{{json .Options}}", "hd"]);
        let opts: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
        assert_eq!(opts["type"], "none");
        assert_eq!(opts["o"], "bind");
        // ps finds containers by volume.
        env.burrow(&["create", "--name", "user", "-v", "hd:/h", img, "true"])
            .ok();
        env.burrow(&["create", "--name", "other", img, "true"]).ok();
        let out = env.burrow(&[
            "ps",
            "-a",
            "--filter",
            "volume=hd",
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(out.ok().stdout, "user\n");
    });
}
