//! Which driver serves a container's root: `overlay` (the kernel's
//! overlayfs, mounted by the container init) or `fuse-overlay` (ours,
//! served by the supervisor). Both read and write the same layer and
//! upper-dir format, so a container's changes look the same to either.
//!
//! The setting comes from `--storage-driver`, else `BURROW_STORAGE_DRIVER`,
//! else `storage_driver` in burrow.toml (`crate::config`), else `auto`.
//! A new container gets a concrete driver, kept in its record, so `start`
//! and `restart` use the one it was made with.
//!
//! `auto` picks the kernel overlay when a test mount of it works on the
//! store's file system and our FUSE overlay otherwise. The probe's answer
//! is kept in `<root>/storage-driver-auto`, keyed by the kernel and the
//! store's file system, so it runs (and the fallback is explained on
//! stderr) once, not at every `run`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::host;
use crate::error::{Coded, EXIT_BURROW};
use crate::paths::Paths;

/// A concrete driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// Records from before there was a choice used the kernel overlay.
    #[default]
    Overlay,
    FuseOverlay,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::FuseOverlay => "fuse-overlay",
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Overlay,
    FuseOverlay,
    Auto,
}

impl Setting {
    pub fn parse(s: &str) -> Option<Setting> {
        match s {
            "overlay" => Some(Setting::Overlay),
            "fuse-overlay" => Some(Setting::FuseOverlay),
            "auto" => Some(Setting::Auto),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Setting::Overlay => "overlay",
            Setting::FuseOverlay => "fuse-overlay",
            Setting::Auto => "auto",
        }
    }
}

/// Where the setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Config(PathBuf),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("--storage-driver"),
            Source::Env => f.write_str(ENV),
            Source::Config(p) => write!(f, "storage_driver in {}", p.display()),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// The environment variable that sets the driver.
pub const ENV: &str = "BURROW_STORAGE_DRIVER";

const NAMES: &str = "overlay, fuse-overlay or auto";

/// The setting in force: the flag, else the environment, else the config
/// file, else `auto`. A bad value in the environment or the file is an
/// error (exit 125) that names where it came from.
pub fn setting(flag: Option<Setting>) -> anyhow::Result<(Setting, Source)> {
    if let Some(s) = flag {
        return Ok((s, Source::Flag));
    }
    // An empty variable counts as unset, as for BURROW_ROOT.
    if let Some(v) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        let v = v.to_string_lossy();
        return match Setting::parse(&v) {
            Some(s) => Ok((s, Source::Env)),
            None => Err(Coded::new(
                EXIT_BURROW,
                format!(
                    "{ENV}={:?} is not a storage driver (use {NAMES})",
                    crate::text::escape_control(&v)
                ),
            )
            .into()),
        };
    }
    let conf = crate::config::Config::load()?;
    match (conf.storage_driver, crate::config::Config::path()) {
        (Some(v), Some(path)) => match Setting::parse(&v) {
            Some(s) => Ok((s, Source::Config(path))),
            None => Err(Coded::new(
                EXIT_BURROW,
                format!(
                    "{}: storage_driver = {:?} is not a storage driver (use {NAMES})",
                    path.display(),
                    crate::text::escape_control(&v)
                ),
            )
            .into()),
        },
        _ => Ok((Setting::Auto, Source::Default)),
    }
}

/// The driver decision for a new container, in two steps: `choose`
/// before the pull (a driver that cannot work here fails at once), then
/// `for_image` once the image's layers are known (`auto` may move an image
/// the kernel overlay refuses to ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    setting: Setting,
    driver: Driver,
}

/// The setting in force (`flag`, else the environment, else the config
/// file, else `auto`) resolved to a driver for the store at `paths`.
/// Must be called while this process has a single thread (`auto` may fork
/// a probe).
pub fn choose(paths: &Paths, flag: Option<Setting>) -> anyhow::Result<Choice> {
    let (setting, source) = setting(flag)?;
    let driver = resolve(paths.ensure_root()?, setting, &source)?;
    Ok(Choice { setting, driver })
}

impl Choice {
    /// The driver for one image; `kernel_refuses`: why the kernel overlay
    /// cannot mount its layers, if it cannot
    /// (`sandbox::kernel_overlay_refuses`).
    pub fn for_image(self, kernel_refuses: Option<String>) -> Driver {
        fit_to_image(self.setting, self.driver, kernel_refuses)
    }
}

/// The `auto` rule, one place for new containers and for `burrow info`:
/// the kernel overlay where it mounts, else ours where FUSE serves, else
/// none. `fuse_ok` is asked only when the kernel overlay cannot serve.
pub fn auto_pick(overlay_ok: bool, fuse_ok: impl FnOnce() -> bool) -> Option<Driver> {
    if overlay_ok {
        Some(Driver::Overlay)
    } else if fuse_ok() {
        Some(Driver::FuseOverlay)
    } else {
        None
    }
}

