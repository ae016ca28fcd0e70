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
    // clap_mangen heads the after-help text EXTRA; ours is examples.
    let page = String::from_utf8(buf)
        .unwrap()
        .replace(".SH EXTRA\n", ".SH EXAMPLES\n");
    out.insert(format!("{name}.1"), page.into_bytes());
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

/// The verbs a Docker course uses: each page says more than its NAME line
/// and has examples.
const COMMON: &[&str] = &[
    "run", "create", "start", "exec", "ps", "logs", "stop", "rm", "pull", "images", "rmi",
    "sandbox", "info",
];

fn section<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    let start = page.find(&format!(".SH {name}\n"))? + name.len() + 5;
    let rest = &page[start..];
    Some(&rest[..rest.find("\n.SH ").unwrap_or(rest.len())])
}

#[test]
fn common_verbs_have_a_description_and_examples() {
    let pages = pages();
    for verb in COMMON {
        let page = String::from_utf8(pages[&format!("burrow-{verb}.1")].clone()).unwrap();
        let name = section(&page, "NAME").unwrap();
        let about = name.split(" \\- ").nth(1).unwrap().trim();
        let description = section(&page, "DESCRIPTION").unwrap();
        assert!(
            description.trim().len() > about.len() + 40,
            "{verb}: the DESCRIPTION only repeats NAME: {description}"
        );
        let examples =
            section(&page, "EXAMPLES").unwrap_or_else(|| panic!("{verb}: no EXAMPLES section"));
        assert!(
            examples.contains(&format!("burrow {verb}")),
            "{verb}: {examples}"
        );
    }
}

/// Every example line parses with burrow's own command line: no flag in an
/// example is one burrow does not have.
#[test]
fn every_example_parses() {
    use clap::Parser;
    let cmd = burrow::cli::command();
    for verb in COMMON {
        let sub = cmd.find_subcommand(verb).unwrap();
        let help = sub.get_after_long_help().unwrap().to_string();
        for line in help
            .lines()
            .filter(|l| l.trim_start().starts_with("burrow "))
        {
            let line = line.split(" #").next().unwrap().trim();
            let words = shell_words(line);
            if let Err(e) = burrow::cli::Cli::try_parse_from(&words) {
                panic!("{verb}: example {line:?} does not parse: {e}");
            }
        }
    }
}

/// Split a line as sh would, for the simple quoting the examples use.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

#[test]
fn usage_lines_show_the_invoked_name() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // The same binary under another name, as a user's alias or symlink.
    let link = env.dir().join("bw");
    std::os::unix::fs::symlink(burrow_bin(), &link).unwrap();
    for verb in ["run", "create", "exec", "ps", "rm"] {
        let mut cmd = env.command(&link, &[]);
        cmd.args([verb, "--help"]);
        let out = run(cmd, &[verb, "--help"], None);
        out.ok();
        let usage = out
            .stdout
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap();
        assert!(
            usage.starts_with(&format!("Usage: bw {verb} [OPTIONS]")),
            "{usage}"
        );
    }
}
