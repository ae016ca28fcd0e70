//! `burrow volume create|ls|inspect|rm|prune`, as Docker's.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::container::{record, volumes};
use crate::paths::Paths;
use crate::text::escape_control;
use crate::volume::{self, NewVolume, Options};

#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes' details as JSON, or through a Go template
    Inspect(InspectArgs),
    /// Remove volumes (refused while a container uses one)
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove anonymous volumes no container uses (--all: named ones too)
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Set a label: KEY=VALUE (or KEY)
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// Driver option: type=tmpfs|none, device=DIR|tmpfs, o=OPTIONS (o=bind for a host dir)
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Volume driver (only local)
    #[arg(short, long, default_value = "local", value_name = "DRIVER")]
    pub driver: String,
    /// The volume's name
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only the names
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: name=TEXT, label=KEY[=VALUE], dangling=true|false, driver=local
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Go template ('{{.Name}}'), table, or json
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each volume with a Go template ('{{.Mountpoint}}')
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// No error for a volume that does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Named volumes too, not only anonymous ones
    #[arg(short, long)]
    pub all: bool,
}

pub fn run_group(paths: &Paths, args: &VolumeArgs) -> anyhow::Result<i32> {
    match &args.command {
        VolumeCommand::Create(a) => create(paths, a),
        VolumeCommand::Ls(a) => ls(paths, a),
        VolumeCommand::Inspect(a) => inspect(paths, a),
        VolumeCommand::Rm(a) => rm(paths, a),
        VolumeCommand::Prune(a) => prune(paths, a),
    }
}

fn labels(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in flags {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("invalid label {:?}: KEY=VALUE", escape_control(l));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn create(paths: &Paths, a: &CreateArgs) -> anyhow::Result<i32> {
    if a.driver != "local" {
        bail!(
            "volume driver {:?} is not available (burrow has the local driver only)",
            escape_control(&a.driver)
        );
    }
    let new = NewVolume {
        name: a.name.clone(),
        labels: labels(&a.label)?,
        options: Options::parse_flags(&a.opt)?,
    };
    let root = paths.ensure_root()?;
    let (v, _) = volume::create(root, new)?;
    println!("{}", v.name);
    Ok(0)
}

/// `--filter`, as Docker's volume filters.
enum Filter {
    Name(String),
    Label(String, Option<String>),
    Dangling(bool),
    Driver(String),
}

fn parse_filter(f: &str) -> anyhow::Result<Filter> {
    let bad = || {
        crate::error::Coded::new(
            crate::error::EXIT_BURROW,
            format!(
                "invalid filter {:?} (name=, label=, dangling=true|false, driver=)",
                escape_control(f)
            ),
        )
    };
    let (k, v) = f.split_once('=').ok_or_else(bad)?;
    Ok(match k {
        "name" => Filter::Name(v.into()),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => Filter::Label(lk.into(), Some(lv.into())),
            None => Filter::Label(v.into(), None),
        },
        "dangling" => match v {
            "true" | "1" => Filter::Dangling(true),
            "false" | "0" => Filter::Dangling(false),
            _ => return Err(bad().into()),
        },
        "driver" => Filter::Driver(v.into()),
        _ => return Err(bad().into()),
    })
}

fn ls(paths: &Paths, a: &LsArgs) -> anyhow::Result<i32> {
    let filters = a
        .filter
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let root = paths.root();
    let records = record::all(root);
    let rows: Vec<(volume::Volume, usize)> = volume::list(root)
        .into_iter()
        .map(|v| {
            let links = volumes::users_of(&records, &v.name).len();
            (v, links)
        })
        .filter(|(v, links)| {
            filters.iter().all(|f| match f {
                Filter::Name(n) => v.name.contains(n.as_str()),
                Filter::Label(k, want) => v
                    .labels
                    .get(k)
                    .is_some_and(|have| want.as_ref().is_none_or(|w| w == have)),
                Filter::Dangling(d) => (*links == 0) == *d,
                Filter::Driver(d) => d == "local",
            })
        })
        .collect();
    if a.quiet {
        for (v, _) in &rows {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(v, links)| {
            let labels = v
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            json!({
                "Availability": "N/A",
                "Driver": "local",
                "Group": "N/A",
                "Labels": escape_control(&labels),
                "Links": links.to_string(),
                "Mountpoint": v.mountpoint,
                "Name": v.name,
                "Scope": "local",
                "Size": "N/A",
                "Status": "N/A",
            })
        })
        .collect();
    print!(
        "{}",
        super::format::rows(
            a.format.as_deref(),
            "table {{.Driver}}\t{{.Name}}",
            HEADER,
            &rows
        )?
    );
    Ok(0)
}

const HEADER: &[(&str, &str)] = &[
    ("Availability", "AVAILABILITY"),
    ("Driver", "DRIVER"),
    ("Group", "GROUP"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
];

fn inspect(paths: &Paths, a: &InspectArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut out = Vec::new();
    let mut code = 0;
    for n in &a.volumes {
        match volume::get(root, n) {
            Ok(Some(v)) => out.push(v.inspect_json()),
            Ok(None) => {
                eprintln!("burrow: {}", volume::no_such_volume(n));
                code = 1;
            }
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    super::format::print_inspect(&out, a.format.as_deref())?;
    Ok(code)
}

fn rm(paths: &Paths, a: &RmArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let mut code = 0;
    for n in &a.volumes {
        match volumes::remove(root, n) {
            Ok(()) => println!("{}", escape_control(n)),
            Err(e) if a.force && volume::get(root, n).ok().flatten().is_none() => {
                let _ = e;
            }
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = crate::error::exit_code(&e);
            }
        }
    }
    Ok(code)
}

/// Docker's question before a prune; `true` to go on.
pub(super) fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn prune(paths: &Paths, a: &PruneArgs) -> anyhow::Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let (names, freed) = volumes::prune(paths.root(), a.all)?;
    if !names.is_empty() {
        println!("Deleted Volumes:");
        for n in &names {
            println!("{n}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", crate::units::human_size(freed));
    Ok(0)
}
