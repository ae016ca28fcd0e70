//! `burrow export-bundle IMAGE DIR`: an OCI bundle (DIR/rootfs and
//! DIR/config.json) from an image in the store, for engines that take
//! bundles and pull nothing themselves (Slurm's `srun --container`).
//!
//! The rootfs is the image's layers merged by the kernel overlay
//! (read-only, whiteouts applied) and copied with `cp -a` inside the user
//! namespace containers get, so files keep the ids the image gave them
//! (subordinate ids on the host). config.json is `spec --rootless` with
//! the image's command, environment, working dir and user, and the same
//! id maps as `burrow run` (the user as root, plus the subordinate range
//! when there is one), so the ids in the rootfs mean the same inside.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::container::image_source::{self, ResolvedImage};
use crate::paths::Paths;
use crate::userns::idmap::{self, HostUser, IdMapMode};
use crate::userns::{self, Mapping};

pub fn export(paths: &Paths, image: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty: give a new dir", dir.display());
    }
    let resolved = image_source::resolve(paths, image)?;
    let user = HostUser::current();
    let mode = idmap::choose(&user).mode;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = std::path::absolute(dir)?;
    let result = (|| {
        copy_rootfs(&resolved, &mode, &user, &dir.join("rootfs"))?;
        let config = config(&resolved, &mode, &user, &dir.join("rootfs"))?;
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string_pretty(&config)? + "\n",
        )
        .context("write config.json")
    })();
    if result.is_err() {
        // Nothing half-written: the rootfs may hold subordinate ids, so it
        // goes from inside the namespace.
        let _ = remove_in_userns(&mode, &user, &dir);
    }
    result
}

/// In a child: join the containers' user namespace, mount the layers'
/// overlay in a mount namespace of its own, copy it out.
fn copy_rootfs(
    img: &ResolvedImage,
    mode: &IdMapMode,
    user: &HostUser,
    rootfs: &Path,
) -> anyhow::Result<()> {
    let ns = userns::for_launch(&Mapping::Root(mode.clone()), user, None)?;
    let lower = img.lower_dirs.clone();
    let rootfs = rootfs.to_path_buf();
    let mnt = std::env::temp_dir().join(format!("burrow-export-{}", std::process::id()));
    crate::sys::in_child(|| {
        let r = (|| -> anyhow::Result<()> {
            ns.join()?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .context("unshare the mount namespace")?;
            userns::make_private().context("make mounts private")?;
            let src = merged(&lower, &mnt)?;
            std::fs::create_dir_all(&rootfs)?;
            let st = std::process::Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", src.display()))
                .arg(&rootfs)
                .status()
                .context("run cp")?;
            if !st.success() {
                bail!("cp -a of the image's files failed ({st})");
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir(&mnt);
        match r {
            Ok(()) => crate::sys::exit_now(0),
            Err(e) => {
                eprintln!("burrow: export-bundle: {e:#}");
                crate::sys::exit_now(1)
            }
        }
    })
    .map_err(|e| anyhow::anyhow!("copy the image's files: {e}"))
}

/// The merged view of `lower` (top-most first): the layer itself when
/// there is one, else a read-only overlay at `mnt`.
fn merged(lower: &[PathBuf], mnt: &Path) -> anyhow::Result<PathBuf> {
    match lower {
        [] => bail!("the image has no layers"),
        [one] => Ok(one.clone()),
        _ => {
            std::fs::create_dir_all(mnt)?;
            let names: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
            let opts = format!("lowerdir={},userxattr", names.join(":"));
            nix::mount::mount(
                Some("overlay"),
                mnt,
                Some("overlay"),
                nix::mount::MsFlags::MS_RDONLY,
                Some(opts.as_str()),
            )
            .context("mount the image's layers (kernel overlay, Linux >= 5.11)")?;
            Ok(mnt.to_path_buf())
        }
    }
}

fn remove_in_userns(mode: &IdMapMode, user: &HostUser, dir: &Path) -> anyhow::Result<()> {
    let ns = userns::for_launch(&Mapping::Root(mode.clone()), user, None)?;
    let dir = dir.to_path_buf();
    crate::sys::in_child(|| {
        let ok = ns.join().is_ok() && crate::fsutil::remove_tree(&dir).is_ok();
        crate::sys::exit_now(i32::from(!ok))
    })
    .map_err(|e| anyhow::anyhow!("remove {}: {e}", dir.display()))
}

/// The bundle's config: runc's rootless spec with the image's process.
fn config(
    img: &ResolvedImage,
    mode: &IdMapMode,
    user: &HostUser,
    rootfs: &Path,
) -> anyhow::Result<Value> {
    let mut spec = super::defaults::spec(true);
    let c = img.config.config().clone().unwrap_or_default();
    let mut args: Vec<String> = c.entrypoint().clone().unwrap_or_default();
    args.extend(c.cmd().clone().unwrap_or_default());
    if args.is_empty() {
        args.push("sh".into());
    }
    let mut env = c.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let cwd = c
        .working_dir()
        .clone()
        .filter(|w| w.starts_with('/'))
        .unwrap_or_else(|| "/".into());
    let (uid, gid) = image_user(c.user().as_deref().unwrap_or(""), rootfs)?;
    let p = &mut spec["process"];
    p["terminal"] = json!(false);
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["user"] = json!({"uid": uid, "gid": gid});
    spec["root"]["readonly"] = json!(false);
    let (u, g) = match mode {
        IdMapMode::Single => (
            json!([{"containerID": 0, "hostID": user.uid, "size": 1}]),
            json!([{"containerID": 0, "hostID": user.gid, "size": 1}]),
        ),
        IdMapMode::SubIds { uid, gid } => (
            json!([{"containerID": 0, "hostID": user.uid, "size": 1},
                   {"containerID": 1, "hostID": uid.start, "size": uid.count}]),
            json!([{"containerID": 0, "hostID": user.gid, "size": 1},
                   {"containerID": 1, "hostID": gid.start, "size": gid.count}]),
        ),
    };
    spec["linux"]["uidMappings"] = u;
    spec["linux"]["gidMappings"] = g;
    if matches!(mode, IdMapMode::SubIds { .. }) {
        // gid 5 (tty) is mapped: devpts as runc's rootful spec has it.
        for m in spec["mounts"].as_array_mut().into_iter().flatten() {
            if m["destination"] == "/dev/pts" {
                if let Some(o) = m["options"].as_array_mut() {
                    o.push(json!("gid=5"));
                }
            }
        }
    }
    Ok(spec)
}

/// The image's `User` (`uid[:gid]` or names from its /etc/passwd and
/// /etc/group) as numbers.
fn image_user(spec: &str, rootfs: &Path) -> anyhow::Result<(u32, u32)> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                Some((
                    f.get(2)?.parse().ok()?,
                    f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0),
                ))
            })?
        })
    };
    let (uid, pgid) = match u.parse::<u32>() {
        Ok(n) => (n, lookup("etc/passwd", u).map(|x| x.1).unwrap_or(0)),
        Err(_) => lookup("etc/passwd", u)
            .with_context(|| format!("image user {u:?} is not in the image's /etc/passwd"))?,
    };
    let gid = match g {
        None => pgid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("etc/group", g)
                .map(|x| x.0)
                .with_context(|| format!("image group {g:?} is not in the image's /etc/group"))?,
        },
    };
    Ok((uid, gid))
}
