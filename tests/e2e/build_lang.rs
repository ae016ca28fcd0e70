//! `burrow build`: the Dockerfile features beyond the classic basics
//! (heredocs, COPY --chown/globs/--parents/--exclude, ADD of a URL, RUN
//! --mount and --network, a context on stdin, --pull, builder prune), as
//! both test users, with their cache keys and their bad input.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use crate::common::*;

fn setup(user: User) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    env.mkdir("ctx");
    Some((env, img))
}

fn ctx(env: &TestEnv) -> String {
    env.dir().join("ctx").display().to_string()
}

fn cached_steps(out: &str) -> usize {
    out.lines().filter(|l| *l == " ---> Using cache").count()
}

fn run_out(env: &TestEnv, image: &str) -> String {
    let run = env.burrow(&["run", "--rm", "--network", "none", image]);
    run.ok();
    run.stdout.clone()
}

/// A failed build: exit 1, one `burrow: FILE:LINE: ...` line holding
/// `what`, and no tag.
#[track_caller]
fn fails_at(env: &TestEnv, dockerfile: &str, line: usize, what: &str) {
    env.write("ctx/Dockerfile", dockerfile.as_bytes());
    let out = env.burrow(&["build", "-t", "broken", &ctx(env)]);
    out.fails(1);
    assert!(
        out.stderr
            .starts_with(&format!("burrow: Dockerfile:{line}: "))
            && out.stderr.contains(what),
        "want Dockerfile:{line} and {what:?}:\n{}",
        out.describe()
    );
    assert!(
        env.burrow(&["images", "-q", "broken"])
            .ok()
            .stdout
            .trim()
            .is_empty(),
        "a tag on a failed build"
    );
}

fn heredocs(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    let dockerfile = |tabbed: &str| {
        format!(
            "FROM {img}\nENV NAME=world\n\
             RUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\n\
             RUN <<EOF sh\necho \"$(basename $0)-ran\" > /h2\nEOF\n\
             RUN cat <<A > /h3 && cat <<'B' >> /h3\nhello $NAME\nA\nliteral $NAME\nB\n\
             RUN <<-EOF\n\techo {tabbed} > /h4\n\tEOF\n\
             RUN <<EOF\n#!/bin/sh\necho \"shebang $0\" > /h5\nEOF\n\
             COPY <<EOF /etc/greeting\nhi $NAME\nEOF\n\
             COPY <<'EOF' /etc/raw\nhi $NAME\nEOF\n\
             CMD [\"sh\", \"-c\", \"cat /h1 /h2 /h3 /h4 /h5 /etc/greeting /etc/raw\"]\n"
        )
    };
    env.write("ctx/Dockerfile", dockerfile("tabbed").as_bytes());
    let out = env.burrow(&["build", "-t", "docs", &ctx(&env)]);
    out.ok();
    assert_eq!(
        run_out(&env, "docs"),
        "one\ntwo\nsh-ran\nhello world\nliteral $NAME\ntabbed\nshebang /dev/pipes/EOF\n\
         hi world\nhi $NAME\n",
        "{}",
        out.describe()
    );
    // The same heredocs hit the cache; a changed one misses from there.
    let again = env.burrow(&["build", "-t", "docs", &ctx(&env)]);
    assert_eq!(cached_steps(&again.ok().stdout), 9, "{}", again.describe());
    env.write("ctx/Dockerfile", dockerfile("changed").as_bytes());
    let changed = env.burrow(&["build", "-t", "docs", &ctx(&env)]);
    assert_eq!(
        cached_steps(&changed.ok().stdout),
        4,
        "{}",
        changed.describe()
    );
    assert!(run_out(&env, "docs").contains("\nchanged\n"));

    // A failing heredoc script: its step, its exit code, one line.
    fails_at(
        &env,
        &format!("FROM {img}\nRUN <<EOF\necho before\nexit 7\nEOF\n"),
        2,
        "returned a non-zero code: 7",
    );
}

#[test]
fn build_heredocs_sub() {
    heredocs(User::Sub);
}

