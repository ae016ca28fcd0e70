//! `pause`/`unpause`: the cgroup v2 freezer where the user's cgroup is
//! delegated (tests/setup/install.sh makes one per test user and the test
//! moves burrow into it), and one clear line where it is not.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use crate::live::{assert_nothing_left, both, eventually, ps_status, record_of};

/// The cgroup v2 mount, from our mountinfo.
pub(crate) fn v2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| PathBuf::from(left.split_whitespace().nth(4).unwrap()))
    })
}

/// The cgroup install.sh delegated to this env's user.
pub(crate) fn delegated(env: &TestEnv) -> Option<PathBuf> {
    let Some(mount) = v2_mount() else {
        skip("no cgroup v2 hierarchy on this machine: pause cannot work here");
        return None;
    };
    let dir = mount.join("burrow-test").join(env.user.name());
    assert!(
        dir.join("cgroup.procs").exists(),
        "{} is missing: run tests/setup/install.sh as root",
        dir.display()
    );
    Some(dir)
}

/// The counter the container writes into its upper dir.
fn counter(env: &TestEnv, id: &str) -> u64 {
    let p = env.root().join("containers").join(id).join("upper/n");
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

const COUNT: &str = "i=0; while :; do i=$((i+1)); echo $i > /n; sleep 0.05; done";

#[test]
fn pause_freezes_and_unpause_thaws_in_a_delegated_cgroup() {
    both(|env, img| {
        let Some(cg) = delegated(env) else { return };
        let out = env.burrow_in_cgroup(&cg, &["run", "-d", "--name", "p", img, "sh", "-c", COUNT]);
        let id = out.ok().stdout.trim().to_string();
        assert_eq!(out.stderr, "", "run warns: {}", out.describe());
        let own = PathBuf::from(record_of(env, &id)["cgroup"].as_str().unwrap());
        assert!(own.starts_with(&cg), "{}", own.display());
        eventually("the counter", || counter(env, &id) > 2);

        env.burrow(&["pause", "p"]).ok();
        assert!(
            ps_status(env, "p").ends_with("(Paused)"),
            "{}",
            ps_status(env, "p")
        );
        let v = env
            .burrow(&["container", "inspect", "p"])
            .ok()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v[0]["State"]["Status"], "paused");
        assert_eq!(v[0]["State"]["Paused"], true);
        let frozen = counter(env, &id);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(counter(env, &id), frozen, "the counter moved while paused");
        let out = env.burrow(&["exec", "p", "true"]);
        out.fails(1);
        assert!(out
            .stderr
            .contains("is paused, unpause the container before exec"));
        env.burrow(&["pause", "p"]).fails(1);

        env.burrow(&["unpause", "p"]).ok();
        eventually("the counter again", || counter(env, &id) > frozen + 2);
        env.burrow(&["exec", "p", "true"]).ok();
        env.burrow(&["unpause", "p"]).fails(1);
        let stats = env.burrow(&["stats", "--no-stream", "p"]);
        assert!(
            stats.ok().stdout.contains(&id[..12]),
            "{}",
            stats.describe()
        );

        // stop, kill and rm -f work on a paused container.
        env.burrow(&["pause", "p"]).ok();
        env.burrow(&["stop", "-t", "1", "p"]).ok();
        assert!(ps_status(env, "p").starts_with("Exited"));
        assert!(!own.exists(), "{} is left", own.display());
        env.burrow_in_cgroup(&cg, &["start", "p"]).ok();
        env.burrow(&["pause", "p"]).ok();
        env.burrow(&["kill", "p"]).ok();
        eventually("its end", || {
            ps_status(env, "p").starts_with("Exited (137)")
        });
        env.burrow_in_cgroup(&cg, &["start", "p"]).ok();
        env.burrow(&["pause", "p"]).ok();
        env.burrow(&["rm", "-f", "p"]).ok();
        assert!(!own.exists(), "{} is left", own.display());
        assert_nothing_left(env);
    });
}

#[test]
fn pause_says_why_not_where_nothing_is_delegated() {
    both(|env, img| {
        // The tests run in root's cgroup: not the test user's.
        let out = env.burrow(&["run", "-d", "--name", "n", img, "sh", "-c", COUNT]);
        out.ok();
        assert_eq!(out.stderr, "", "run warns: {}", out.describe());
        let out = env.burrow(&["pause", "n"]);
        out.fails(125);
        assert!(out.stderr.contains("cannot pause n"), "{}", out.describe());
        assert!(out.stderr.contains("delegate"), "{}", out.describe());
        assert!(ps_status(env, "n").starts_with("Up"));
        env.burrow(&["pause", "nope"]).fails(1);
        env.burrow(&["rm", "-f", "n"]).ok();
        assert_nothing_left(env);
    });
}
