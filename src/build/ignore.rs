//! `.dockerignore`: which context paths a build never sees, by Docker's
//! rules (moby/patternmatcher): each line a pattern relative to the context
//! root, `*` and `?` within one path element, `**` across elements, `[a-z]`
//! classes, `\` escapes, `!` re-including; the last matching pattern wins,
//! and a pattern matching a directory covers everything under it.
//! `Dockerfile.dockerignore` beside the Dockerfile takes precedence.

use std::path::{Path, PathBuf};

/// The patterns of an ignore file, normalised as Docker reads them: `#`
/// lines (only at column 0) skipped, blanks trimmed, paths cleaned and made
/// relative, `!` kept in front.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut pat = String::new();
        if !p.is_empty() {
            pat = clean(p);
            if pat.len() > 1 && pat.starts_with('/') {
                pat.remove(0);
            }
        }
        out.push(if invert { format!("!{pat}") } else { pat });
    }
    out
}

/// The ignore file for a build: `<Dockerfile>.dockerignore` beside the
/// Dockerfile if there is one, else the context's `.dockerignore`.
pub fn ignore_file_for(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    if let Some(name) = dockerfile.file_name() {
        let mut n = name.to_os_string();
        n.push(".dockerignore");
        let beside = dockerfile.with_file_name(n);
        if beside.is_file() {
            return Some(beside);
        }
    }
    let root = context.join(".dockerignore");
    root.is_file().then_some(root)
}

