//! `burrow system df` and `system prune`: what the store holds, and
//! removing what nothing uses, as Docker's.

use std::collections::{HashMap, HashSet};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::container::state::State;
use crate::container::{control, record, volumes};
use crate::image::Store;
use crate::paths::Paths;
use crate::units::human_size;
use crate::volume;

#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show the space images, containers and volumes take
    Df(DfArgs),
    /// Remove stopped containers, dangling images (all unused with -a) and,
    /// with --volumes, unused anonymous volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show each image, container and volume
    #[arg(short, long)]
    pub verbose: bool,
    /// Go template ('{{.Type}} {{.Size}}'), table, or json
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Remove anonymous volumes no container uses too
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run_group(paths: &Paths, args: &SystemArgs) -> anyhow::Result<i32> {
    match &args.command {
        SystemCommand::Df(a) => df(paths, a),
        SystemCommand::Prune(a) => prune(paths, a),
    }
}

/// Bytes of the unpacked layers of `images`, each layer once (images
/// share them), from the sizes `images` shows.
fn layer_bytes<'a>(images: impl Iterator<Item = &'a crate::image::ImageRecord>) -> u64 {
    let mut seen = HashSet::new();
    images
        .flat_map(|i| i.layers.iter())
        .filter(|l| seen.insert(l.chain_id.clone()))
        .map(|l| l.unpacked_size)
        .sum()
}

/// "SIZE (PCT%)" as Docker prints reclaimable space.
fn reclaimable(bytes: u64, total: u64) -> String {
    match (bytes * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", human_size(bytes)),
        None => human_size(bytes),
    }
}

/// A container's writable layer, as `ps -s` measures it.
fn container_bytes(root: &std::path::Path, r: &record::Record) -> u64 {
    volume::du(&record::container_dir(root, &r.id).join("upper"))
}

struct Usage {
    images: Vec<crate::image::ImageRecord>,
    records: Vec<record::Record>,
    volumes: Vec<(volume::Volume, usize, u64)>,
}

fn usage(paths: &Paths) -> Usage {
    let root = paths.root();
    let images = Store::open(paths)
        .and_then(|s| s.images())
        .unwrap_or_default();
    let records = record::all(root);
    let volumes = volume::list(root)
        .into_iter()
        .map(|v| {
            let links = volumes::users_of(&records, &v.name).len();
            let size = volume::size(&v);
            (v, links, size)
        })
        .collect();
    Usage {
        images,
        records,
        volumes,
    }
}

fn df(paths: &Paths, a: &DfArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let u = usage(paths);
    let used_ids: HashSet<&str> = u.records.iter().map(|r| r.image_id.as_str()).collect();
    let image_total = layer_bytes(u.images.iter());
    let image_active = layer_bytes(u.images.iter().filter(|i| used_ids.contains(i.id.as_str())));
    let sizes: Vec<(bool, u64)> = u
        .records
        .iter()
        .map(|r| (State::of(r).is_live(), container_bytes(root, r)))
        .collect();
    let c_total: u64 = sizes.iter().map(|(_, s)| s).sum();
    let c_idle: u64 = sizes.iter().filter(|(l, _)| !l).map(|(_, s)| s).sum();
    let v_total: u64 = u.volumes.iter().map(|(_, _, s)| s).sum();
    let v_idle: u64 = u
        .volumes
        .iter()
        .filter(|(_, l, _)| *l == 0)
        .map(|(_, _, s)| s)
        .sum();
    if a.verbose {
        return df_verbose(paths, &u, &sizes);
    }
    let row = |t: &str, total: usize, active: usize, size: u64, rec: String| {
        json!({
            "Type": t,
            "TotalCount": total.to_string(),
            "Active": active.to_string(),
            "Size": human_size(size),
            "Reclaimable": rec,
        })
    };
    let rows = vec![
        row(
            "Images",
            u.images.len(),
            u.images
                .iter()
                .filter(|i| used_ids.contains(i.id.as_str()))
                .count(),
            image_total,
            reclaimable(image_total - image_active.min(image_total), image_total),
        ),
        row(
            "Containers",
            u.records.len(),
            sizes.iter().filter(|(l, _)| *l).count(),
            c_total,
            reclaimable(c_idle, c_total),
        ),
        row(
            "Local Volumes",
            u.volumes.len(),
            u.volumes.iter().filter(|(_, l, _)| *l > 0).count(),
            v_total,
            reclaimable(v_idle, v_total),
        ),
        row("Build Cache", 0, 0, 0, human_size(0)),
    ];
    print!(
        "{}",
        super::format::rows(
            a.format.as_deref(),
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            &[
                ("Type", "TYPE"),
                ("TotalCount", "TOTAL"),
                ("Active", "ACTIVE"),
                ("Size", "SIZE"),
                ("Reclaimable", "RECLAIMABLE"),
            ],
            &rows,
        )?
    );
    Ok(0)
}

