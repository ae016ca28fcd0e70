//! The containers a container reaches into: the one whose network it
//! shares (`--network container:NAME`) and the ones it links to
//! (`--link`). Found by name at create, by id at each start, when their
//! namespaces are opened (they must run then).

use std::path::Path;

use anyhow::bail;

use super::record::{self, Record};
use super::state::State;
use crate::net::link::{self, Link};
use crate::net::peer::{Locate, NotRunning, PeerNs};
use crate::sandbox::Network;
use crate::text::escape_control as esc;
use crate::userns::idmap::{HostUser, IdMapMode};

/// At create: the container whose network `--network container:NAME`
/// shares. It must exist (not yet run: `create` may come first).
pub fn network_target(root: &Path, name: &str) -> anyhow::Result<Record> {
    record::find(root, name)
}

/// At create: the `--link`s, checked: each target exists and is on the
/// default network.
pub fn links(root: &Path, wanted: &[(String, String)]) -> anyhow::Result<Vec<Link>> {
    if wanted.len() > link::MAX {
        bail!("too many links ({}; at most {})", wanted.len(), link::MAX);
    }
    let mut out = Vec::new();
    for (name, alias) in wanted {
        let r = record::find(root, name)?;
        if r.config.network != Network::Bridge {
            bail!(
                "cannot link to /{}, as it does not belong to the default network",
                esc(&r.name)
            );
        }
        out.push(Link {
            id: r.id,
            name: r.name,
            alias: alias.clone(),
            hostname: r.config.hostname,
        });
    }
    Ok(out)
}

/// At start: the namespaces of running container `id`; `not_running`
/// words the error when it does not run (or is gone).
fn running(root: &Path, id: &str, not_running: String) -> anyhow::Result<(Record, i32, PeerNs)> {
    let r = record::find(root, id).map_err(|_| NotRunning(not_running.clone()))?;
    let init = r.init.filter(|i| i.alive());
    let Some(init) = init.filter(|_| State::of(&r).is_live()) else {
        return Err(NotRunning(not_running).into());
    };
    let pid = crate::sandbox::joinable(init.pid);
    let peer = PeerNs::of_process(pid)?;
    Ok((r, pid, peer))
}

/// At start: the namespaces `--network container:` joins, with a check
/// that its user namespace maps ids as ours would (the container runs
/// in it as if it were its own).
pub fn join(root: &Path, id: &str, mode: &IdMapMode, user: &HostUser) -> anyhow::Result<PeerNs> {
    let (r, pid, peer) = running(
        root,
        id,
        format!(
            "cannot join network of a non running container: {}",
            esc(short(id))
        ),
    )?;
    if !crate::userns::idmap::maps_match(pid, mode, user) {
        bail!(
            "cannot join the network of container {}: it runs with other id maps than a new \
             container gets (restart it first)",
            esc(&r.name)
        );
    }
    Ok(peer)
}

/// At start: for each `--link` of container `linker`, how to find the
/// linked container's namespaces (it must run now; later it may be
/// restarted: the link follows).
pub fn linked(root: &Path, linker: &str, links: &[Link]) -> anyhow::Result<Vec<Locate>> {
    links
        .iter()
        .map(|l| {
            let why = format!(
                "cannot link to a non running container: /{} AS /{}/{}",
                esc(&l.name),
                esc(linker),
                esc(&l.alias)
            );
            running(root, &l.id, why.clone())?;
            let (root, id) = (root.to_path_buf(), l.id.clone());
            let locate = move || running(&root, &id, why.clone()).map(|(_, _, peer)| peer);
            Ok(Locate(std::sync::Arc::new(locate)))
        })
        .collect()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Docker's link variables (`net::link::env`) for each `--link` of
/// `rec`, under the image's and the user's: a name they set keeps their
/// value.
pub fn add_link_env(root: &Path, rec: &mut Record) {
    let mut extra = Vec::new();
    for (k, l) in rec.config.links.iter().enumerate() {
        let Ok(target) = record::find(root, &l.id) else {
            continue;
        };
        extra.extend(link::env(
            k,
            l,
            &rec.name,
            &target.extras.ports.exposed,
            &target.config.process.env,
        ));
    }
    let env = &mut rec.config.process.env;
    let name = |e: &str| e.split_once('=').map_or(e, |(n, _)| n).to_string();
    let set: std::collections::HashSet<String> = env.iter().map(|e| name(e)).collect();
    extra.retain(|e| !set.contains(&name(e)));
    env.extend(extra);
}
