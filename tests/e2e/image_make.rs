//! Making and sharing images: commit, diff, export, cp, push, search, as
//! both test users, against the test registry on 127.0.0.1.

use std::net::TcpListener;

use crate::common::*;
use crate::images::inspect;

/// A store with busybox pulled, as `user`.
fn env_with_busybox(user: User) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    Some((env, img))
}

/// What a container made: a file chowned to 33:33, mode 640, a hard link
/// to it, a directory, and /etc/group removed.
const CHANGES: &str = "echo hi > /made && (chown 33:33 /made || true) && chmod 640 /made \
                       && mkdir /d && ln /made /d/hl && rm /etc/group";

fn commit_then_run(user: User) {
    let Some((env, img)) = env_with_busybox(user) else {
        return;
    };
    env.burrow(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        CHANGES,
    ])
    .ok();
    let out = env.burrow(&[
        "commit",
        "-c",
        "ENV FOO=bar",
        "-c",
        "EXPOSE 8080",
        "-m",
        "a message",
        "-a",
        "me",
        "c1",
        "made/here:1",
    ]);
    let id = out.ok().stdout.trim().to_string();
    assert!(id.starts_with("sha256:"), "{}", out.describe());
    let v = inspect(&env, "made/here:1");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Author"], "me");
    assert!(v["Config"]["Env"].to_string().contains("FOO=bar"), "{v}");
    assert!(v["Config"]["ExposedPorts"]["8080/tcp"].is_object(), "{v}");
    assert_eq!(v["Config"]["Cmd"][2], CHANGES);
    let history = env.burrow(&["history", "--no-trunc", "made/here:1"]);
    assert!(
        history.ok().stdout.contains("a message"),
        "{}",
        history.describe()
    );
    // The new image runs, with the file, its mode, its owner, the link
    // and the deletion.
    let out = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "made/here:1",
        "sh",
        "-c",
        "stat -c '%u:%g %a %h' /made; cat /d/hl; test -e /etc/group && echo group; echo $FOO",
    ]);
    // Both modes: single-id mode keeps the owner chown recorded.
    let owner = "33:33";
    assert_eq!(
        out.ok().stdout,
        format!("{owner} 640 2\nhi\nbar\n"),
        "{}",
        out.describe()
    );
}

#[test]
fn commit_then_run_keeps_files_and_owners_sub() {
    commit_then_run(User::Sub);
}

#[test]
fn commit_then_run_keeps_files_and_owners_nosub() {
    commit_then_run(User::NoSub);
}

#[test]
fn diff_lists_added_changed_and_deleted() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = env_with_busybox(user) else {
            return;
        };
        env.burrow(&[
            "run",
            "--name",
            "c",
            "--network",
            "none",
            &img,
            "sh",
            "-c",
            CHANGES,
        ])
        .ok();
        let out = env.burrow(&["diff", "c"]);
        assert_eq!(
            out.ok().stdout,
            "A /d\nA /d/hl\nC /etc\nD /etc/group\nA /made\n",
            "{}",
            out.describe()
        );
    }
}

#[test]
fn export_then_import_then_run() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = env_with_busybox(user) else {
            return;
        };
        env.burrow(&[
            "run",
            "--name",
            "c",
            "--network",
            "none",
            &img,
            "sh",
            "-c",
            CHANGES,
        ])
        .ok();
        let file = env.dir().join("root.tar");
        env.burrow(&["export", "-o", file.to_str().unwrap(), "c"])
            .ok();
        // Owners as the container sees them, in the tar.
        let listing = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&file)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
        let made = listing
            .lines()
            .find(|l| l.ends_with(" made") || l.contains(" made link to"))
            .unwrap_or("");
        // Both modes: single-id mode's recorded owner goes into the tar.
        let owner = "33/33";
        assert!(made.contains(owner), "{made}\n{listing}");
        assert!(!listing.contains("etc/group"), "{listing}");
        env.burrow(&["import", file.to_str().unwrap(), "imported:1"])
            .ok();
        let out = env.burrow(&[
            "run",
            "--rm",
            "--network",
            "none",
            "imported:1",
            "cat",
            "/made",
        ]);
        assert_eq!(out.ok().stdout, "hi\n");
    }
}

