//! The helper's side (`burrow __container-fs JOB`): it enters the
//! container's view of its files first thing (single-threaded, fresh from
//! exec), says "ready", waits for "go" (its id maps are written then), does
//! the job and answers with one JSON line.
//!
//! The view: a running container's own user and mount namespaces (joined,
//! so "/" is its root as its processes see it), or, for a stopped one, a
//! new user namespace with the containers' id maps and the container's
//! layers mounted as an overlay and made "/" by chroot. Either way owners
//! are the container's ids, and a path resolves as it would inside.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::sched::{setns, unshare, CloneFlags};

use super::extract::{self, Target};
use super::{Answer, Change, Job, View};
use crate::image::layer_tar;

pub fn main(job: &str) -> anyhow::Result<i32> {
    let answer = match work(job) {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Error(format!("{e:#}"), crate::error::exit_code(&e)),
    };
    println!("{}", serde_json::to_string(&answer)?);
    Ok(0)
}

fn work(job: &str) -> anyhow::Result<serde_json::Value> {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let job: Job = serde_json::from_str(job).context("bad helper job")?;
    // Host files first: after the view is entered they are out of reach.
    let (out, input) = match &job {
        Job::Layer { out, .. } | Job::Tar { out, .. } => (Some(create(out)?), None),
        Job::Untar { input, .. } => (None, Some(File::open(input).context("open the archive")?)),
        Job::Diff { .. } => (None, None),
    };
    match job.view() {
        Some(View::Join(pid)) => join(*pid)?,
        _ => unshare(CloneFlags::CLONE_NEWUSER).context("unshare a user namespace")?,
    }
    handshake()?;
    if let Some(View::Layers {
        lowers,
        upper,
        work,
        mountpoint,
    }) = job.view()
    {
        mount_layers(lowers, upper, work.as_deref(), mountpoint)?;
    }
    match job {
        Job::Layer { upper, opts, .. } => {
            let out = std::io::BufWriter::new(out.expect("opened above"));
            let d = layer_tar::write_layer(&upper, &opts, out)?;
            Ok(serde_json::to_value(d)?)
        }
        Job::Tar {
            path, follow, opts, ..
        } => {
            let p = resolve(&path, follow)?;
            let name = if path.trim_end_matches('/').is_empty() {
                String::new()
            } else {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let out = std::io::BufWriter::new(out.expect("opened above"));
            layer_tar::write_tree(&p, &name, &opts, out)?;
            Ok(serde_json::Value::Null)
        }
        Job::Untar { dest, owners, .. } => {
            let dest = PathBuf::from(&dest);
            if !dest.is_dir() && !dest.parent().is_some_and(Path::is_dir) {
                bail!(
                    "no such directory: {}",
                    crate::text::escape_control(&dest.to_string_lossy())
                );
            }
            let target = Target::for_dest(&dest)?;
            let input = std::io::BufReader::new(input.expect("opened above"));
            extract::extract(input, &target, owners)?;
            Ok(serde_json::Value::Null)
        }
        Job::Diff { upper, lowers } => Ok(serde_json::to_value(changes(&upper, &lowers)?)?),
    }
}

fn create(p: &Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .with_context(|| format!("open {}", p.display()))
}

fn handshake() -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    out.write_all(b"ready\n")?;
    out.flush()?;
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    if go.trim() != "go" {
        bail!("id maps were not written");
    }
    Ok(())
}

/// Join a running container's user and mount namespaces: "/" is then its
/// root.
fn join(pid: i32) -> anyhow::Result<()> {
    // Nothing of ours (/proc/PID/exe, fds) for the container's processes
    // (CVE-2019-5736); only here: our id maps are written through
    // /proc/PID, which this closes to the parent.
    nix::sys::prctl::set_dumpable(false).context("make the file helper non-dumpable")?;
    let open = |ns: &str| {
        File::open(format!("/proc/{pid}/ns/{ns}"))
            .with_context(|| format!("open the container's {ns} namespace"))
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    setns(user, CloneFlags::CLONE_NEWUSER).context("join the container's user namespace")?;
    setns(mnt, CloneFlags::CLONE_NEWNS).context("join the container's mount namespace")?;
    std::env::set_current_dir("/")?;
    Ok(())
}

/// A stopped container's layers as an overlay, made our root: read-only
/// (the upper dir as the top lower) without `work`, writable with it.
fn mount_layers(
    lowers: &[PathBuf],
    upper: &Path,
    work: Option<&Path>,
    mountpoint: &Path,
) -> anyhow::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).context("unshare a mount namespace")?;
    crate::userns::make_private().context("make the mounts private")?;
    let join = |ps: &[&Path]| {
        ps.iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    };
    let lower_refs: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    let opts = match work {
        Some(w) => format!(
            "lowerdir={},upperdir={},workdir={},userxattr",
            join(&lower_refs),
            upper.display(),
            w.display()
        ),
        None => {
            let mut all = vec![upper];
            all.extend(lower_refs.iter().copied());
            format!("lowerdir={},userxattr", join(&all))
        }
    };
    nix::mount::mount(
        Some("overlay"),
        mountpoint,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .context("mount the container's layers (overlay)")?;
    nix::unistd::chroot(mountpoint).context("enter the container's root")?;
    std::env::set_current_dir("/")?;
    Ok(())
}

/// A path in the container: its parents resolved, the last component
/// too with `follow` (`cp -L`).
fn resolve(path: &str, follow: bool) -> anyhow::Result<PathBuf> {
    let p = Path::new("/").join(path);
    let meta = std::fs::symlink_metadata(&p);
    let missing = || {
        crate::error::Coded::new(
            1,
            format!(
                "could not find the file {} in the container",
                crate::text::escape_control(path)
            ),
        )
    };
    meta.map_err(|_| missing())?;
    if follow {
        return std::fs::canonicalize(&p).map_err(|_| missing().into());
    }
    let parent = p.parent().unwrap_or(Path::new("/"));
    let parent = std::fs::canonicalize(parent).map_err(|_| missing())?;
    Ok(match p.file_name() {
        Some(n) => parent.join(n),
        None => parent,
    })
}

/// What differs from the image: every name in the upper dir, added or
/// changed by whether a lower layer has it; whiteouts deleted.
fn changes(upper: &Path, lowers: &[PathBuf]) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(upper, "", lowers, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, lowers: &[PathBuf], out: &mut Vec<Change>) -> anyhow::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let path = dir.join(&n);
        let name = format!("{prefix}/{}", n.to_string_lossy());
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if crate::rootfs::fuse::is_whiteout(&meta) {
            out.push(Change {
                kind: 'D',
                path: name,
            });
            continue;
        }
        let below = in_lowers(lowers, &name);
        out.push(Change {
            kind: if below { 'C' } else { 'A' },
            path: name.clone(),
        });
        if meta.is_dir() {
            // Under an opaque dir nothing of the lowers shows.
            let lowers = if crate::rootfs::fuse::is_opaque(&path) || !below {
                &[][..]
            } else {
                lowers
            };
            walk(&path, &name, lowers, out)?;
        }
    }
    Ok(())
}

/// Whether the merged lowers show `name` (the top-most that has it or a
/// whiteout of it decides).
fn in_lowers(lowers: &[PathBuf], name: &str) -> bool {
    for l in lowers {
        if let Ok(m) = std::fs::symlink_metadata(l.join(name.trim_start_matches('/'))) {
            return !crate::rootfs::fuse::is_whiteout(&m);
        }
    }
    false
}
