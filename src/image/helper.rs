//! Work that must run as root of a user namespace with the user's
//! subordinate ids mapped: unpacking a layer with its owners kept, and
//! removing such a tree again.
//!
//! `unshare(CLONE_NEWUSER)` fails in a threaded process (pulls run on
//! threads), so the work runs in a re-exec'd child (`burrow __unpack`,
//! `burrow __rmtree`) that unshares first thing, says "ready", waits for us
//! to write its id maps with newuidmap/newgidmap, then works and answers
//! with one JSON line on stdout.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use super::unpack::{self, UnpackOptions, Unpacked};
use crate::sandbox::idmap::{self, HostUser, IdMapMode};

/// How layers get their owners on this machine.
#[derive(Debug, Clone)]
pub enum OwnerMode {
    /// We are real root: chown directly.
    Root,
    /// Unpack in a user namespace with these maps (owners kept).
    SubIds(IdMapMode),
    /// Only our own id: every file is ours.
    Single,
}

impl OwnerMode {
    pub fn detect() -> OwnerMode {
        if nix::unistd::geteuid().is_root() {
            return OwnerMode::Root;
        }
        match idmap::choose(&HostUser::current()).mode {
            m @ IdMapMode::SubIds { .. } => OwnerMode::SubIds(m),
            IdMapMode::Single => OwnerMode::Single,
        }
    }
}

/// Unpack `blob` into `dest` with owners as the mode allows.
pub fn unpack_layer(mode: &OwnerMode, blob: &Path, dest: &Path) -> anyhow::Result<Unpacked> {
    match mode {
        OwnerMode::Root => unpack::unpack_file(blob, dest, UnpackOptions { keep_owners: true }),
        OwnerMode::Single => unpack::unpack_file(blob, dest, UnpackOptions { keep_owners: false }),
        OwnerMode::SubIds(m) => {
            let out = run_child(
                m,
                &[OsStr::new("__unpack"), blob.as_os_str(), dest.as_os_str()],
            )?;
            serde_json::from_value(out).context("bad answer from the unpack helper")
        }
    }
}

/// Remove a tree that may hold files owned by subordinate ids.
pub fn remove_tree(mode: &OwnerMode, dir: &Path) -> anyhow::Result<()> {
    match crate::fsutil::remove_tree(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
            Err(e).with_context(|| format!("remove {}", dir.display()))
        }
        Err(e) => {
            let OwnerMode::SubIds(m) = mode else {
                return Err(e).with_context(|| format!("remove {}", dir.display()));
            };
            run_child(m, &[OsStr::new("__rmtree"), dir.as_os_str()])?;
            Ok(())
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer {
    Ok(serde_json::Value),
    Error(String),
}

fn run_child(mode: &IdMapMode, args: &[&OsStr]) -> anyhow::Result<serde_json::Value> {
    let mut child = Command::new("/proc/self/exe")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the unpack helper (/proc/self/exe)")?;
    let result = talk(&mut child, mode);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("wait for the unpack helper")?;
    let answer = result?;
    match answer {
        Some(Answer::Ok(v)) => Ok(v),
        Some(Answer::Error(e)) => Err(anyhow!(e)),
        None => bail!("the unpack helper ended without an answer ({status})"),
    }
}

fn talk(child: &mut std::process::Child, mode: &IdMapMode) -> anyhow::Result<Option<Answer>> {
    let stdout = child.stdout.take().context("helper stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .context("read from the unpack helper")?;
    if line.trim() != "ready" {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        return Ok(serde_json::from_str(rest.trim())
            .ok()
            .or_else(|| serde_json::from_str(line.trim()).ok()));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    idmap::apply(pid, mode, &HostUser::current())
        .context("map subordinate ids for unpacking (see 'burrow info')")?;
    let mut stdin = child.stdin.take().context("helper stdin")?;
    stdin
        .write_all(b"go\n")
        .context("start the unpack helper")?;
    drop(stdin);
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .context("read from the unpack helper")?;
    Ok(serde_json::from_str(rest.trim()).ok())
}

/// The child side: `burrow __unpack BLOB DEST` / `burrow __rmtree DIR`.
/// Runs before any thread exists. Always exits 0 after answering.
pub fn child_main(verb: &str, args: &[std::path::PathBuf]) -> anyhow::Result<i32> {
    let answer = match child_work(verb, args) {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Error(format!("{e:#}")),
    };
    println!("{}", serde_json::to_string(&answer)?);
    Ok(0)
}

fn child_work(verb: &str, args: &[std::path::PathBuf]) -> anyhow::Result<serde_json::Value> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .context("unshare a user namespace for unpacking")?;
    let mut out = std::io::stdout();
    out.write_all(b"ready\n")?;
    out.flush()?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    if go.trim() != "go" {
        bail!("id maps were not written");
    }
    match (verb, args) {
        ("__unpack", [blob, dest]) => {
            let r = unpack::unpack_file(blob, dest, UnpackOptions { keep_owners: true })?;
            Ok(serde_json::to_value(r)?)
        }
        ("__rmtree", [dir]) => {
            crate::fsutil::remove_tree(dir).with_context(|| format!("remove {}", dir.display()))?;
            Ok(serde_json::Value::Null)
        }
        _ => bail!("bad helper arguments"),
    }
}
