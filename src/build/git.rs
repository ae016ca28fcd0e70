//! ADD of a git repository (`ADD https://host/repo.git#REF:SUBDIR /dst`,
//! `git@host:repo.git`, `git://...`): a shallow fetch of REF (a branch,
//! tag or commit; the default branch when absent) by the host's `git`,
//! checked out without its `.git` unless `--keep-git-dir=true`, and
//! submodules with it, as BuildKit does. The step's cache key is the
//! checked-out content, as for any other source.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Coded;
use crate::text::escape_control;

/// Transports a Dockerfile may name: never `ext::` (which runs a
/// command) or `file://` (which reads the host).
const PROTOCOLS: &str = "git:http:https:ssh";

/// The repository, the ref ("" for the default branch) and the subdir
/// ("" for the root) of BuildKit's `URL#REF:SUBDIR`.
pub fn parts(src: &str) -> (&str, &str, &str) {
    let (repo, frag) = src.split_once('#').unwrap_or((src, ""));
    let (r, sub) = frag.split_once(':').unwrap_or((frag, ""));
    (repo, r, sub.trim_matches('/'))
}

fn fail(src: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    Coded::new(1, format!("ADD {}: {msg}", escape_control(src))).into()
}

/// Check `src` out into the empty dir `dir`; the dir to copy from (the
/// subdir when the source names one).
pub fn checkout(src: &str, dir: &Path, keep_git_dir: bool) -> anyhow::Result<PathBuf> {
    let (repo, r, sub) = parts(src);
    if r.starts_with('-') || sub.split('/').any(|c| c == "..") {
        return Err(fail(src, "bad ref or subdir"));
    }
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", PROTOCOLS)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => fail(src, "needs git on the host (install git)"),
                _ => fail(src, e),
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(fail(
                src,
                format!("git {} failed: {}", args[0], escape_control(last.trim())),
            ));
        }
        Ok(())
    };
    let wanted = if r.is_empty() { "HEAD" } else { r };
    git(&["init", "-q"])?;
    git(&[
        "fetch",
        "-q",
        "--depth",
        "1",
        "--no-tags",
        "--",
        repo,
        wanted,
    ])?;
    git(&["checkout", "-q", "FETCH_HEAD"])?;
    if dir.join(".gitmodules").exists() {
        git(&[
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
            "--depth",
            "1",
        ])?;
    }
    if !keep_git_dir {
        std::fs::remove_dir_all(dir.join(".git")).map_err(|e| fail(src, e))?;
    }
    let root = dir.join(sub);
    if !root.is_dir() {
        return Err(fail(src, format!("no directory {sub:?} in the repository")));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_and_subdir_come_from_the_fragment() {
        assert_eq!(parts("https://h/r.git"), ("https://h/r.git", "", ""));
        assert_eq!(parts("https://h/r.git#v1"), ("https://h/r.git", "v1", ""));
        assert_eq!(
            parts("git@h:o/r.git#main:docs/"),
            ("git@h:o/r.git", "main", "docs")
        );
        assert_eq!(parts("git://h/r#:sub"), ("git://h/r", "", "sub"));
    }
}
