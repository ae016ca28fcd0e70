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
    assert_store_clean, gzip, image_of, read_headers, serve, sha, small_image, status, tar_of,
    temp_files, Image, E, OCI_MANIFEST,
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
    let temps = temp_files(env);
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
            let headers = read_headers(&mut reader);
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

// --- Item 9: registries that send too slowly or too much -----------------------------------

/// How a raw reply's body goes out.
enum Body {
    /// All at once.
    Bytes(Vec<u8>),
    /// `fast` bytes at once, then one byte per `gap`.
    Trickle {
        data: Vec<u8>,
        fast: usize,
        gap: Duration,
    },
    /// `n` zero bytes, as fast as the client takes them.
    Zeros(u64),
    /// The first half, then nothing for a minute.
    Silent(Vec<u8>),
    /// The head (padded to 2 KiB) one byte per `gap`, then the body.
    SlowHead { data: Vec<u8>, gap: Duration },
}

/// A registry serving `img` as repo "x" whose replies `tweak` may replace;
/// every request path is logged in `log`.
fn raw_registry(
    img: Image,
    log: Arc<Mutex<Vec<String>>>,
    tweak: impl Fn(&str, &Image) -> Option<(u64, Body)> + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let img = Arc::new(img);
    let tweak = Arc::new(tweak);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (img, tweak, log) = (img.clone(), tweak.clone(), log.clone());
            std::thread::spawn(move || answer(stream, &img, &*tweak, &log));
        }
    });
    addr
}

/// Decides a reply: its Content-Length and body, or None for the honest one.
type Tweak = dyn Fn(&str, &Image) -> Option<(u64, Body)>;

fn answer(mut stream: TcpStream, img: &Image, tweak: &Tweak, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    read_headers(&mut reader);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(path.clone());
    let honest = |body: &[u8]| Some((body.len() as u64, Body::Bytes(body.to_vec())));
    let reply = tweak(&path, img).or_else(|| {
        if path == "/v2/" {
            return honest(b"{}");
        }
        if path.starts_with("/v2/x/manifests/") {
            return honest(&img.manifest);
        }
        [&img.config]
            .into_iter()
            .chain(img.layers.iter())
            .find(|b| path.ends_with(&sha(b)))
            .and_then(|b| honest(b))
    });
    let Some((length, body)) = reply else {
        let _ =
            stream.write_all(b"HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {length}\r\nConnection: close\r\n"
    );
    if let Body::SlowHead { gap, .. } = &body {
        head.push_str(&format!("X-Pad: {}\r\n\r\n", "p".repeat(2048)));
        for b in head.as_bytes() {
            std::thread::sleep(*gap);
            if stream.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
        }
    } else {
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
    match body {
        Body::Bytes(b) => {
            let _ = stream.write_all(&b);
        }
        Body::Trickle { data, fast, gap } => {
            if stream.write_all(&data[..fast]).is_err() {
                return;
            }
            for b in &data[fast..] {
                std::thread::sleep(gap);
                if stream.write_all(std::slice::from_ref(b)).is_err() {
                    return;
                }
            }
        }
        Body::Silent(data) => {
            let _ = stream.write_all(&data[..data.len() / 2]);
            std::thread::sleep(Duration::from_secs(60));
        }
        Body::SlowHead { data, .. } => {
            let _ = stream.write_all(&data);
        }
        Body::Zeros(n) => {
            let chunk = vec![0u8; 64 << 10];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..k]).is_err() {
                    return;
                }
                left -= k as u64;
            }
        }
    }
}

/// The full length of what a reply's body holds.
fn img_len(body: &Body) -> u64 {
    match body {
        Body::Bytes(d)
        | Body::Silent(d)
        | Body::Trickle { data: d, .. }
        | Body::SlowHead { data: d, .. } => d.len() as u64,
        Body::Zeros(n) => *n,
    }
}

/// Bytes that gzip cannot shrink, so a layer is as big on the wire as on disk.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An image whose one layer is 64 KiB of noise.
fn big_layer_image() -> Image {
    image_of(&[tar_of(&[E::File("noise", &noise(64 << 10))])])
}

