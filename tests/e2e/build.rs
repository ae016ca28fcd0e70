//! `burrow build`: Dockerfiles built and run, the layer cache, multi-stage
//! builds, build args and targets, and bad input, as both test users.

use crate::common::*;
use crate::images::inspect;

/// A store with busybox pulled and a context dir, as `user`.
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

/// The step lines of a build's output that say the step was cached.
fn cached_steps(out: &str) -> usize {
    out.lines().filter(|l| *l == " ---> Using cache").count()
}

fn build_then_run(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.write("ctx/hello.txt", b"hello from the context\n");
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\nENV GREETING=hi\nWORKDIR /app\nCOPY hello.txt .\n\
             RUN echo \"$GREETING built\" > built.txt\n\
             CMD [\"sh\", \"-c\", \"cat hello.txt built.txt; echo $GREETING; pwd\"]\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "made:1", &ctx(&env)]);
    let text = out.ok().stdout.clone();
    assert!(text.contains("Step 1/6 : FROM"), "{}", out.describe());
    assert!(
        text.contains("Successfully tagged made:1"),
        "{}",
        out.describe()
    );
    let run = env.burrow(&["run", "--rm", "--network", "none", "made:1"]);
    assert_eq!(
        run.ok().stdout,
        "hello from the context\nhi built\nhi\n/app\n",
        "{}",
        run.describe()
    );
    let v = inspect(&env, "made:1");
    let id = v["Id"].as_str().unwrap().to_string();
    // The history as the classic builder writes it.
    let h = env.burrow(&["history", "--no-trunc", "made:1"]);
    assert!(
        h.ok().stdout.contains("/bin/sh -c #(nop)  ENV GREETING=hi"),
        "{}",
        h.describe()
    );

    // A rebuild is wholly cached: every step after FROM, the same image.
    let again = env.burrow(&["build", "-t", "made:1", &ctx(&env)]);
    assert_eq!(cached_steps(&again.ok().stdout), 5, "{}", again.describe());
    assert!(!again.stdout.contains("Running in"), "{}", again.describe());
    let q = env.burrow(&["build", "-q", &ctx(&env)]);
    assert_eq!(q.ok().stdout.trim(), id, "{}", q.describe());

    // The cache outlives the tag: rmi, then the build is still cached.
    env.burrow(&["rmi", "made:1"]).ok();
    let after = env.burrow(&["build", "-t", "made:1", &ctx(&env)]);
    assert_eq!(cached_steps(&after.ok().stdout), 5, "{}", after.describe());

    // And `image prune` of the untagged step images: stored again from
    // the cache's recipes, nothing run.
    env.burrow(&["rmi", "made:1"]).ok();
    env.burrow(&["image", "prune", "-f"]).ok();
    let pruned = env.burrow(&["build", "-t", "made:1", &ctx(&env)]);
    assert_eq!(
        cached_steps(&pruned.ok().stdout),
        5,
        "{}",
        pruned.describe()
    );
    let run = env.burrow(&["run", "--rm", "--network", "none", "made:1"]);
    assert_eq!(
        run.ok().stdout,
        "hello from the context\nhi built\nhi\n/app\n",
        "{}",
        run.describe()
    );

    // --no-cache runs every step again.
    let none = env.burrow(&["build", "--no-cache", &ctx(&env)]);
    assert_eq!(cached_steps(&none.ok().stdout), 0, "{}", none.describe());
    assert!(none.stdout.contains("Running in"), "{}", none.describe());
}

#[test]
fn build_then_run_sub() {
    build_then_run(User::Sub);
}

#[test]
fn build_then_run_nosub() {
    build_then_run(User::NoSub);
}

/// `COPY package.json` / `RUN install` / `COPY .`: a source change
/// reuses the install; the RUN appends to a counter file, so a rerun
/// would show two lines.
fn source_change_reuses_run(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.write("ctx/package.json", b"{\"name\": \"app\"}\n");
    env.write("ctx/main.js", b"v1\n");
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\nWORKDIR /app\nCOPY package.json .\n\
             RUN echo installed >> /installs\nCOPY . .\n\
             CMD [\"sh\", \"-c\", \"cat /installs main.js\"]\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-t", "app", &ctx(&env)]).ok();
    env.write("ctx/main.js", b"v2\n");
    let out = env.burrow(&["build", "-t", "app", &ctx(&env)]);
    let text = out.ok().stdout.clone();
    // WORKDIR, COPY package.json, RUN cached; COPY . and CMD not.
    assert_eq!(cached_steps(&text), 3, "{}", out.describe());
    assert!(!text.contains("Running in"), "{}", out.describe());
    let run = env.burrow(&["run", "--rm", "--network", "none", "app"]);
    assert_eq!(run.ok().stdout, "installed\nv2\n", "{}", run.describe());

    // A package.json change reruns the install.
    env.write("ctx/package.json", b"{\"name\": \"app2\"}\n");
    let out = env.burrow(&["build", "-t", "app", &ctx(&env)]);
    assert_eq!(cached_steps(&out.ok().stdout), 1, "{}", out.describe());
    assert!(out.stdout.contains("Running in"), "{}", out.describe());
}

