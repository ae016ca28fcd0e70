//! Registries, archives and records that attack the store itself (issue
//! #13 items 1, 9 and 10): ids that try to name a path (`sha256:..`),
//! servers that trickle or send too much, decompression bombs, Ctrl-C in
//! the middle of a pull, and a token realm that fishes for credentials.
//! Each refusal is one line, exit 125, and leaves the store as it was.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::images::entries;
use super::images_registry::{
    assert_store_clean, fake_registry, gzip, image_of, ok, serve, sha, small_image, status, tar_of,
    Image, E, OCI_MANIFEST,
};
use crate::common::*;

/// Ids a hostile config or manifest may give, each of which must be
/// refused before it names anything in the store.
fn bad_digests() -> Vec<String> {
    vec![
        "sha256:..".into(),
        "sha256:../x".into(),
        "".into(),
        "sha256:".into(),
        format!("sha256:{}", "z".repeat(64)),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha512:{}", "a".repeat(128)),
    ]
}

/// `img` with its config replaced by `change(config)`; the manifest follows.
fn with_config(mut img: Image, change: impl FnOnce(&mut Value)) -> Image {
    let mut c: Value = serde_json::from_slice(&img.config).unwrap();
    change(&mut c);
    img.config = serde_json::to_vec(&c).unwrap();
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["config"]["digest"] = json!(sha(&img.config));
    m["config"]["size"] = json!(img.config.len());
    img.manifest = serde_json::to_vec(&m).unwrap();
    img
}

/// A store holding a pulled image and a container made from it, whose
/// record must survive whatever the hostile input does.
fn store_with_a_container(user: User) -> Option<(TestEnv, std::path::PathBuf)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    let out = env.burrow(&["create", "--name", "keeper", &img, "true"]);
    let id = out.ok().stdout.trim().to_string();
    let record = env.root().join("containers").join(&id).join("config.json");
    assert!(record.exists(), "{}", record.display());
    Some((env, record))
}

/// The store after a refused input: no new layer, no temp file, no
/// record, and the container is still there after an rmi of what the
/// input named.
fn assert_store_untouched(env: &TestEnv, layers_before: &[String], record: &Path, name: &str) {
    let mut layers = entries(env, "layers");
    layers.sort();
    assert_eq!(layers, layers_before, "the layers changed");
    let temps: Vec<String> = [entries(env, ""), entries(env, "blobs/sha256")]
        .concat()
        .into_iter()
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    let out = env.burrow(&["images", "-q"]);
    assert_eq!(out.ok().stdout.lines().count(), 1, "{}", out.stdout);
    // Not recorded, so rmi has nothing to remove; the store stays whole.
    env.burrow(&["rmi", name]).fails(1);
    assert!(record.exists(), "the container's record is gone");
    env.burrow(&["ps", "-a", "-q"]).ok();
}

fn sorted_layers(env: &TestEnv) -> Vec<String> {
    let mut l = entries(env, "layers");
    l.sort();
    l
}

#[test]
fn pull_refuses_a_diff_id_that_names_a_path() {
    let Some((env, record)) = store_with_a_container(User::Sub) else {
        return;
    };
    let before = sorted_layers(&env);
    for bad in bad_digests() {
        let img = with_config(small_image(), |c| {
            c["rootfs"]["diff_ids"] = json!([bad]);
        });
        let addr = serve(img, |_, _, _| None);
        let name = format!("{addr}/x:latest");
        let out = env.burrow(&["pull", "-q", &name]);
        out.fails(125);
        assert!(
            out.stderr.contains("bad layer diff id")
                && (out.stderr.contains("malformed digest") || out.stderr.contains("only sha256")),
            "{bad:?}:\n{}",
            out.describe()
        );
        assert_store_untouched(&env, &before, &record, &name);
    }
}

#[test]
fn pull_refuses_a_layer_or_config_digest_that_names_a_path() {
    let Some((env, record)) = store_with_a_container(User::NoSub) else {
        return;
    };
    let before = sorted_layers(&env);
    for bad in bad_digests() {
        for field in ["layers", "config"] {
            let mut img = small_image();
            let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
            match field {
                "layers" => m["layers"][0]["digest"] = json!(bad),
                _ => m["config"]["digest"] = json!(bad),
            }
            img.manifest = serde_json::to_vec(&m).unwrap();
            let addr = serve(img, |_, _, _| None);
            let name = format!("{addr}/x:latest");
            let out = env.burrow(&["pull", "-q", &name]);
            out.fails(125);
            // burrow refused these before issue #13 too; this pins it.
            assert!(
                out.stderr.contains("digest"),
                "{field} {bad:?}:\n{}",
                out.describe()
            );
            assert_store_untouched(&env, &before, &record, &name);
        }
    }
}

