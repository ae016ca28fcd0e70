//! Another container's namespaces, for the two ways one container reaches
//! into another's network: `--network container:NAME` (the new container
//! joins them) and `--link` (sockets are made in there, `link`).
//!
//! They are opened from /proc by the caller, in the host's user
//! namespace: its user owns every container's user namespace, so it may
//! open and later join them (a supervisor that joined its own container's
//! namespace could not).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use anyhow::Context;

/// A running container's user and network namespaces.
#[derive(Debug, Clone)]
pub struct PeerNs {
    pub user: Arc<OwnedFd>,
    pub net: Arc<OwnedFd>,
}

impl PeerNs {
    /// The namespaces of process `pid` (one of the container's, not our
    /// non-dumpable tiny init: its /proc entries are closed to us).
    pub fn of_process(pid: i32) -> anyhow::Result<PeerNs> {
        let open = |what: &str| -> anyhow::Result<Arc<OwnedFd>> {
            let path = format!("/proc/{pid}/ns/{what}");
            let f = File::open(&path).with_context(|| format!("open {path}"))?;
            Ok(Arc::new(OwnedFd::from(f)))
        };
        Ok(PeerNs {
            user: open("user")?,
            net: open("net")?,
        })
    }
}

/// Finds a container's namespaces as they are now (a linked container
/// may have been stopped and started since the link was made).
#[derive(Clone)]
pub struct Locate(pub Arc<dyn Fn() -> anyhow::Result<PeerNs> + Send + Sync>);

impl std::fmt::Debug for Locate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Locate")
    }
}

/// The container named for `--network container:` or `--link` does not
/// run (so it has no namespaces to share). `run` removes the container it
/// made for nothing when this is the cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotRunning(pub String);
