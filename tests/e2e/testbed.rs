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
