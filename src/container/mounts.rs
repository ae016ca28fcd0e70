//! The mount flags (`-v`, `--mount`, `--tmpfs`) as the launcher's mount
//! requests, checked before anything is made: a missing bind source or a
//! relative container path is one clear error.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::sandbox::mounts::plan::check_target;
use crate::sandbox::MountRequest;
use crate::text::escape_control;

/// A `-v` or `--mount`: ready for the launcher, or a volume to find or
/// make first (`container::volumes::resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    Ready(MountRequest),
    Volume(VolumeRef),
}

/// A volume asked for by name (made when missing) or anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeRef {
    /// None: a new anonymous volume.
    pub name: Option<String>,
    pub target: String,
    pub readonly: bool,
    /// `volume-nocopy`: no copy of the image's files into a new volume.
    pub nocopy: bool,
    /// `--mount volume-label=` and `volume-opt=`, for a volume made here.
    pub labels: std::collections::BTreeMap<String, String>,
    pub options: std::collections::BTreeMap<String, String>,
}

/// `-v` modes: `ro`, `rw`, and flags that mean nothing here.
fn volume_modes(spec: &str, opts: &str) -> anyhow::Result<(bool, bool)> {
    let (mut readonly, mut nocopy) = (false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "nocopy" => nocopy = true,
            // SELinux relabel and propagation flags: nothing to do here.
            "z" | "Z" | "rprivate" | "private" | "rslave" | "slave" => {}
            other => bail!(
                "volume {:?}: unknown option {other:?}",
                escape_control(spec)
            ),
        }
    }
    Ok((readonly, nocopy))
}

/// Only mode words (`ro`, `rw,z`...): `-v /path:ro` is an anonymous
/// volume, not a bind.
fn is_modes(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|o| {
            matches!(
                o,
                "ro" | "rw" | "nocopy" | "z" | "Z" | "rprivate" | "private" | "rslave" | "slave"
            )
        })
}

/// `-v HOST:CTR[:ro|rw]`, `-v NAME:CTR[:ro]` or `-v CTR[:ro]`.
pub fn parse_volume(spec: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, opts) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [t, o] if is_modes(o) => (None, *t, *o),
        [h, t] => (Some(*h), *t, ""),
        [h, t, o] => (Some(*h), *t, *o),
        _ => bail!(
            "invalid volume {:?}: use HOST-PATH:CONTAINER-PATH[:ro], NAME:CONTAINER-PATH[:ro] \
             or CONTAINER-PATH",
            escape_control(spec)
        ),
    };
    let (readonly, nocopy) = volume_modes(spec, opts)?;
    let Some(host) = host.filter(|h| !is_volume_name(h)) else {
        check(target)?;
        if let Some(name) = host {
            crate::volume::check_name(name)?;
        }
        return Ok(MountSpec::Volume(VolumeRef {
            name: host.map(String::from),
            target: target.into(),
            readonly,
            nocopy,
            ..Default::default()
        }));
    };
    let host = host_path(host, spec)?;
    // docker makes a missing host dir for -v (not for --mount).
    if !host.exists() {
        std::fs::create_dir_all(&host).with_context(|| {
            format!(
                "volume {:?}: create the host directory {}",
                escape_control(spec),
                escape_control(&host.display().to_string())
            )
        })?;
    }
    bind(&host, target, readonly).map(MountSpec::Ready)
}

/// The host side of `-v` names a volume unless it is a path: absolute,
/// `.`/`..` or starting with `./` or `../`, or holding a `/`.
fn is_volume_name(host: &str) -> bool {
    let path = host.is_empty()
        || host == "."
        || host == ".."
        || host.starts_with('/')
        || host.starts_with("./")
        || host.starts_with("../")
        || host.contains('/');
    !path
}

/// The host side of `-v`: an absolute path, or one relative to the working
/// directory when it starts with `.` (docker since 23.0).
fn host_path(host: &str, spec: &str) -> anyhow::Result<PathBuf> {
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    if host == "." || host == ".." || host.starts_with("./") || host.starts_with("../") {
        let cwd = std::env::current_dir().context("read the working directory")?;
        return Ok(normalize(&cwd.join(host)));
    }
    bail!(
        "volume {:?}: {:?} is not a host path; give an absolute one or start it with ./",
        escape_control(spec),
        escape_control(host)
    )
}

/// `a/./b/../c` as `a/c`, without asking the file system (the path may not
/// exist yet, and a symlink is followed by the mount later, as docker does).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `--mount type=bind,source=..,target=..[,readonly]`, `type=tmpfs,...`
/// or `type=volume[,source=NAME],target=..[,readonly][,volume-nocopy]`.
pub fn parse_mount(spec: &str) -> anyhow::Result<MountSpec> {
    let mut kind = "volume";
    let (mut source, mut target, mut readonly) = (None, None, false);
    let (mut size, mut mode) = (None, None);
    let mut vol = VolumeRef::default();
    let truth = |v: &str| matches!(v, "" | "true" | "1");
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => source = Some(v).filter(|s| !s.is_empty()),
            "target" | "destination" | "dst" => target = Some(v),
            "readonly" | "ro" => readonly = truth(v),
            "tmpfs-size" => size = Some(v),
            "tmpfs-mode" => mode = Some(v),
            "volume-nocopy" => vol.nocopy = truth(v),
            "volume-driver" if v == "local" => {}
            "volume-label" | "volume-opt" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                let map = match k {
                    "volume-label" => &mut vol.labels,
                    _ => &mut vol.options,
                };
                map.insert(lk.into(), lv.into());
            }
            "bind-propagation" | "consistency" => {}
            _ => bail!("--mount {:?}: unknown field {k:?}", escape_control(spec)),
        }
    }
    let target =
        target.with_context(|| format!("--mount {:?}: target= is needed", escape_control(spec)))?;
    match kind {
        "bind" => {
            let source = source.with_context(|| {
                format!("--mount {:?}: source= is needed", escape_control(spec))
            })?;
            if !source.starts_with('/') {
                bail!(
                    "--mount {:?}: the source must be an absolute path",
                    escape_control(spec)
                );
            }
            bind(source, target, readonly).map(MountSpec::Ready)
        }
        "volume" => {
            check(target)?;
            if let Some(name) = source {
                crate::volume::check_name(name)?;
            }
            Ok(MountSpec::Volume(VolumeRef {
                name: source.map(String::from),
                target: target.into(),
                readonly,
                ..vol
            }))
        }
        "tmpfs" => {
            check(target)?;
            let opts: Vec<String> = [
                size.map(|s| format!("size={s}")),
                mode.map(|m| format!("mode={m}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            Ok(MountSpec::Ready(MountRequest::Tmpfs {
                target: target.into(),
                options: opts.join(","),
            }))
        }
        other => bail!("--mount type={other} is not supported (use bind, volume or tmpfs)"),
    }
}

