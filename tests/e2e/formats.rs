//! What the tables and `--format` print, as Docker prints them: sizes,
//! `stats`, Go templates, top-level `inspect`, help and usage errors
//! (issue 20, items 6, 7, 12 and 13).

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::live::{assert_nothing_left, detach};
use crate::run::ready;

/// The number part of a size ("1.23" of "1.23MB") and its unit.
fn split_size(s: &str) -> (&str, &str) {
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..at], &s[at..])
}

/// Docker's HumanSizeWithPrecision(_, 3): at most 3 significant digits
/// and a decimal unit.
fn assert_docker_size(s: &str) {
    let (num, unit) = split_size(s);
    let digits = num.trim_start_matches(['0', '.']).replace('.', "");
    assert!(
        !num.is_empty() && digits.len() <= 3,
        "{s:?} has more than 3 significant digits"
    );
    assert!(
        ["B", "kB", "MB", "GB", "TB"].contains(&unit),
        "{s:?} has no decimal unit"
    );
}

/// Docker's BytesSize: at most 4 significant digits and a binary unit.
fn assert_docker_binary_size(s: &str) {
    let (num, unit) = split_size(s);
    let digits = num.trim_start_matches(['0', '.']).replace('.', "");
    assert!(
        !num.is_empty() && digits.len() <= 4,
        "{s:?} has more than 4 significant digits"
    );
    assert!(
        ["B", "KiB", "MiB", "GiB", "TiB"].contains(&unit),
        "{s:?} has no binary unit"
    );
}

/// The cells of a table's rows, cut at the header's column starts. Every
/// column must be set off from the one before by at least 3 spaces (Go's
/// tabwriter with Docker's padding), so values never run together.
fn table_cells(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().expect("a header line");
    // Titles are separated by 3 or more spaces; titles have single spaces.
    let mut starts = vec![0];
    let b = header.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if header[i..].starts_with("   ") {
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            starts.push(j);
            i = j;
        } else {
            i += 1;
        }
    }
    let cut = |line: &str| -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let end = starts.get(k + 1).copied().unwrap_or(chars.len());
                if k > 0 {
                    let gap: String = chars
                        [s.saturating_sub(3).min(chars.len())..s.min(chars.len())]
                        .iter()
                        .collect();
                    assert_eq!(gap, "   ", "column {k} not set off in {line:?}\n{out}");
                }
                chars[s.min(chars.len())..end.min(chars.len())]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let titles = cut(header);
    let rows = lines.map(cut).collect();
    (titles, rows)
}

#[test]
fn stats_streams_every_running_container_with_docker_columns_and_sizes() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let a = detach(&env, &["--name", "sa", &img, "sleep", "600"]);
    let b = detach(
        &env,
        &[
            "--name",
            "sb",
            &img,
            "sh",
            "-c",
            "head -c 3000000 /dev/urandom > /f; sleep 600",
        ],
    );

    // --no-stream: one table, Docker's columns, each set off by 3 spaces.
    let out = env.burrow(&["stats", "--no-stream"]);
    out.ok();
    let (titles, rows) = table_cells(&out.stdout);
    assert_eq!(
        titles,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{}",
        out.stdout
    );
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    for row in &rows {
        assert!(row[0] == a[..12] || row[0] == b[..12], "{row:?}");
        assert!(row[2].ends_with('%') && row[4].ends_with('%'), "{row:?}");
        let (used, limit) = row[3].split_once(" / ").expect("usage / limit");
        assert_docker_binary_size(used);
        assert_docker_binary_size(limit);
        for io in [&row[5], &row[6]] {
            let (r, w) = io.split_once(" / ").expect("read / write");
            assert_docker_size(r);
            assert_docker_size(w);
        }
        assert!(row[7].parse::<u32>().unwrap() >= 1, "{row:?}");
    }

    // Without --no-stream and without names: every running container,
    // a fresh table about every second, until interrupted.
    let mut child = env
        .command(burrow_bin(), &[])
        .arg("--root")
        .arg(env.root())
        .arg("stats")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        all
    });
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(3000));
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let streamed = reader.join().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        still_running,
        "stats ended by itself ({status}): {err}{streamed}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    let tables = streamed.matches("CONTAINER ID").count();
    assert!(tables >= 2, "{tables} tables in 3 s:\n{streamed}{err}");
    for name in ["sa", "sb"] {
        assert!(streamed.contains(name), "{name} missing:\n{streamed}");
    }
    // On a terminal the table is redrawn in place (clear, home), as top does.
    let (_, screen) = env.burrow_in_terminal("stats & p=$!; sleep 2.5; kill $p", b"");
    let redraws = screen.matches("\x1b[2J\x1b[H").count();
    assert!(redraws >= 2, "{redraws} redraws:\n{screen:?}");

    // --format, with a named container and Docker's field names.
    let out = env.burrow(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}}|{{.Name}}|{{.MemUsage}}|{{.PIDs}}",
        "sb",
    ]);
    let line = out.ok().stdout.trim().to_string();
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(f[..2], ["sb", "sb"], "{line}");
    assert_docker_binary_size(f[2].split(" / ").next().unwrap());
    assert!(f[3].parse::<u32>().unwrap() >= 2, "{line}");
    env.burrow(&["stats", "--no-stream", "nosuch"]).fails(1);

    env.burrow(&["rm", "-f", "sa", "sb"]).ok();
    assert_nothing_left(&env);
}