/// A burrow started as the test user, to be waited for with a limit.
fn spawn_burrow(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = env.command(burrow_bin(), vars);
    cmd.arg("--root")
        .arg(env.root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

/// Wait at most `limit`; a burrow still running then is killed and the
/// test fails (the old code would have run on for hours).
fn finish(mut child: std::process::Child, args: &[&str], limit: Duration) -> Outcome {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("burrow {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Outcome {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_trickling_registry_is_cut_off_by_the_minimum_rate() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // The config trickles (read on the main thread), then a layer (read on
    // a worker): one byte every 100 ms after the first few hundred. Then a
    // layer stops half-way, and one whose headers trickle.
    let padded = |img: Image| with_config(img, |c| c["padding"] = json!("p".repeat(20 << 10)));
    let cases = [
        (
            "config",
            "body",
            "1000",
            "slower than the minimum 1000 bytes/s",
        ),
        (
            "layer",
            "body",
            "1000",
            "slower than the minimum 1000 bytes/s",
        ),
        (
            "layer",
            "silent",
            "1000",
            "the registry sent nothing for 2s",
        ),
        // A high rate, so the request's deadline is 3 s (2 s and 128 KiB
        // at 100 kB/s).
        ("layer", "headers", "100000", "answered too slowly"),
    ];
    for (what, how, rate, want) in cases {
        let img = padded(big_layer_image());
        let target = match what {
            "config" => sha(&img.config),
            _ => sha(&img.layers[0]),
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = raw_registry(img, log, move |path, img| {
            let data = [&img.config]
                .into_iter()
                .chain(img.layers.iter())
                .find(|b| sha(b) == target)?;
            path.ends_with(&target).then(|| {
                let gap = Duration::from_millis(100);
                let data = data.clone();
                let body = match how {
                    "body" => Body::Trickle {
                        data,
                        fast: 300,
                        gap,
                    },
                    "silent" => Body::Silent(data),
                    _ => Body::SlowHead { data, gap },
                };
                (img_len(&body), body)
            })
        });
        let name = format!("{addr}/x:latest");
        let args = ["pull", "-q", name.as_str()];
        let vars = [
            ("BURROW_PULL_MIN_RATE", rate),
            ("BURROW_PULL_RATE_WINDOW", "2"),
        ];
        let started = Instant::now();
        let out = finish(
            spawn_burrow(&env, &args, &vars),
            &args,
            Duration::from_secs(40),
        );
        out.fails(125);
        assert!(
            out.stderr.contains(want),
            "{what} {how}:\n{}",
            out.describe()
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what} {how}: took {:?}",
            started.elapsed()
        );
        assert_store_clean(&env);
    }
}

#[test]
fn manifests_over_4_mib_are_refused() {
    // An index entry that declares more than 4 MiB: refused before the
    // manifest is fetched.
    let img = small_image();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(&img.manifest), "size": 5 << 20,
            "platform": {"architecture": burrow::sys::oci_arch(), "os": "linux"}}]}))
    .unwrap();
    let manifest_digest = sha(&img.manifest);
    let log = Arc::new(Mutex::new(Vec::new()));
    let addr = raw_registry(img, log.clone(), move |path, _| {
        path.ends_with("/manifests/latest")
            .then(|| (index.len() as u64, Body::Bytes(index.clone())))
    });
    super::images_registry::pull_fails(
        &addr,
        "x:latest",
        "more than the 4194304 a manifest may have",
    );
    let asked: Vec<String> = log.lock().unwrap().clone();
    assert!(
        !asked.iter().any(|p| p.ends_with(&manifest_digest)),
        "the oversized manifest was fetched: {asked:?}"
    );
    // A manifest body over 4 MiB (refused before #13 too; pinned here).
    let mut img = small_image();
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["annotations"] = json!({"pad": "p".repeat(5 << 20)});
    img.manifest = serde_json::to_vec(&m).unwrap();
    let addr = raw_registry(img, Arc::new(Mutex::new(Vec::new())), |_, _| None);
    super::images_registry::pull_fails(&addr, "x:latest", "larger than 4194304 bytes");
}

#[test]
fn a_config_claiming_a_terabyte_is_refused_before_download() {
    let mut img = small_image();
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["config"]["size"] = json!(1u64 << 40);
    img.manifest = serde_json::to_vec(&m).unwrap();
    let config = sha(&img.config);
    let log = Arc::new(Mutex::new(Vec::new()));
    // Were it asked, it would send 64 MiB of zeros (bounded, for the old code).
    let c = config.clone();
    let addr = raw_registry(img, log.clone(), move |path, _| {
        path.ends_with(&c)
            .then_some((1u64 << 40, Body::Zeros(64 << 20)))
    });
    super::images_registry::pull_fails(
        &addr,
        "x:latest",
        "more than the 4194304 a config may have",
    );
    let asked: Vec<String> = log.lock().unwrap().clone();
    assert!(
        !asked.iter().any(|p| p.ends_with(&config)),
        "the config was fetched: {asked:?}"
    );
}

