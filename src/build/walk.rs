//! Walking a build context with its ignore rules. An excluded file is never
//! opened nor even stat'ed (the directory listing's type is enough to skip
//! it); an excluded directory is not listed at all unless a `!` pattern
//! could re-include something below it, and then it appears only if
//! something below it does. Symlinks are not followed. Entries come
//! parents first, siblings in byte order, so the result is deterministic.

use std::fs;
use std::path::Path;

use anyhow::Context;

use super::ignore::Matcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Devices, fifos, sockets.
    Other,
}

#[derive(Debug)]
pub struct Entry {
    /// Relative to the context, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
    pub meta: fs::Metadata,
}

/// What a walk found, and which directories it listed (relative paths,
/// "" for the root): the proof that excluded ones were left alone.
#[derive(Debug, Default)]
pub struct Walk {
    pub entries: Vec<Entry>,
    pub listed: Vec<String>,
}

fn kind_of(t: fs::FileType) -> EntryKind {
    if t.is_dir() {
        EntryKind::Dir
    } else if t.is_file() {
        EntryKind::File
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    }
}

/// Walk `context`, leaving out what `ignore` excludes.
pub fn walk(context: &Path, ignore: &Matcher) -> anyhow::Result<Walk> {
    let mut w = Walk::default();
    walk_dir(context, "", &[], ignore, &mut w)?;
    Ok(w)
}

/// Walk one directory; whether anything below it was included.
fn walk_dir(
    abs: &Path,
    rel: &str,
    parent: &[bool],
    ignore: &Matcher,
    w: &mut Walk,
) -> anyhow::Result<bool> {
    w.listed.push(rel.to_string());
    let mut children = Vec::new();
    for e in fs::read_dir(abs).with_context(|| format!("read directory {}", abs.display()))? {
        let e = e.with_context(|| format!("read directory {}", abs.display()))?;
        let t = e
            .file_type()
            .with_context(|| format!("type of {}", e.path().display()))?;
        children.push((e.file_name(), t));
    }
    children.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));

    let mut any = false;
    for (name, t) in children {
        let name = name.to_string_lossy();
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let child_abs = abs.join(&*name);
        let (excluded, info) = ignore.excludes_below(&child_rel, parent);
        if excluded && !(t.is_dir() && ignore.may_include_below(&child_rel)) {
            continue;
        }
        let stat =
            |p: &Path| fs::symlink_metadata(p).with_context(|| format!("stat {}", p.display()));
        if t.is_dir() && !excluded {
            w.entries.push(Entry {
                path: child_rel.clone(),
                kind: EntryKind::Dir,
                meta: stat(&child_abs)?,
            });
            walk_dir(&child_abs, &child_rel, &info, ignore, w)?;
            any = true;
        } else if t.is_dir() {
            // An excluded directory shows only if something below it does
            // (rare: only a `!` pattern gets here, so the insert is cheap).
            let at = w.entries.len();
            if walk_dir(&child_abs, &child_rel, &info, ignore, w)? {
                let meta = stat(&child_abs)?;
                w.entries.insert(
                    at,
                    Entry {
                        path: child_rel,
                        kind: EntryKind::Dir,
                        meta,
                    },
                );
                any = true;
            }
        } else {
            w.entries.push(Entry {
                path: child_rel,
                kind: kind_of(t),
                meta: stat(&child_abs)?,
            });
            any = true;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::ignore::read_patterns;

    fn tree(root: &Path, files: &[&str]) {
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
    }

    fn paths(ctx: &Path, ignore: &str) -> (Vec<String>, Vec<String>) {
        let m = Matcher::new(&read_patterns(ignore)).unwrap();
        let w = walk(ctx, &m).unwrap();
        (w.entries.into_iter().map(|e| e.path).collect(), w.listed)
    }

    #[test]
    fn excluded_directories_are_never_listed() {
        let d = tempfile::tempdir().unwrap();
        tree(
            d.path(),
            &["a.txt", "node_modules/x/y.js", "src/main.rs", "src/tmp.log"],
        );
        let (got, listed) = paths(d.path(), "node_modules\n*.txt\n**/*.log\n");
        assert_eq!(got, ["src", "src/main.rs"]);
        assert!(
            !listed.iter().any(|l| l.starts_with("node_modules")),
            "{listed:?}"
        );
    }

    #[test]
    fn exceptions_reinclude_below_an_excluded_directory() {
        let d = tempfile::tempdir().unwrap();
        tree(
            d.path(),
            &["docs/a.md", "docs/keep/b.md", "docs/other/c.md", "z"],
        );
        let (got, listed) = paths(d.path(), "docs\n!docs/keep\n");
        assert_eq!(got, ["docs", "docs/keep", "docs/keep/b.md", "z"]);
        // docs had to be listed to find docs/keep; docs/other did not.
        assert!(listed.contains(&"docs".to_string()));
        assert!(!listed.contains(&"docs/other".to_string()));
    }

    #[test]
    fn wildcard_exceptions_walk_but_keep_only_matches() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path(), &["gen/a.go", "gen/b.txt", "gen/sub/c.go"]);
        let (got, _) = paths(d.path(), "gen\n!**/*.go\n");
        assert_eq!(got, ["gen", "gen/a.go", "gen/sub", "gen/sub/c.go"]);
    }

    #[test]
    fn an_excluded_fifo_is_left_out() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path(), &["keep"]);
        let fifo = d.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let (got, _) = paths(d.path(), "pipe\n");
        assert_eq!(got, ["keep"]);
    }
}