/// `--tmpfs /path[:opts]`.
pub fn parse_tmpfs(spec: &str) -> anyhow::Result<MountRequest> {
    let (target, options) = spec.split_once(':').unwrap_or((spec, ""));
    check(target)?;
    Ok(MountRequest::Tmpfs {
        target: target.into(),
        options: options.into(),
    })
}

fn check(target: &str) -> anyhow::Result<()> {
    check_target(target).map_err(|e| anyhow::anyhow!("{}", escape_control(&e.to_string())))
}

fn bind(source: impl AsRef<Path>, target: &str, readonly: bool) -> anyhow::Result<MountRequest> {
    check(target)?;
    let source = source.as_ref().to_path_buf();
    if let Err(e) = Path::new(&source).metadata() {
        bail!(
            "bind source {} does not exist or cannot be read: {}",
            escape_control(&source.display().to_string()),
            e.kind()
        );
    }
    Ok(MountRequest::Bind {
        source,
        target: target.into(),
        readonly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalized() {
        assert_eq!(normalize(Path::new("/w/./a/../b")), PathBuf::from("/w/b"));
        assert_eq!(normalize(Path::new("/w/..")), PathBuf::from("/"));
    }

    #[test]
    fn volumes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(
            parse_volume(&format!("{d}:/data:ro")).unwrap(),
            MountSpec::Ready(MountRequest::Bind {
                source: dir.path().into(),
                target: "/data".into(),
                readonly: true
            })
        );
        // A missing host dir is made, as docker does for -v.
        let made = parse_volume(&format!("{d}/new/dir:/data")).unwrap();
        assert!(dir.path().join("new/dir").is_dir(), "{made:?}");
        let e = format!("{:#}", parse_volume(&format!("{d}:data")).unwrap_err());
        assert!(e.contains("not absolute"), "{e}");
        let vol = |name: Option<&str>, target: &str, readonly: bool| {
            MountSpec::Volume(VolumeRef {
                name: name.map(String::from),
                target: target.into(),
                readonly,
                ..Default::default()
            })
        };
        assert_eq!(
            parse_volume("named:/data").unwrap(),
            vol(Some("named"), "/data", false)
        );
        assert_eq!(
            parse_volume("named:/data:ro").unwrap(),
            vol(Some("named"), "/data", true)
        );
        assert_eq!(parse_volume("/data").unwrap(), vol(None, "/data", false));
        assert_eq!(parse_volume("/data:ro").unwrap(), vol(None, "/data", true));
        let e = format!("{:#}", parse_volume("x:/data").unwrap_err());
        assert!(e.contains("invalid volume name"), "{e}");
        let e = format!("{:#}", parse_volume("a$b:/data").unwrap_err());
        assert!(e.contains("invalid volume name"), "{e}");
        assert!(parse_volume("data").is_err());
        let e = format!("{:#}", parse_volume("a/b:/data").unwrap_err());
        assert!(e.contains("not a host path"), "{e}");
        assert!(parse_volume(&format!("{d}:/x:bogus")).is_err());
    }

    #[test]
    fn mounts_and_tmpfs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(
            parse_mount(&format!("type=bind,src={d},dst=/m,readonly")).unwrap(),
            MountSpec::Ready(MountRequest::Bind {
                source: dir.path().into(),
                target: "/m".into(),
                readonly: true
            })
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            MountSpec::Ready(MountRequest::Tmpfs {
                target: "/t".into(),
                options: "size=1m".into()
            })
        );
        assert_eq!(
            parse_mount("type=volume,source=db,target=/t,readonly,volume-nocopy").unwrap(),
            MountSpec::Volume(VolumeRef {
                name: Some("db".into()),
                target: "/t".into(),
                readonly: true,
                nocopy: true,
                ..Default::default()
            })
        );
        assert!(matches!(
            parse_mount("target=/t").unwrap(),
            MountSpec::Volume(VolumeRef { name: None, .. })
        ));
        assert!(parse_mount("type=volume,src=-x,target=/t").is_err());
        // --mount never makes the source.
        let e = format!(
            "{:#}",
            parse_mount(&format!("type=bind,src={d}/nope,dst=/m")).unwrap_err()
        );
        assert!(e.contains("does not exist"), "{e}");
        assert!(!dir.path().join("nope").exists());
        assert_eq!(
            parse_tmpfs("/run:size=1m").unwrap(),
            MountRequest::Tmpfs {
                target: "/run".into(),
                options: "size=1m".into()
            }
        );
        assert!(parse_tmpfs("run").is_err());
    }
}
