//! BuildKit's own Dockerfile parser cases, run against burrow's parser:
//! the parse trees (compared byte for byte with BuildKit's dumps), the
//! rejected files, the line numbers, the expansion and word-splitting
//! tables; and every Dockerfile of buildah's conformance contexts parses.
//! The data stays outside the repository, in
//! `$CARGO_MANIFEST_DIR/../shared/conformance/` (see that folder's
//! README); when it is absent each test says so and skips, and fails
//! instead under BURROW_TEST_STRICT=1.

use std::path::PathBuf;

use burrow::build::dockerfile::{ast, expand::Lex, lexer};

fn data() -> Option<PathBuf> {
    shared("buildkit")
}

fn shared(project: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance")
        .join(project);
    if dir.is_dir() {
        return Some(dir);
    }
    let why = format!(
        "{project} conformance data absent: no {} (CI keeps shared/ beside the clone)",
        dir.display()
    );
    if std::env::var_os("BURROW_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("cannot run in strict mode: {why}");
    }
    eprintln!("skip: {why}");
    None
}

fn read(p: &PathBuf) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn sorted_dirs(p: PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
        .unwrap_or_else(|e| panic!("list {}: {e}", p.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Print the group's tally and fail with every case that did not pass.
fn report(group: &str, passed: usize, total: usize, skipped: usize, failures: &[String]) {
    let skip = if skipped > 0 {
        format!(" ({skipped} Windows-only skipped)")
    } else {
        String::new()
    };
    eprintln!("{group} {passed}/{total}{skip}");
    assert!(total > 0, "{group}: no cases found");
    assert!(
        failures.is_empty(),
        "{group}: {passed}/{total}\n{}",
        failures.join("\n")
    );
}

#[test]
fn buildkit_parse_trees() {
    let Some(dir) = data() else { return };
    let (mut passed, mut failures) = (0, Vec::new());
    let cases = sorted_dirs(dir.join("testfiles"));
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let want = read(&case.join("result"));
        match lexer::parse_ast(&read(&case.join("Dockerfile"))) {
            Ok(tree) if ast::dump(&tree.nodes) == want => passed += 1,
            Ok(tree) => failures.push(format!(
                "{name}: dump differs\n--- want\n{want}--- got\n{}",
                ast::dump(&tree.nodes)
            )),
            Err(e) => failures.push(format!("{name}: rejected: {}", e.message)),
        }
    }
    report("parse trees", passed, cases.len(), 0, &failures);
}

#[test]
fn buildkit_rejected_files() {
    let Some(dir) = data() else { return };
    let (mut passed, mut failures) = (0, Vec::new());
    let cases = sorted_dirs(dir.join("testfiles-negative"));
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        // The same entry `burrow build` uses: the error must be one line
        // naming the file.
        match burrow::build::dockerfile::parse("Dockerfile", &read(&case.join("Dockerfile"))) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                let line = e.to_string();
                if line.contains('\n') || !line.starts_with("Dockerfile") {
                    failures.push(format!("{name}: not one line naming the file: {line:?}"));
                } else {
                    eprintln!("  {name}: {line}");
                    passed += 1;
                }
            }
        }
    }
    report("rejected files", passed, cases.len(), 0, &failures);
}

#[test]
fn buildkit_line_numbers() {
    let Some(dir) = data() else { return };
    let text = read(&dir.join("testfile-line/Dockerfile"));
    let tree = lexer::parse_ast(&text).expect("testfile-line parses");
    let got: Vec<(usize, usize)> = tree
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    let want = [(5, 5), (11, 12), (17, 31)];
    let passed = want.iter().zip(&got).filter(|(w, g)| w == g).count();
    let failures = if got == want {
        Vec::new()
    } else {
        vec![format!("spans {got:?}, want {want:?}")]
    };
    report("line spans", passed, want.len(), 0, &failures);
}

/// `envVarTest`: `platform | input | expected` with PWD, SHELL, KOREAN and
/// an empty NULL set, as BuildKit's lex_test.go sets them.
#[test]
fn buildkit_expansion() {
    let Some(dir) = data() else { return };
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lex = Lex::new('\\');
    let (mut passed, mut total, mut skipped, mut failures) = (0, 0, 0, Vec::new());
    for (no, line) in read(&dir.join("shell/envVarTest")).lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "envVarTest line {}: {line:?}", no + 1);
        let (platform, input, want) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if platform == "W" {
            skipped += 1;
            continue;
        }
        total += 1;
        let got = lex.process_word(input, &env);
        let ok = match (&got, want) {
            (Err(_), "error") => true,
            (Ok(g), w) if w != "error" => g == w,
            _ => false,
        };
        if ok {
            passed += 1;
        } else {
            failures.push(format!(
                "line {}: {input:?}: want {want:?}, got {got:?}",
                no + 1
            ));
        }
    }
    report("expansion", passed, total, skipped, &failures);
}

/// `wordsTest`: `input | words,joined,by,commas`, with `ENV k=v` lines
/// adding variables for the lines after them.
#[test]
fn buildkit_word_splitting() {
    let Some(dir) = data() else { return };
    let lex = Lex::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let (mut passed, mut total, mut failures) = (0, 0, Vec::new());
    for (no, line) in read(&dir.join("shell/wordsTest")).lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(kv) = line.strip_prefix("ENV ") {
            let kv = kv.trim_start_matches(' ');
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 2, "wordsTest line {}: {line:?}", no + 1);
        let input = parts[0].trim();
        // Trailing blanks of the expectation count.
        let want: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
        total += 1;
        let got = lex
            .process_words(input, &env)
            .unwrap_or_else(|_| vec!["error".to_string()]);
        if got == want {
            passed += 1;
        } else {
            failures.push(format!(
                "line {}: {input:?}: want {want:?}, got {got:?}",
                no + 1
            ));
        }
    }
    report("word splitting", passed, total, 0, &failures);
}

/// Every Dockerfile of buildah's conformance contexts (real-world files:
/// heredocs, odd quoting, multi-stage) parses into stages. Building them
/// and comparing images with podman's is the builder's conformance, later.
#[test]
fn buildah_dockerfiles_parse() {
    let Some(dir) = shared("buildah/testdata") else {
        return;
    };
    fn collect(d: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && !p.is_symlink() {
                collect(&p, out);
            } else if p.is_file() && name.contains("ockerfile") && !name.ends_with(".dockerignore")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let (mut passed, mut failures) = (0, Vec::new());
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().display().to_string();
        match burrow::build::dockerfile::parse(&rel, &read(f)) {
            Ok(df) if !df.stages.is_empty() => passed += 1,
            Ok(_) => failures.push(format!("{rel}: no stage")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    report(
        "buildah Dockerfiles parsed",
        passed,
        files.len(),
        0,
        &failures,
    );
}
