//! `--restart`: the detached supervisor starts the command again in a
//! fresh init, by docker's rules, as the unprivileged test users.

use crate::common::*;
use crate::live::{assert_nothing_left, both, detach, eventually, nix_kill, ps_status, record_of};

fn inspect(env: &TestEnv, name: &str) -> serde_json::Value {
    let out = env.burrow(&["container", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    v[0].clone()
}

#[test]
fn on_failure_retries_n_times_on_the_kept_upper_dir() {
    both(|env, img| {
        // Each run appends to a file in the container and prints its count.
        let script = "echo x >> /runs; wc -l < /runs; exit 3";
        detach(
            env,
            &[
                "--name",
                "f",
                "--restart",
                "on-failure:2",
                img,
                "sh",
                "-c",
                script,
            ],
        );
        eventually("the last retry", || {
            ps_status(env, "f").starts_with("Exited (3)")
        });
        let v = inspect(env, "f");
        assert_eq!(v["RestartCount"], 2);
        assert_eq!(v["State"]["ExitCode"], 3);
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
        let logs = env.burrow(&["logs", "f"]);
        let counts: Vec<&str> = logs.ok().stdout.split_whitespace().collect();
        assert_eq!(counts, ["1", "2", "3"]);
        // A clean exit is not a failure: no restart.
        detach(
            env,
            &["--name", "ok", "--restart", "on-failure", img, "true"],
        );
        eventually("its exit", || {
            ps_status(env, "ok").starts_with("Exited (0)")
        });
        assert_eq!(inspect(env, "ok")["RestartCount"], 0);
        env.burrow(&["rm", "f", "ok"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn always_restarts_until_the_user_stops_it() {
    both(|env, img| {
        detach(
            env,
            &[
                "--name",
                "a",
                "--restart",
                "always",
                img,
                "sh",
                "-c",
                "exit 1",
            ],
        );
        // The delay doubles from 100 ms: it is soon caught waiting.
        eventually("Restarting in ps", || {
            ps_status(env, "a").starts_with("Restarting (1)")
        });
        assert_eq!(inspect(env, "a")["State"]["Restarting"], true);
        env.burrow(&["stop", "a"]).ok();
        assert!(ps_status(env, "a").starts_with("Exited (1)"));
        let count = inspect(env, "a")["RestartCount"].clone();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(inspect(env, "a")["RestartCount"], count);
        assert!(ps_status(env, "a").starts_with("Exited (1)"));
        env.burrow(&["rm", "a"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn a_killed_init_comes_back_but_a_stopped_one_does_not() {
    both(|env, img| {
        let id = detach(
            env,
            // With a pty: each run gets a new one, read by the supervisor.
            &[
                "-t",
                "--name",
                "u",
                "--restart",
                "unless-stopped",
                img,
                "sh",
                "-c",
                "tty; exec sleep 1000",
            ],
        );
        // Killed once it has spoken: a kill before `tty` ran leaves one line.
        eventually("the first run's tty line", || {
            env.burrow(&["logs", "u"]).ok().stdout.contains("/dev/pts/")
        });
        let first = record_of(env, &id)["init"]["pid"].as_i64().unwrap();
        nix_kill(first as i32);
        eventually("a new init", || {
            let r = record_of(env, &id);
            r["restart_count"] == 1 && r["init"]["pid"].as_i64().is_some_and(|p| p != first)
        });
        assert!(ps_status(env, "u").starts_with("Up"));
        env.burrow(&["exec", "u", "true"]).ok();
        eventually("both runs' tty lines", || {
            env.burrow(&["logs", "u"])
                .ok()
                .stdout
                .matches("/dev/pts/")
                .count()
                == 2
        });
        env.burrow(&["stop", "-t", "1", "u"]).ok();
        let s = ps_status(env, "u");
        assert!(
            s.starts_with("Exited (143)") || s.starts_with("Exited (137)"),
            "{s}"
        );
        assert_eq!(record_of(env, &id)["restart_count"], 1);
        // A start by the user counts from zero again.
        env.burrow(&["start", "u"]).ok();
        assert_eq!(record_of(env, &id)["restart_count"], 0);
        env.burrow(&["rm", "-f", "u"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn foreground_run_returns_the_first_runs_code_and_it_restarts_on() {
    let Some((env, img)) = crate::run::ready(User::Sub) else {
        return;
    };
    let out = env.burrow(&[
        "run",
        "--name",
        "fg",
        "--restart",
        "on-failure:1",
        &img,
        "sh",
        "-c",
        "echo hi; exit 4",
    ]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(out.stdout, "hi\n");
    eventually("the retry", || {
        ps_status(&env, "fg").starts_with("Exited (4)")
    });
    assert_eq!(inspect(&env, "fg")["RestartCount"], 1);
    env.burrow(&["rm", "fg"]).ok();
    assert_nothing_left(&env);
}

#[test]
fn bad_restart_flags_are_one_line_and_125() {
    let Some((env, img)) = crate::run::ready(User::NoSub) else {
        return;
    };
    for args in [
        vec!["run", "--restart", "bogus", &img, "true"],
        vec!["run", "--restart", "on-failure:x", &img, "true"],
        vec!["run", "--rm", "--restart", "always", &img, "true"],
        vec!["create", "--restart", "always:3", &img, "true"],
        vec!["run", "-it", "--restart", "always", &img, "true"],
    ] {
        let out = env.burrow(&args);
        out.fails(125);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(out.stderr.contains("--restart"), "{}", out.describe());
    }
    assert_eq!(env.burrow(&["ps", "-aq"]).ok().stdout, "");
}
