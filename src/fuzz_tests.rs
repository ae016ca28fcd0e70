//! Fuzz targets for every parser that reads outside input: image
//! references, manifests, image configs, layer tars, docker-archive
//! `manifest.json`, `--env-file`, `-v`/`--mount`/`--tmpfs`, `-u`,
//! seccomp and Landlock profiles, the registry's auth challenge, docker's
//! config.json, burrow.toml, Dockerfiles and .dockerignore files.
//!
//! They are proptest properties, so they run in `cargo test` on stable
//! Rust (cargo-fuzz needs nightly) for a bounded number of cases
//! (`PROPTEST_CASES`, default 256; each target takes a few seconds in a
//! debug build). Each target first replays its corpus,
//! `tests/fuzz/corpus/<target>/*` (real inputs, and every input that once
//! broke a parser), then feeds random bytes and corpus files mutated by
//! byte flips, insertions of syntax bytes, deletions, truncations and
//! splices. The properties: no panic, and an error is one line (the user
//! sees `burrow: <error>`; input quoted in it must be escaped).

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/corpus");

/// The corpus of `target`, in name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(CORPUS).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "empty corpus {}", dir.display());
    seeds
}

/// Bytes that mean something to one parser or another.
const SYNTAX: &[u8] = b":,=/@.\"\\{}[]\n\r\0 #-+0123456789\xff";

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// Copy a run of the input to another place.
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let syntax = proptest::sample::select(SYNTAX);
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), syntax.clone()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>(), 1..64usize)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn mutate(mut data: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let len = data.len();
        let at = |p: usize| if len == 0 { 0 } else { p % len };
        match *m {
            Mutation::Flip(p, b) if len > 0 => data[at(p)] ^= b,
            Mutation::Insert(p, b) => data.insert(if len == 0 { 0 } else { p % (len + 1) }, b),
            Mutation::Remove(p) if len > 0 => {
                data.remove(at(p));
            }
            Mutation::Truncate(p) => data.truncate(if len == 0 { 0 } else { p % (len + 1) }),
            Mutation::Splice(from, to, n) if len > 0 => {
                let from = at(from);
                let run: Vec<u8> = data[from..(from + n).min(len)].to_vec();
                let to = at(to);
                data.splice(to..to, run);
            }
            _ => {}
        }
    }
    data
}

/// A target's inputs: random bytes, or a corpus file with a few mutations.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        4 => (0..n, proptest::collection::vec(mutation(), 1..8))
            .prop_map(move |(i, ms)| mutate(seeds[i].clone(), &ms)),
    ]
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // A failure is printed (shrunk); the input goes to the corpus by
        // hand, not to a regressions file next to the source.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Replay the corpus of `target`, then fuzz `check` with it.
fn fuzz(target: &str, check: impl Fn(&[u8])) {
    fuzz_with(target, config(), check)
}

fn fuzz_with(target: &str, config: Config, check: impl Fn(&[u8])) {
    let seeds = corpus(target);
    for s in &seeds {
        check(s);
    }
    let mut runner = TestRunner::new(config);
    runner
        .run(&inputs(seeds), |input| {
            check(&input);
            Ok(())
        })
        .unwrap_or_else(|e| failed(target, e));
}

