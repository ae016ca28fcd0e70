//! The command-line frame: help, version, and bad input.

use crate::common::*;

/// The verbs burrow has built. A verb in --help that is not in this list
/// (an unbuilt docker verb, an internal one left unhidden) fails the test;
/// so does a built one that went missing.
#[rustfmt::skip]
const BUILT: &[&str] = &[
    "run", "create", "start", "exec", "ps", "logs", "stop", "kill", "rm", "wait", "restart",
    "pause", "unpause", "rename", "top", "port", "stats", "inspect", "container", "sandbox", "unshare",
    "info", "version",
    "completion", "pull", "images", "rmi", "tag", "history", "save", "load", "import", "login",
    "logout", "image", "compose", "commit", "diff", "export", "cp", "push", "search", "volume",
    "system", "network",
    "oci", "export-bundle", "build",
];

/// Docker verbs burrow does not have: neither listed nor accepted.
#[rustfmt::skip]
const NOT_BUILT: &[&str] = &[
    "update", "attach",
];

#[test]
fn help_lists_only_built_commands() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["--help"]);
    out.ok();
    let listed: Vec<String> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let mut got = listed.clone();
    got.sort();
    let mut want: Vec<String> = BUILT.iter().map(|v| v.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "--help lists:\n{}", out.stdout);
    // Every verb listed answers its own --help with its own usage line.
    for verb in listed {
        let help = env.burrow(&[&verb, "--help"]);
        help.ok();
        assert!(
            help.stdout.contains(&format!("Usage: burrow {verb}")),
            "{verb}: {}",
            help.describe()
        );
    }
    for verb in NOT_BUILT {
        let out = env.burrow(&[verb]);
        out.fails(125);
        assert!(out.stderr.contains(verb), "{verb}: {}", out.describe());
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
    use std::os::unix::fs::PermissionsExt;
    // The user's own dir, which the user cannot list (write and search
    // only): burrow must refuse it, not work half-blind in it.
    let root = env.mkdir("unreadable");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o300)).unwrap();
    let listing = env
        .command("ls", &[])
        .arg(&root)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!listing.success(), "the test user can list {root:?}");
    let out = env.burrow(&["--root", root.to_str().unwrap(), "info"]);
    out.fails(125);
    assert!(
        out.stderr.contains("its mode is 300; you need read"),
        "{}",
        out.describe()
    );
    let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o300, "burrow changed the mode");
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "nothing may be created"
    );

    // A root inside a dir the user cannot enter (root's, mode 0700).
    let locked = env.dir().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
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

/// A reader that went away (`burrow ps | head -0`) ends burrow quietly, as
/// SIGPIPE ends other programs: no panic message, exit 141.
#[test]
fn a_closed_stdout_ends_quietly() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    for args in [&["version"][..], &["ps", "-a"], &["info"]] {
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.arg("--root").arg(env.root()).args(args);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(w))
            .stderr(std::process::Stdio::piped());
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