#[test]
fn sizes_round_like_docker_and_ps_agrees_with_images() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["images", "--format", "json", &img]);
    let v: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
    let image_size = v["Size"].as_str().unwrap().to_string();
    assert_docker_size(&image_size);
    // A container that wrote nothing, and one that wrote 12345 bytes.
    env.burrow(&["run", "--name", "none", &img, "true"]).ok();
    env.burrow(&[
        "run",
        "--name",
        "some",
        &img,
        "sh",
        "-c",
        "head -c 12345 /dev/zero > /blob",
    ])
    .ok();
    let size = |name: &str| {
        let out = env.burrow(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"]);
        out.ok()
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} not in {}", out.stdout))
    };
    assert_eq!(size("none"), format!("0B (virtual {image_size})"));
    let some = size("some");
    let (rw, virt) = some.split_once(" (virtual ").unwrap();
    assert_eq!(rw, "12.3kB", "{some}");
    assert_docker_size(virt.trim_end_matches(')'));
    // The default table has the SIZE column, set off like the others.
    let out = env.burrow(&["ps", "-a", "-s"]);
    let (titles, rows) = table_cells(&out.ok().stdout);
    assert_eq!(titles.last().unwrap(), "SIZE", "{}", out.stdout);
    assert!(
        rows.iter()
            .any(|r| r.last().unwrap() == &format!("0B (virtual {image_size})")),
        "{}",
        out.stdout
    );
    // images' table: Docker's columns and the same size.
    let out = env.burrow(&["images", &img]);
    let (titles, rows) = table_cells(&out.ok().stdout);
    assert_eq!(titles, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert_eq!(rows[0][4], image_size, "{}", out.stdout);
    env.burrow(&["rm", "none", "some"]).ok();
}