#[test]
fn build_heredocs_nosub() {
    heredocs(User::NoSub);
}

fn copy_rules(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    for d in ["ctx/src/x", "ctx/src/y", "ctx/keep/logs"] {
        env.mkdir(d);
    }
    for (f, c) in [
        ("ctx/a.txt", "a\n"),
        ("ctx/b.txt", "b\n"),
        ("ctx/c.md", "c\n"),
        ("ctx/src/x/a", "xa\n"),
        ("ctx/src/y/a", "ya\n"),
        ("ctx/src/y/b", "yb\n"),
        ("ctx/keep/k1", "k1\n"),
        ("ctx/keep/skip.log", "log\n"),
        ("ctx/keep/logs/l", "l\n"),
    ] {
        env.write(f, c.as_bytes());
    }
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\n\
             COPY --chown=user:staff a.txt /own/named\n\
             COPY --chown=1234:5678 src /own/num/\n\
             COPY --chown=nobody b.txt /own/user-only\n\
             COPY *.txt /glob/\n\
             COPY src/*/a /sa/\n\
             COPY --parents src/*/a /par/\n\
             COPY --exclude=*.log --exclude=logs keep /ex/\n\
             COPY --link c.md /link/\n\
             CMD [\"sh\", \"-c\", \"stat -c '%u:%g %n' /own/named /own/num/x /own/num/x/a \
             /own/user-only /glob/a.txt; ls /glob; ls /sa; cat /sa/a; find /par /ex | sort; \
             cat /link/c.md\"]\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "cp", &ctx(&env)]);
    out.ok();
    // The layers hold the owners; a container shows them in both id-map
    // modes (single-id mode answers stat from the recorded owner).
    let tar = env.dir().join("cp.tar");
    env.burrow(&["save", "-o", &tar.display().to_string(), "cp"])
        .ok();
    for (path, ids) in [
        ("own/named", (1000, 50)),
        ("own/num/x/a", (1234, 5678)),
        ("own/user-only", (65534, 65534)),
        ("glob/a.txt", (0, 0)),
    ] {
        assert_eq!(layer_owner(&tar, path), Some(ids), "{path}");
    }
    let owners = "1000:50 /own/named\n1234:5678 /own/num/x\n1234:5678 /own/num/x/a\n\
                  65534:65534 /own/user-only\n";
    assert_eq!(
        run_out(&env, "cp"),
        owners.to_string()
            + "0:0 /glob/a.txt\na.txt\nb.txt\na\nya\n\
         /ex\n/ex/k1\n/par\n/par/src\n/par/src/x\n/par/src/x/a\n/par/src/y\n/par/src/y/a\n\
         c\n",
        "{}",
        out.describe()
    );

    // An excluded file's change keeps the cache; a copied one's misses.
    env.write("ctx/keep/skip.log", b"changed log\n");
    let again = env.burrow(&["build", "-t", "cp", &ctx(&env)]);
    assert_eq!(cached_steps(&again.ok().stdout), 9, "{}", again.describe());
    env.write("ctx/src/y/a", b"ya2\n");
    let changed = env.burrow(&["build", "-t", "cp", &ctx(&env)]);
    // The two COPYs before src/ change stay cached, the rest misses.
    assert_eq!(
        cached_steps(&changed.ok().stdout),
        1,
        "{}",
        changed.describe()
    );
    assert!(run_out(&env, "cp").contains("\nya2\n"));

    // Bad input, each naming its step.
    fails_at(
        &env,
        &format!("FROM {img}\nCOPY nothere*.txt /x/\n"),
        2,
        "nothere*.txt",
    );
    fails_at(
        &env,
        &format!("FROM {img}\n\nCOPY missing.txt /x/\n"),
        3,
        "missing.txt",
    );
    fails_at(
        &env,
        &format!("FROM {img}\nCOPY *.txt /onefile\n"),
        2,
        "the destination must be a directory and end with a /",
    );
    fails_at(
        &env,
        &format!("FROM {img}\nCOPY --chown=nosuchuser a.txt /x\n"),
        2,
        "unable to find user nosuchuser",
    );
    fails_at(
        &env,
        &format!("FROM {img}\nCOPY --chown=root:nosuchgroup a.txt /x\n"),
        2,
        "unable to find group nosuchgroup",
    );
}

#[test]
fn build_copy_rules_sub() {
    copy_rules(User::Sub);
}

#[test]
fn build_copy_rules_nosub() {
    copy_rules(User::NoSub);
}

/// A small HTTP server on 127.0.0.1 serving `/files/<name>` from a map
/// that the test may change; anything else is a 404. Returns its address.
/// Files the test's HTTP server serves: (name, content).
type Served = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn http_server(files: Served) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req).to_string();
            let target = text.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("").to_string();
            let body = files
                .lock()
                .unwrap()
                .iter()
                .find(|(n, _)| format!("/files/{n}") == path)
                .map(|(_, b)| b.clone());
            let resp = match body {
                Some(b) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    )
                    .into_bytes();
                    r.extend(b);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = s.write_all(&resp);
        }
    });
    addr
}

