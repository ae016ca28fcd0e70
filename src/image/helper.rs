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
use crate::userns::idmap::{self, HostUser, IdMapMode};

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

/// Where a layer comes from: a blob in the store, or a stream.
pub enum LayerInput<'a> {
    File(&'a Path),
    Stream(&'a mut (dyn Read + Send)),
}

/// Unpack a layer into `dest` with owners as the mode allows.
pub fn unpack_layer(mode: &OwnerMode, input: LayerInput, dest: &Path) -> anyhow::Result<Unpacked> {
    let keep_owners = !matches!(mode, OwnerMode::Single);
    match (mode, input) {
        (OwnerMode::SubIds(m), input) => {
            let (source, feed) = match input {
                LayerInput::File(blob) => (blob.as_os_str(), None),
                LayerInput::Stream(r) => (OsStr::new("-"), Some(r)),
            };
            let out = run_child(m, &[OsStr::new("__unpack"), source, dest.as_os_str()], feed)?;
            serde_json::from_value(out).context("bad answer from the unpack helper")
        }
        (_, LayerInput::File(blob)) => unpack::unpack_file(
            blob,
            dest,
            UnpackOptions {
                keep_owners,
                record_owners: !keep_owners,
            },
        ),
        (_, LayerInput::Stream(r)) => unpack::unpack(
            r,
            dest,
            UnpackOptions {
                keep_owners,
                record_owners: !keep_owners,
            },
        ),
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
            run_child(m, &[OsStr::new("__rmtree"), dir.as_os_str()], None)?;
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

/// Run a helper; `feed` is copied to its stdin after "go".
fn run_child(
    mode: &IdMapMode,
    args: &[&OsStr],
    feed: Option<&mut (dyn Read + Send)>,
) -> anyhow::Result<serde_json::Value> {
    let mut child = Command::new("/proc/self/exe")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the unpack helper (/proc/self/exe)")?;
    let result = talk(&mut child, mode, feed);
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

fn talk(
    child: &mut std::process::Child,
    mode: &IdMapMode,
    feed: Option<&mut (dyn Read + Send)>,
) -> anyhow::Result<Option<Answer>> {
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
    // A helper that stopped early (a hostile layer) closes its end: its
    // answer says why, so a broken pipe here is not the error to report.
    let fed = match feed {
        Some(r) => std::io::copy(r, &mut stdin).map(|_| ()),
        None => Ok(()),
    };
    drop(stdin);
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .context("read from the unpack helper")?;
    match serde_json::from_str::<Answer>(rest.trim()) {
        Ok(a) => Ok(Some(a)),
        Err(_) => {
            fed.context("feed the unpack helper")?;
            Ok(None)
        }
    }
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
    // Die with the burrow that started us (a kill -9 mid-pull must not
    // leave a helper writing into a temp dir the next burrow sweeps). The
    // signal fires when the spawning thread ends, which waits for us.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
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
            let opts = UnpackOptions {
                keep_owners: true,
                record_owners: false,
            };
            let r = if blob.as_os_str() == "-" {
                unpack::unpack(std::io::stdin(), dest, opts)?
            } else {
                unpack::unpack_file(blob, dest, opts)?
            };
            Ok(serde_json::to_value(r)?)
        }
        ("__rmtree", [dir]) => {
            crate::fsutil::remove_tree(dir).with_context(|| format!("remove {}", dir.display()))?;
            Ok(serde_json::Value::Null)
        }
        _ => bail!("bad helper arguments"),
    }
}
