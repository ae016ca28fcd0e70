//! A container's files from the host: its changes as a layer (`commit`,
//! and `build` later), as a list (`diff`), its root as a tar (`export`),
//! and copies in and out (`cp`), for running and stopped containers.
//!
//! Files in a container belong to its ids: subordinate ids on the host,
//! modes a plain user may not read past. So the work runs in a helper
//! (`burrow __container-fs`) that sees them as the container does (see
//! child.rs); we hand it files to read or write and get one JSON answer.

mod child;
pub mod extract;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::record::{self, Record};
use super::state;
use crate::image::layer_tar::{LayerDigests, TarOptions};
use crate::image::Store;
use crate::userns::idmap::{self, HostUser, IdMapMode};

pub use child::main as helper_main;

/// How the helper sees the container's root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum View {
    /// A running container: join the namespaces of this pid.
    Join(i32),
    /// A stopped one: mount these layers (top-most first) at `mountpoint`;
    /// writable when `work` is given.
    Layers {
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: Option<PathBuf>,
        mountpoint: PathBuf,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    /// The changes in `upper` as a gzip layer into the file `out`.
    Layer {
        upper: PathBuf,
        out: PathBuf,
        opts: TarOptions,
    },
    /// `path` in the container as a tar into the file `out`.
    Tar {
        view: View,
        path: String,
        follow: bool,
        out: PathBuf,
        opts: TarOptions,
    },
    /// The tar in the file `input` unpacked at `dest` in the container.
    Untar {
        view: View,
        dest: String,
        input: PathBuf,
        owners: bool,
    },
    /// The names the upper dir changes.
    Diff {
        upper: PathBuf,
        lowers: Vec<PathBuf>,
    },
}

