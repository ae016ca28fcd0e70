//! The registry side of pulls: auth flows, platforms, compressions, and
//! hostile input: layers that try to escape (built here, pushed to the real
//! registry with skopeo), and a fake registry that lies, truncates, refuses
//! and fails. Each failure must end in one clear line, a non-zero exit,
//! nothing written outside the store and nothing half-made inside it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::images::entries;
use crate::common::*;

pub(crate) fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar entry, written byte by byte: the tar crate refuses hostile names.
pub(crate) enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

pub(crate) fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (kind, name, link, data): (_, &str, &str, &[u8]) = match e {
            E::File(n, d) => (tar::EntryType::Regular, n, "", d),
            E::Dir(n) => (tar::EntryType::Directory, n, "", b""),
            E::Sym(n, l) => (tar::EntryType::Symlink, n, l, b""),
            E::Hard(n, l) => (tar::EntryType::Link, n, l, b""),
        };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// The blobs of a one-platform image: (manifest, config, layers).
pub(crate) struct Image {
    pub(crate) manifest: Vec<u8>,
    pub(crate) config: Vec<u8>,
    pub(crate) layers: Vec<Vec<u8>>,
}

pub(crate) fn image_of(layer_tars: &[Vec<u8>]) -> Image {
    let layers: Vec<Vec<u8>> = layer_tars.iter().map(|t| gzip(t)).collect();
    let diff_ids: Vec<String> = layer_tars.iter().map(|t| sha(t)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": burrow::sys::oci_arch(), "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(&config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha(l), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    Image {
        manifest,
        config,
        layers,
    }
}

/// Write an OCI layout with the image under tag "latest".
fn write_layout(dir: &Path, img: &Image) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in [&img.manifest, &img.config]
        .into_iter()
        .chain(img.layers.iter())
    {
        std::fs::write(blobs.join(&sha(b)[7..]), b).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(&img.manifest), "size": img.manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Nothing half-made: no layer dirs, no temp files, no image records.
pub(crate) fn assert_store_clean(env: &TestEnv) {
    let layers = entries(env, "layers");
    assert!(layers.is_empty(), "layers left: {layers:?}");
    let temps = temp_files(env);
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    let out = env.burrow(&["images", "-q"]);
    assert_eq!(out.ok().stdout, "", "an image record was written");
}

/// A request's header lines, lower-cased, up to the blank line.
pub(crate) fn read_headers(reader: &mut impl BufRead) -> String {
    let mut headers = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            return headers;
        }
        headers.push_str(&h.to_ascii_lowercase());
    }
}

/// Temp files and dirs anywhere a pull or load writes (half-made parts).
pub(crate) fn temp_files(env: &TestEnv) -> Vec<String> {
    [
        entries(env, ""),
        entries(env, "blobs/sha256"),
        entries(env, "layers"),
    ]
    .concat()
    .into_iter()
    .filter(|n| n.starts_with(".tmp-"))
    .collect()
}

/// `{out}` in a layer's names and link targets: the absolute path (less
/// its leading `/`) of a dir owned by the test user, which an escaped
/// write could really reach; `{up}`: enough `..` to climb to `/` from
/// wherever the layer is unpacked. So each escape aims at the dir checked.
fn aim(layer: &[E], out: &str) -> Vec<u8> {
    let fill = |s: &str| {
        let t = s.replace("{up}", &"../".repeat(16)).replace("{out}", out);
        assert!(t.len() <= 100, "tar name too long: {t}");
        t
    };
    let owned: Vec<(String, String)> = layer
        .iter()
        .map(|e| match e {
            E::File(n, _) | E::Dir(n) => (fill(n), String::new()),
            E::Sym(n, l) | E::Hard(n, l) => (fill(n), fill(l)),
        })
        .collect();
    let aimed: Vec<E> = layer
        .iter()
        .zip(&owned)
        .map(|(e, (n, l))| match e {
            E::File(_, d) => E::File(n, d),
            E::Dir(_) => E::Dir(n),
            E::Sym(..) => E::Sym(n, l),
            E::Hard(..) => E::Hard(n, l),
        })
        .collect();
    tar_of(&aimed)
}

fn pull_hostile_layer(name: &str, layer: &[E], want: &str) {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let reg = registry();
    // The dir the layer aims at, owned by the test user, with one file
    // (the hardlink test's target).
    let outside = env.mkdir("outside");
    let secret = env.write("outside/secret", b"host data");
    let layout = env.dir().join("layout");
    let out_rel = outside.to_str().unwrap().trim_start_matches('/');
    write_layout(&layout, &image_of(&[aim(layer, out_rel)]));
    reg.push_layout(&layout, "latest", &format!("hostile/{name}:latest"));
    let img = format!("{}/hostile/{name}:latest", reg.addr());
    let out = env.burrow(&["pull", "-q", &img]);
    // The real effect first: nothing was written or linked outside.
    let mut found: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, ["secret"], "wrote outside:\n{}", out.describe());
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&secret).unwrap();
    assert_eq!(
        meta.nlink(),
        1,
        "linked to a host file:\n{}",
        out.describe()
    );
    assert_eq!(std::fs::read(&secret).unwrap(), b"host data");
    out.fails(125);
    assert!(out.stderr.contains(want), "{}", out.describe());
    assert_store_clean(&env);
}

