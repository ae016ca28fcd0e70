//! `burrow cp`: files between a container (running or stopped) and the
//! host, or a tar on standard input or output (`-`), as `docker cp`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use clap::Args;

use crate::container::files::extract::{self, Target};
use crate::container::files::Container;
use crate::image::layer_tar::{self, TarOptions};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode: keep the owners (uid and gid) of what is copied
    #[arg(long, short = 'a')]
    pub archive: bool,
    /// Follow a symlink given as the source
    #[arg(long = "follow-link", short = 'L')]
    pub follow: bool,
    /// Docker's progress option; burrow prints nothing either way
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - for a tar on standard input
    #[arg(value_name = "SRC")]
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or - for a tar on standard output
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// `NAME:PATH` names a path in a container; a host path with a ':'
/// must start with '/' or '.' (as docker has it).
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

pub fn run(paths: &Paths, a: &CpArgs) -> anyhow::Result<i32> {
    match (split(&a.src), split(&a.dest)) {
        (Some((name, path)), None) => out_of(paths, a, name, path),
        (None, Some((name, path))) => into(paths, a, name, path),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source (CONTAINER:PATH)"),
    }
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn out_of(paths: &Paths, a: &CpArgs, name: &str, path: &str) -> anyhow::Result<i32> {
    let c = Container::find(paths.root(), name)?;
    let path = absolute(path);
    if a.dest == "-" {
        if std::io::stdout().is_terminal() {
            bail!("refusing to write an archive to a terminal; redirect the output");
        }
        super::commit::via_temp(paths, |tmp| c.tar(&path, a.follow, tmp))?;
        return Ok(0);
    }
    let target = Target::for_dest(Path::new(&a.dest))?;
    let tmp = temp(paths)?;
    c.tar(&path, a.follow, tmp.path())?;
    let f = std::fs::File::open(tmp.path())?;
    // Owners on the host can be kept only by root.
    let owners = a.archive && nix::unistd::geteuid().is_root();
    extract::extract(std::io::BufReader::new(f), &target, owners)?;
    Ok(0)
}

fn into(paths: &Paths, a: &CpArgs, name: &str, path: &str) -> anyhow::Result<i32> {
    let c = Container::find(paths.root(), name)?;
    let dest = absolute(path);
    let tmp = temp(paths)?;
    if a.src == "-" {
        let mut f = std::fs::File::create(tmp.path())?;
        std::io::copy(&mut std::io::stdin().lock(), &mut f).context("read standard input")?;
    } else {
        let src = Path::new(&a.src);
        let meta = std::fs::symlink_metadata(src)
            .with_context(|| format!("no such file: {}", escape_control(&a.src)))?;
        let src = if a.follow && meta.file_type().is_symlink() {
            std::fs::canonicalize(src).with_context(|| format!("follow {}", src.display()))?
        } else {
            src.to_path_buf()
        };
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let f = std::fs::File::create(tmp.path())?;
        layer_tar::write_tree(
            &src,
            &name,
            &TarOptions::default(),
            std::io::BufWriter::new(f),
        )?;
    }
    c.untar(tmp.path(), &dest, a.archive)?;
    Ok(0)
}

fn temp(paths: &Paths) -> anyhow::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempfile_in(paths.ensure_root()?)
        .context("create a temp file in the store")
}
