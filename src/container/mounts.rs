//! The mount flags (`-v`, `--mount`, `--tmpfs`) as the launcher's mount
//! requests, checked before anything is made: a missing bind source or a
//! relative container path is one clear error.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::sandbox::mounts::plan::check_target;
use crate::sandbox::MountRequest;
use crate::text::escape_control;

/// `-v HOST:CTR[:ro|rw]`.
pub fn parse_volume(spec: &str) -> anyhow::Result<MountRequest> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, opts) = match parts.as_slice() {
        [h, t] => (*h, *t, ""),
        [h, t, o] => (*h, *t, *o),
        _ => bail!(
            "invalid volume {:?}: use HOST-PATH:CONTAINER-PATH[:ro]",
            escape_control(spec)
        ),
    };
    let host = host_path(host, spec)?;
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            // SELinux relabel and propagation flags: nothing to do here.
            "z" | "Z" | "rprivate" | "private" | "rslave" | "slave" => {}
            other => bail!(
                "volume {:?}: unknown option {other:?}",
                escape_control(spec)
            ),
        }
    }
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
    bind(&host, target, readonly)
}

/// The host side of `-v`: an absolute path, or one relative to the working
/// directory when it starts with `.` (docker since 23.0). A bare name would
/// be a named volume, which burrow does not have yet.
fn host_path(host: &str, spec: &str) -> anyhow::Result<PathBuf> {
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    if host == "." || host == ".." || host.starts_with("./") || host.starts_with("../") {
        let cwd = std::env::current_dir().context("read the working directory")?;
        return Ok(normalize(&cwd.join(host)));
    }
    if host.contains('/') || host.is_empty() {
        bail!(
            "volume {:?}: {:?} is not a host path; give an absolute one or start it with ./",
            escape_control(spec),
            escape_control(host)
        );
    }
    bail!(
        "volume {:?}: named volumes are not built yet; for a host directory give its path \
         (/abs/dir or ./dir)",
        escape_control(spec)
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

/// `--mount type=bind,source=..,target=..[,readonly]` or `type=tmpfs,...`.
pub fn parse_mount(spec: &str) -> anyhow::Result<MountRequest> {
    let mut kind = "volume";
    let (mut source, mut target, mut readonly) = (None, None, false);
    let (mut size, mut mode) = (None, None);
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => source = Some(v),
            "target" | "destination" | "dst" => target = Some(v),
            "readonly" | "ro" => readonly = matches!(v, "" | "true" | "1"),
            "tmpfs-size" => size = Some(v),
            "tmpfs-mode" => mode = Some(v),
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
            bind(source, target, readonly)
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
            Ok(MountRequest::Tmpfs {
                target: target.into(),
                options: opts.join(","),
            })
        }
        other => bail!("--mount type={other} is not supported (use bind or tmpfs)"),
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
            MountRequest::Bind {
                source: dir.path().into(),
                target: "/data".into(),
                readonly: true
            }
        );
        // A missing host dir is made, as docker does for -v.
        let made = parse_volume(&format!("{d}/new/dir:/data")).unwrap();
        assert!(dir.path().join("new/dir").is_dir(), "{made:?}");
        let e = format!("{:#}", parse_volume(&format!("{d}:data")).unwrap_err());
        assert!(e.contains("not absolute"), "{e}");
        let e = format!("{:#}", parse_volume("named:/data").unwrap_err());
        assert!(e.contains("named volumes are not built yet"), "{e}");
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
            MountRequest::Bind {
                source: dir.path().into(),
                target: "/m".into(),
                readonly: true
            }
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            MountRequest::Tmpfs {
                target: "/t".into(),
                options: "size=1m".into()
            }
        );
        assert!(parse_mount("type=volume,target=/t").is_err());
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