/// Go's `path.Clean`: no `//`, `.` or `x/..`, no trailing slash; "" is ".".
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for el in p.split('/') {
        match el {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            el => parts.push(el),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Dir` of a cleaned path.
fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: a run without `/`.
    Star,
    /// `**/` inside a pattern: nothing, or anything ending in `/`.
    Dirs,
    /// `**` at the end: anything.
    Any,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// How a pattern matches (patternmatcher's fast paths are part of its
/// meaning: `**.go` matches any path ending in `.go`).
#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `dir/**`, `dir**`: the text before the `**` as a prefix.
    Prefix,
    /// `**/x`, `**x` with no other wildcard: the text after the `**` as a
    /// suffix.
    Suffix,
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    kind: Kind,
}

fn compile(p: &str) -> Result<Kind, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut kind_exact = true; // no wildcard yet
    let mut kind = None;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if kind_exact && kind.is_none() {
                        kind = Some(Kind::Prefix);
                    } else {
                        kind = Some(Kind::Glob(Vec::new()));
                    }
                    toks.push(Tok::Any);
                } else {
                    toks.push(Tok::Dirs);
                    kind = Some(Kind::Glob(Vec::new()));
                }
                if first {
                    kind = Some(Kind::Suffix);
                }
                kind_exact = false;
            }
            '*' => {
                toks.push(Tok::Star);
                kind = Some(Kind::Glob(Vec::new()));
                kind_exact = false;
            }
            '?' => {
                toks.push(Tok::One);
                kind = Some(Kind::Glob(Vec::new()));
                kind_exact = false;
            }
            '\\' => match chars.get(i) {
                Some(&n) => {
                    toks.push(Tok::Lit(n));
                    i += 1;
                    kind = Some(Kind::Glob(Vec::new()));
                    kind_exact = false;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let (tok, next) = class(&chars, i).ok_or("syntax error in pattern")?;
                toks.push(tok);
                i = next;
                kind = Some(Kind::Glob(Vec::new()));
                kind_exact = false;
            }
            // A lone `]` is a literal (a regexp would read it so too).
            ']' => {
                toks.push(Tok::Lit(']'));
                kind = Some(Kind::Glob(Vec::new()));
                kind_exact = false;
            }
            c => toks.push(Tok::Lit(c)),
        }
        first = false;
    }
    Ok(match kind {
        None => Kind::Exact,
        Some(Kind::Glob(_)) => Kind::Glob(toks),
        Some(k) => k,
    })
}

/// A `[...]` class starting after the `[`: the token and where it ends.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let mut c = *chars.get(i)?;
        i += 1;
        if c == ']' && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i));
        }
        if c == '\\' {
            c = *chars.get(i)?;
            i += 1;
        }
        let mut hi = c;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            hi = chars[i + 1];
            if hi == '\\' {
                hi = *chars.get(i + 2)?;
                i += 1;
            }
            i += 2;
            if hi < c {
                return None;
            }
        }
        ranges.push((c, hi));
    }
}

/// Whether `toks` match all of `s`: a simulation of the set of states
/// (no recursion; the sets stay small, so about linear in the path). A
/// state is "ready for token t" or "within the `**/` at t". Like Go's `.`,
/// `**` does not cross a newline.
fn glob_match(toks: &[Tok], s: &str) -> bool {
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum St {
        At(usize),
        Inside(usize),
    }
    let n = toks.len();
    // Add a state and what it reaches without consuming (`*`, `**` may be
    // empty).
    let add = |set: &mut Vec<St>, seen: &mut std::collections::HashSet<St>, st: St| {
        let mut st = st;
        loop {
            if !seen.insert(st) {
                return;
            }
            set.push(st);
            match st {
                St::At(t) if t < n && matches!(toks[t], Tok::Star | Tok::Any | Tok::Dirs) => {
                    st = St::At(t + 1)
                }
                _ => return,
            }
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut cur = Vec::new();
    add(&mut cur, &mut seen, St::At(0));
    for c in s.chars() {
        let mut next = Vec::new();
        seen.clear();
        for &st in &cur {
            match st {
                St::At(t) if t < n => match &toks[t] {
                    Tok::Lit(l) if *l == c => add(&mut next, &mut seen, St::At(t + 1)),
                    Tok::One if c != '/' => add(&mut next, &mut seen, St::At(t + 1)),
                    Tok::Class { negated, ranges }
                        if ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated =>
                    {
                        add(&mut next, &mut seen, St::At(t + 1))
                    }
                    Tok::Star if c != '/' => add(&mut next, &mut seen, St::At(t)),
                    Tok::Any if c != '\n' => add(&mut next, &mut seen, St::At(t)),
                    Tok::Dirs if c != '\n' => {
                        add(&mut next, &mut seen, St::Inside(t));
                        if c == '/' {
                            add(&mut next, &mut seen, St::At(t + 1));
                        }
                    }
                    _ => {}
                },
                St::Inside(t) if c != '\n' => {
                    add(&mut next, &mut seen, St::Inside(t));
                    if c == '/' {
                        add(&mut next, &mut seen, St::At(t + 1));
                    }
                }
                _ => {}
            }
        }
        if next.is_empty() {
            return false;
        }
        cur = next;
    }
    cur.contains(&St::At(n))
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => glob_match(toks, path),
        }
    }
}

/// Compiled ignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

/// What a directory's check found, per pattern, for its children.
pub type ParentMatches = Vec<bool>;

impl Matcher {
    pub fn new(patterns: &[String]) -> Result<Matcher, String> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err("illegal exclusion pattern: \"!\"".into());
                }
                p.remove(0);
            }
            let kind = compile(&p).map_err(|e| format!("{e}: {p}"))?;
            out.push(Pattern {
                text: p,
                exclusion,
                kind,
            });
        }
        Ok(Matcher { patterns: out })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Some pattern re-includes (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether a re-including pattern could match below `dir`: true when
    /// one has wildcards (anything may match) or names a path under it.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            p.text.contains(['*', '?', '[', '\\']) || format!("{}/", p.text).starts_with(&prefix)
        })
    }

    /// Is `path` (relative to the context, `/`-separated) excluded, its
    /// parent directories counting as matches.
    pub fn excludes(&self, path: &str) -> bool {
        self.excludes_below(path, &[]).0
    }

    /// As `excludes`, reusing the parent directory's per-pattern results
    /// (as a walk does); also returns this path's, for its children.
    pub fn excludes_below(&self, path: &str, parent: &[bool]) -> (bool, ParentMatches) {
        let path = clean(path);
        let parent_dir = dir(&path);
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(&path);
                if !m && parent.is_empty() && parent_dir != "." {
                    let dirs: Vec<&str> = parent_dir.split('/').collect();
                    m = (1..=dirs.len()).any(|n| p.matches(&dirs[..n].join("/")));
                }
            }
            info[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(pattern: &str, path: &str) -> bool {
        Matcher::new(&[pattern.to_string()]).unwrap().excludes(path)
    }

    #[test]
    fn patterns_match_as_docker_does() {
        let cases = [
            ("**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("**/foo/bar", "foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("*.go", "fileutils.go", true),
            ("docs", "docs/README.md", true),
            ("docs/*", "docs/sub/README.md", true),
        ];
        for (p, path, want) in cases {
            assert_eq!(single(p, path), want, "{p} on {path}");
        }
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let m = |ps: &[&str], path: &str| {
            let v: Vec<String> = ps.iter().map(|s| s.to_string()).collect();
            Matcher::new(&v).unwrap().excludes(path)
        };
        assert!(!m(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(m(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!m(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!m(&["**", "!util/docker/web"], "util/docker/web/foo"));
        assert!(m(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo"
        ));
        assert!(!m(&["**", "!dist/*.whl"], "dist/x.whl"));
    }

    #[test]
    fn long_patterns_do_not_overflow_the_stack() {
        let long = "a".repeat(300_000);
        assert!(single(&"?".repeat(300_000), &long));
        assert!(!single(&format!("{}b", "*/".repeat(1000)), &long));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(Matcher::new(&["!".to_string()]).is_err());
        assert!(Matcher::new(&["[".to_string()]).is_err());
        assert!(Matcher::new(&["a[z-a]".to_string()]).is_err());
    }

    #[test]
    fn reading_an_ignore_file() {
        let text = "\u{feff}# comment\n  # not a comment\n\n/abs/../x/\n! keep/me \n*.tmp\n";
        assert_eq!(
            read_patterns(text),
            ["# not a comment", "x", "!keep/me", "*.tmp"]
        );
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        std::fs::write(ctx.join(".dockerignore"), "a\n").unwrap();
        let df = ctx.join("sub/app.Dockerfile");
        std::fs::create_dir(ctx.join("sub")).unwrap();
        std::fs::write(&df, "FROM x\n").unwrap();
        assert_eq!(ignore_file_for(ctx, &df), Some(ctx.join(".dockerignore")));
        std::fs::write(ctx.join("sub/app.Dockerfile.dockerignore"), "b\n").unwrap();
        assert_eq!(
            ignore_file_for(ctx, &df),
            Some(ctx.join("sub/app.Dockerfile.dockerignore"))
        );
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("x/"), "x");
    }
}