#[test]
fn source_change_reuses_run_sub() {
    source_change_reuses_run(User::Sub);
}

#[test]
fn source_change_reuses_run_nosub() {
    source_change_reuses_run(User::NoSub);
}

/// Multi-stage: the final stage (FROM scratch) holds only the artifact;
/// --build-arg reaches RUN; --target stops at a stage.
fn multi_stage_args_target(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img} AS builder\nARG FLAVOUR=plain\n\
             RUN mkdir /out && echo \"artifact $FLAVOUR\" > /out/artifact.txt && echo junk > /junk\n\
             FROM {img} AS tester\nRUN echo tester > /tester\n\
             FROM scratch\nCOPY --from=builder /out/artifact.txt /artifact.txt\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&[
        "build",
        "--build-arg",
        "FLAVOUR=spicy",
        "-t",
        "final",
        &ctx(&env),
    ]);
    out.ok();
    env.burrow(&["create", "--name", "f", "final", "/nothing"])
        .ok();
    let files = env.burrow(&["export", "-o", "f.tar", "f"]);
    files.ok();
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(env.dir().join("f.tar"))
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect();
    assert_eq!(names, ["artifact.txt"], "{}", out.describe());
    env.burrow(&[
        "cp",
        "f:/artifact.txt",
        &env.dir().join("a.txt").display().to_string(),
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(env.dir().join("a.txt")).unwrap(),
        "artifact spicy\n"
    );

    // --target builder: that stage's image, with the junk, no later stage run.
    let out = env.burrow(&["build", "--target", "builder", "-t", "b", &ctx(&env)]);
    assert!(!out.ok().stdout.contains("tester"), "{}", out.describe());
    let run = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "b",
        "cat",
        "/junk",
        "/out/artifact.txt",
    ]);
    assert_eq!(
        run.ok().stdout,
        "junk\nartifact plain\n",
        "{}",
        run.describe()
    );
}

#[test]
fn multi_stage_args_target_sub() {
    multi_stage_args_target(User::Sub);
}

#[test]
fn multi_stage_args_target_nosub() {
    multi_stage_args_target(User::NoSub);
}

/// A failing RUN: exit 1, the step's output and code, no tag. A syntax
/// error: file:line, exit 1. A missing COPY source named.
fn bad_builds(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nRUN echo before-failing && exit 3\nCMD [\"true\"]\n").as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "broken", &ctx(&env)]);
    out.fails(1);
    assert!(out.stdout.contains("before-failing"), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3"
        ),
        "{}",
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

    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\n\nBOGUS thing\n").as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "broken", &ctx(&env)]);
    out.fails(1);
    assert_eq!(
        out.stderr.trim(),
        "burrow: Dockerfile:3: BOGUS: unknown instruction: BOGUS",
        "{}",
        out.describe()
    );

    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nCOPY nothere.txt /\n").as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "broken", &ctx(&env)]);
    out.fails(1);
    assert!(out.stderr.contains("nothere.txt"), "{}", out.describe());
    assert!(
        env.burrow(&["images", "-q", "broken"])
            .ok()
            .stdout
            .trim()
            .is_empty(),
        "a tag on a failed build"
    );
}

#[test]
fn bad_builds_sub() {
    bad_builds(User::Sub);
}

#[test]
fn bad_builds_nosub() {
    bad_builds(User::NoSub);
}

