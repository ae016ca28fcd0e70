//! Pulling the fixtures as both test users, and the image commands. The
//! unpacked trees are checked entry by entry against the layer tars in the
//! fixture layout (what umoci wrote), not against a list typed in here.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::common::*;

pub fn inspect(env: &TestEnv, name: &str) -> Value {
    let out = env.burrow(&["image", "inspect", name]);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v[0].clone()
}

/// The image's layer dirs, bottom-most first.
fn layer_dirs(env: &TestEnv, name: &str) -> Vec<PathBuf> {
    let v = inspect(env, name);
    let lower = v["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    let mut dirs: Vec<PathBuf> = lower.split(':').map(PathBuf::from).collect();
    dirs.reverse();
    dirs
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// The layer blobs of a fixture layout, bottom-most first.
fn layout_layers(layout: &Path) -> Vec<PathBuf> {
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(index["manifests"][0]["digest"].as_str().unwrap()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect()
}

/// Host owner of a container id: in subid mode 0 is the user and n is
/// subuid start + n - 1; with a single id everything is the user.
fn id_mapper(user: User) -> impl Fn(u64, bool) -> u32 {
    let (uid, gid) = user.ids();
    let start = |file: &str| -> Option<u32> {
        fs::read_to_string(file).ok()?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == user.name()).then(|| f[1].parse().ok())?
        })
    };
    let (su, sg) = (start("/etc/subuid"), start("/etc/subgid"));
    move |id, is_gid| {
        let (own, sub) = if is_gid { (gid, sg) } else { (uid, su) };
        match (user, sub) {
            (User::Sub, Some(s)) if id > 0 => s + id as u32 - 1,
            _ => own,
        }
    }
}

fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Check one unpacked layer dir against its tar, entry by entry.
fn check_layer(blob: &Path, dir: &Path, map: &dyn Fn(u64, bool) -> u32) -> usize {
    let f = fs::File::open(blob).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut checked = 0;
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let rel = clean(&e.path().unwrap());
        let h = e.header().clone();
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at = dir.join(&rel);
        let what = format!("{} in {}", rel.display(), dir.display());
        if name == ".wh..wh..opq" {
            let parent = at.parent().unwrap();
            assert_eq!(
                xattr::get(parent, "user.overlay.opaque")
                    .unwrap()
                    .as_deref(),
                Some(&b"y"[..]),
                "{what}"
            );
            checked += 1;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let wh = fs::symlink_metadata(at.with_file_name(hidden))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                wh.file_type().is_char_device() && wh.rdev() == 0,
                "{what}: not a whiteout"
            );
            assert!(
                fs::symlink_metadata(&at).is_err(),
                "{what}: the .wh. file itself is there"
            );
            checked += 1;
            continue;
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        let kind = h.entry_type();
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            assert!(
                fs::symlink_metadata(&at).is_err(),
                "{what}: device node was made"
            );
            continue;
        }
        let m = fs::symlink_metadata(&at).unwrap_or_else(|e| panic!("{what}: {e}"));
        if kind == tar::EntryType::Link {
            let target = dir.join(clean(&e.link_name().unwrap().unwrap()));
            assert_eq!(
                m.ino(),
                fs::metadata(target).unwrap().ino(),
                "{what}: hardlink"
            );
            checked += 1;
            continue;
        }
        assert_eq!(m.uid(), map(h.uid().unwrap(), false), "{what}: owner");
        assert_eq!(m.gid(), map(h.gid().unwrap(), true), "{what}: group");
        match kind {
            tar::EntryType::Directory => {
                assert!(m.is_dir(), "{what}");
                assert_eq!(
                    m.mode() & 0o7777,
                    h.mode().unwrap() & 0o7777,
                    "{what}: mode"
                );
            }
            tar::EntryType::Regular => {
                assert!(m.is_file(), "{what}");
                assert_eq!(
                    m.mode() & 0o7777,
                    h.mode().unwrap() & 0o7777,
                    "{what}: mode"
                );
                assert_eq!(m.mtime() as u64, h.mtime().unwrap(), "{what}: mtime");
                let mut want = Vec::new();
                e.read_to_end(&mut want).unwrap();
                assert_eq!(fs::read(&at).unwrap(), want, "{what}: content");
            }
            tar::EntryType::Symlink => {
                assert_eq!(
                    fs::read_link(&at).unwrap(),
                    e.link_name().unwrap().unwrap(),
                    "{what}"
                );
            }
            other => panic!("{what}: unexpected {other:?} in a fixture"),
        }
        checked += 1;
    }
    checked
}

fn check_fixture(env: &TestEnv, name: &str) {
    let reg = registry();
    let img = reg.image(name);
    let out = env.burrow(&["pull", &img]);
    out.ok();
    assert_eq!(
        out.stdout.lines().last(),
        Some(img.as_str()),
        "{}",
        out.describe()
    );
    check_layers(env, &img, name);
}