fn sha256_hex(b: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn add_url(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    // A real gzip: ADD of a URL must not extract it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"not unpacked\n").unwrap();
    let tgz = gz.finish().unwrap();
    let files = Arc::new(Mutex::new(vec![
        ("data.tar.gz".to_string(), tgz.clone()),
        ("plain.txt".to_string(), b"v1\n".to_vec()),
    ]));
    let addr = http_server(files.clone());
    let sum = sha256_hex(&tgz);
    let dockerfile = |sum: &str| {
        format!(
            "FROM {img}\n\
             ADD --checksum=sha256:{sum} http://{addr}/files/data.tar.gz /dl/\n\
             ADD http://{addr}/files/plain.txt?x=1 /dl/\n\
             CMD [\"sh\", \"-c\", \"ls /dl; stat -c %a /dl/data.tar.gz; cat /dl/plain.txt; \
             zcat /dl/data.tar.gz\"]\n"
        )
    };
    env.write("ctx/Dockerfile", dockerfile(&sum).as_bytes());
    let out = env.burrow(&["build", "-t", "dl", &ctx(&env)]);
    out.ok();
    assert_eq!(
        run_out(&env, "dl"),
        "data.tar.gz\nplain.txt\n600\nv1\nnot unpacked\n",
        "{}",
        out.describe()
    );
    // Same content: cached; changed content: the ADD misses.
    let again = env.burrow(&["build", "-t", "dl", &ctx(&env)]);
    assert_eq!(cached_steps(&again.ok().stdout), 3, "{}", again.describe());
    files.lock().unwrap()[1].1 = b"v2\n".to_vec();
    let changed = env.burrow(&["build", "-t", "dl", &ctx(&env)]);
    assert_eq!(
        cached_steps(&changed.ok().stdout),
        1,
        "{}",
        changed.describe()
    );
    assert!(run_out(&env, "dl").contains("v2\n"));

    // A wrong checksum, a missing file, a git URL nobody serves: the
    // step, exit 1.
    let wrong = "0".repeat(64);
    fails_at(&env, &dockerfile(&wrong), 2, "checksum mismatch");
    fails_at(
        &env,
        &format!("FROM {img}\nADD http://{addr}/files/nothere /x/\n"),
        2,
        "404",
    );
    fails_at(
        &env,
        &format!("FROM {img}\nADD https://127.0.0.1:1/repo.git /src\n"),
        2,
        "git fetch failed",
    );
}

#[test]
fn build_add_url_sub() {
    add_url(User::Sub);
}

#[test]
fn build_add_url_nosub() {
    add_url(User::NoSub);
}

/// ADD of a local archive keeps its entries' owners and modes, as `tar -x`
/// by root does (Docker's documented behaviour; podman agrees): in the
/// layer and as a container sees them, in both id-map modes.
fn add_archive_owners(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    let f = std::fs::File::create(env.dir().join("ctx/a.tar")).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, kind, mode, uid, gid) in [
        ("d/", tar::EntryType::Directory, 0o750, 2510, 2516),
        ("d/f", tar::EntryType::Regular, 0o640, 2511, 2517),
        ("r", tar::EntryType::Regular, 0o600, 0, 0),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_size(0);
        b.append_data(&mut h, name, &b""[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_uid(2512);
    h.set_gid(2518);
    h.set_size(0);
    b.append_link(&mut h, "l", "d").unwrap();
    b.finish().unwrap();
    drop(b);
    let cmd = "stat -c '%u:%g %a %n' /x/d /x/d/f /x/r";
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nADD a.tar /x/\nCMD [\"sh\", \"-c\", \"{cmd}\"]\n").as_bytes(),
    );
    env.burrow(&["build", "-t", "owners", &ctx(&env)]).ok();
    let tar = env.dir().join("owners.tar");
    env.burrow(&["save", "-o", &tar.display().to_string(), "owners"])
        .ok();
    assert_eq!(layer_owner(&tar, "x/d/f"), Some((2511, 2517)));
    assert_eq!(layer_owner(&tar, "x/l"), Some((2512, 2518)));
    assert_eq!(
        run_out(&env, "owners"),
        "2510:2516 750 /x/d\n2511:2517 640 /x/d/f\n0:0 600 /x/r\n"
    );
}

#[test]
fn build_add_archive_owners_sub() {
    add_archive_owners(User::Sub);
}

#[test]
fn build_add_archive_owners_nosub() {
    add_archive_owners(User::NoSub);
}

/// The owner of `path` in the layers of a saved image (the last layer
/// that has it).
fn layer_owner(tar: &std::path::Path, path: &str) -> Option<(u64, u64)> {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut found = None;
    for e in a.entries().unwrap() {
        let mut data = Vec::new();
        e.unwrap().read_to_end(&mut data).unwrap();
        let mut inflated = Vec::new();
        if flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut inflated)
            .is_err()
        {
            continue;
        }
        let mut layer = tar::Archive::new(&inflated[..]);
        let Ok(entries) = layer.entries() else {
            continue;
        };
        for le in entries.flatten() {
            let h = le.header();
            if le
                .path()
                .ok()
                .is_some_and(|p| p.to_string_lossy().trim_end_matches('/') == path)
            {
                found = Some((h.uid().unwrap(), h.gid().unwrap()));
            }
        }
    }
    found
}

/// Some file of a saved image (a layer inflated when gzip) holds `needle`.
fn saved_holds(tar: &std::path::Path, needle: &[u8]) -> bool {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut found = false;
    for e in a.entries().unwrap() {
        let mut data = Vec::new();
        e.unwrap().read_to_end(&mut data).unwrap();
        let mut inflated = Vec::new();
        if flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut inflated)
            .is_ok()
        {
            data = inflated;
        }
        found |= data.windows(needle.len()).any(|w| w == needle);
    }
    found
}