#[test]
fn layer_with_dot_dot_is_refused() {
    pull_hostile_layer("dotdot", &[E::File("{up}{out}/pwned", b"x")], "'..'");
}

#[test]
fn layer_writing_through_a_symlink_is_refused() {
    pull_hostile_layer(
        "symlink",
        &[E::Sym("link", "/{out}"), E::File("link/pwned", b"x")],
        "symlink",
    );
}

#[test]
fn layer_hardlinking_out_is_refused() {
    pull_hostile_layer(
        "hardlink",
        &[E::Hard("stolen", "/{out}/secret")],
        "not in the layer",
    );
}

#[test]
fn layer_replacing_a_dir_by_a_symlink_then_writing_is_refused() {
    pull_hostile_layer(
        "swap",
        &[
            E::Dir("etc/"),
            E::Sym("etc", "/{out}"),
            E::File("etc/pwned", b"x"),
        ],
        "symlink",
    );
}

// --- A fake registry --------------------------------------------------------------------

pub(crate) struct Reply {
    status: u16,
    pub(crate) headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes, then close.
    cut: Option<usize>,
}

pub(crate) fn ok(body: &[u8], content_type: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.to_vec(),
        cut: None,
    }
}

pub(crate) fn status(code: u16) -> Reply {
    Reply {
        status: code,
        headers: vec![],
        body: br#"{"errors":[]}"#.to_vec(),
        cut: None,
    }
}

/// Called with the path and the request headers (lowercased).
pub(crate) type Handler = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

/// Serve `handler` on 127.0.0.1:<free port> until the test process ends.
pub(crate) fn fake_registry(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let headers = read_headers(&mut reader);
                let r = handler(&path, &headers);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let n = r.cut.unwrap_or(r.body.len());
                let _ = stream.write_all(&r.body[..n]);
            });
        }
    });
    addr
}

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A registry serving `img` as repo "x", with `tweak` deciding replies
/// first (None: the honest answer).
pub(crate) fn serve(
    img: Image,
    tweak: impl Fn(&str, &str, &Image) -> Option<Reply> + Send + Sync + 'static,
) -> String {
    let img = Arc::new(img);
    fake_registry(Arc::new(move |path: &str, headers: &str| {
        if let Some(r) = tweak(path, headers, &img) {
            return r;
        }
        if path == "/v2/" {
            return ok(b"{}", "application/json");
        }
        if path.starts_with("/v2/x/manifests/") {
            return ok(&img.manifest, OCI_MANIFEST);
        }
        if let Some(d) = path.strip_prefix("/v2/x/blobs/") {
            for b in [&img.config].into_iter().chain(img.layers.iter()) {
                if sha(b) == d {
                    return ok(b, "application/octet-stream");
                }
            }
        }
        status(404)
    }))
}

pub(crate) fn small_image() -> Image {
    image_of(&[tar_of(&[E::File("hello", b"hello world")])])
}

