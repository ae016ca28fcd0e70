//! `RUN --mount=...` as `burrow run` mount flags, and the secrets of
//! `burrow build --secret`.
//!
//! - `cache`: a directory of the store (`build-cache/mounts/<id hash>`)
//!   bound read-write, kept across builds; `sharing=locked` holds a lock
//!   on it for the step, `private` takes a fresh one when it is busy.
//! - `bind`: the context's (or a stage's) files, copied out into a temp
//!   dir first (so `.dockerignore` holds, and `rw` writes are thrown
//!   away), read-only unless `rw`.
//! - `tmpfs`: `--tmpfs`.
//! - `secret`: the secret's bytes in a private temp file, bound read-only
//!   at /run/secrets/<id>; it never touches the upper dir, and the step's
//!   key and history hold only its id.
//!
//! A mount's target that did not exist makes an empty mountpoint in the
//! step's upper dir; `remove_stubs` takes those out before the layer is
//! made, so nothing of a mount lands in the image.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};

use super::dockerfile::mount::{Mount, MountType, Sharing};
use crate::text::escape_control;

/// `--secret id=NAME,src=FILE` (or `env=VAR`): where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

/// Parse `--secret id=NAME[,src=FILE|,env=VAR][,type=file|env]`, as
/// `docker build` does; a bare `src` with no id takes the file's name.
pub fn parse_secret(spec: &str) -> anyhow::Result<Secret> {
    let (mut id, mut src, mut env, mut typ) = (None, None, None, None);
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => typ = Some(v.to_string()),
            _ => bail!(
                "invalid --secret {:?}: unexpected key {:?}",
                escape_control(spec),
                escape_control(k)
            ),
        }
    }
    let id = match (id, &src) {
        (Some(i), _) if !i.is_empty() => i,
        (_, Some(s)) => Path::new(s)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        _ => bail!("invalid --secret {:?}: no id", escape_control(spec)),
    };
    let source = match (typ.as_deref(), src, env) {
        (Some("env"), Some(s), _) | (_, None, Some(s)) => SecretSource::Env(s),
        (Some("file") | None, Some(s), _) => SecretSource::File(PathBuf::from(s)),
        (None | Some("file"), None, None) => SecretSource::Env(id.clone()),
        (Some(t), ..) => bail!(
            "invalid --secret {:?}: type {:?} (file or env)",
            escape_control(spec),
            escape_control(t)
        ),
    };
    Ok(Secret { id, source })
}

/// What one RUN step's mounts need: the `burrow run` flags, and what must
/// live until the step is over.
#[derive(Default)]
pub struct StepMounts {
    pub args: Vec<String>,
    /// Absolute container paths whose empty mountpoints leave the layer.
    pub targets: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    _locks: Vec<Flock<File>>,
}

/// What `prepare` needs from the build.
pub struct MountContext<'a> {
    /// The store root: cache dirs live under it, temp dirs in it.
    pub root: &'a Path,
    /// The stage's WORKDIR, for relative targets.
    pub workdir: &'a str,
    pub secrets: &'a [Secret],
}

/// Absolute, clean container path.
fn absolute(target: &str, workdir: &str) -> String {
    let joined = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{}/{target}", workdir.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn hex_id(id: &str) -> String {
    crate::image::blobs::sha256(id.as_bytes())
        .trim_start_matches("sha256:")
        .to_string()
}

impl StepMounts {
    fn temp_dir(&mut self, root: &Path) -> anyhow::Result<PathBuf> {
        let d = tempfile::Builder::new()
            .prefix(&crate::fsutil::tmp_prefix())
            .tempdir_in(root)
            .context("make a temp dir for a RUN mount")?;
        let p = d.path().to_path_buf();
        self.dirs.push(d);
        Ok(p)
    }

    fn bind(&mut self, source: &Path, target: &str, readonly: bool) {
        let mut spec = format!("type=bind,source={},target={target}", source.display());
        if readonly {
            spec.push_str(",readonly");
        }
        self.args.push("--mount".into());
        self.args.push(spec);
        self.targets.push(target.to_string());
    }

    /// A heredoc script with a `#!` line, at `heredoc::PIPES/<name>`.
    pub fn add_script(&mut self, root: &Path, name: &str, data: &str) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.temp_dir(root)?;
        let file = dir.join(name);
        std::fs::write(&file, data).context("write the heredoc script")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))?;
        self.bind(&dir, super::heredoc::PIPES, true);
        Ok(())
    }
}