fn run_mounts(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.mkdir("ctx/data");
    env.write("ctx/data/d.txt", b"bound v1\n");
    env.write("ctx/.dockerignore", b"data/hidden\n");
    env.write("ctx/data/hidden", b"ignored\n");
    let secret = env.write("tok", b"s3cr3t-value-42");
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img} AS other\nRUN echo staged > /s.txt\n\
             FROM {img}\n\
             RUN --mount=type=cache,target=/c2,uid=1000,gid=50,sharing=locked stat -c %u:%g /c2 > /c2owner\n\
             RUN --mount=type=bind,from=other,source=/s.txt,target=/m/s.txt cat /m/s.txt > /fromstage\n\
             RUN --mount=type=cache,target=/cache,id=c1 echo x >> /cache/count && wc -l < /cache/count > /seen\n\
             RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/d.txt > /bound && \
             (ls /mnt/data/hidden 2>/dev/null || echo no-hidden) >> /bound && \
             (touch /mnt/data/w 2>/dev/null && echo writable || echo read-only) >> /bound\n\
             RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && grep -c ' /scratch ' /proc/mounts > /tmpfs\n\
             RUN --mount=type=secret,id=tok sha256sum < /run/secrets/tok | cut -c1-16 > /secret\n\
             RUN --network=none ls /sys/class/net > /nets\n\
             CMD [\"sh\", \"-c\", \"cat /c2owner /fromstage /seen /bound /tmpfs /secret /nets; ls -A /c2 /m /cache /scratch /mnt/data /run/secrets 2>&1 | grep -c 'No such file'\"]\n"
        )
        .as_bytes(),
    );
    let build = |extra: &[&str]| {
        let mut a = vec!["build", "-t", "mnt"];
        a.extend_from_slice(extra);
        let src = format!("id=tok,src={}", secret.display());
        a.extend_from_slice(&["--secret", &src]);
        let c = ctx(&env);
        a.push(&c);
        let out = env.burrow(&a);
        out.ok();
        out.stdout.clone()
    };
    build(&[]);
    // The cache's owner as asked where ids beyond root exist. The mounts'
    // targets left no trace in the image: 6 missing paths.
    let c2 = match user {
        User::Sub => "1000:50",
        User::NoSub => "0:0",
    };
    assert_eq!(
        run_out(&env, "mnt"),
        format!(
            "{c2}\nstaged\n1\nbound v1\nno-hidden\nread-only\n1\n{}\nlo\n6\n",
            &sha256_hex(b"s3cr3t-value-42")[..16]
        )
    );
    // The cache dir lives on across builds.
    build(&["--no-cache"]);
    assert!(run_out(&env, "mnt").contains("staged\n2\n"));
    // A change in the bound files misses the cache at that RUN.
    env.write("ctx/data/d.txt", b"bound v2\n");
    let text = build(&[]);
    assert_eq!(cached_steps(&text), 4, "{text}");
    assert!(run_out(&env, "mnt").contains("bound v2\n"));

    // The secret is in no layer and not in the history.
    let hist = env.burrow(&["history", "--no-trunc", "mnt"]);
    assert!(!hist.ok().stdout.contains("s3cr3t"), "{}", hist.stdout);
    let tar = env.dir().join("mnt.tar");
    env.burrow(&["save", "-o", &tar.display().to_string(), "mnt"])
        .ok();
    assert!(!saved_holds(&tar, b"s3cr3t"), "the secret is in a layer");

    // builder prune keeps the cache mounts; -a removes them too.
    env.burrow(&["builder", "prune", "-f"]).ok();
    build(&["--no-cache"]);
    assert!(run_out(&env, "mnt").contains("staged\n3\n"));
    env.burrow(&["builder", "prune", "-a", "-f"]).ok();
    build(&[]);
    assert!(run_out(&env, "mnt").contains("staged\n1\n"));

    // A required secret not given, an unknown mount type: the step, exit 1.
    fails_at(
        &env,
        &format!("FROM {img}\nRUN --mount=type=secret,id=nope,required true\n"),
        2,
        "secret nope not found",
    );
    fails_at(
        &env,
        &format!("FROM {img}\nRUN --mount=type=bogus,target=/x true\n"),
        2,
        "bogus",
    );
}

