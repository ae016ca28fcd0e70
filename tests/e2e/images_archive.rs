//! save / load / import: images move between stores, and in from archives
//! that skopeo wrote, with the unpacked trees checked against the tars.

use std::process::Command;

use crate::common::*;
use crate::images::{check_layers, entries, inspect};

#[test]
fn save_then_load_into_another_store() {
    let Some(a) = TestEnv::new(User::Sub) else {
        return;
    };
    let Some(b) = TestEnv::new(User::NoSub) else {
        return;
    };
    let img = registry().image("busybox");
    a.burrow(&["pull", "-q", &img]).ok();
    a.burrow(&["tag", &img, "keep/me:1"]).ok();
    let archive = a.dir().join("bb.tar");
    a.burrow(&["save", "-o", archive.to_str().unwrap(), &img, "keep/me:1"])
        .ok();
    // The other user reads it from stdin.
    let bytes = std::fs::read(&archive).unwrap();
    let out = b.burrow_with(&["load"], &[], Some(&bytes));
    let stdout = out.ok().stdout.clone();
    assert!(stdout.contains(&format!("Loaded image: {img}")), "{stdout}");
    assert!(stdout.contains("Loaded image: keep/me:1"), "{stdout}");
    assert_eq!(inspect(&a, &img)["Id"], inspect(&b, "keep/me:1")["Id"]);
    check_layers(&b, &img, "busybox");
}

#[test]
fn load_a_docker_archive_made_by_skopeo() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let archive = env.dir().join("skopeo.tar");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!(
            "oci:{}:latest",
            fixture_layout("busybox").display()
        ))
        .arg(format!(
            "docker-archive:{}:made/by-skopeo:1",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.user.chown(&archive);
    let out = env.burrow(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        out.ok().stdout.contains("made/by-skopeo:1"),
        "{}",
        out.stdout
    );
    check_layers(&env, "made/by-skopeo:1", "busybox");
}

#[test]
fn a_corrupt_archive_leaves_nothing() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    // A docker archive whose layer (a valid tar) does not match the
    // config's diff id.
    let dir = env.mkdir("bad");
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_cksum();
    layer.append_data(&mut h, "f", &b"hi"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let config = serde_json::json!({
        "architecture": burrow::sys::oci_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))]},
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("layer.tar"), &layer).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        br#"[{"Config":"config.json","RepoTags":["bad:1"],"Layers":["layer.tar"]}]"#,
    )
    .unwrap();
    let archive = env.dir().join("bad.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&archive)
        .args(["manifest.json", "config.json", "layer.tar"])
        .status()
        .unwrap();
    assert!(status.success());
    env.user.chown(&archive);
    let out = env.burrow(&["load", "-i", archive.to_str().unwrap()]);
    out.fails(125);
    assert!(out.stderr.contains("diff id"), "{}", out.describe());
    assert!(
        entries(&env, "layers").is_empty(),
        "{:?}",
        entries(&env, "layers")
    );
    let blobs = entries(&env, "blobs/sha256");
    assert!(blobs.is_empty(), "blobs left: {blobs:?}");
    let temps: Vec<String> = entries(&env, "")
        .into_iter()
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    assert_eq!(env.burrow(&["images", "-q"]).ok().stdout, "");
}

#[test]
fn import_a_root_file_system() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let src = env.mkdir("rootfs/etc");
    std::fs::write(src.join("hello"), b"imported\n").unwrap();
    let tar = env.dir().join("rootfs.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(env.dir().join("rootfs"))
        .arg("-czf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    env.user.chown(&tar);
    let out = env.burrow(&["import", tar.to_str().unwrap(), "imported:v1"]);
    let id = out.ok().stdout.trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let v = inspect(&env, "imported:v1");
    assert_eq!(v["Id"], id.as_str());
    let lower = v["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    let hello = std::path::Path::new(lower).join("etc/hello");
    assert_eq!(std::fs::read(hello).unwrap(), b"imported\n");
}
