//! Port forwarding (`-p`): listeners in the host's network namespace
//! that connect into the container's. Filled in by the port-publishing
//! work; the supervisor calls `start` once per container, after the
//! first init was forked.

use super::Namespace;

/// Start the container's port forwarders (none yet).
pub fn start(_ns: &Namespace) -> anyhow::Result<()> {
    Ok(())
}
