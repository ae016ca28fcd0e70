//! `burrow images` (also `image ls`): docker's table of local images.

use anyhow::bail;
use clap::Args;

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

    /// Show all images (by default the untagged images that build steps left are hidden)
    #[arg(long, short = 'a')]
    pub all: bool,

    /// Show digests
    #[arg(long)]
    pub digests: bool,

    /// Filter: dangling=true|false, reference=PATTERN (repeatable)
    #[arg(long, short = 'f', value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format: table (default), json, or a Go template ('{{.Repository}}:{{.Tag}}')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
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
    if !args.all {
        let steps = crate::image::steps::Steps::of_store(&store, &images);
        images.retain(|i| !steps.is_intermediate(i));
    }
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
    let rows: Vec<serde_json::Value> = rows.iter().map(json_row).collect();
    let default = if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    // "text" was burrow's name for the table before templates came.
    let format = args.format.as_deref().filter(|f| *f != "text");
    print!("{}", super::format::rows(format, default, HEADER, &rows)?);
    Ok(0)
}

/// Docker's column titles for each field of a row.
const HEADER: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

fn rows_of(image: &ImageRecord) -> Vec<Row<'_>> {
    let digest = image
        .repo_digests
        .first()
        .and_then(|d| d.rsplit_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "<none>".into());
    if image.repo_tags.is_empty() {
        // Pulled by digest: docker shows the repository and no tag.
        let repository = image
            .repo_digests
            .first()
            .and_then(|d| d.rsplit_once('@'))
            .map(|(name, _)| familiar(name))
            .unwrap_or_else(|| "<none>".into());
        return vec![Row {
            image,
            repository,
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

fn json_row(r: &Row) -> serde_json::Value {
    let size = crate::units::human_size(r.image.size());
    serde_json::json!({
        "Containers": "N/A",
        "CreatedAt": r.image.created.clone().unwrap_or_default(),
        "CreatedSince": created_since(r.image),
        "Digest": r.digest,
        "ID": r.image.short_id(),
        "Repository": escape_control(&r.repository),
        "SharedSize": "N/A",
        "Size": size,
        "Tag": escape_control(&r.tag),
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
        let dangling = r.image.is_dangling();
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
    rfc3339_secs(i.created.as_deref())
}

/// Unix seconds of an RFC 3339 time; 0 when absent or unreadable.
fn rfc3339_secs(created: Option<&str>) -> i64 {
    created
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
    since(i.created.as_deref())
}

/// "2 weeks ago" for an RFC 3339 time, "N/A" without one.
pub fn since(created: Option<&str>) -> String {
    let secs = rfc3339_secs(created);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_timestamps() {
        assert_eq!(rfc3339_secs(Some("1970-01-01T00:01:00Z")), 60);
        assert_eq!(rfc3339_secs(Some("1970-01-01T00:01:00.123456789Z")), 60);
        assert_eq!(rfc3339_secs(Some("garbage")), 0);
        assert_eq!(since(None), "N/A");
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
