//! Man pages and completions come from the clap definitions. The man pages
//! are checked in; this test fails when they are stale.
//! Regenerate with: BURROW_UPDATE_MAN=1 cargo test --test e2e docs

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// Every page: burrow.1, burrow-VERB.1, burrow-GROUP-VERB.1 ...
fn pages() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let cmd = burrow::cli::command();
    collect(cmd, "burrow", &mut out);
    out
}

fn collect(cmd: clap::Command, name: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let cmd = cmd.name(name.to_string()).bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf).unwrap();
    out.insert(format!("{name}.1"), buf);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub.clone(), &format!("{name}-{}", sub.get_name()), out);
    }
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let want = pages();
    if std::env::var_os("BURROW_UPDATE_MAN").is_some() {
        for old in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::remove_file(old.path()).unwrap();
        }
        for (name, body) in &want {
            std::fs::write(dir.join(name), body).unwrap();
        }
        return;
    }
    let mut have = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        have.insert(name, std::fs::read(entry.path()).unwrap());
    }
    let stale: Vec<&String> = want
        .keys()
        .chain(have.keys())
        .filter(|k| want.get(*k) != have.get(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "man pages are stale ({stale:?}); run BURROW_UPDATE_MAN=1 cargo test --test e2e docs"
    );
}

#[test]
fn completions_generate_for_each_shell() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef burrow"),
        ("fish", "complete -c burrow"),
    ] {
        let out = env.burrow(&["completion", shell]);
        out.ok();
        assert!(out.stdout.contains(marker), "{shell}: {}", out.describe());
        assert!(out.stdout.contains("info"), "{shell} completes verbs");
    }
    env.burrow(&["completion", "tcsh"]).fails(125);
}
