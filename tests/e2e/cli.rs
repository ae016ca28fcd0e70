//! The command-line frame: help, version, and bad input.

use crate::common::*;

#[test]
fn help_lists_only_built_commands() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["--help"]);
    out.ok();
    for verb in ["info", "version", "completion"] {
        assert!(out.stdout.contains(verb), "{verb} missing:\n{}", out.stdout);
    }
    // Every verb listed must answer its own --help.
    let listed: Vec<String> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(!listed.is_empty());
    for verb in listed {
        env.burrow(&[&verb, "--help"]).ok();
    }
}

#[test]
fn version_names_the_package_version() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["version", "--format", "json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["Os"], "linux");
    let out = env.burrow(&["--version"]);
    assert_eq!(
        out.stdout.trim(),
        format!("burrow {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flag_is_one_line_and_125() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["info", "--no-such-flag"]);
    out.fails(125);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.describe());
    env.burrow(&["no-such-command"]).fails(125);
}

#[test]
fn root_on_a_file_is_refused() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let file = env.write("a-file", b"not a dir");
    let out = env.burrow(&["--root", file.to_str().unwrap(), "info"]);
    out.fails(125);
    assert!(out.stderr.contains("not a directory"), "{}", out.describe());
    assert_eq!(std::fs::read(&file).unwrap(), b"not a dir");
}

#[test]
fn unreadable_root_is_refused() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // A dir the test user cannot enter (owned by root, mode 0700).
    let locked = env.dir().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let root = locked.join("store");
    let out = env.burrow(&["--root", root.to_str().unwrap(), "info"]);
    out.fails(125);
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    assert!(!root.exists(), "nothing may be created");
}

#[test]
fn root_from_environment_is_used() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let root = env.dir().join("from-env");
    let mut cmd = env.command(burrow_bin(), &[("BURROW_ROOT", root.to_str().unwrap())]);
    cmd.args(["info", "--format", "json"]);
    let out = run(cmd, &["info"], None);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["storage"]["root"], root.to_str().unwrap());
    assert!(root.is_dir());
}

#[test]
fn log_level_debug_says_what_burrow_does() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let quiet = env.burrow(&["info"]);
    quiet.ok();
    assert!(!quiet.stderr.contains("DEBUG"), "{}", quiet.describe());
    let loud = env.burrow(&["--log-level", "debug", "info"]);
    loud.ok();
    assert!(loud.stderr.contains("DEBUG"), "{}", loud.describe());
    assert!(loud.stderr.contains("overlay"), "{}", loud.describe());
    env.burrow(&["--log-level", "chatty", "info"]).fails(125);
}
