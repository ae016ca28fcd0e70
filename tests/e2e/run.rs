//! `burrow run`, `create` and `start` as the unprivileged test users,
//! against the fixture images from the local registry.

use crate::common::*;

/// A test env with the busybox fixture pulled and the one-time id-map
/// note already shown (so stderr holds only what a test causes).
fn ready(user: User) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    let first = env.burrow(&["run", "--rm", &img, "true"]);
    first.ok();
    assert!(first.stderr.contains("note:"), "{}", first.describe());
    Some((env, img))
}

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

#[test]
fn echo_and_exit_codes() {
    both(|env, img| {
        let out = env.burrow(&["run", "--rm", img, "echo", "hello"]);
        out.ok();
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.stderr, "");
        let out = env.burrow(&[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(out.code, 3, "{}", out.describe());
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        env.burrow(&["run", "--rm", img, "nonexistent-cmd"])
            .fails(127);
        env.burrow(&["run", "--rm", img, "/etc/passwd"]).fails(126);
        env.burrow(&["run", "--rm", img, "/no/such/file"])
            .fails(127);
        let out = env.burrow(&["run", "--rm", img, "sh", "-c", "kill -9 $$"]);
        assert_eq!(out.code, 137, "{}", out.describe());
    });
}
