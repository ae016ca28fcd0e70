//! `burrow save`, `load` and `import`: images to and from tar archives.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::image::archive;
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images to save, by name or id prefix
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file instead of standard input
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A root file system tar (plain, gzip or zstd), or - for standard input
    #[arg(value_name = "FILE")]
    pub file: String,

    /// Name the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub fn save(paths: &Paths, args: &SaveArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    match &args.output {
        Some(path) => {
            // A temp file beside the target, renamed at the end: no half
            // archive is ever left under the name asked for.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".burrow-save-")
                .tempfile_in(dir)
                .with_context(|| format!("create a file in {}", dir.display()))?;
            archive::save(
                &store,
                &args.images,
                &mut std::io::BufWriter::new(tmp.as_file_mut()),
            )?;
            tmp.persist(path)
                .map_err(|e| e.error)
                .with_context(|| format!("write {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write an archive to a terminal; use -o FILE or redirect the output");
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            archive::save(&store, &args.images, &mut out)?;
            out.flush().context("write the archive")?;
        }
    }
    Ok(0)
}

pub fn load(paths: &Paths, args: &LoadArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let mut input: Box<dyn Read> = match &args.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?)
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("no archive on standard input; use -i FILE or redirect the input");
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let loaded = archive::load(&store, &mut std::io::BufReader::new(&mut input))?;
    for l in &loaded {
        if l.tags.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for t in &l.tags {
            println!("Loaded image: {}", escape_control(&archive::familiar(t)));
        }
    }
    Ok(0)
}

pub fn import(paths: &Paths, args: &ImportArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let mut input: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("open {}", args.file))?)
    };
    let loaded = archive::import(&store, &mut input, args.reference.as_deref(), &args.file)?;
    println!("{}", loaded.id);
    Ok(0)
}
