//! `burrow ps`: docker's container table, filters and formats. Reads the
//! records without the store's lock (each is replaced atomically), so a
//! held lock never blocks it.

use anyhow::bail;
use clap::Args;
use serde_json::json;

use crate::container::health::{self, Health};
use crate::container::record::now;
use crate::container::record::{self, Record};
use crate::container::state::{self, State};
use crate::image::lineage::Ancestor;
use crate::image::Records;
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones)
    #[arg(short, long)]
    pub all: bool,

    /// Only print container ids
    #[arg(short, long)]
    pub quiet: bool,

    /// Show the N last created containers (all states)
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<usize>,

    /// Show the latest created container (all states)
    #[arg(short, long)]
    pub latest: bool,

    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Show the size of each container's writable layer (and with the image: virtual)
    #[arg(short, long)]
    pub size: bool,

    /// Filter: id=, name=, status=, ancestor=, label=KEY[=VALUE], exited=CODE,
    /// health=starting|healthy|unhealthy|none
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,

    /// Format: table (default), json, or a Go template ('{{.Names}}', 'table {{.ID}}\t{{.Status}}')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// One row, with docker's field names.
struct Row {
    id: String,
    image: String,
    command: String,
    created_at: String,
    running_for: String,
    status: String,
    state: &'static str,
    names: String,
    labels: String,
    networks: String,
    size: String,
    mounts: String,
    local_volumes: usize,
    ports: String,
}

pub fn run(paths: &Paths, args: &PsArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut recs = record::all(root);
    recs.sort_by_key(|r| std::cmp::Reverse((r.created, r.created_nanos)));
    // The image records, for ancestor= (docker matches descendants too).
    let images = if args.filter.iter().any(|f| f.starts_with("ancestor=")) {
        Records::load(root)?
    } else {
        Records::default()
    };
    let filters = args
        .filter
        .iter()
        .map(|f| parse_filter(f, &images))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let limit = if args.latest { Some(1) } else { args.last };
    let show_all = args.all || limit.is_some();
    let mut rows: Vec<(Record, State)> = recs
        .into_iter()
        .map(|r| {
            let s = State::of(&r);
            (r, s)
        })
        .filter(|(_, s)| show_all || s.is_live() || has_status_filter(&filters))
        .filter(|(r, s)| filters.iter().all(|f| matches(f, r, s, &images, root)))
        .collect();
    if let Some(n) = limit {
        rows.truncate(n);
    }
    let t = now();
    // Docker measures sizes for -s, or when the template shows them.
    let want_size = args.size || args.format.as_deref().is_some_and(|f| f.contains(".Size"));
    // Image sizes as `images` shows them, so both tables agree.
    let image_sizes: std::collections::HashMap<String, u64> = if want_size {
        crate::image::Store::open(paths)
            .and_then(|s| s.images())
            .map(|imgs| imgs.iter().map(|i| (i.id.clone(), i.size())).collect())
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let rows: Vec<Row> = rows
        .iter()
        .map(|(r, s)| {
            let mut row = row(r, s, t, !args.no_trunc, health_of(root, r, s));
            if want_size {
                row.size = size_of(root, r, image_sizes.get(&r.image_id).copied());
            }
            row
        })
        .collect();
    if args.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = rows.iter().map(to_json).collect();
    let default = if args.size {
        concat!(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t",
            "{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
        )
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    print!(
        "{}",
        super::format::rows(args.format.as_deref(), default, HEADER, &rows)?
    );
    Ok(0)
}

/// Docker's column titles for each field of a row.
const HEADER: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// Docker's "Up 3 seconds (healthy)": the health of a running container.
pub(super) fn with_health(status: String, s: &State, health: Option<&Health>) -> String {
    match (s, health) {
        (State::Running, Some(h)) => format!("{status} ({})", h.status.ps_word()),
        _ => status,
    }
}

/// A container's health for `ps`: none without a check, or before its
/// first start (as Docker, which makes it at the start).
pub(super) fn health_of(root: &std::path::Path, r: &Record, s: &State) -> Option<Health> {
    r.extras.health.as_ref()?.command()?;
    match health::read(&record::container_dir(root, &r.id)) {
        Some(h) => Some(h),
        // Running, its checker not yet there: starting.
        None if s.is_live() => Some(Health::restarted(None)),
        None => None,
    }
}

fn row(r: &Record, s: &State, now: u64, trunc: bool, health: Option<Health>) -> Row {
    let (mounts, local_volumes) = crate::container::volumes::ps_mounts(r, trunc);
    let mut command = r.config.process.args.join(" ");
    if trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let labels = r
        .extras
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    Row {
        id: if trunc {
            r.id[..12].to_string()
        } else {
            r.id.clone()
        },
        image: crate::text::escape_control(&r.image),
        command: crate::text::escape_control(&format!("\"{command}\"")),
        created_at: humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.created),
        )
        .to_string(),
        running_for: format!(
            "{} ago",
            state::human_duration(now.saturating_sub(r.created))
        ),
        status: with_health(s.status_line(r, now), s, health.as_ref()),
        state: s.word(),
        names: r.name.clone(),
        labels: crate::text::escape_control(&labels),
        networks: if r.config.networks.is_empty() {
            r.config.network.mode()
        } else {
            r.config
                .networks
                .iter()
                .map(|a| a.network.as_str())
                .collect::<Vec<_>>()
                .join(",")
        },
        size: String::new(),
        mounts,
        local_volumes,
        // Docker shows them while the container runs.
        ports: match s {
            State::Running | State::Paused => {
                crate::net::publish::spec::ps_column(&r.extras.ports.bound, &r.extras.ports.exposed)
            }
            _ => String::new(),
        },
    }
}

