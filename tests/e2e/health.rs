//! Health checks: the image's HEALTHCHECK and the `--health-*` flags, run
//! by the detached supervisor inside the container, as both test users.
//! Nothing here is timed: each test polls for the state it wants, with a
//! generous deadline, and checks what the log says happened.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::live::{assert_nothing_left, both, detach, ps_status};

/// Poll until `check` holds; the machine may be busy, so a minute.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(env: &TestEnv, name: &str) -> serde_json::Value {
    let out = env.burrow(&["container", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    v[0].clone()
}

fn health(env: &TestEnv, name: &str) -> serde_json::Value {
    inspect(env, name)["State"]["Health"].clone()
}

/// Names `ps` lists under `--filter health=WHICH`.
fn with_health(env: &TestEnv, which: &str) -> Vec<String> {
    let f = format!("health={which}");
    let out = env.burrow(&["ps", "-a", "--filter", &f, "--format", "{{.Names}}"]);
    let mut names: Vec<String> = out.ok().stdout.lines().map(String::from).collect();
    names.sort();
    names
}

/// A check that fails its first `fails` runs ("fail N"), then hangs (its
/// timeout is an hour), so the state stays as those runs left it.
fn fail_then_hang(fails: u32) -> String {
    format!(
        "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; \
         if [ $n -le {fails} ]; then echo fail $n; exit 1; fi; sleep 1000"
    )
}

#[test]
fn a_passing_check_makes_it_healthy() {
    both(|env, img| {
        detach(
            env,
            &[
                "--name",
                "ok",
                "--health-cmd",
                "echo fine",
                "--health-interval",
                "200ms",
                img,
                "sleep",
                "1000",
            ],
        );
        // An hour between checks: it stays starting.
        detach(
            env,
            &[
                "--name",
                "slow",
                "--health-cmd",
                "true",
                "--health-interval",
                "1h",
                img,
                "sleep",
                "1000",
            ],
        );
        detach(env, &["--name", "plain", img, "sleep", "1000"]);
        until("ok healthy", || ps_status(env, "ok").ends_with("(healthy)"));
        assert!(ps_status(env, "ok").starts_with("Up "));
        assert!(
            ps_status(env, "slow").ends_with("(health: starting)"),
            "{}",
            ps_status(env, "slow")
        );
        assert!(!ps_status(env, "plain").contains('('));
        let h = health(env, "ok");
        assert_eq!(h["Status"], "healthy");
        assert_eq!(h["FailingStreak"], 0);
        assert_eq!(h["Log"][0]["ExitCode"], 0);
        assert_eq!(h["Log"][0]["Output"], "fine\n");
        let v = inspect(env, "ok");
        assert_eq!(
            v["Config"]["Healthcheck"]["Test"],
            serde_json::json!(["CMD-SHELL", "echo fine"])
        );
        assert_eq!(v["Config"]["Healthcheck"]["Interval"], 200_000_000u64);
        assert_eq!(health(env, "slow")["Status"], "starting");
        assert!(inspect(env, "plain")["State"].get("Health").is_none());
        assert_eq!(with_health(env, "healthy"), ["ok"]);
        assert_eq!(with_health(env, "starting"), ["slow"]);
        assert_eq!(with_health(env, "none"), ["plain"]);
        assert!(with_health(env, "unhealthy").is_empty());
        // Stopped, it keeps its last health (inspect) but ps says Exited.
        env.burrow(&["stop", "-t", "0", "ok"]).ok();
        assert!(ps_status(env, "ok").starts_with("Exited"));
        assert_eq!(health(env, "ok")["Status"], "healthy");
        env.burrow(&["rm", "-f", "ok", "slow", "plain"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn failures_make_it_unhealthy_only_after_the_retries() {
    both(|env, img| {
        // Retries 3: two failures leave it starting, three make it unhealthy.
        for (name, fails) in [("two", 2), ("three", 3)] {
            detach(
                env,
                &[
                    "--name",
                    name,
                    "--health-cmd",
                    &fail_then_hang(fails),
                    "--health-interval",
                    "100ms",
                    "--health-timeout",
                    "1h",
                    "--health-retries",
                    "3",
                    img,
                    "sleep",
                    "1000",
                ],
            );
        }
        for (name, fails) in [("two", 2), ("three", 3)] {
            until("the failures noted", || {
                health(env, name)["Log"].as_array().map(Vec::len) == Some(fails)
            });
        }
        let two = health(env, "two");
        assert_eq!(two["Status"], "starting");
        assert_eq!(two["FailingStreak"], 2);
        assert_eq!(two["Log"][1]["ExitCode"], 1);
        assert_eq!(two["Log"][1]["Output"], "fail 2\n");
        let three = health(env, "three");
        assert_eq!(three["Status"], "unhealthy");
        assert_eq!(three["FailingStreak"], 3);
        assert!(ps_status(env, "three").ends_with("(unhealthy)"));
        assert_eq!(with_health(env, "unhealthy"), ["three"]);
        env.burrow(&["rm", "-f", "two", "three"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn a_check_past_its_timeout_is_killed_and_counts_as_a_failure() {
    both(|env, img| {
        detach(
            env,
            &[
                "--name",
                "t",
                "--health-cmd",
                "echo started; sleep 4242",
                "--health-timeout",
                "300ms",
                "--health-interval",
                "100ms",
                "--health-retries",
                "1",
                img,
                "sleep",
                "1000",
            ],
        );
        until("unhealthy", || health(env, "t")["Status"] == "unhealthy");
        let h = health(env, "t");
        assert_eq!(h["Log"][0]["ExitCode"], -1);
        assert_eq!(
            h["Log"][0]["Output"],
            "Health check exceeded timeout (300ms)"
        );
        // Each timed-out check is gone: at most the one running now is
        // left in the container.
        let sleeps = || {
            let ps = env.burrow(&["exec", "t", "ps", "-o", "args"]);
            let out = ps.ok().stdout.clone();
            (
                out.lines().filter(|l| l.trim() == "sleep 4242").count(),
                out,
            )
        };
        until("several checks", || {
            health(env, "t")["Log"].as_array().map(Vec::len) >= Some(3)
        });
        let (n, ps) = sleeps();
        assert!(n <= 1, "{ps}");
        env.burrow(&["rm", "-f", "t"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    both(|env, img| {
        detach(
            env,
            &[
                "--name",
                "sp",
                "--health-cmd",
                "exit 1",
                "--health-retries",
                "1",
                "--health-start-period",
                "1h",
                "--health-start-interval",
                "100ms",
                // Only the start interval can give three checks soon.
                "--health-interval",
                "1h",
                img,
                "sleep",
                "1000",
            ],
        );
        until("three checks", || {
            health(env, "sp")["Log"].as_array().map(Vec::len) >= Some(3)
        });
        let h = health(env, "sp");
        assert_eq!(h["Status"], "starting");
        assert_eq!(h["FailingStreak"], 0);
        assert_eq!(h["Log"][0]["ExitCode"], 1);
        env.burrow(&["rm", "-f", "sp"]).ok();
    });
}

#[test]
fn inspect_keeps_the_last_five_results_cut_at_4096_bytes() {
    both(|env, img| {
        let cmd = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; \
                   echo run $n; head -c 5000 /dev/zero | tr '\\0' a";
        detach(
            env,
            &[
                "--name",
                "l",
                "--health-cmd",
                cmd,
                "--health-interval",
                "100ms",
                img,
                "sleep",
                "1000",
            ],
        );
        let run_of = |v: &serde_json::Value| -> u32 {
            let out = v["Output"].as_str().unwrap();
            out.lines().next().unwrap()[4..].parse().unwrap()
        };
        until("seven checks", || {
            health(env, "l")["Log"]
                .as_array()
                .and_then(|l| l.last().map(run_of))
                >= Some(7)
        });
        let h = health(env, "l");
        let log = h["Log"].as_array().unwrap();
        assert_eq!(log.len(), 5);
        let runs: Vec<u32> = log.iter().map(run_of).collect();
        let last = runs[4];
        assert_eq!(runs, (last - 4..=last).collect::<Vec<_>>());
        for entry in log {
            let out = entry["Output"].as_str().unwrap();
            assert_eq!(out.len(), 4096 + 3, "{}", &out[..40]);
            assert!(out.ends_with("aaa..."));
            assert_eq!(entry["ExitCode"], 0);
            let start = humantime::parse_rfc3339(entry["Start"].as_str().unwrap()).unwrap();
            let end = humantime::parse_rfc3339(entry["End"].as_str().unwrap()).unwrap();
            assert!(end >= start);
        }
        env.burrow(&["rm", "-f", "l"]).ok();
    });
}

/// busybox saved, its config given a HEALTHCHECK, loaded as `health/bb:1`.
fn image_with_healthcheck(env: &TestEnv, img: &str, check: serde_json::Value) -> String {
    let work = env.mkdir("hc");
    let archive = work.join("bb.tar");
    env.burrow(&["save", "-o", archive.to_str().unwrap(), img])
        .ok();
    let x = work.join("x");
    std::fs::create_dir_all(&x).unwrap();
    let tar = |args: &[&str]| {
        let st = Command::new("tar").args(args).status().unwrap();
        assert!(st.success(), "tar {args:?}");
    };
    tar(&["-C", x.to_str().unwrap(), "-xf", archive.to_str().unwrap()]);
    let manifest_path = x.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join(&config_name)).unwrap()).unwrap();
    config["config"]["Healthcheck"] = check;
    std::fs::write(
        x.join("health-config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    manifest[0]["Config"] = "health-config.json".into();
    manifest[0]["RepoTags"] = serde_json::json!(["health/bb:1"]);
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = work.join("health.tar");
    tar(&["-C", x.to_str().unwrap(), "-cf", out.to_str().unwrap(), "."]);
    env.user.chown(&out);
    env.burrow(&["load", "-i", out.to_str().unwrap()]).ok();
    "health/bb:1".into()
}

#[test]
fn the_images_healthcheck_runs_unless_no_healthcheck_says_otherwise() {
    both(|env, img| {
        let check = serde_json::json!({
            "Test": ["CMD", "sh", "-c", "echo from the image"],
            "Interval": 100_000_000u64,
            "Retries": 2,
        });
        let hc = image_with_healthcheck(env, img, check);
        detach(env, &["--name", "img", &hc, "sleep", "1000"]);
        // Flags over the image's check: its test stays, the retries change.
        detach(
            env,
            &[
                "--name",
                "tuned",
                "--health-retries",
                "7",
                &hc,
                "sleep",
                "1000",
            ],
        );
        detach(
            env,
            &["--name", "off", "--no-healthcheck", &hc, "sleep", "1000"],
        );
        until("the image's check passes", || {
            health(env, "img")["Status"] == "healthy"
        });
        assert_eq!(health(env, "img")["Log"][0]["Output"], "from the image\n");
        let tuned = inspect(env, "tuned")["Config"]["Healthcheck"].clone();
        assert_eq!(tuned["Test"][3], "echo from the image");
        assert_eq!(tuned["Retries"], 7);
        assert_eq!(tuned["Interval"], 100_000_000u64);
        let off = inspect(env, "off");
        assert_eq!(
            off["Config"]["Healthcheck"]["Test"],
            serde_json::json!(["NONE"])
        );
        assert!(off["State"].get("Health").is_none());
        until("tuned healthy", || {
            health(env, "tuned")["Status"] == "healthy"
        });
        assert_eq!(with_health(env, "none"), ["off"]);
        assert!(!ps_status(env, "off").contains('('));
        assert!(!env
            .dir()
            .join("store/containers")
            .read_dir()
            .unwrap()
            .any(|e| {
                let id = off["Id"].as_str().unwrap();
                let e = e.unwrap();
                e.file_name().to_str() == Some(id) && e.path().join("health.json").exists()
            }));
        env.burrow(&["rm", "-f", "img", "tuned", "off"]).ok();
        assert_nothing_left(env);
    });
}

#[test]
fn no_healthcheck_with_a_health_flag_is_refused() {
    let Some((env, img)) = crate::run::ready(User::NoSub) else {
        return;
    };
    let out = env.burrow(&[
        "run",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        &img,
        "true",
    ]);
    out.fails(125);
    assert_eq!(
        out.stderr.trim(),
        "burrow: --no-healthcheck conflicts with --health-* options"
    );
    let out = env.burrow(&["run", "--health-interval", "soon", &img, "true"]);
    out.fails(125);
    assert!(
        out.stderr.contains("--health-interval"),
        "{}",
        out.describe()
    );
    assert_eq!(
        env.burrow(&["ps", "-aq"]).ok().stdout,
        "",
        "nothing was made"
    );
}

#[test]
fn a_foreground_container_is_checked_too() {
    both(|env, img| {
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.arg("--root").arg(env.root()).args([
            "run",
            "--name",
            "fg",
            "--health-cmd",
            "echo in the foreground",
            "--health-interval",
            "100ms",
            img,
            "sleep",
            "1000",
        ]);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        until("fg healthy", || {
            env.burrow(&["container", "inspect", "fg"]).code == 0
                && health(env, "fg")["Status"] == "healthy"
        });
        assert!(ps_status(env, "fg").ends_with("(healthy)"));
        assert_eq!(health(env, "fg")["Log"][0]["Output"], "in the foreground\n");
        env.burrow(&["rm", "-f", "fg"]).ok();
        child.wait().unwrap();
        assert_nothing_left(env);
    });
}