/// Say what failed and on which (shrunk) input, to add to the corpus.
fn failed(target: &str, e: proptest::test_runner::TestError<Vec<u8>>) -> ! {
    match e {
        proptest::test_runner::TestError::Fail(why, input) => panic!(
            "fuzz target {target}: {why}; minimal input: {:?}",
            text(&input)
        ),
        other => panic!("fuzz target {target}: {other}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The error as the user sees it (main prints `burrow: ` and this) is one
/// line of printable text, and says something. serde's "unknown field"
/// errors quote the input's decoded strings, newlines and escapes
/// included (a corpus entry, landlock/unknown-field-newline.json), so
/// the printer's escaping is what keeps this true.
#[track_caller]
fn one_line(e: impl Display) {
    let shown = crate::error::one_line(&anyhow::anyhow!("{e:#}"));
    assert!(!shown.trim().is_empty(), "an empty error");
    assert!(
        !shown.chars().any(char::is_control),
        "error is not one printable line: {shown:?}"
    );
}

fn check<T, E: Display>(r: Result<T, E>) -> Option<T> {
    r.map_err(one_line).ok()
}

#[test]
fn fuzz_reference() {
    use crate::reference::Reference;
    fuzz("reference", |b| {
        let s = text(b);
        let Some(r) = check(Reference::parse(&s)) else {
            return;
        };
        // What we print parses back to the same reference.
        let printed = r.to_string();
        let again = Reference::parse(&printed)
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(again, r, "{s:?} -> {printed:?}");
    });
}

#[test]
fn fuzz_manifest() {
    use crate::registry::manifest::{self, Platform};
    let types = [
        manifest::OCI_MANIFEST,
        manifest::OCI_INDEX,
        manifest::DOCKER_MANIFEST,
        manifest::DOCKER_LIST,
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "",
        "text/html; charset=utf-8",
    ];
    fuzz("manifest", |b| {
        // The first byte picks the registry's Content-Type.
        let ct = types[b.first().map_or(0, |c| *c as usize) % types.len()];
        check(manifest::parse(b, ct));
        check(Platform::parse(&text(b)));
    });
}

#[test]
fn fuzz_image_config() {
    fuzz("config", |b| {
        if let Some(c) = check(crate::image::parse_config(b)) {
            // What run makes of a config it accepted.
            let cfg = c.config().as_ref();
            let _ = check(crate::container::spec::command(cfg, None, &[]));
            let _ = check(crate::container::spec::working_dir(cfg, None));
            let _ = crate::image::chain_ids(c.rootfs().diff_ids());
        }
    });
}

#[test]
fn fuzz_env_file() {
    fuzz("env_file", |b| {
        for e in crate::container::spec::parse_env_file(&text(b)) {
            assert!(!e.contains('\n'), "{e:?}");
        }
    });
}

#[test]
fn fuzz_mount_specs() {
    use crate::container::mounts::{parse_mount, parse_tmpfs, parse_volume};
    for target in ["volume", "mount", "tmpfs"] {
        fuzz(target, |b| {
            let s = text(b);
            check(parse_volume(&s));
            check(parse_mount(&s));
            check(parse_tmpfs(&s));
        });
    }
}

#[test]
fn fuzz_user_spec() {
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\n";
    fuzz("user", |b| {
        let s = text(b);
        if let Some(u) = check(crate::container::spec::exec_user(
            &s,
            Some(PASSWD),
            Some(GROUP),
        )) {
            assert!(u.uid <= crate::container::spec::MAX_ID, "{s:?}");
            assert!(u.gid <= crate::container::spec::MAX_ID, "{s:?}");
        }
        // And the spec's bytes as the image's passwd file.
        check(crate::container::spec::exec_user("app", Some(&s), Some(&s)));
    });
}

#[test]
fn fuzz_seccomp_profile() {
    use crate::sandbox::confine::seccomp::profile::Profile;
    // The shipped profiles too, as they are.
    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/seccomp/default.json"
    ))
    .unwrap();
    Profile::parse(&shipped, "default.json").unwrap();
    fuzz("seccomp", |b| {
        check(Profile::parse(b, "fuzz.json"));
    });
}

#[test]
fn fuzz_landlock_profile() {
    use crate::sandbox::confine::landlock::Profile;
    fuzz("landlock", |b| {
        check(Profile::parse(b, "fuzz.json"));
    });
}

#[test]
fn fuzz_registry_auth() {
    fuzz("challenge", |b| {
        let _ = crate::registry::auth::parse_challenge(&text(b));
    });
    fuzz("auth_config", |b| {
        check(crate::registry::auth::find_in(&text(b), "127.0.0.1:5000"));
        check(crate::registry::auth::find_in(&text(b), "docker.io"));
    });
}

#[test]
fn fuzz_burrow_toml() {
    fuzz("burrow_toml", |b| {
        check(crate::config::Config::parse(&text(b)));
    });
}

/// A scratch dir with `dest` (the layer or store goes there) and `outside`
/// (nothing may appear in it), both empty.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dest")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        Sandbox { dir }
    }

    fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Nothing was written beside `dest` or in `outside`.
    #[track_caller]
    fn assert_contained(&self, what: &[u8]) {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["dest", "outside"], "wrote beside dest: {what:?}");
        let out = std::fs::read_dir(self.outside()).unwrap().count();
        assert_eq!(out, 0, "wrote outside dest: {:?}", text(what));
    }
}

/// One tar entry as the generator makes it.
type TarEntry = (String, String, u8, u64, u32, u32, bool);

/// Layer tar entries: names and link targets built from pieces that
/// matter to unpack (`..`, `/`, whiteouts), any type, size, mode and
/// owner; some absolute, aimed at the sandbox's `outside`.
fn tar_entries() -> impl Strategy<Value = Vec<TarEntry>> {
    let piece = proptest::sample::select(vec![
        "a",
        "b",
        "..",
        ".",
        "",
        "etc",
        "outside",
        "/",
        ".wh.a",
        ".wh..wh..opq",
        "dev",
        "x y",
    ]);
    let name = proptest::collection::vec(piece, 1..6).prop_map(|p| p.join("/"));
    let kind = proptest::sample::select(vec![
        b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'x', b'g', b'L', b'K', b'Z',
    ]);
    let entry = (
        name.clone(),
        name,
        kind,
        0..2048u64,
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
    );
    proptest::collection::vec(entry, 0..12)
}