#[test]
fn go_templates_on_ps_images_inspect_version_info_and_stats() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let id = detach(
        &env,
        &["--name", "web", "-e", "GREETING=hi", &img, "sleep", "600"],
    );

    // ps: a field, a table with its header, and JSON of the row.
    assert_eq!(
        env.burrow(&["ps", "--format", "{{.Names}}"]).ok().stdout,
        "web\n"
    );
    let out = env.burrow(&["ps", "--format", r"table {{.ID}}\t{{.Status}}"]);
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("CONTAINER ID   STATUS"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with(&format!("{}   Up ", &id[..12])),
        "{}",
        out.stdout
    );
    let out = env.burrow(&["ps", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
    assert_eq!(v["Names"], "web");
    assert_eq!(v["ID"], &id[..12]);
    let out = env.burrow(&["ps", "--format", "{{.Names | upper}}:{{len .ID}}"]);
    assert_eq!(out.ok().stdout, "WEB:12\n");
    let out = env.burrow(&["ps", "--format", "{{.Nope}}"]);
    out.fails(125);
    assert!(out.stderr.contains("Nope"), "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());

    // images.
    let out = env.burrow(&["images", "--format", "{{.Repository}}:{{.Tag}}", &img]);
    assert_eq!(out.ok().stdout.trim(), img.as_str(), "{}", out.describe());
    let out = env.burrow(&[
        "images",
        "--format",
        r"table {{.Repository}}\t{{.Size}}",
        &img,
    ]);
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY"), "{}", out.stdout);
    assert!(lines[0].ends_with("   SIZE"), "{}", out.stdout);

    // inspect: the whole document, nested fields, lists as Go prints them.
    let pid = env.burrow(&["inspect", "--format", "{{.State.Pid}}", "web"]);
    let pid: u32 = pid.ok().stdout.trim().parse().expect("a pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let env_list = env.burrow(&["container", "inspect", "-f", "{{.Config.Env}}", "web"]);
    let env_list = env_list.ok().stdout.trim().to_string();
    assert!(
        env_list.starts_with('[')
            && env_list.ends_with(']')
            && env_list
                .split(' ')
                .any(|e| e.trim_matches(['[', ']']) == "GREETING=hi"),
        "{env_list}"
    );
    let out = env.burrow(&["inspect", "-f", "{{json .Config.Cmd}}", "web"]);
    assert_eq!(out.ok().stdout, "[\"sleep\",\"600\"]\n");
    let out = env.burrow(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", &img]);
    assert!(out.ok().stdout.starts_with("linux/"), "{}", out.stdout);

    // version and info.
    let out = env.burrow(&["version", "--format", "{{.Version}} {{.Client.Version}}"]);
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(out.ok().stdout, format!("{v} {v}\n"));
    let out = env.burrow(&["info", "--format", "{{.user.name}}"]);
    assert_eq!(out.ok().stdout, "burrow-nosub\n");

    // stats.
    let out = env.burrow(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]);
    assert_eq!(out.ok().stdout, "web 2\n");
    let out = env.burrow(&["stats", "--no-stream", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(out.ok().stdout.trim()).unwrap();
    assert_eq!(v["Name"], "web");

    env.burrow(&["rm", "-f", "web"]).ok();
    assert_nothing_left(&env);
}

#[test]
fn top_level_inspect_finds_containers_then_images() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    env.burrow(&["run", "--name", "done", &img, "true"]).ok();

    // A container, then an image, by name: one JSON array.
    let out = env.burrow(&["inspect", "done", &img]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(v[0]["Name"], "/done", "{}", out.stdout);
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert!(
        v[1]["Id"].as_str().unwrap().starts_with("sha256:"),
        "{}",
        out.stdout
    );
    assert!(v[1]["RepoTags"].to_string().contains(img.as_str()));
    let out = env.burrow(&["inspect", "-f", "{{.Id}}", "--type", "image", &img]);
    assert_eq!(out.ok().stdout.trim(), v[1]["Id"].as_str().unwrap());

    // Unknown names: Docker's message, exit 1, the found ones still shown.
    let out = env.burrow(&["inspect", "nosuch"]);
    out.fails(1);
    assert_eq!(out.stderr, "burrow: No such object: nosuch\n");
    assert_eq!(out.stdout.trim(), "[]");
    let out = env.burrow(&["inspect", "--type", "image", "-f", "{{.Name}}", "done"]);
    out.fails(1);
    assert_eq!(out.stderr, "burrow: No such image: done\n");
    let out = env.burrow(&["inspect", "-f", "{{.Name}}", "done", "nosuch"]);
    out.fails(1);
    assert_eq!(out.stdout, "/done\n");
    let out = env.burrow(&["inspect", "--type", "volume", "done"]);
    out.fails(1);
    assert_eq!(out.stderr, "burrow: No such volume: done\n");
    env.burrow(&["inspect", "--type", "network", "done"])
        .fails(125);

    env.burrow(&["rm", "done"]).ok();
}

#[test]
fn help_verbs_bare_burrow_and_missing_arguments() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    // burrow help VERB, and bare burrow: help on stdout, exit 0.
    let out = env.burrow(&["help", "ps"]);
    out.ok();
    assert!(
        out.stdout.contains("Usage: burrow ps"),
        "{}",
        out.describe()
    );
    let out = env.burrow(&["help", "image", "ls"]);
    assert!(
        out.ok().stdout.contains("Usage: burrow image ls"),
        "{}",
        out.stdout
    );
    let out = env.burrow(&[]);
    out.ok();
    assert!(out.stdout.contains("Usage: burrow"), "{}", out.describe());
    assert!(out.stdout.contains("inspect"), "{}", out.stdout);

    // A missing required argument: one line naming it, exit 125.
    for (args, wanted) in [
        (&["rm"][..], "<CONTAINER>"),
        (&["inspect"][..], "<NAME|ID>"),
        (&["tag", "x"][..], "<TARGET_IMAGE>"),
    ] {
        let out = env.burrow(args);
        out.fails(125);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(out.stderr.contains(wanted), "{}", out.describe());
        assert!(out.stderr.starts_with("burrow: "), "{}", out.describe());
    }
}
