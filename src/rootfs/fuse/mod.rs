//! Our overlay file system on FUSE (`fuser`): read-only lower layers and a
//! writable upper dir merged into one tree, in the kernel overlay's
//! on-disk format, served by the caller's process on a few threads.
//!
//! Mounting needs no setuid helper: inside a user namespace (whose owner
//! we are) the caller's process opens /dev/fuse and calls mount(2) itself.

mod copyup;
mod files;
mod fs;
mod inode;
mod layers;
mod merge;
mod open_files;
pub mod ownership;
mod poll;
mod read;
mod state;
mod write;

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{bail, Context};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

pub use layers::{is_opaque, is_whiteout, make_whiteout, set_opaque, OPAQUE_XATTR};
pub use ownership::OVERRIDE_XATTR;

/// What to merge.
#[derive(Debug, Clone)]
pub struct FuseOverlayConfig {
    /// Read-only layers, top-most first.
    pub lowers: Vec<PathBuf>,
    /// The writable layer.
    pub upper: PathBuf,
    /// Scratch dir on the upper's file system (copy-ups are built there).
    pub work: PathBuf,
    /// Only one id is mapped: keep owners and modes in `user.burrow.override`.
    pub single_id: bool,
}

/// A served mount. Dropping it leaves the mount served until unmounted.
#[derive(Debug)]
pub struct FuseHandle {
    target: PathBuf,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    poller: Option<poll::Poller>,
}

impl FuseHandle {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Serve until the mount goes away (umount, or the namespace ends).
    pub fn wait(mut self) -> anyhow::Result<()> {
        self.join()
    }

    /// Detach the mount and wait for the serving threads to end.
    pub fn unmount(mut self) -> anyhow::Result<()> {
        umount2(&self.target, MntFlags::MNT_DETACH)
            .with_context(|| format!("unmount {}", self.target.display()))?;
        self.join()
    }

    fn join(&mut self) -> anyhow::Result<()> {
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(r) => r.context("serving the FUSE overlay")?,
                Err(_) => bail!("the FUSE overlay's serving thread panicked"),
            }
        }
        self.poller.take();
        Ok(())
    }
}

fn check_dir(what: &str, p: &Path) -> anyhow::Result<()> {
    let m = std::fs::metadata(p).with_context(|| {
        format!(
            "{what} {}",
            crate::text::escape_control(&p.display().to_string())
        )
    })?;
    if !m.is_dir() {
        bail!(
            "{what} {}: not a directory",
            crate::text::escape_control(&p.display().to_string())
        );
    }
    Ok(())
}

/// Mount the overlay on `target` and serve it on threads. The caller must
/// be allowed to mount there (root in its own user and mount namespace).
pub fn serve(cfg: FuseOverlayConfig, target: &Path) -> anyhow::Result<FuseHandle> {
    for l in &cfg.lowers {
        check_dir("lower dir", l)?;
    }
    check_dir("upper dir", &cfg.upper)?;
    check_dir("work dir", &cfg.work)?;
    check_dir("mount point", target)?;
    let layers = layers::Layers::new(cfg.upper.clone(), cfg.lowers.clone(), cfg.work.clone());
    // Leftovers of an interrupted copy-up are garbage; start empty.
    let tmp = layers.tmp_dir();
    let _ = crate::fsutil::remove_tree(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("create {}", tmp.display()))?;

    // The server keeps real files open per node (files.rs): allow it as
    // many as the hard limit does, not the usual soft 1024.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let fs = state::OverlayFs::new(layers, cfg.single_id).context("read the layers")?;
    let activity = fs.activity.clone();
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .context("open /dev/fuse")?;
    // The same open file as fuser's own thread reads: poll.rs sets its
    // O_NONBLOCK flag.
    let polled = dev.try_clone().context("duplicate the /dev/fuse fd")?;
    let opts = format!(
        "fd={},rootmode=40000,user_id={},group_id={},allow_other,default_permissions",
        dev.as_raw_fd(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    mount(
        Some("burrow-overlay"),
        target,
        Some("fuse.burrow-overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .with_context(|| format!("mount the FUSE overlay on {}", target.display()))?;

    let mut config = fuser::Config::default();
    config.acl = fuser::SessionACL::All;
    config.n_threads = Some(
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8),
    );
    config.clone_fd = true;
    let session = fuser::Session::from_fd(fs, OwnedFd::from(dev), fuser::SessionACL::All, config);
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            let _ = umount2(target, MntFlags::MNT_DETACH);
            return Err(e).context("FUSE handshake");
        }
    };
    let thread = std::thread::Builder::new()
        .name("fuse-overlay".into())
        .spawn(move || session.run())
        .context("start the FUSE overlay thread")?;
    let poller = poll::start(polled, activity).context("start the FUSE overlay's poller")?;
    Ok(FuseHandle {
        target: target.to_path_buf(),
        thread: Some(thread),
        poller,
    })
}