fn cp_both_ways(user: User, running: bool) {
    let Some((env, img)) = env_with_busybox(user) else {
        return;
    };
    if running {
        env.burrow(&[
            "run",
            "-d",
            "--name",
            "c",
            "--network",
            "none",
            &img,
            "sleep",
            "300",
        ])
        .ok();
    } else {
        env.burrow(&["create", "--name", "c", "--network", "none", &img, "true"])
            .ok();
    }
    let src = env.write("host.txt", b"from the host\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o604)).unwrap();
    env.burrow(&["cp", "-a", src.to_str().unwrap(), "c:/tmp/"])
        .ok();
    env.burrow(&["cp", src.to_str().unwrap(), "c:/renamed"])
        .ok();
    // Back out, checked on the host.
    let back = env.dir().join("back.txt");
    env.burrow(&["cp", "c:/tmp/host.txt", back.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&back).unwrap(), b"from the host\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&back).unwrap().mode() & 0o7777, 0o604);
    // A tar on stdout names the container's owners: -a kept the host
    // user's, a plain cp gave root's.
    let out = env.burrow(&["cp", "c:/tmp/host.txt", "-"]);
    out.ok();
    let (uid, _) = user.ids();
    let mut a = tar::Archive::new(out.stdout.as_bytes());
    let e = a.entries().unwrap().next().unwrap().unwrap();
    let want = if user == User::Sub { uid as u64 } else { 0 };
    assert_eq!(e.header().uid().unwrap(), want);
    assert_eq!(e.header().mode().unwrap() & 0o7777, 0o604);
    let out = env.burrow(&["cp", "c:/renamed", "-"]);
    let mut a = tar::Archive::new(out.ok().stdout.as_bytes());
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().uid().unwrap(), 0);
    assert_eq!(e.path().unwrap().to_str().unwrap(), "renamed");
    // And the container itself sees the files.
    if running {
        let out = env.burrow(&["exec", "c", "cat", "/tmp/host.txt", "/renamed"]);
        assert_eq!(out.ok().stdout, "from the host\nfrom the host\n");
        env.burrow(&["rm", "-f", "c"]).ok();
    } else {
        let out = env.burrow(&["diff", "c"]);
        assert!(
            out.ok().stdout.contains("A /tmp/host.txt"),
            "{}",
            out.describe()
        );
    }
    // A missing source in the container: one line, Docker's exit code.
    if !running {
        env.burrow(&["cp", "c:/nope", back.to_str().unwrap()])
            .fails(1);
    }
}

#[test]
fn cp_running_sub() {
    cp_both_ways(User::Sub, true);
}

#[test]
fn cp_stopped_sub() {
    cp_both_ways(User::Sub, false);
}

#[test]
fn cp_running_nosub() {
    cp_both_ways(User::NoSub, true);
}

#[test]
fn cp_stopped_nosub() {
    cp_both_ways(User::NoSub, false);
}

#[test]
fn push_then_pull_into_a_fresh_store() {
    let Some((a, img)) = env_with_busybox(User::Sub) else {
        return;
    };
    let Some(b) = TestEnv::new(User::NoSub) else {
        return;
    };
    a.burrow(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        CHANGES,
    ])
    .ok();
    let target = format!("{}/pushed/made-{}:1", registry().addr(), std::process::id());
    a.burrow(&["commit", "c", &target]).ok();
    let first = a.burrow(&["push", &target]);
    let text = first.ok().stdout.clone();
    assert!(text.contains("Pushed"), "{text}");
    // The base layers exist in the fixtures' repository: mounted, not sent.
    assert!(text.contains("Mounted from fixtures/busybox"), "{text}");
    let manifest = a.burrow(&["image", "inspect", "--format", "{{.Id}}", &target]);
    manifest.ok();
    assert!(text.contains("1: digest: sha256:"), "{text}");
    let again = a.burrow(&["push", &target]);
    let text = again.ok().stdout.clone();
    assert!(text.contains("Layer already exists"), "{text}");
    assert!(!text.contains("Pushed"), "{text}");
    // --all-tags pushes every tag of the repository.
    let repo = target.trim_end_matches(":1").to_string();
    a.burrow(&["tag", &target, &format!("{repo}:2")]).ok();
    let all = a.burrow(&["push", "--all-tags", &repo]);
    let text = all.ok().stdout.clone();
    assert_eq!(text.matches(": digest: sha256:").count(), 2, "{text}");
    assert!(text.contains("\n2: digest: "), "{text}");
    // Another user, another store: pull and run.
    b.burrow(&["pull", "-q", &target]).ok();
    assert_eq!(inspect(&a, &target)["Id"], inspect(&b, &target)["Id"]);
    let out = b.burrow(&["run", "--rm", "--network", "none", &target, "cat", "/made"]);
    assert_eq!(out.ok().stdout, "hi\n");
}

#[test]
fn search_lists_the_registry_catalog() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let reg = registry();
    let out = env.burrow(&["search", &format!("{}/busy", reg.addr())]);
    let text = out.ok().stdout.clone();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]);
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, [format!("{}/fixtures/busybox", reg.addr())]);
    let out = env.burrow(&[
        "search",
        "--format",
        "{{.Name}}",
        "--limit",
        "1",
        &format!("{}/fixtures", reg.addr()),
    ]);
    assert_eq!(out.ok().stdout.lines().count(), 1, "{}", out.describe());
    let out = env.burrow(&[
        "search",
        "--filter",
        "stars=1",
        &format!("{}/fixtures", reg.addr()),
    ]);
    assert_eq!(
        out.ok().stdout.lines().count(),
        1,
        "only the header: {}",
        out.describe()
    );
}