/// Puts a bind mount's files in a dir: (from, source, dir) -> path to bind.
pub type BindSource<'a> = dyn FnMut(Option<&str>, &str, &Path) -> anyhow::Result<PathBuf> + 'a;

/// The flags for `mounts`. `bind_source(from, source, dir)` puts a bind
/// mount's files (from the context, or the stage/image `from`) in `dir`
/// and returns the path to bind.
pub fn prepare(
    mounts: &[Mount],
    cx: &MountContext,
    bind_source: &mut BindSource,
) -> anyhow::Result<StepMounts> {
    let mut out = StepMounts::default();
    for m in mounts {
        let target = m.target.as_deref().map(|t| absolute(t, cx.workdir));
        match m.kind {
            MountType::Cache => {
                let target = target.context("a cache mount needs a target")?;
                if m.from.is_some() {
                    bail!("RUN --mount=type=cache,from= is not supported");
                }
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = cache_dir(cx.root, &id, m)?;
                let dir = match m.sharing.unwrap_or(Sharing::Shared) {
                    Sharing::Shared => dir,
                    Sharing::Locked => {
                        out._locks.extend(lock(&dir, true)?);
                        dir
                    }
                    Sharing::Private => match lock(&dir, false)? {
                        Some(l) => {
                            out._locks.push(l);
                            dir
                        }
                        None => out.temp_dir(cx.root)?,
                    },
                };
                out.bind(&dir, &target, m.read_only);
            }
            MountType::Bind => {
                let target = target.context("a bind mount needs a target")?;
                let dir = out.temp_dir(cx.root)?;
                let source = m.source.as_deref().unwrap_or("/");
                let path = bind_source(m.from.as_deref(), source, &dir)?;
                out.bind(&path, &target, m.read_only);
            }
            MountType::Tmpfs => {
                let target = target.context("a tmpfs mount needs a target")?;
                out.args.push("--tmpfs".into());
                out.args.push(match m.size {
                    Some(s) => format!("{target}:size={s}"),
                    None => target.clone(),
                });
                out.targets.push(target);
            }
            MountType::Secret => secret(&mut out, m, target, cx)?,
            MountType::Ssh => bail!("RUN --mount=type=ssh is not supported"),
        }
    }
    Ok(out)
}

/// The store's dir for cache `id`, made on first use with `mode` (and,
/// with a subordinate id range, owned by `uid`/`gid` as containers see it).
fn cache_dir(root: &Path, id: &str, m: &Mount) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("build-cache/mounts").join(hex_id(id));
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().context("bad cache path")?;
    std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    // Made aside and renamed, so a half-made dir is never used.
    let tmp = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempdir_in(parent)?;
    std::fs::set_permissions(
        tmp.path(),
        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
    )?;
    let (uid, gid) = (m.uid.unwrap_or(0), m.gid.unwrap_or(0));
    if uid != 0 || gid != 0 {
        chown_in_userns(tmp.path(), uid, gid)?;
    }
    let made = tmp.keep();
    if std::fs::rename(&made, &dir).is_err() {
        // Another build made it first.
        let _ = std::fs::remove_dir(&made);
    }
    Ok(dir)
}

/// chown as the containers' root (`burrow unshare chown`): only a
/// subordinate id range has other ids to give.
fn chown_in_userns(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    use crate::userns::idmap::{self, HostUser, IdMapMode};
    if idmap::choose(&HostUser::current()).mode == IdMapMode::Single {
        // Only root exists in the containers: the cache stays root's.
        return Ok(());
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let status = std::process::Command::new(exe)
        .args(["unshare", "chown", &format!("{uid}:{gid}")])
        .arg(path)
        .status()
        .context("start burrow unshare chown")?;
    if !status.success() {
        bail!("cannot give the cache mount to {uid}:{gid}");
    }
    Ok(())
}

/// An exclusive flock on `dir`'s lock file; None when `wait` is false and
/// another build holds it.
fn lock(dir: &Path, wait: bool) -> anyhow::Result<Option<Flock<File>>> {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.with_extension("lock"))
        .context("open the cache lock")?;
    let arg = match wait {
        true => FlockArg::LockExclusive,
        false => FlockArg::LockExclusiveNonblock,
    };
    match Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
        Err((_, e)) => Err(e).context("lock the cache"),
    }
}

