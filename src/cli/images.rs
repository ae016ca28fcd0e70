//! `burrow images` (also `image ls`): docker's table of local images.

use anyhow::bail;
use clap::Args;

use super::Format;
use crate::image::{ImageRecord, Store};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only images whose name matches (e.g. busybox, 'fixtures/*:latest')
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,

    /// Show only image ids
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Show digests
    #[arg(long)]
    pub digests: bool,

    /// Filter: dangling=true|false, reference=PATTERN (repeatable)
    #[arg(long, short = 'f', value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// One row: an image under one of its names.
struct Row<'a> {
    image: &'a ImageRecord,
    repository: String,
    tag: String,
    digest: String,
}

pub fn run(paths: &Paths, args: &ImagesArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let mut images = store.images()?;
    images.sort_by_key(|i| std::cmp::Reverse(created_secs(i)));
    let filters = Filters::parse(&args.filter, args.reference.as_deref())?;
    let rows: Vec<Row> = images
        .iter()
        .flat_map(rows_of)
        .filter(|r| filters.keep(r))
        .collect();
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(r.image.id.clone()) {
                println!("{}", r.image.short_id());
            }
        }
        return Ok(0);
    }
    match args.format {
        Format::Json => {
            for r in &rows {
                println!("{}", serde_json::to_string(&json_row(r))?);
            }
        }
        Format::Text => print!("{}", table(&rows, args.digests)),
    }
    Ok(0)
}

fn rows_of(image: &ImageRecord) -> Vec<Row<'_>> {
    let digest = image
        .repo_digests
        .first()
        .and_then(|d| d.rsplit_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "<none>".into());
    if image.repo_tags.is_empty() {
        return vec![Row {
            image,
            repository: "<none>".into(),
            tag: "<none>".into(),
            digest,
        }];
    }
    image
        .repo_tags
        .iter()
        .map(|t| {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            Row {
                image,
                repository: familiar(repo),
                tag: tag.to_string(),
                digest: digest.clone(),
            }
        })
        .collect()
}

/// docker's short form: `docker.io/library/alpine` is `alpine`.
pub fn familiar(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").unwrap_or(n).to_string()
}

fn table(rows: &[Row], digests: bool) -> String {
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["REPOSITORY", "TAG"];
    if digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    cells.push(head.iter().map(|s| s.to_string()).collect());
    for r in rows {
        let mut line = vec![escape_control(&r.repository), escape_control(&r.tag)];
        if digests {
            line.push(r.digest.clone());
        }
        line.push(r.image.short_id().to_string());
        line.push(created_since(r.image));
        line.push(human_size(r.image.size()));
        cells.push(line);
    }
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|c| {
            cells
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &cells {
        let mut s = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == line.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}

fn json_row(r: &Row) -> serde_json::Value {
    let size = human_size(r.image.size());
    serde_json::json!({
        "Containers": "N/A",
        "CreatedAt": r.image.created.clone().unwrap_or_default(),
        "CreatedSince": created_since(r.image),
        "Digest": r.digest,
        "ID": r.image.short_id(),
        "Repository": r.repository,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": r.tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
}

impl Filters {
    fn parse(args: &[String], positional: Option<&str>) -> anyhow::Result<Filters> {
        let mut f = Filters {
            dangling: None,
            references: positional.map(|p| p.to_string()).into_iter().collect(),
        };
        for a in args {
            match a.split_once('=') {
                Some(("dangling", v)) => {
                    f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("invalid filter {a:?}: dangling takes true or false"),
                    })
                }
                Some(("reference", v)) if !v.is_empty() => f.references.push(v.to_string()),
                _ => bail!(
                    "invalid filter {a:?} (supported: dangling=true|false, reference=PATTERN)"
                ),
            }
        }
        Ok(f)
    }

    fn keep(&self, r: &Row) -> bool {
        let dangling = r.image.repo_tags.is_empty();
        if self.dangling.is_some_and(|d| d != dangling) {
            return false;
        }
        if self.references.is_empty() {
            return true;
        }
        if dangling {
            return false;
        }
        self.references.iter().all(|pat| {
            // A pattern with a tag matches name:tag; without, the name.
            let has_tag = pat
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'));
            let subject = if has_tag {
                format!("{}:{}", r.repository, r.tag)
            } else {
                r.repository.clone()
            };
            glob(pat, &subject) || glob(&familiar(pat), &subject)
        })
    }
}

/// Go's path.Match subset docker uses: `*` (not across '/') and `?`.
pub fn glob(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

fn created_secs(i: &ImageRecord) -> i64 {
    i.created
        .as_deref()
        .and_then(|c| {
            humantime::parse_rfc3339_weak(c.trim_end_matches('Z'))
                .ok()
                .or_else(|| humantime::parse_rfc3339(c).ok())
        })
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn created_since(i: &ImageRecord) -> String {
    let secs = created_secs(i);
    if secs == 0 {
        return "N/A".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format!("{} ago", human_duration((now - secs).max(0) as u64))
}

/// docker's units.HumanDuration.
pub fn human_duration(secs: u64) -> String {
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0 + 0.5) as u64;
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// docker's units.HumanSizeWithPrecision(size, 3): decimal units.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    // Three significant digits, trailing zeros dropped (Go's %.3g).
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as i32 + 1).max(1)
    };
    let decimals = (3 - int_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_264_000), "4.26MB");
        assert_eq!(human_size(7_800_000), "7.8MB");
        assert_eq!(human_size(123_400), "123kB");
        assert_eq!(human_size(1_000_000_000), "1GB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3600 * 5), "5 hours");
        assert_eq!(human_duration(3600 * 24 * 15), "2 weeks");
        assert_eq!(human_duration(3600 * 24 * 400), "13 months");
        assert_eq!(human_duration(3600 * 24 * 800), "2 years");
    }

    #[test]
    fn globs_like_path_match() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("*/busybox", "fixtures/busybox"));
        assert!(!glob("*", "fixtures/busybox"));
        assert!(glob(
            "127.0.0.1:*/fixtures/*:latest",
            "127.0.0.1:5000/fixtures/busybox:latest"
        ));
        assert!(!glob("bus?", "busybox"));
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/alpine"), "alpine");
        assert_eq!(familiar("docker.io/me/app"), "me/app");
        assert_eq!(familiar("ghcr.io/a/b"), "ghcr.io/a/b");
    }
}