pub(crate) fn pull_fails(addr: &str, reference: &str, want: &str) {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let out = env.burrow(&["pull", "-q", &format!("{addr}/{reference}")]);
    out.fails(125);
    assert!(
        out.stderr.contains(want),
        "want {want:?}:\n{}",
        out.describe()
    );
    assert_store_clean(&env);
}

#[test]
fn fake_registry_serves_an_honest_pull() {
    // The control: without tweaks the fake registry works, so the
    // failures below are the tweaks' doing.
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let addr = serve(small_image(), |_, _, _| None);
    env.burrow(&["pull", "-q", &format!("{addr}/x:latest")])
        .ok();
}

#[test]
fn manifest_whose_digest_lies() {
    let img = small_image();
    let wrong = sha(b"not the manifest");
    let addr = serve(img, |_, _, _| None);
    pull_fails(&addr, &format!("x@{wrong}"), "not the");
}

#[test]
fn index_entry_whose_digest_lies() {
    let img = small_image();
    let liar = sha(b"something else");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": liar, "size": 10,
            "platform": {"architecture": burrow::sys::oci_arch(), "os": "linux"}}]}))
    .unwrap();
    let addr = serve(img, move |path, _, _| {
        path.ends_with("/manifests/latest")
            .then(|| ok(&index, "application/vnd.oci.image.index.v1+json"))
    });
    pull_fails(&addr, "x:latest", "the index lists");
}

#[test]
fn truncated_blob() {
    let img = small_image();
    let layer = sha(&img.layers[0]);
    let half = img.layers[0].len() / 2;
    let addr = serve(img, move |path, _, img| {
        path.ends_with(&layer).then(|| {
            let mut r = ok(&img.layers[0], "application/octet-stream");
            r.cut = Some(img.layers[0].len() / 2);
            r
        })
    });
    // The truncation itself, not just any error about the layer.
    let want = format!("download interrupted after {} bytes", half);
    pull_fails(&addr, "x:latest", &want);
}

#[test]
fn blob_with_wrong_content() {
    let img = small_image();
    let layer = sha(&img.layers[0]);
    let addr = serve(img, move |path, _, img| {
        path.ends_with(&layer).then(|| {
            let mut bad = img.layers[0].clone();
            let last = bad.len() - 1;
            bad[last] ^= 0xff;
            ok(&bad, "application/octet-stream")
        })
    });
    pull_fails(&addr, "x:latest", "does not match its digest");
}

#[test]
fn unknown_media_types() {
    let addr = serve(small_image(), |path, _, _| {
        path.contains("/manifests/").then(|| {
            ok(
                br#"{"schemaVersion":2,"mediaType":"application/x-evil"}"#,
                "application/x-evil",
            )
        })
    });
    pull_fails(&addr, "x:latest", "unsupported manifest media type");
    let mut img = small_image();
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["layers"][0]["mediaType"] = json!("application/x-evil-layer");
    img.manifest = serde_json::to_vec(&m).unwrap();
    let addr = serve(img, |_, _, _| None);
    pull_fails(&addr, "x:latest", "unsupported layer media type");
}

#[test]
fn registry_errors_are_one_line() {
    let addr = serve(small_image(), |_, _, _| Some(status(404)));
    pull_fails(&addr, "x:nope", "manifest unknown");
    let addr = serve(small_image(), |_, _, _| Some(status(500)));
    pull_fails(&addr, "x:latest", "HTTP 500");
    // 401 without a challenge we can answer.
    let addr = serve(small_image(), |_, _, _| Some(status(401)));
    pull_fails(&addr, "x:latest", "access denied (HTTP 401");
    // A bearer challenge whose token endpoint refuses us.
    let addr_holder: Arc<std::sync::OnceLock<String>> = Arc::new(std::sync::OnceLock::new());
    let h = addr_holder.clone();
    let addr = serve(small_image(), move |path, _, _| {
        if path.starts_with("/token") {
            return Some(status(401));
        }
        let mut r = status(401);
        let realm = format!("http://{}/token", h.get().cloned().unwrap_or_default());
        r.headers.push((
            "WWW-Authenticate".into(),
            format!("Bearer realm=\"{realm}\",service=\"fake\""),
        ));
        Some(r)
    });
    addr_holder.set(addr.clone()).unwrap();
    pull_fails(&addr, "x:latest", "refused a token");
}

