//! Where burrow keeps things: the storage root (images, layers, container
//! records) and the runtime dir (sockets, pid files, mount points).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Why the runtime dir is where it is; `info` explains it to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeSource {
    /// `$XDG_RUNTIME_DIR/burrow`.
    Xdg,
    /// No usable `$XDG_RUNTIME_DIR`; a private dir under /tmp. The string
    /// says why (unset after `su`/`sudo`, owned by another user, ...).
    TmpFallback(String),
}

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
    runtime: PathBuf,
    runtime_source: RuntimeSource,
}

/// The storage root as an absolute path: the container init and the
/// helpers work from other directories, where a relative `--root` (or
/// BURROW_ROOT) would name something else.
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map(|cwd| cwd.join(&p)).unwrap_or(p)
}

impl Paths {
    /// Resolve the storage root (`--root`/`BURROW_ROOT`, else
    /// `$XDG_DATA_HOME/burrow`, else `~/.local/share/burrow`) and the runtime
    /// dir. Nothing is created here.
    pub fn new(root: Option<PathBuf>) -> Self {
        let root = absolute(root.unwrap_or_else(default_root));
        let (runtime, runtime_source) = runtime_dir();
        Paths {
            root,
            runtime,
            runtime_source,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    pub fn runtime_source(&self) -> &RuntimeSource {
        &self.runtime_source
    }

    /// Create the storage root if needed and check that it is a directory we
    /// can use. Errors name the path and say what to do.
    pub fn ensure_root(&self) -> anyhow::Result<&Path> {
        ensure_private_dir(&self.root).with_context(|| {
            format!(
                "storage root {} is not usable (pick another with --root or BURROW_ROOT)",
                self.root.display()
            )
        })?;
        Ok(&self.root)
    }

    /// Create the runtime dir if needed, private to this user.
    pub fn ensure_runtime(&self) -> anyhow::Result<&Path> {
        ensure_private_dir(&self.runtime)
            .with_context(|| format!("runtime dir {} is not usable", self.runtime.display()))?;
        Ok(&self.runtime)
    }
}

fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn default_root() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("burrow"),
        None => home().join(".local/share/burrow"),
    }
}

/// `$XDG_RUNTIME_DIR/burrow` when that dir is ours; else `/tmp/burrow-UID`.
/// After `su` or `sudo -u`, XDG_RUNTIME_DIR is often unset or still the
/// other user's, which is why both cases are checked.
fn runtime_dir() -> (PathBuf, RuntimeSource) {
    let uid = nix::unistd::getuid().as_raw();
    let fallback = PathBuf::from(format!("/tmp/burrow-{uid}"));
    let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) else {
        return (
            fallback,
            RuntimeSource::TmpFallback(
                "XDG_RUNTIME_DIR is not set (common after su or sudo)".into(),
            ),
        );
    };
    let xdg = PathBuf::from(xdg);
    let why = match fs::metadata(&xdg) {
        Ok(m) if !m.is_dir() => format!("XDG_RUNTIME_DIR={} is not a directory", xdg.display()),
        Ok(m) if m.uid() != uid => format!(
            "XDG_RUNTIME_DIR={} belongs to uid {}, not to you (common after su or sudo)",
            xdg.display(),
            m.uid()
        ),
        Ok(_) => return (xdg.join("burrow"), RuntimeSource::Xdg),
        Err(e) => format!("XDG_RUNTIME_DIR={}: {e}", xdg.display()),
    };
    (fallback, RuntimeSource::TmpFallback(why))
}

/// mkdir -p with mode 0700 for the last component, then check that the
/// result is a directory owned by us that we can read, write and enter.
fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).context("cannot create it"),
    }
    let meta = fs::metadata(dir).context("cannot stat it")?;
    if !meta.is_dir() {
        bail!("it is not a directory");
    }
    let uid = nix::unistd::getuid().as_raw();
    if meta.uid() != uid {
        bail!("it belongs to uid {}, not to you (uid {uid})", meta.uid());
    }
    if meta.permissions().mode() & 0o700 != 0o700 {
        bail!(
            "its mode is {:o}; you need read, write and search permission",
            meta.permissions().mode() & 0o7777
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_root_wins() {
        let p = Paths::new(Some(PathBuf::from("/x/y")));
        assert_eq!(p.root(), Path::new("/x/y"));
    }

    #[test]
    fn ensure_root_refuses_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        let p = Paths::new(Some(file));
        let err = format!("{:#}", p.ensure_root().unwrap_err());
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn ensure_root_creates_a_private_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b");
        Paths::new(Some(root.clone())).ensure_root().unwrap();
        let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