/// The driver a new container gets. `fuse-overlay` (asked for, or picked
/// by `auto`) needs a usable /dev/fuse: without one this fails with what
/// to do. Must be called while this process has a single thread (`auto`
/// may fork a probe).
fn resolve(root: &Path, setting: Setting, source: &Source) -> anyhow::Result<Driver> {
    match setting {
        Setting::Overlay => Ok(Driver::Overlay),
        Setting::FuseOverlay => {
            if let Some(problem) = host::fuse_device_problem() {
                return Err(Coded::new(
                    EXIT_BURROW,
                    format!(
                        "the fuse-overlay storage driver (from {source}) needs /dev/fuse: \
                         {problem}; or use --storage-driver overlay"
                    ),
                )
                .into());
            }
            Ok(Driver::FuseOverlay)
        }
        Setting::Auto => auto(root),
    }
}

/// `auto` for one image: the driver picked for the store, unless the
/// kernel overlay refuses this image (`kernel_refuses`: too many layers for
/// its options) and ours can serve it. Says so on stderr when it switches.
fn fit_to_image(setting: Setting, picked: Driver, kernel_refuses: Option<String>) -> Driver {
    match kernel_refuses {
        Some(why)
            if setting == Setting::Auto
                && picked == Driver::Overlay
                && host::fuse_device_problem().is_none() =>
        {
            eprintln!(
                "burrow: warning: the kernel overlay cannot mount this image ({why}); this \
                 container uses fuse-overlay"
            );
            Driver::FuseOverlay
        }
        _ => picked,
    }
}

/// What the probe found about the kernel overlay on one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Probed {
    /// The kernel and the store's file system the answer holds for.
    key: String,
    overlay_ok: bool,
    /// Why the kernel overlay cannot mount, when it cannot.
    #[serde(default)]
    why: String,
}

const CACHE: &str = "storage-driver-auto";

fn cache_key(root: &Path) -> String {
    let dev = fs::metadata(root).map(|m| m.dev()).unwrap_or(0);
    let fs_type = host::fs_type_of(root);
    format!(
        "{} dev={dev} fs={fs_type}",
        crate::sys::kernel_release().trim()
    )
}

/// `auto`: the kernel overlay where it mounts, else ours.
fn auto(root: &Path) -> anyhow::Result<Driver> {
    let key = cache_key(root);
    let file = root.join(CACHE);
    let cached = fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Probed>(&b).ok())
        .filter(|p| p.key == key);
    let probed = match cached {
        Some(p) => p,
        None => {
            let Ok(check) = host::overlay_mounts(root) else {
                // User namespaces fail: no driver helps, and the launch
                // says why. Nothing is kept, so a fixed machine probes again.
                return Ok(Driver::Overlay);
            };
            let p = Probed {
                key,
                overlay_ok: check.ok,
                why: match &check.hint {
                    Some(h) if !check.ok => format!("{}: {h}", check.value),
                    _ => check.value.clone(),
                },
            };
            save(&file, &p);
            if !p.overlay_ok && host::fuse_device_problem().is_none() {
                // Once per store (and kernel): the answer is kept above.
                eprintln!(
                    "burrow: warning: the kernel overlay cannot mount here ({}); containers \
                     use fuse-overlay, burrow's FUSE overlay, which is slower (see 'burrow info')",
                    p.why
                );
            }
            p
        }
    };
    let mut problem = None;
    let fuse_ok = || {
        problem = host::fuse_device_problem();
        problem.is_none()
    };
    match auto_pick(probed.overlay_ok, fuse_ok) {
        Some(d) => Ok(d),
        None => Err(Coded::new(
            EXIT_BURROW,
            format!(
                "no storage driver works here: the kernel overlay cannot mount ({}) and \
                 fuse-overlay needs /dev/fuse: {} (see 'burrow info')",
                probed.why,
                problem.unwrap_or_default()
            ),
        )
        .into()),
    }
}

/// Write the probe's answer atomically; a failure only costs a probe later.
fn save(file: &Path, p: &Probed) {
    let Ok(body) = serde_json::to_vec(p) else {
        return;
    };
    let _ = crate::fsutil::write_atomic(file, &body, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [Setting::Overlay, Setting::FuseOverlay, Setting::Auto] {
            assert_eq!(Setting::parse(s.name()), Some(s));
        }
        assert_eq!(Setting::parse("fuse"), None);
        assert_eq!(Setting::parse("Overlay"), None);
        for d in [Driver::Overlay, Driver::FuseOverlay] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.name()));
        }
    }

    #[test]
    fn auto_moves_an_image_the_kernel_overlay_refuses_to_ours() {
        let no = || Some("too many layers".to_string());
        assert_eq!(
            fit_to_image(Setting::Auto, Driver::Overlay, None),
            Driver::Overlay
        );
        // An explicit choice is kept (and fails with the kernel's reason).
        assert_eq!(
            fit_to_image(Setting::Overlay, Driver::Overlay, no()),
            Driver::Overlay
        );
        assert_eq!(
            fit_to_image(Setting::Auto, Driver::FuseOverlay, no()),
            Driver::FuseOverlay
        );
        if host::fuse_device_problem().is_none() {
            assert_eq!(
                fit_to_image(Setting::Auto, Driver::Overlay, no()),
                Driver::FuseOverlay
            );
        }
    }

    #[test]
    fn the_probe_answer_is_saved_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE);
        let p = Probed {
            key: cache_key(dir.path()),
            overlay_ok: false,
            why: "x".into(),
        };
        save(&file, &p);
        let back: Probed = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_ne!(cache_key(dir.path()), "");
        // No temp file is left beside it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