impl Job {
    fn view(&self) -> Option<&View> {
        match self {
            Job::Tar { view, .. } | Job::Untar { view, .. } => Some(view),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer {
    Ok(serde_json::Value),
    /// The error line and its exit code (1 for Docker's "could not find").
    Error(String, i32),
}

/// One line of `diff`: 'A', 'C' or 'D' and the path in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// A container's file system as the helper needs it.
pub struct Container {
    pub record: Record,
    dir: PathBuf,
    mode: IdMapMode,
}

impl Container {
    pub fn find(root: &Path, name: &str) -> anyhow::Result<Container> {
        let record = record::find(root, name).map_err(super::control::not_found)?;
        let dir = record::container_dir(root, &record.id);
        Ok(Container {
            record,
            dir,
            mode: idmap::choose(&HostUser::current()).mode,
        })
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn single_id(&self) -> bool {
        self.mode == IdMapMode::Single
    }

    /// The init to join when the container runs.
    fn running_init(&self) -> Option<i32> {
        let live = state::State::of(&self.record).is_live();
        let init = self.record.init.filter(|i| i.alive())?;
        live.then(|| crate::sandbox::joinable(init.pid))
    }

    fn view(&self, writable: bool) -> anyhow::Result<(View, Option<tempfile::TempDir>)> {
        if let Some(pid) = self.running_init() {
            return Ok((View::Join(pid), None));
        }
        let mnt = tempfile::Builder::new()
            .prefix(&crate::fsutil::tmp_prefix())
            .tempdir_in(&self.dir)
            .context("make a mount point")?;
        let work = self.dir.join("work");
        if writable {
            std::fs::create_dir_all(&work).context("make the work dir")?;
        }
        Ok((
            View::Layers {
                lowers: self.record.config.lower_dirs.clone(),
                upper: self.upper(),
                work: writable.then_some(work),
                mountpoint: mnt.path().to_path_buf(),
            },
            Some(mnt),
        ))
    }

    /// The changes as a gzip layer blob in the store.
    pub fn store_layer(&self, store: &Store, epoch: Option<i64>) -> anyhow::Result<LayerDigests> {
        store_layer(store, &self.upper(), epoch)
    }

    /// `diff`: what the container changed, sorted by path.
    pub fn changes(&self) -> anyhow::Result<Vec<Change>> {
        let job = Job::Diff {
            upper: self.upper(),
            lowers: self.record.config.lower_dirs.clone(),
        };
        let v = run(&self.mode, &job)?;
        let mut c: Vec<Change> = serde_json::from_value(v).context("bad answer from the helper")?;
        c.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(c)
    }

    /// `path` (a file or a tree; "/" for the whole root) as a tar in `out`.
    pub fn tar(&self, path: &str, follow: bool, out: &Path) -> anyhow::Result<()> {
        let (view, _mnt) = self.view(false)?;
        let job = Job::Tar {
            view,
            path: path.to_string(),
            follow,
            out: out.to_path_buf(),
            opts: TarOptions {
                changes: false,
                single_id: self.single_id(),
                epoch: None,
                one_file_system: true,
                base: Vec::new(),
            },
        };
        run(&self.mode, &job).map(drop)
    }

    /// Unpack the tar `input` at `dest` in the container.
    pub fn untar(&self, input: &Path, dest: &str, owners: bool) -> anyhow::Result<()> {
        let (view, _mnt) = self.view(true)?;
        let job = Job::Untar {
            view,
            dest: dest.to_string(),
            input: input.to_path_buf(),
            // Only the container's root exists in single-id mode.
            owners: owners && !self.single_id(),
        };
        run(&self.mode, &job).map(drop)
    }
}

/// The changes in `upper` (an overlay upper dir, of a container or a
/// build step) as a gzip OCI layer blob in the store's blobs, named by its
/// digest once whole; owners are the containers' ids (read by the helper
/// in their user namespace), whiteouts and opaque dirs OCI markers,
/// mtimes clamped to `epoch` (SOURCE_DATE_EPOCH). `build` calls this.
pub fn store_layer(
    store: &Store,
    upper: &Path,
    epoch: Option<i64>,
) -> anyhow::Result<LayerDigests> {
    store_layer_with(store, upper, epoch, None)
}

/// As `store_layer`; with `copy_base` (a build's COPY/ADD layer, whose
/// files we made and marked: --chown, or an ADDed archive's owners),
/// owners and modes come from `user.burrow.override` where set in either
/// id-map mode, and the dirs the base image has (`copy_base`: its layer
/// dirs, top-most first) keep its owner and mode: they are only on the
/// way to the copied files.
pub fn store_layer_with(
    store: &Store,
    upper: &Path,
    epoch: Option<i64>,
    copy_base: Option<&[PathBuf]>,
) -> anyhow::Result<LayerDigests> {
    let mode = idmap::choose(&HostUser::current()).mode;
    let dir = store.root().join("blobs/sha256");
    let tmp = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempfile_in(&dir)
        .with_context(|| format!("create a temp file in {}", dir.display()))?;
    let job = Job::Layer {
        upper: upper.to_path_buf(),
        out: tmp.path().to_path_buf(),
        opts: TarOptions {
            changes: true,
            single_id: copy_base.is_some() || mode == IdMapMode::Single,
            epoch,
            one_file_system: false,
            base: copy_base.map(<[PathBuf]>::to_vec).unwrap_or_default(),
        },
    };
    let d: LayerDigests =
        serde_json::from_value(run(&mode, &job)?).context("bad answer from the helper")?;
    tmp.as_file().sync_data().ok();
    tmp.persist(store.blob_path(&d.digest)?)
        .map_err(|e| e.error)
        .context("store the layer")?;
    Ok(d)
}

/// Run a job in the helper and return its answer.
fn run(mode: &IdMapMode, job: &Job) -> anyhow::Result<serde_json::Value> {
    let text = serde_json::to_string(job)?;
    let mut child = Command::new("/proc/self/exe")
        .arg("__container-fs")
        .arg(&text)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the file helper (/proc/self/exe)")?;
    let joins = matches!(job.view(), Some(View::Join(_)));
    let result = talk(&mut child, mode, joins);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("wait for the file helper")?;
    match result? {
        Some(Answer::Ok(v)) => Ok(v),
        Some(Answer::Error(e, code)) => Err(crate::error::Coded::new(code, e).into()),
        None => bail!("the file helper ended without an answer ({status})"),
    }
}

fn talk(
    child: &mut std::process::Child,
    mode: &IdMapMode,
    joins: bool,
) -> anyhow::Result<Option<Answer>> {
    let mut stdout = BufReader::new(child.stdout.take().context("helper stdout")?);
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .context("read from the file helper")?;
    if line.trim() == "ready" {
        if !joins {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            idmap::apply(pid, mode, &HostUser::current())
                .context("map the containers' ids (see 'burrow info')")?;
        }
        let mut stdin = child.stdin.take().context("helper stdin")?;
        stdin.write_all(b"go\n").context("start the file helper")?;
        line.clear();
    }
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .context("read from the file helper")?;
    line.push_str(&rest);
    Ok(serde_json::from_str(line.trim()).ok())
}