#[test]
fn bearer_token_flow_works() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let holder: Arc<std::sync::OnceLock<String>> = Arc::new(std::sync::OnceLock::new());
    let h = holder.clone();
    let addr = serve(small_image(), move |path, headers, _| {
        if path.starts_with("/token") {
            assert!(path.contains("scope=repository%3Ax%3Apull"), "{path}");
            return Some(ok(br#"{"token":"t0k3n"}"#, "application/json"));
        }
        // Everything else needs the token.
        (!headers.contains("authorization: bearer t0k3n")).then(|| {
            let mut r = status(401);
            r.headers.push((
                "WWW-Authenticate".into(),
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"fake\"",
                    h.get().unwrap()
                ),
            ));
            r
        })
    });
    holder.set(addr.clone()).unwrap();
    env.burrow(&["pull", "-q", &format!("{addr}/x:latest")])
        .ok();
}

#[test]
fn basic_auth_from_the_docker_config() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // "me:pw" in base64.
    let addr = serve(small_image(), move |_, headers, _| {
        (!headers.contains("authorization: basic bwu6chc=")).then(|| {
            let mut r = status(401);
            r.headers
                .push(("WWW-Authenticate".into(), "Basic realm=\"fake\"".into()));
            r
        })
    });
    let img = format!("{addr}/x:latest");
    let out = env.burrow(&["pull", "-q", &img]);
    out.fails(125);
    assert!(out.stderr.contains("no credentials"), "{}", out.describe());
    env.mkdir("home/.docker");
    let config = format!(r#"{{"auths":{{"{addr}":{{"auth":"bWU6cHc="}}}}}}"#);
    env.write("home/.docker/config.json", config.as_bytes());
    env.burrow(&["pull", "-q", &img]).ok();
}

#[test]
fn login_checks_saves_and_logout_removes() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    // Docker Hub's flow: a bearer challenge, and the token endpoint wants
    // basic credentials ("me:pw").
    let holder: Arc<std::sync::OnceLock<String>> = Arc::new(std::sync::OnceLock::new());
    let h = holder.clone();
    let addr = serve(small_image(), move |path, headers, _| {
        if path.starts_with("/token") {
            return Some(if headers.contains("authorization: basic bwu6chc=") {
                ok(br#"{"access_token":"good"}"#, "application/json")
            } else {
                status(401)
            });
        }
        (!headers.contains("authorization: bearer good")).then(|| {
            let mut r = status(401);
            r.headers.push((
                "WWW-Authenticate".into(),
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"fake\"",
                    h.get().unwrap()
                ),
            ));
            r
        })
    });
    holder.set(addr.clone()).unwrap();
    let img = format!("{addr}/x:latest");
    let login = |pw: &str| {
        env.burrow_with(
            &["login", "-u", "me", "--password-stdin", &addr],
            &[],
            Some(pw.as_bytes()),
        )
    };
    let out = login("wrong\n");
    out.fails(125);
    assert!(out.stderr.contains("login refused"), "{}", out.describe());
    env.burrow(&["pull", "-q", &img]).fails(125);
    let out = login("pw\n");
    assert_eq!(out.ok().stdout.trim(), "Login Succeeded");
    let config = env.dir().join("home/.docker/config.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    env.burrow(&["pull", "-q", &img]).ok();
    env.burrow(&["rmi", &img]).ok();
    env.burrow(&["logout", &addr]).ok();
    assert!(!std::fs::read_to_string(&config).unwrap().contains(&addr));
    env.burrow(&["pull", "-q", &img]).fails(125);
    env.burrow(&["logout", &addr]).fails(125);
}

/// An index with two platforms, each image's config naming its own.
fn two_platform_index() -> (Vec<u8>, Vec<Image>) {
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for (arch, tag) in [("amd64", "A"), ("arm64", "B")] {
        let tar = tar_of(&[E::File("which", tag.as_bytes())]);
        let mut img = image_of(&[tar]);
        let mut c: Value = serde_json::from_slice(&img.config).unwrap();
        c["architecture"] = json!(arch);
        img.config = serde_json::to_vec(&c).unwrap();
        let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
        m["config"]["digest"] = json!(sha(&img.config));
        m["config"]["size"] = json!(img.config.len());
        img.manifest = serde_json::to_vec(&m).unwrap();
        entries.push(
            json!({"mediaType": OCI_MANIFEST, "digest": sha(&img.manifest),
            "size": img.manifest.len(), "platform": {"architecture": arch, "os": "linux"}}),
        );
        images.push(img);
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries});
    (serde_json::to_vec(&index).unwrap(), images)
}