/// The tar of `entries`. Headers get a valid checksum, so unpack reads
/// their fields (a byte-flipped tar mostly stops at the checksum).
fn tar_of(entries: &[TarEntry], outside: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, link, kind, size, mode, owner, abs) in entries {
        let mut h = tar::Header::new_gnu();
        let (name, link) = if *abs {
            let o = outside.display();
            (format!("{o}/{name}"), format!("{o}/{link}"))
        } else {
            (name.clone(), link.clone())
        };
        let n = name.len().min(99);
        h.as_old_mut().name[..n].copy_from_slice(&name.as_bytes()[..n]);
        let l = link.len().min(99);
        h.as_old_mut().linkname[..l].copy_from_slice(&link.as_bytes()[..l]);
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(*size);
        h.set_mode(mode & 0o7777);
        h.set_uid(u64::from(owner % 70000));
        h.set_gid(u64::from(owner % 1000));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.resize(out.len() + *size as usize, b'd');
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn unpack_contained(sb: &Sandbox, tar: &[u8]) {
    let opts = crate::image::unpack::UnpackOptions {
        keep_owners: false,
        record_owners: false,
    };
    check(crate::image::unpack::unpack(tar, &sb.dest(), opts));
    sb.assert_contained(tar);
}

#[test]
fn fuzz_unpack_tar_headers() {
    // A real layer unpacks: the target reaches the writing code.
    let sb = Sandbox::new();
    let plain = std::fs::read(Path::new(CORPUS).join("tar/plain.tar")).unwrap();
    let opts = crate::image::unpack::UnpackOptions {
        keep_owners: false,
        record_owners: false,
    };
    crate::image::unpack::unpack(&plain[..], &sb.dest(), opts).unwrap();
    assert!(sb.dest().join("etc/passwd").is_file());
    // Each case unpacks into fresh dirs (some 20 ms in a debug build):
    // fewer cases than the pure parsers get.
    let fewer = || Config {
        cases: (config().cases / 4).max(16),
        ..config()
    };
    fuzz_with("tar", fewer(), |b| unpack_contained(&Sandbox::new(), b));
    let mut runner = TestRunner::new(fewer());
    runner
        .run(&tar_entries(), |entries| {
            let sb = Sandbox::new();
            unpack_contained(&sb, &tar_of(&entries, &sb.outside()));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("fuzz target tar (built): {e}; the input: {e:?}"));
}

/// A docker-archive with `manifest` as its manifest.json, a config and a
/// one-file layer.
fn docker_archive(manifest: &[u8]) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    layer.append_data(&mut h, "hello", &b"hi\n"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let diff_id = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&layer))
    );
    let config = serde_json::json!({
        "architecture": crate::sys::oci_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", manifest),
        ("config.json", config.as_bytes()),
        ("layer.tar", &layer[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    let mut out = b.into_inner().unwrap();
    out.flush().unwrap();
    out
}

#[test]
fn fuzz_docker_archive_manifest() {
    // Each case loads into a fresh store: fewer cases, each does more.
    let cases = (config().cases / 4).max(16);
    let seeds = corpus("archive_manifest");
    let load = |manifest: &[u8]| {
        let sb = Sandbox::new();
        let store = crate::image::Store::open(&crate::paths::Paths::new(Some(sb.dest())))
            .expect("open a store");
        let archive = docker_archive(manifest);
        let loaded = check(crate::image::archive::load(&store, &mut &archive[..]));
        sb.assert_contained(manifest);
        loaded.is_some()
    };
    // The wrapper makes a loadable archive: the mutations start from one.
    assert!(
        load(&seeds[0]),
        "corpus archive_manifest/0-one.json does not load"
    );
    for s in &seeds {
        load(s);
    }
    let mut runner = TestRunner::new(Config { cases, ..config() });
    runner
        .run(&inputs(seeds), |m| {
            load(&m);
            Ok(())
        })
        .unwrap_or_else(|e| failed("archive_manifest", e));
}

#[test]
fn fuzz_dockerfile() {
    use crate::build::dockerfile::{self, substitute, Instruction};
    fuzz("dockerfile", |b| {
        let Some(df) = check(dockerfile::parse("Dockerfile", &text(b))) else {
            return;
        };
        // What a build does next: expand each step with some variables.
        let env: Vec<(String, String)> = vec![("V".into(), "a/b.c.d".into())];
        for stage in df.stages {
            let mut from = stage.from;
            check(substitute::expand_from(&mut from, df.escape, &env));
            for step in stage.steps {
                let mut i = step.instruction;
                if let Instruction::Run(r) = &i {
                    check(r.mounts(&mut substitute::word_expander(df.escape, &env)));
                }
                check(substitute::expand(&mut i, df.escape, &env));
            }
        }
    });
}

#[test]
fn fuzz_dockerignore() {
    use crate::build::ignore::{read_patterns, Matcher};
    fuzz("dockerignore", |b| {
        let Some(m) = check(Matcher::new(&read_patterns(&text(b)))) else {
            return;
        };
        for p in [
            "a",
            "node_modules/x/y.js",
            "abc/d.log",
            "dist",
            ".",
            "a/../b",
        ] {
            m.excludes(p);
        }
    });
}