/// Bytes of regular files under `dir` (what we may read of it).
fn du(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Docker's SIZE: "12B (virtual 4.2MB)": the writable layer, and that
/// plus the image's size as `images` gives it (measured from the layers
/// only when the image is gone from the store).
fn size_of(root: &std::path::Path, r: &Record, image: Option<u64>) -> String {
    let upper = du(&record::container_dir(root, &r.id).join("upper"));
    let image = image.unwrap_or_else(|| r.config.lower_dirs.iter().map(|d| du(d)).sum());
    format!(
        "{} (virtual {})",
        crate::units::human_size(upper),
        crate::units::human_size(upper + image)
    )
}

fn to_json(r: &Row) -> serde_json::Value {
    json!({
        "Command": r.command,
        "CreatedAt": r.created_at,
        "ID": r.id,
        "Image": r.image,
        "Labels": r.labels,
        "Names": r.names,
        "Size": r.size,
        "Ports": r.ports,
        "RunningFor": r.running_for,
        "State": r.state,
        "Status": r.status,
        "Mounts": r.mounts,
        "Networks": r.networks,
        "LocalVolumes": r.local_volumes.to_string(),
    })
}

enum Filter {
    Id(String),
    Name(String),
    Status(String),
    Ancestor(Ancestor),
    Label(String, Option<String>),
    Exited(i32),
    Health(String),
    /// A volume's name, or a mount's destination (as Docker's).
    Volume(String),
}

fn parse_filter(f: &str, images: &Records) -> anyhow::Result<Filter> {
    let Some((k, v)) = f.split_once('=') else {
        bail!("bad filter {:?}: KEY=VALUE", crate::text::escape_control(f));
    };
    Ok(match k {
        "id" => Filter::Id(v.into()),
        "name" => Filter::Name(v.into()),
        "status" => {
            let known = [
                "created",
                "running",
                "exited",
                "restarting",
                "removing",
                "paused",
                "dead",
            ];
            if !known.contains(&v) {
                bail!("bad status filter {v:?} (one of {})", known.join(", "));
            }
            Filter::Status(v.into())
        }
        "ancestor" => Filter::Ancestor(Ancestor::resolve(images, v)),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => Filter::Label(lk.into(), Some(lv.into())),
            None => Filter::Label(v.into(), None),
        },
        "exited" => Filter::Exited(
            v.parse()
                .map_err(|_| anyhow::anyhow!("bad exited filter {v:?}: a number"))?,
        ),
        "health" => {
            let known = ["starting", "healthy", "unhealthy", "none"];
            if !known.contains(&v) {
                bail!("bad health filter {v:?} (one of {})", known.join(", "));
            }
            Filter::Health(v.into())
        }
        "volume" => Filter::Volume(v.into()),
        _ => bail!(
            "unsupported filter {:?} (id, name, status, ancestor, label, exited, health, volume)",
            crate::text::escape_control(k)
        ),
    })
}

/// Docker lists stopped containers when a status filter asks for them.
fn has_status_filter(filters: &[Filter]) -> bool {
    filters
        .iter()
        .any(|f| matches!(f, Filter::Status(_) | Filter::Exited(_)))
}

fn matches(f: &Filter, r: &Record, s: &State, images: &Records, root: &std::path::Path) -> bool {
    match f {
        Filter::Id(v) => r.id.starts_with(v.as_str()),
        Filter::Name(v) => r.name.contains(v.as_str()),
        Filter::Status(v) => s.word() == v,
        Filter::Ancestor(a) => a.matches(images, &r.image, &r.image_id),
        Filter::Label(k, v) => match (r.extras.labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        },
        Filter::Exited(c) => matches!(s, State::Exited { code: Some(x), .. } if x == c),
        Filter::Health(v) => {
            health_of(root, r, s).map_or("none", |h| h.status.word()) == v.as_str()
        }
        Filter::Volume(v) => {
            crate::container::volumes::names_of(r).any(|n| n == v)
                || r.config.mounts.iter().any(|m| m.target() == v)
        }
    }
}