#[test]
fn platform_is_picked_from_an_index() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let (index, images) = two_platform_index();
    let images = Arc::new(images);
    let imgs = images.clone();
    let addr = fake_registry(Arc::new(move |path: &str, _: &str| {
        if path == "/v2/x/manifests/latest" {
            return ok(&index, "application/vnd.oci.image.index.v1+json");
        }
        for img in imgs.iter() {
            let blobs = [&img.manifest, &img.config]
                .into_iter()
                .chain(img.layers.iter());
            for b in blobs {
                if path.ends_with(&sha(b)) {
                    return ok(b, "application/octet-stream");
                }
            }
        }
        status(404)
    }));
    let img = format!("{addr}/x:latest");
    let host = burrow::sys::oci_arch();
    env.burrow(&["pull", "-q", &img]).ok();
    let v = super::images::inspect(&env, &img);
    assert_eq!(v["Architecture"], host);
    let other = if host == "amd64" { "arm64" } else { "amd64" };
    env.burrow(&["pull", "-q", "--platform", &format!("linux/{other}"), &img])
        .ok();
    let v = super::images::inspect(&env, &img);
    assert_eq!(v["Architecture"], other);
    let out = env.burrow(&["pull", "-q", "--platform", "linux/s390x", &img]);
    out.fails(125);
    assert!(
        out.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        out.describe()
    );
}

#[test]
fn zstd_and_plain_layers() {
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let plain = tar_of(&[E::File("plain", b"p")]);
    let zst_tar = tar_of(&[E::File("zstd", b"z")]);
    let mut img = image_of(&[plain.clone(), zst_tar.clone()]);
    img.layers = vec![plain, zstd::encode_all(&zst_tar[..], 3).unwrap()];
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    let types = [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    ];
    for (i, l) in img.layers.iter().enumerate() {
        m["layers"][i] = json!({"mediaType": types[i], "digest": sha(l), "size": l.len()});
    }
    img.manifest = serde_json::to_vec(&m).unwrap();
    let addr = serve(img, |_, _, _| None);
    let name = format!("{addr}/x:latest");
    env.burrow(&["pull", "-q", &name]).ok();
    let v = super::images::inspect(&env, &name);
    let lower = v["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    let dirs: Vec<&str> = lower.split(':').collect();
    assert_eq!(
        std::fs::read(Path::new(dirs[0]).join("zstd")).unwrap(),
        b"z"
    );
    assert_eq!(
        std::fs::read(Path::new(dirs[1]).join("plain")).unwrap(),
        b"p"
    );
}

#[test]
fn mirrors_are_tried_in_order_before_the_registry() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let broken = serve(small_image(), |_, _, _| Some(status(500)));
    let good = serve(small_image(), |_, _, _| None);
    env.mkdir("home/.config/burrow");
    // The registry itself does not exist: only the mirrors can answer.
    let conf = format!(r#"{{"mirrors": {{"registry.invalid": ["{broken}", "{good}"]}}}}"#);
    env.write("home/.config/burrow/registries.json", conf.as_bytes());
    let out = env.burrow(&["pull", "-q", "registry.invalid/x:latest"]);
    out.ok();
    assert!(
        out.stderr.contains(&format!("mirror {broken} failed")),
        "{}",
        out.describe()
    );
    let v = super::images::inspect(&env, "registry.invalid/x:latest");
    assert_eq!(v["RepoTags"][0], "registry.invalid/x:latest");
    // A typo in the file is an error, not a silent pull from elsewhere.
    env.write("home/.config/burrow/registries.json", br#"{"mirror": {}}"#);
    let out = env.burrow(&["pull", "-q", "registry.invalid/x:latest"]);
    out.fails(125);
    assert!(
        out.stderr.contains("registries.json is not valid"),
        "{}",
        out.describe()
    );
}