#[test]
fn build_run_mounts_sub() {
    run_mounts(User::Sub);
}

#[test]
fn build_run_mounts_nosub() {
    run_mounts(User::NoSub);
}

fn stdin_pull_prune(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    // A tar context on standard input, with its Dockerfile.
    env.write("ctx/f.txt", b"from the tar\n");
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nCOPY f.txt /\nRUN echo ran >> /runs\nCMD [\"cat\", \"/f.txt\", \"/runs\"]\n").as_bytes(),
    );
    let tar = std::process::Command::new("tar")
        .args(["-C", &ctx(&env), "-cf", "-", "."])
        .output()
        .unwrap()
        .stdout;
    let out = env.burrow_with(&["build", "-t", "fromtar", "-"], &[], Some(&tar));
    out.ok();
    assert_eq!(run_out(&env, "fromtar"), "from the tar\nran\n");
    // A Dockerfile alone on standard input: an empty context.
    let df = format!("FROM {img}\nRUN echo plain > /p\nCMD [\"cat\", \"/p\"]\n");
    let out = env.burrow_with(&["build", "-t", "dfonly", "-"], &[], Some(df.as_bytes()));
    out.ok();
    assert_eq!(run_out(&env, "dfonly"), "plain\n");
    env.burrow_with(&["build", "-f", "-", "-"], &[], Some(b"FROM x\n"))
        .fails(125);

    // --pull: a local image under the FROM name is replaced by the
    // registry's.
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nRUN touch /marker\n").as_bytes(),
    );
    env.burrow(&["build", "-t", &img, &ctx(&env)]).ok();
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nCMD [\"sh\", \"-c\", \"ls /marker 2>/dev/null || echo none\"]\n")
            .as_bytes(),
    );
    env.burrow(&["build", "-t", "nopull", &ctx(&env)]).ok();
    assert_eq!(run_out(&env, "nopull"), "/marker\n");
    env.burrow(&["build", "--pull", "-t", "pulled", &ctx(&env)])
        .ok();
    assert_eq!(run_out(&env, "pulled"), "none\n");

    // builder prune: the cache survives rmi, then prune forgets it and
    // removes the step images only it kept.
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nRUN echo once >> /runs\nENV A=1\n").as_bytes(),
    );
    env.burrow(&["build", "-t", "pr", &ctx(&env)]).ok();
    env.burrow(&["rmi", "pr"]).ok();
    let again = env.burrow(&["build", "-t", "pr", &ctx(&env)]);
    assert_eq!(cached_steps(&again.ok().stdout), 2, "{}", again.describe());
    let dangling = |env: &TestEnv| {
        let out = env.burrow(&["images", "-a", "-q", "-f", "dangling=true"]);
        out.ok();
        out.stdout.lines().count()
    };
    let before = dangling(&env);
    env.burrow(&["rmi", "pr"]).ok();
    let p = env.burrow(&["builder", "prune", "-f"]);
    assert!(
        p.ok().stdout.contains("Deleted build cache objects:"),
        "{}",
        p.describe()
    );
    let index: Vec<_> = std::fs::read_dir(env.root().join("build-cache"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().len() == 64)
        .collect();
    assert!(index.is_empty(), "index entries left: {index:?}");
    let after = dangling(&env);
    assert!(after < before, "no step image removed: {before} -> {after}");
    let rebuilt = env.burrow(&["build", "-t", "pr", &ctx(&env)]);
    assert_eq!(
        cached_steps(&rebuilt.ok().stdout),
        0,
        "{}",
        rebuilt.describe()
    );
    // Tagged images stay.
    assert_eq!(run_out(&env, "fromtar"), "from the tar\nran\n");
}

