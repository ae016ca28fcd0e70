//! The test bed itself: the registry serves the fixtures as built.

use crate::common::*;

#[test]
fn registry_serves_the_fixtures() {
    if let Err(why) = User::NoSub.available() {
        return skip(&why);
    }
    let reg = registry();
    for name in ["busybox", "debian"] {
        let tags = reg.get(&format!("/v2/fixtures/{name}/tags/list")).unwrap();
        assert!(tags.starts_with("HTTP/1.1 200"), "{tags}");
        assert!(tags.contains("\"latest\""), "{tags}");
    }
    // The busybox fixture has the three layers fixtures.sh makes.
    let layout = fixture_layout("busybox");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        3,
        "{manifest:#}"
    );
}

#[test]
fn probe_reports_as_the_test_user() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let mut cmd = env.command(probe_bin(), &[]);
    cmd.args(["status"]);
    let out = run(cmd, &["probe"], None);
    out.ok();
    let uid = User::NoSub.ids().0;
    assert!(
        out.stdout.contains(&format!("\nuid {uid}\n"))
            || out.stdout.starts_with(&format!("uid {uid}\n")),
        "{}",
        out.stdout
    );
    // On the host, a plain user may not set the hostname.
    let mut cmd = env.command(probe_bin(), &[]);
    cmd.args(["try", "sethostname"]);
    let out = run(cmd, &["probe"], None);
    assert_eq!(out.stdout.trim(), "sethostname EPERM", "{}", out.describe());
}
