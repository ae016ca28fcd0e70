//! An OCI config's mounts, masked and read-only paths, devices and root
//! as a `MountPlan` (pure; applied by `sandbox::mounts::apply`).

use std::path::{Path, PathBuf};

use anyhow::bail;
use nix::mount::MsFlags;
use oci_spec::runtime::{Mount, Spec};

use crate::sandbox::mounts::{MountOp, MountPlan, SpecMount};

/// mount(8)'s option names that are flags (set, or cleared with `false`).
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("mand", true, MsFlags::MS_MANDLOCK),
    ("nomand", false, MsFlags::MS_MANDLOCK),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("atime", false, MsFlags::MS_NOATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("nostrictatime", false, MsFlags::MS_STRICTATIME),
    ("bind", true, MsFlags::MS_BIND),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
];

const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// A propagation name (`linux.rootfsPropagation`) as MS_* bits.
pub fn propagation(name: &str) -> Option<u64> {
    PROPAGATION
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f.bits())
}

/// One `mounts[]` entry as mount(2) arguments. `bundle` makes relative
/// bind sources absolute.
pub fn spec_mount(m: &Mount, bundle: &Path) -> anyhow::Result<SpecMount> {
    let target = m.destination().to_string_lossy().into_owned();
    let what = format!("mounts[{target}]");
    if !target.starts_with('/') {
        bail!("{what}: destination must be absolute");
    }
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data = Vec::new();
    for o in m.options().iter().flatten() {
        if let Some((_, set, f)) = FLAGS.iter().find(|(n, _, _)| n == o) {
            if *set {
                flags |= *f;
            } else {
                flags -= *f;
            }
        } else if let Some((_, f)) = PROPAGATION.iter().find(|(n, _)| n == o) {
            prop |= *f;
        } else if matches!(o.as_str(), "tmpcopyup" | "idmap" | "ridmap" | "rro")
            || o.starts_with("X-mount")
        {
            bail!("{what}: option {o:?} is not supported by burrow");
        } else {
            data.push(o.clone());
        }
    }
    let fstype = m.typ().clone().unwrap_or_default();
    if fstype == "bind" {
        flags |= MsFlags::MS_BIND;
    }
    let mut source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if flags.contains(MsFlags::MS_BIND) {
        if source.is_empty() {
            bail!("{what}: a bind mount needs a source");
        }
        if !source.starts_with('/') {
            source = bundle.join(&source).to_string_lossy().into_owned();
        }
    } else if fstype.is_empty() {
        bail!("{what}: no type and not a bind mount");
    }
    Ok(SpecMount {
        source,
        target,
        fstype,
        flags: flags.bits(),
        data: data.join(","),
        propagation: prop.bits(),
    })
}

/// The devices every container has (runtime-spec "Default Devices"),
/// bound from the host as runc does without root (mknod is not ours).
const DEFAULT_DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The plan: the root bound on itself (pivot_root wants a mount point),
/// the config's mounts in order, the devices, the /dev links, masked and
/// read-only paths, and the read-only root last.
pub fn plan(spec: &Spec, root: &Path, bundle: &Path) -> anyhow::Result<MountPlan> {
    let mut ops = vec![MountOp::Bind {
        source: root.to_path_buf(),
        target: "/".into(),
        readonly: false,
    }];
    for m in spec.mounts().iter().flatten() {
        ops.push(MountOp::Spec(spec_mount(m, bundle)?));
    }
    let linux = spec.linux().as_ref();
    let mut devices: Vec<String> = DEFAULT_DEVICES.iter().map(|d| d.to_string()).collect();
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let path = d.path().to_string_lossy().into_owned();
        let Some(name) = path.strip_prefix("/dev/") else {
            bail!("linux.devices[{path}]: only devices under /dev can be bound without root");
        };
        if !Path::new(&path).exists() {
            bail!("linux.devices[{path}]: not on the host, and burrow cannot mknod without root");
        }
        if !devices.iter().any(|x| x == name) {
            devices.push(name.to_string());
        }
    }
    ops.extend(devices.into_iter().map(|name| MountOp::Device { name }));
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        ops.push(MountOp::Symlink {
            link: link.into(),
            to: to.into(),
        });
    }
    if let Some(l) = linux {
        for p in l.masked_paths().iter().flatten() {
            ops.push(MountOp::Mask { path: p.clone() });
        }
        for p in l.readonly_paths().iter().flatten() {
            ops.push(MountOp::ReadOnlyPath { path: p.clone() });
        }
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        ops.push(MountOp::ReadOnlyRoot);
    }
    Ok(MountPlan { ops })
}

/// The rootfs from `root.path`, absolute (relative to the bundle).
pub fn root_path(spec: &Spec, bundle: &Path) -> anyhow::Result<PathBuf> {
    let Some(root) = spec.root() else {
        bail!("root: missing in config.json");
    };
    let p = bundle.join(root.path());
    if !p.is_dir() {
        bail!("root.path: {} is not a directory", p.display());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn options_become_flags_data_and_propagation() {
        let m = mount(
            r#"{"destination":"/dev","type":"tmpfs","source":"tmpfs",
                "options":["nosuid","strictatime","mode=755","size=65536k","rprivate"]}"#,
        );
        let s = spec_mount(&m, Path::new("/b")).unwrap();
        assert_eq!(
            s.flags,
            (MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME).bits()
        );
        assert_eq!(s.data, "mode=755,size=65536k");
        assert_eq!(
            s.propagation,
            (MsFlags::MS_PRIVATE | MsFlags::MS_REC).bits()
        );
    }

    #[test]
    fn bind_sources_are_made_absolute_and_rw_clears_ro() {
        let m =
            mount(r#"{"destination":"/data","type":"bind","source":"d","options":["ro","rw"]}"#);
        let s = spec_mount(&m, Path::new("/bundle")).unwrap();
        assert_eq!(s.source, "/bundle/d");
        assert_eq!(s.flags, MsFlags::MS_BIND.bits());
        let m = mount(r#"{"destination":"/x","source":"/h","options":["rbind","ro"]}"#);
        let s = spec_mount(&m, Path::new("/b")).unwrap();
        assert_eq!(
            s.flags,
            (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY).bits()
        );
    }

    #[test]
    fn unsupported_options_name_the_mount() {
        let m = mount(r#"{"destination":"/x","type":"tmpfs","options":["tmpcopyup"]}"#);
        let e = spec_mount(&m, Path::new("/b")).unwrap_err().to_string();
        assert!(e.contains("mounts[/x]") && e.contains("tmpcopyup"), "{e}");
        let m = mount(r#"{"destination":"rel","type":"tmpfs"}"#);
        assert!(spec_mount(&m, Path::new("/b")).is_err());
    }
}