/// Check the layer dirs of the local image `img` against the fixture `name`.
pub fn check_layers(env: &TestEnv, img: &str, name: &str) {
    let dirs = layer_dirs(env, img);
    let blobs = layout_layers(&fixture_layout(name));
    assert_eq!(dirs.len(), blobs.len());
    let map = id_mapper(env.user);
    for (blob, dir) in blobs.iter().zip(&dirs) {
        let n = check_layer(blob, dir, &map);
        assert!(n > 0, "nothing checked in {}", dir.display());
    }
}

#[test]
fn busybox_unpacks_exactly_with_subids() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    check_fixture(&env, "busybox");
    // The fixture's specific promises, spelled out once.
    let dirs = layer_dirs(&env, &registry().image("busybox"));
    let l2 = &dirs[1];
    let doomed = fs::symlink_metadata(l2.join("etc/doomed.txt")).unwrap();
    assert!(doomed.file_type().is_char_device());
    let owned = fs::metadata(l2.join("data/owned")).unwrap();
    assert_ne!(
        owned.uid(),
        User::Sub.ids().0,
        "uid 1000 must map into the subuid range"
    );
    assert_eq!(owned.mode() & 0o7777, 0o640);
    assert_eq!(
        fs::metadata(l2.join("data/suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(l2.join("data/sgid-dir")).unwrap().mode() & 0o7777,
        0o2775
    );
}

#[test]
fn busybox_unpacks_with_a_single_id() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    check_fixture(&env, "busybox");
}

#[test]
fn debian_unpacks_with_subids() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    check_fixture(&env, "debian");
}

fn images_table(env: &TestEnv) -> String {
    let out = env.burrow(&["images"]);
    out.ok();
    out.stdout.clone()
}

/// Names of the entries under `store/dir`.
pub fn entries(env: &TestEnv, dir: &str) -> Vec<String> {
    match fs::read_dir(env.root().join(dir)) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn images_tag_and_rmi() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    let table = images_table(&env);
    assert!(table.starts_with("REPOSITORY"), "{table}");
    let repo = img.rsplit_once(':').unwrap().0;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(repo) && l.contains("latest")),
        "{table}"
    );
    let id = inspect(&env, &img)["Id"].as_str().unwrap().to_string();
    let short = &id[7..19];
    assert!(table.contains(short), "{table}");

    // history: one row per config history entry, newest first, the image id on top.
    let out = env.burrow(&["history", &img]);
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("IMAGE "), "{}", out.stdout);
    assert!(lines[1].starts_with(short), "{}", out.stdout);
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(lines[2].starts_with("<missing>"), "{}", out.stdout);

    env.burrow(&["tag", &img, "mine/bb:v1"]).ok();
    let out = env.burrow(&["images", "--format", "json", "--filter", "reference=mine/*"]);
    out.ok();
    let rows: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0]["Repository"], "mine/bb");
    assert_eq!(rows[0]["Tag"], "v1");
    let q = env.burrow(&["images", "-q"]);
    assert_eq!(q.ok().stdout.trim(), short);

    // An id with two tags needs -f; a tag just untags.
    env.burrow(&["rmi", short]).fails(125);
    let out = env.burrow(&["rmi", "mine/bb:v1"]);
    assert_eq!(out.ok().stdout.trim(), "Untagged: docker.io/mine/bb:v1");
    assert!(!entries(&env, "layers").is_empty());
    let out = env.burrow(&["rmi", short]);
    assert!(
        out.ok().stdout.contains(&format!("Deleted: {id}")),
        "{}",
        out.stdout
    );
    assert_eq!(images_table(&env).lines().count(), 1);
    // Layers (owned by subordinate ids) and blobs are gone too.
    assert_eq!(entries(&env, "layers"), Vec::<String>::new());
    assert_eq!(entries(&env, "blobs/sha256"), Vec::<String>::new());
    env.burrow(&["rmi", "nope:1"]).fails(1);
    env.burrow(&["image", "inspect", "nope:1"]).fails(1);
}

#[test]
fn concurrent_pulls_both_succeed() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let img = registry().image("debian");
    let spawn = || {
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.arg("--root").arg(env.root()).args(["pull", "-q", &img]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(images_table(&env).lines().count(), 2);
    assert_eq!(
        entries(&env, "layers")
            .iter()
            .filter(|n| !n.ends_with(".json"))
            .count(),
        1
    );
    check_fixture(&env, "debian");
}

#[test]
fn a_pull_killed_mid_way_is_finished_by_the_next() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let img = registry().image("debian");
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root").arg(env.root()).args(["pull", "-q", &img]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // Kill it once it is writing: a temp blob or a half-made layer exists.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut caught = false;
    while std::time::Instant::now() < deadline {
        let busy = entries(&env, "blobs/sha256")
            .iter()
            .chain(entries(&env, "layers").iter())
            .any(|n| n.starts_with(".tmp-"));
        if busy {
            caught = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(caught, "the pull ended before it could be killed");
    env.burrow(&["pull", "-q", &img]).ok();
    let leftovers: Vec<String> = [
        entries(&env, ""),
        entries(&env, "blobs/sha256"),
        entries(&env, "layers"),
    ]
    .concat()
    .into_iter()
    .filter(|n| n.starts_with(".tmp-"))
    .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    check_fixture(&env, "debian");
}