/// A docker-archive tar: manifest.json, the config, one layer.
fn docker_archive(config: &[u8], layer: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let manifest =
        br#"[{"Config":"config.json","RepoTags":["evil/load:1"],"Layers":["layer.tar"]}]"#;
    for (name, data) in [
        ("manifest.json", &manifest[..]),
        ("config.json", config),
        ("layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn load_refuses_a_diff_id_that_names_a_path() {
    let Some((env, record)) = store_with_a_container(User::Sub) else {
        return;
    };
    let before = sorted_layers(&env);
    let blobs_before = entries(&env, "blobs/sha256").len();
    let layer = tar_of(&[E::File("hello", b"hello world")]);
    for bad in bad_digests() {
        let config = serde_json::to_vec(&json!({
            "architecture": burrow::sys::oci_arch(), "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [bad]},
        }))
        .unwrap();
        let out = env.burrow_with(&["load"], &[], Some(&docker_archive(&config, &layer)));
        out.fails(125);
        assert!(
            out.stderr.contains("bad layer diff id"),
            "{bad:?}:\n{}",
            out.describe()
        );
        assert_store_untouched(&env, &before, &record, "evil/load:1");
        assert_eq!(
            entries(&env, "blobs/sha256").len(),
            blobs_before,
            "a blob of the refused archive stayed"
        );
    }
}

#[test]
fn a_record_from_an_older_burrow_cannot_make_rmi_delete_the_store() {
    // An older burrow recorded whatever chain id a hostile image gave.
    let Some((env, record)) = store_with_a_container(User::Sub) else {
        return;
    };
    let path = env.root().join("images.json");
    let mut images: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut evil = images["images"][0].clone();
    evil["id"] = json!(format!("sha256:{}", "e".repeat(64)));
    evil["repo_tags"] = json!(["docker.io/library/evil:1"]);
    evil["layers"][0]["chain_id"] = json!("sha256:..");
    images["images"].as_array_mut().unwrap().push(evil);
    std::fs::write(&path, serde_json::to_vec(&images).unwrap()).unwrap();
    let before = sorted_layers(&env);
    let out = env.burrow(&["rmi", "evil:1"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr
            .contains("ignoring image docker.io/library/evil:1")
            && out.stderr.contains("no such image"),
        "{}",
        out.describe()
    );
    assert!(record.exists(), "the container's record is gone");
    assert_eq!(sorted_layers(&env), before);
}

// --- Item 10: credentials only where they belong ------------------------------------------

/// A one-route HTTP server on `ip`:<free port> answering every request
/// with `body`; `seen` collects each request's lowercased header block.
fn header_recorder(ip: &str, body: &'static [u8], seen: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                headers.push_str(&h.to_ascii_lowercase());
            }
            seen.lock().unwrap().push(headers);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    addr
}

#[test]
fn credentials_are_not_sent_to_a_token_realm_on_another_host_over_http() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // 127.0.0.2 is another host as far as the registry's name goes.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let realm_host = header_recorder("127.0.0.2", br#"{"token":"anon"}"#, seen.clone());
    let addr = serve(small_image(), move |_, headers, _| {
        (!headers.contains("authorization: bearer anon")).then(|| {
            let mut r = status(401);
            r.headers.push((
                "WWW-Authenticate".into(),
                format!("Bearer realm=\"http://{realm_host}/token\",service=\"fake\""),
            ));
            r
        })
    });
    // The user has credentials for the registry ("me:pw").
    env.mkdir("home/.docker");
    let config = format!(r#"{{"auths":{{"{addr}":{{"auth":"bWU6cHc="}}}}}}"#);
    env.write("home/.docker/config.json", config.as_bytes());
    let out = env.burrow(&["pull", "-q", &format!("{addr}/x:latest")]);
    out.ok();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the token server was never asked");
    for h in seen.iter() {
        assert!(
            !h.contains("authorization:"),
            "the token server on another host got credentials:\n{h}"
        );
    }
    assert!(
        out.stderr.contains("not sending the credentials"),
        "{}",
        out.describe()
    );
}