/// The config instructions, ADD of a local tar (extracted), COPY --chmod,
/// .dockerignore, `-f -`, --label and --iidfile.
fn config_and_add(user: User) {
    let Some((env, img)) = setup(user) else {
        return;
    };
    let tgz = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {0} && mkdir t && echo in-tar > t/t.txt && tar -C t -czf ctx/files.tgz t.txt",
            env.dir().display()
        ))
        .status()
        .unwrap();
    assert!(tgz.success());
    env.user.chown(&env.dir().join("ctx/files.tgz"));
    env.write("ctx/.dockerignore", b"secret\n");
    env.write("ctx/secret", b"never copied\n");
    env.write("ctx/y", b"y\n");
    let dockerfile = format!(
        "FROM {img}\nADD files.tgz /x/\nCOPY --chmod=600 . /c/\nUSER 1000\nEXPOSE 80\n\
         STOPSIGNAL SIGTERM\nVOLUME /data\nENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat /x/t.txt; stat -c %a /c/y; ls /c\"]\n"
    );
    let iid = env.dir().join("iid");
    let out = env.burrow_with(
        &[
            "build",
            "-f",
            "-",
            "--label",
            "a=b",
            "--iidfile",
            &iid.display().to_string(),
            "-t",
            "cfg",
            &ctx(&env),
        ],
        &[],
        Some(dockerfile.as_bytes()),
    );
    out.ok();
    let v = inspect(&env, "cfg");
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        v["Id"].as_str().unwrap(),
        "{}",
        out.describe()
    );
    let c = &v["Config"];
    assert_eq!(c["Labels"]["a"], "b", "{v}");
    assert_eq!(c["User"], "1000", "{v}");
    assert!(c["ExposedPorts"]["80/tcp"].is_object(), "{v}");
    assert_eq!(c["StopSignal"], "SIGTERM", "{v}");
    assert!(c["Volumes"]["/data"].is_object(), "{v}");
    let run = env.burrow(&["run", "--rm", "--network", "none", "-u", "0", "cfg"]);
    assert_eq!(
        run.ok().stdout,
        "in-tar\n600\nfiles.tgz\ny\n",
        "{}",
        run.describe()
    );
}

#[test]
fn config_and_add_sub() {
    config_and_add(User::Sub);
}

#[test]
fn config_and_add_nosub() {
    config_and_add(User::NoSub);
}

/// A COPY step's files are made once: the step's temp dir becomes the
/// layer's dir in the store, not unpacked again from the layer's blob
/// after it was written (no file of the layer changed after the blob).
/// The layer is still reproducible under SOURCE_DATE_EPOCH, its dir has
/// the blob's times, and owners and modes are what they were.
fn copy_layer_made_once(user: User) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some((env, img)) = setup(user) else {
        return;
    };
    env.mkdir("ctx/tree/sub");
    env.write("ctx/tree/a.txt", b"a\n");
    env.write("ctx/tree/sub/b.txt", b"b\n");
    let perm = |p: &str, m: u32| {
        std::fs::set_permissions(env.dir().join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    perm("ctx/tree/a.txt", 0o640);
    perm("ctx/tree/sub", 0o750);
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nCOPY tree/ /tree/\n").as_bytes(),
    );
    let epoch = [("SOURCE_DATE_EPOCH", "1000")];
    let build = |tag: &str| {
        let out = env.burrow_with(
            &["build", "--no-cache", "-q", "-t", tag, &ctx(&env)],
            &epoch,
            None,
        );
        out.ok().stdout.trim().to_string()
    };
    let first = build("once");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(build("twice"), first, "same inputs, same image");

    // The layer dir holding the copied files, and the layer's blob (the
    // only one the build cache keeps: FROM and one COPY).
    let layer = std::fs::read_dir(env.root().join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("tree/sub/b.txt").exists())
        .expect("no layer dir holds the copied files");
    let blobs: Vec<_> = std::fs::read_dir(env.root().join("build-cache/blobs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let blob = blobs[0].metadata().unwrap();
    let blob_written = (blob.mtime(), blob.mtime_nsec());
    for rel in ["tree", "tree/a.txt", "tree/sub", "tree/sub/b.txt"] {
        let m = std::fs::symlink_metadata(layer.join(rel)).unwrap();
        assert!(
            (m.ctime(), m.ctime_nsec()) <= blob_written,
            "{rel} changed at {}.{:09}, after the blob was written at {}.{:09}: unpacked again",
            m.ctime(),
            m.ctime_nsec(),
            blob_written.0,
            blob_written.1
        );
        assert_eq!(
            (m.mtime(), m.mtime_nsec()),
            (1000, 0),
            "{rel}: the blob's time"
        );
    }
    let run = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "once",
        "stat",
        "-c",
        "%n %u:%g %a %Y",
        "/tree",
        "/tree/a.txt",
        "/tree/sub",
        "/tree/sub/b.txt",
    ]);
    assert_eq!(
        run.ok().stdout,
        "/tree 0:0 755 1000\n/tree/a.txt 0:0 640 1000\n\
         /tree/sub 0:0 750 1000\n/tree/sub/b.txt 0:0 644 1000\n",
        "{}",
        run.describe()
    );
}

#[test]
fn copy_layer_made_once_sub() {
    copy_layer_made_once(User::Sub);
}

#[test]
fn copy_layer_made_once_nosub() {
    copy_layer_made_once(User::NoSub);
}
