//! `burrow __fuse-overlay`: a hidden, internal verb that mounts our FUSE
//! overlay and serves it until it is unmounted. The tests and benchmarks
//! run it inside `unshare --user --map-root-user --mount`; containers use
//! `rootfs::fuse::serve` from their supervisor instead.

use std::path::PathBuf;

use clap::Args;

use crate::rootfs::fuse::{serve, FuseOverlayConfig};

#[derive(Debug, Args)]
pub struct FuseOverlayArgs {
    /// A read-only layer; repeat, top-most first
    #[arg(long = "lower", value_name = "DIR", required = true)]
    pub lowers: Vec<PathBuf>,
    /// The writable layer
    #[arg(long, value_name = "DIR")]
    pub upper: PathBuf,
    /// Scratch dir on the upper's file system
    #[arg(long, value_name = "DIR")]
    pub work: PathBuf,
    /// Keep owners and modes in an xattr (only one id is mapped)
    #[arg(long)]
    pub single_id: bool,
    /// Where to mount
    pub target: PathBuf,
}

pub fn run(args: FuseOverlayArgs) -> anyhow::Result<i32> {
    // Serve no longer than the one who started us: a test script that
    // dies must not leave a server holding its mount namespace alive.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    let cfg = FuseOverlayConfig {
        lowers: args.lowers,
        upper: args.upper,
        work: args.work,
        single_id: args.single_id,
    };
    serve(cfg, &args.target)?.wait()?;
    Ok(0)
}