fn secret(
    out: &mut StepMounts,
    m: &Mount,
    target: Option<String>,
    cx: &MountContext,
) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if m.env.is_some() {
        bail!("RUN --mount=type=secret,env= is not supported; read the secret's file");
    }
    let id = match (&m.id, &target) {
        (Some(i), _) => i.clone(),
        (None, Some(t)) => t.rsplit('/').next().unwrap_or(t).to_string(),
        (None, None) => bail!("a secret mount needs an id"),
    };
    let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
    let Some(s) = cx.secrets.iter().rev().find(|s| s.id == id) else {
        if m.required {
            bail!(
                "secret {} not found (give it with --secret id={},src=FILE)",
                escape_control(&id),
                escape_control(&id)
            );
        }
        return Ok(());
    };
    let bytes = match &s.source {
        SecretSource::File(p) => {
            std::fs::read(p).with_context(|| format!("read secret {} from {}", id, p.display()))?
        }
        SecretSource::Env(v) => std::env::var(v)
            .with_context(|| format!("secret {id}: environment variable {v} is not set"))?
            .into_bytes(),
    };
    let dir = out.temp_dir(cx.root)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let file = dir.join("secret");
    std::fs::write(&file, bytes).context("write the secret")?;
    std::fs::set_permissions(
        &file,
        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
    )?;
    out.bind(&file, &target, true);
    Ok(())
}

/// Take the empty mountpoints the step's mounts left in `upper` out of
/// it, and the empty dirs made only to hold them.
pub fn remove_stubs(upper: &Path, targets: &[String]) {
    for t in targets {
        let rel = t.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        let mut p = upper.join(rel);
        let empty = std::fs::symlink_metadata(&p).is_ok_and(|m| {
            (m.is_file() && m.len() == 0)
                || (m.is_dir() && std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none()))
        });
        if !empty {
            continue;
        }
        let _ = if p.is_dir() {
            std::fs::remove_dir(&p)
        } else {
            std::fs::remove_file(&p)
        };
        while let Some(parent) = p.parent().map(Path::to_path_buf) {
            if parent == upper || !parent.starts_with(upper) {
                break;
            }
            if std::fs::remove_dir(&parent).is_err() {
                break;
            }
            p = parent;
        }
    }
}

impl Drop for StepMounts {
    fn drop(&mut self) {
        // Files a step wrote in a bind (rw) may belong to other ids: the
        // temp dirs go with `burrow unshare rm` when a plain remove fails.
        for d in self.dirs.drain(..) {
            let path = d.path().to_path_buf();
            if d.close().is_err() {
                let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
                let _ = std::process::Command::new(exe)
                    .args(["unshare", "rm", "-rf"])
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_as_docker_does() {
        assert_eq!(
            parse_secret("id=tok,src=/x/y").unwrap(),
            Secret {
                id: "tok".into(),
                source: SecretSource::File("/x/y".into())
            }
        );
        assert_eq!(parse_secret("src=/x/y.txt").unwrap().id, "y.txt");
        assert_eq!(
            parse_secret("id=t,env=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
        assert!(parse_secret("bogus=1").is_err());
    }

    #[test]
    fn targets_are_absolute_and_clean() {
        assert_eq!(absolute("cache", "/app"), "/app/cache");
        assert_eq!(absolute("/a/../b/./c/", "/"), "/b/c");
    }

    #[test]
    fn stubs_leave_the_upper_dir() {
        let d = tempfile::tempdir().unwrap();
        let up = d.path();
        std::fs::create_dir_all(up.join("run/secrets")).unwrap();
        std::fs::write(up.join("run/secrets/tok"), b"").unwrap();
        std::fs::create_dir_all(up.join("keep")).unwrap();
        std::fs::write(up.join("keep/file"), b"x").unwrap();
        std::fs::create_dir_all(up.join("keep/cache")).unwrap();
        remove_stubs(up, &["/run/secrets/tok".into(), "/keep/cache".into()]);
        assert!(!up.join("run").exists());
        assert!(up.join("keep/file").exists());
        assert!(!up.join("keep/cache").exists());
    }
}