#[test]
fn build_stdin_pull_prune_sub() {
    stdin_pull_prune(User::Sub);
}

#[test]
fn build_stdin_pull_prune_nosub() {
    stdin_pull_prune(User::NoSub);
}

/// A `git daemon` on loopback serving one repository, `repo.git`: a
/// first commit tagged v1 (a.txt "v1", sub/b.txt "b"), then a.txt "v2"
/// on main. Killed when dropped.
struct GitServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl GitServer {
    fn start() -> GitServer {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        let git = |args: &[&str]| {
            let st = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
                .arg(&work)
                .args(args)
                .output()
                .unwrap();
            assert!(st.status.success(), "git {args:?}: {st:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a.txt"), "v1\n").unwrap();
        std::fs::write(work.join("sub/b.txt"), "b\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "one"]);
        git(&["tag", "v1"]);
        std::fs::write(work.join("a.txt"), "v2\n").unwrap();
        git(&["commit", "-q", "-am", "two"]);
        let st = std::process::Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&work)
            .arg(dir.path().join("repo.git"))
            .status()
            .unwrap();
        assert!(st.success());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        // git-daemon itself: `git daemon` runs it as a child, which a kill
        // of `git` would leave behind.
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap();
        let exec_path = String::from_utf8(exec_path.stdout).unwrap();
        let child = std::process::Command::new(format!("{}/git-daemon", exec_path.trim()))
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.path().display()))
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        GitServer {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ADD of a git repository: a tag, a branch's subdir (`#REF:SUBDIR`),
/// the default branch with `--keep-git-dir`; a ref that does not exist
/// is one line naming it, exit 1, no image.
fn add_git(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    let git = GitServer::start();
    let repo = format!("git://127.0.0.1:{}/repo.git", git.port);
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\n\
             ADD {repo}#v1 /src/\n\
             ADD {repo}#main:sub /sub/\n\
             ADD --keep-git-dir=true {repo} /kept/\n\
             CMD [\"sh\", \"-c\", \"cat /src/a.txt; ls -A /src; cat /sub/b.txt; \
             cat /kept/a.txt; test -d /kept/.git && echo kept\"]\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-q", "-t", "fromgit", &ctx(&env)])
        .ok();
    assert_eq!(
        run_out(&env, "fromgit"),
        "v1\na.txt\nsub\nb\nv2\nkept\n",
        "{user:?}"
    );
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nADD {repo}#no-such-ref /x/\n").as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "badref", &ctx(&env)]);
    out.fails(1);
    assert!(
        out.stderr.contains("no-such-ref") && out.stderr.contains("git fetch failed"),
        "{}",
        out.describe()
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    env.burrow(&["image", "inspect", "badref"]).fails(1);
}

#[test]
fn build_add_git_sub() {
    add_git(User::Sub);
}

#[test]
fn build_add_git_nosub() {
    add_git(User::NoSub);
}

/// COPY into dirs the base image has (`/tmp` 1777, `/var/log`) leaves
/// their owner and mode alone, with or without --chown, as Docker does;
/// a dir the COPY makes takes the --chown owner. (The layer used to
/// carry them as 755 and the --chown owner: /tmp lost its sticky bit.)
fn copy_keeps_the_bases_dirs(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.write("ctx/f", b"f\n");
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\nRUN chmod 1777 /tmp && mkdir -p /var/log && chmod 750 /var/log\n\
             COPY f /tmp/f\nCOPY --chown=3:4 f /var/log/new/f\n\
             CMD [\"stat\", \"-c\", \"%a %u:%g %n\", \"/tmp\", \"/var/log\", \"/var/log/new\", \"/var/log/new/f\"]\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-q", "-t", "dirs", &ctx(&env)]).ok();
    assert_eq!(
        run_out(&env, "dirs"),
        "1777 0:0 /tmp\n750 0:0 /var/log\n755 3:4 /var/log/new\n644 3:4 /var/log/new/f\n",
        "{user:?}"
    );
}