#[test]
fn a_layer_bigger_than_the_free_space_is_refused_before_download() {
    let mut img = small_image();
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["layers"][0]["size"] = json!(1u64 << 60);
    img.manifest = serde_json::to_vec(&m).unwrap();
    let layer = sha(&img.layers[0]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = layer.clone();
    let addr = raw_registry(img, log.clone(), move |path, _| {
        path.ends_with(&l)
            .then_some((1u64 << 60, Body::Zeros(64 << 20)))
    });
    super::images_registry::pull_fails(&addr, "x:latest", "bytes free on the store's file system");
    let asked: Vec<String> = log.lock().unwrap().clone();
    assert!(
        !asked.iter().any(|p| p.ends_with(&layer)),
        "the layer was fetched: {asked:?}"
    );
}

/// A gzip'd tar holding one file of `n` zero bytes: tiny on the wire.
fn bomb_tar(n: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(n as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "zeros", std::io::repeat(0).take(n as u64))
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn a_gzip_bomb_stops_at_the_layer_cap() {
    let tar = bomb_tar(64 << 20);
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let vars = [("BURROW_MAX_LAYER_SIZE", "10000000")];
        let img = image_of(std::slice::from_ref(&tar));
        assert!(img.layers[0].len() < 1 << 20);
        let addr = serve(img, |_, _, _| None);
        let out = env.burrow_with(&["pull", "-q", &format!("{addr}/x:latest")], &vars, None);
        out.fails(125);
        assert!(
            out.stderr.contains("expands to more than 10000000 bytes"),
            "{user:?}:\n{}",
            out.describe()
        );
        assert_store_clean(&env);
        // The same through import.
        let file = env.write("bomb.tar.gz", &gzip(&tar));
        let out = env.burrow_with(&["import", file.to_str().unwrap(), "bomb:1"], &vars, None);
        out.fails(125);
        assert!(
            out.stderr.contains("expands to more than 10000000 bytes"),
            "{user:?}:\n{}",
            out.describe()
        );
        assert_store_clean(&env);
        let blobs = entries(&env, "blobs/sha256");
        assert!(blobs.is_empty(), "the bomb's blob stayed: {blobs:?}");
    }
}

#[test]
fn sigint_during_a_slow_download_leaves_no_temp_file() {
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    for (user, what, signal) in [
        (User::Sub, "layer", SIGINT),
        (User::NoSub, "layer", SIGINT),
        (User::NoSub, "config", SIGINT),
        (User::NoSub, "layer", SIGTERM),
    ] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let img = with_config(big_layer_image(), |c| {
            c["padding"] = json!("p".repeat(20 << 10))
        });
        let target = match what {
            "config" => sha(&img.config),
            _ => sha(&img.layers[0]),
        };
        let addr = raw_registry(img, Arc::new(Mutex::new(Vec::new())), move |path, img| {
            let data = [&img.config]
                .into_iter()
                .chain(img.layers.iter())
                .find(|b| sha(b) == target)?;
            path.ends_with(&target).then(|| {
                let body = Body::Trickle {
                    data: data.clone(),
                    fast: data.len() / 2,
                    gap: Duration::from_millis(200),
                };
                (data.len() as u64, body)
            })
        });
        let name = format!("{addr}/x:latest");
        let args = ["pull", "-q", name.as_str()];
        let child = spawn_burrow(&env, &args, &[]);
        // Wait for the download's temp file, then Ctrl-C.
        let started = Instant::now();
        while !temp_files(&env).iter().any(|_| true) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no temp file appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let out = finish(child, &args, Duration::from_secs(20));
        assert_eq!(
            temp_files(&env),
            Vec::<String>::new(),
            "{user:?} {what}: temp files left"
        );
        assert!(
            entries(&env, "layers").is_empty(),
            "{user:?} {what}: a layer dir was left"
        );
        out.fails(128 + signal as i32);
        assert!(out.stderr.contains("interrupted"), "{}", out.describe());
    }
}

#[test]
fn sigint_during_a_load_from_a_stalled_pipe_leaves_no_temp_file() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let layer = tar_of(&[E::File("noise", &noise(256 << 10))]);
    let config = serde_json::to_vec(&json!({
        "architecture": burrow::sys::oci_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]},
    }))
    .unwrap();
    let archive = docker_archive(&config, &layer);
    let args = ["load"];
    let mut cmd = env.command(burrow_bin(), &[]);
    cmd.arg("--root")
        .arg(env.root())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Half the archive, then the pipe stays open and silent.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&archive[..archive.len() / 2]).unwrap();
    let started = Instant::now();
    while temp_files(&env).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no temp dir appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = finish(child, &args, Duration::from_secs(20));
    drop(stdin);
    assert_eq!(temp_files(&env), Vec::<String>::new(), "temp files left");
    out.fails(130);
    assert!(entries(&env, "blobs/sha256").is_empty());
}
