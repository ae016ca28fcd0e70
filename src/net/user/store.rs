//! User networks' records: `networks/<id>.json` under the storage root,
//! written atomically under an flock on `networks/.lock`. A record is all
//! a network is: its bridge and resolver in the keeper's namespace are
//! made from it on demand (`keeper`), so a killed keeper loses nothing.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::subnet::Subnet;
use crate::error::{Coded, EXIT_BURROW};
use crate::text::escape_control;

/// The names Docker users type for the networks that are not records:
/// they cannot be made or removed.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// The predefined networks' ids: fixed, so that scripts may keep them.
pub fn predefined_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("burrow network {name}")))
}

/// What `networks/<id>.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// RFC 3339, seconds.
    pub created: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// No way out: its containers reach each other only.
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl NetworkRecord {
    /// The bridge's name in the keeper's namespace (Docker's `br-` + 12).
    pub fn bridge(&self) -> String {
        format!("br-{}", &self.id[..12])
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

pub fn dir(root: &Path) -> PathBuf {
    root.join("networks")
}

fn lock(root: &Path) -> anyhow::Result<nix::fcntl::Flock<fs::File>> {
    crate::fsutil::lock_store(
        &dir(root),
        "network store",
        std::time::Duration::from_secs(10),
    )
}

/// Every network record, by name.
pub fn list(root: &Path) -> Vec<NetworkRecord> {
    let Ok(entries) = fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    let mut out: Vec<NetworkRecord> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The network named `name`, or whose id starts with it (Docker's rule:
/// an exact name first, then a unique id prefix).
pub fn find(root: &Path, name: &str) -> Option<NetworkRecord> {
    let all = list(root);
    if let Some(n) = all.iter().find(|n| n.name == name) {
        return Some(n.clone());
    }
    let mut by_id = all.into_iter().filter(|n| n.id.starts_with(name));
    match (by_id.next(), by_id.next()) {
        (Some(n), None) if !name.is_empty() => Some(n),
        _ => None,
    }
}

pub fn no_such_network(name: &str) -> Coded {
    Coded::new(
        EXIT_BURROW,
        format!("network {} not found", escape_control(name)),
    )
}

/// Make a network: name checked, subnet given or the first free /24 of
/// 10.89.0.0/16 (podman's pool), no overlap with another network.
pub fn create(root: &Path, new: NewNetwork) -> anyhow::Result<NetworkRecord> {
    crate::container::names::validate(&new.name)
        .map_err(|e| Coded::new(EXIT_BURROW, e.replace("container name", "network name")))?;
    if PREDEFINED.contains(&new.name.as_str()) {
        return Err(Coded::new(
            EXIT_BURROW,
            format!(
                "network name {} is predefined and cannot be created",
                new.name
            ),
        )
        .into());
    }
    let _lock = lock(root)?;
    let existing = list(root);
    if existing.iter().any(|n| n.name == new.name) {
        return Err(Coded::new(
            EXIT_BURROW,
            format!("network with name {} already exists", new.name),
        )
        .into());
    }
    let taken: Vec<Subnet> = existing.iter().map(|n| n.subnet).collect();
    let subnet = match new.subnet {
        Some(s) => {
            if let Some(o) = existing.iter().find(|n| n.subnet.overlaps(&s)) {
                return Err(Coded::new(
                    EXIT_BURROW,
                    format!(
                        "subnet {s} overlaps with network {} ({})",
                        escape_control(&o.name),
                        o.subnet
                    ),
                )
                .into());
            }
            s
        }
        None => super::subnet::allocate(&taken).ok_or_else(|| {
            Coded::new(
                EXIT_BURROW,
                "no free subnet left in 10.89.0.0/16: remove a network or give --subnet",
            )
        })?,
    };
    let gateway = match new.gateway {
        Some(g) if !subnet.contains(g) || g == subnet.addr || g == subnet.broadcast() => {
            return Err(Coded::new(
                EXIT_BURROW,
                format!("gateway {g} is not a host address of subnet {subnet}"),
            )
            .into())
        }
        Some(g) => g,
        None => subnet.host(1),
    };
    let rec = NetworkRecord {
        id: crate::random_id::new_id()?,
        name: new.name,
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        subnet,
        gateway,
        internal: new.internal,
        labels: new.labels,
    };
    let bytes = serde_json::to_vec_pretty(&rec)?;
    crate::fsutil::write_atomic(&dir(root).join(format!("{}.json", rec.id)), &bytes, true)
        .context("write the network record")?;
    Ok(rec)
}

/// Remove a network's record (the caller checked it is unused, and takes
/// its bridge down).
pub fn remove(root: &Path, rec: &NetworkRecord) -> anyhow::Result<()> {
    let _lock = lock(root)?;
    match fs::remove_file(dir(root).join(format!("{}.json", rec.id))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("remove the network record")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str) -> NewNetwork {
        NewNetwork {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn networks_get_the_next_free_subnet_and_unique_names() {
        let d = tempfile::tempdir().unwrap();
        let a = create(d.path(), new("a")).unwrap();
        assert_eq!(a.subnet.to_string(), "10.89.0.0/24");
        assert_eq!(a.gateway.to_string(), "10.89.0.1");
        let b = create(d.path(), new("b")).unwrap();
        assert_eq!(b.subnet.to_string(), "10.89.1.0/24");
        assert!(create(d.path(), new("a")).is_err());
        assert!(create(d.path(), new("bridge")).is_err());
        assert!(create(d.path(), new("-x")).is_err());
        let overlap = NewNetwork {
            subnet: Some("10.89.0.128/25".parse().unwrap()),
            ..new("c")
        };
        assert!(create(d.path(), overlap).is_err());
        assert_eq!(find(d.path(), "b").unwrap().id, b.id);
        assert_eq!(find(d.path(), &a.id[..8]).unwrap().name, "a");
        remove(d.path(), &a).unwrap();
        // Freed: the next network takes it again.
        assert_eq!(create(d.path(), new("c")).unwrap().subnet, a.subnet);
    }
}