#[test]
fn equal_changes_with_source_date_epoch_give_one_digest() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = env_with_busybox(user) else {
            return;
        };
        let mut ids = Vec::new();
        for name in ["one", "two"] {
            env.burrow(&[
                "run",
                "--name",
                name,
                "--network",
                "none",
                &img,
                "sh",
                "-c",
                CHANGES,
            ])
            .ok();
            let out = env.burrow_with(&["commit", name], &[("SOURCE_DATE_EPOCH", "1000")], None);
            ids.push(out.ok().stdout.trim().to_string());
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        assert_eq!(ids[0], ids[1], "same changes, same image");
        let v = inspect(&env, &ids[0]);
        assert_eq!(v["Created"], "1970-01-01T00:16:40Z");
        // Without it the times differ.
        let out = env.burrow(&["commit", "one"]);
        assert_ne!(out.ok().stdout.trim(), ids[0]);
    }
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let Some((env, img)) = env_with_busybox(User::Sub) else {
        return;
    };
    let images_before = env.burrow(&["images", "-q"]).ok().stdout.clone();
    env.burrow(&["commit", "nope", "x/y:1"]).fails(1);
    env.burrow(&["diff", "nope"]).fails(1);
    env.burrow(&["export", "-o", "/dev/null", "nope"]).fails(1);
    env.burrow(&["run", "--name", "c", "--network", "none", &img, "true"])
        .ok();
    env.burrow(&["commit", "c", "Bad::Ref"]).fails(125);
    env.burrow(&["commit", "-c", "RUN rm -rf /", "c", "x/y:1"])
        .fails(125);
    // A closed port on loopback: one line, and no tag anywhere.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}/x/y:1");
    env.burrow(&["tag", &img, &target]).ok();
    let out = env.burrow(&["push", "-q", &target]);
    out.fails(125);
    assert!(out.stderr.contains("cannot reach"), "{}", out.describe());
    env.burrow(&["search", &format!("127.0.0.1:{port}/x")])
        .fails(125);
    env.burrow(&["push", "-q", "not/here:1"]).fails(1);
    env.burrow(&["rmi", &target]).ok();
    assert_eq!(
        env.burrow(&["images", "-q"]).ok().stdout,
        images_before,
        "no image was made by the failures"
    );
    assert!(temp_files(&env).is_empty(), "{:?}", temp_files(&env));
}

fn temp_files(env: &TestEnv) -> Vec<String> {
    crate::images_registry::temp_files(env)
}

#[test]
fn search_reads_docker_hubs_answer_shape() {
    // A stand-in for Docker Hub's search API on loopback (tests never
    // reach Docker Hub): the same JSON, the same filters.
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let addr = crate::images_registry::fake_registry(std::sync::Arc::new(
        move |path: &str, _: &str| {
            log.lock().unwrap().push(path.to_string());
            crate::images_registry::ok(
            br#"{"num_results":3,"query":"nginx","results":[
                {"name":"nginx","description":"Official build of Nginx.","star_count":20000,"is_official":true,"is_automated":false},
                {"name":"someone/nginx-proxy","description":"A proxy","star_count":150,"is_official":false,"is_automated":false},
                {"name":"other/nginx","description":"","star_count":3,"is_official":false,"is_automated":false}]}"#,
            "application/json",
        )
        },
    ));
    let url = format!("http://{addr}/v1/search");
    let search = |args: &[&str]| {
        let mut all = vec!["search"];
        all.extend_from_slice(args);
        let out = env.burrow_with(&all, &[("BURROW_SEARCH_URL", &url)], None);
        out.ok();
        out.stdout
    };
    let table = search(&["nginx"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("OFFICIAL"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("nginx ") && lines[1].ends_with("[OK]"),
        "{table}"
    );
    assert!(lines[1].contains("20000"), "{table}");
    assert_eq!(
        search(&["--filter", "stars=100", "--format", "{{.Name}}", "nginx"]),
        "nginx\nsomeone/nginx-proxy\n"
    );
    assert_eq!(
        search(&[
            "--filter",
            "is-official=true",
            "--format",
            "{{.Name}}",
            "nginx"
        ]),
        "nginx\n"
    );
    assert_eq!(
        search(&["--limit", "1", "--format", "{{.Name}}", "nginx"]),
        "nginx\n"
    );
    let asked = seen.lock().unwrap().clone();
    assert!(
        asked.iter().all(|p| p.starts_with("/v1/search?q=nginx")),
        "{asked:?}"
    );
    env.burrow(&["search", "--filter", "bogus=1", "nginx"])
        .fails(125);
}