/// `df -v`: each image, container and volume.
fn df_verbose(paths: &Paths, u: &Usage, sizes: &[(bool, u64)]) -> anyhow::Result<i32> {
    let mut users: HashMap<&str, usize> = HashMap::new();
    for r in &u.records {
        *users.entry(r.image_id.as_str()).or_default() += 1;
    }
    let mut out = String::from("Images space usage:\n\n");
    let mut t = String::from("REPOSITORY\tTAG\tIMAGE ID\tSIZE\tCONTAINERS\n");
    for i in &u.images {
        let (repo, tag) = match i.repo_tags.first() {
            Some(rt) => match rt.rsplit_once(':') {
                Some((r, t)) => (r.to_string(), t.to_string()),
                None => (rt.clone(), "<none>".into()),
            },
            None => ("<none>".into(), "<none>".into()),
        };
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            crate::text::escape_control(&repo),
            crate::text::escape_control(&tag),
            i.short_id(),
            human_size(i.size()),
            users.get(i.id.as_str()).copied().unwrap_or(0)
        ));
    }
    out.push_str(&super::format::tabwrite(&t));
    out.push_str("\nContainers space usage:\n\n");
    let mut t = String::from("CONTAINER ID\tIMAGE\tLOCAL VOLUMES\tSIZE\tNAMES\n");
    for (r, (_, size)) in u.records.iter().zip(sizes) {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            &r.id[..12],
            crate::text::escape_control(&r.image),
            volumes::names_of(r).count(),
            human_size(*size),
            r.name
        ));
    }
    out.push_str(&super::format::tabwrite(&t));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for (v, links, size) in &u.volumes {
        t.push_str(&format!("{}\t{}\t{}\n", v.name, links, human_size(*size)));
    }
    out.push_str(&super::format::tabwrite(&t));
    out.push_str("\nBuild cache usage: 0B\n");
    let _ = paths;
    print!("{out}");
    Ok(0)
}

fn prune(paths: &Paths, a: &PruneArgs) -> anyhow::Result<i32> {
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        w.push_str("  - unused build cache\n");
        if !super::volume::confirm(&w)? {
            return Ok(0);
        }
    }
    let root = paths.root();
    let mut freed = 0;
    // Stopped containers first: their images and volumes are unused then.
    let mut gone = Vec::new();
    for r in record::all(root) {
        if State::of(&r).is_live() {
            continue;
        }
        let size = container_bytes(root, &r);
        if control::remove(root, &r, false)? {
            freed += size;
            gone.push(r.id);
        }
    }
    if !gone.is_empty() {
        println!("Deleted Containers:");
        for id in &gone {
            println!("{id}");
        }
        println!();
    }
    let nets = crate::container::networks::prune(paths)?;
    if !nets.is_empty() {
        println!("Deleted Networks:");
        for n in &nets {
            println!("{}", crate::text::escape_control(n));
        }
        println!();
    }
    if a.volumes {
        let (names, bytes) = volumes::prune(root, false)?;
        freed += bytes;
        if !names.is_empty() {
            println!("Deleted Volumes:");
            for n in &names {
                println!("{n}");
            }
            println!();
        }
    }
    if let Ok(store) = Store::open(paths) {
        freed += prune_images(&store, root, a.all)?;
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

/// Dangling images (every unused one with `all`) that no container uses;
/// returns the layer bytes freed.
fn prune_images(store: &Store, root: &std::path::Path, all: bool) -> anyhow::Result<u64> {
    use crate::image::remove::{self, Removed};
    let in_use: HashSet<String> = record::all(root).into_iter().map(|r| r.image_id).collect();
    let before = layer_bytes(store.images()?.iter());
    let mut removed = remove::prune_dangling(store, &in_use)?;
    if all {
        for i in store.images()? {
            if !in_use.contains(&i.id) {
                removed.extend(remove::remove(store, &i.id, true, &in_use)?);
            }
        }
    }
    let after = layer_bytes(store.images()?.iter());
    if !removed.is_empty() {
        println!("Deleted Images:");
        for r in &removed {
            match r {
                Removed::Untagged(t) => println!("untagged: {}", crate::text::escape_control(t)),
                Removed::Deleted(id) => println!("deleted: {id}"),
            }
        }
        println!();
    }
    Ok(before.saturating_sub(after))
}