#[test]
fn copy_keeps_the_bases_dirs_sub() {
    copy_keeps_the_bases_dirs(User::Sub);
}

#[test]
fn copy_keeps_the_bases_dirs_nosub() {
    copy_keeps_the_bases_dirs(User::NoSub);
}

/// BuildKit's automatic platform args: FROM sees them, a stage sees one
/// it declares (and not one it does not), and --build-arg sets them.
fn platform_args(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM --platform=$BUILDPLATFORM {img}\n\
             ARG TARGETARCH\nARG BUILDPLATFORM\nARG TARGETOS\n\
             RUN echo \"$TARGETARCH $BUILDPLATFORM $TARGETOS [$BUILDOS]\" > /p\n\
             CMD [\"cat\", \"/p\"]\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-q", "-t", "plat", &ctx(&env)]).ok();
    assert_eq!(
        run_out(&env, "plat"),
        format!("{arch} linux/{arch} linux []\n"),
        "{user:?}"
    );
    let out = env.burrow(&[
        "build",
        "-q",
        "--build-arg",
        "TARGETOS=other",
        "-t",
        "plat2",
        &ctx(&env),
    ]);
    out.ok();
    assert_eq!(
        run_out(&env, "plat2"),
        format!("{arch} linux/{arch} other []\n")
    );
}

#[test]
fn build_platform_args_sub() {
    platform_args(User::Sub);
}

#[test]
fn build_platform_args_nosub() {
    platform_args(User::NoSub);
}
