//! Which containers are on which user network, read from their records
//! (the network store knows nothing of containers).

use std::net::Ipv4Addr;
use std::path::Path;

use super::record::{self, Record};

/// The containers attached to network `name`.
pub fn users_of<'a>(records: &'a [Record], name: &str) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.config.networks.iter().any(|a| a.network == name))
        .collect()
}

/// Remove the user networks no container is attached to (the keeper
/// drops their bridges); their names.
pub fn prune(paths: &crate::paths::Paths) -> anyhow::Result<Vec<String>> {
    use crate::net::user::{keeper, store};
    let root = paths.root();
    let records = record::all(root);
    let mut gone = Vec::new();
    for n in store::list(root) {
        if users_of(&records, &n.name).is_empty() {
            store::remove(root, &n)?;
            gone.push(n.name);
        }
    }
    if !gone.is_empty() {
        keeper::sync(paths);
    }
    Ok(gone)
}

/// The addresses the containers on network `name` hold.
pub fn addresses_on(root: &Path, name: &str) -> Vec<Ipv4Addr> {
    record::all(root)
        .iter()
        .flat_map(|r| r.config.networks.iter())
        .filter(|a| a.network == name)
        .map(|a| a.ip)
        .collect()
}

/// Docker's `NetworkSettings.Networks` (and `HostConfig.NetworkMode`) in
/// a container's inspect object: each user network with its address, or
/// the default network's.
pub fn add_to_inspect(v: &mut serde_json::Value, root: &Path, r: &Record) {
    use serde_json::json;
    if r.config.networks.is_empty() {
        if r.config.network == record::Network::Bridge {
            add_default(v, r);
        }
        return;
    }
    let mut nets = serde_json::Map::new();
    for a in &r.config.networks {
        let n = crate::net::user::store::find(root, &a.network);
        nets.insert(
            a.network.clone(),
            json!({
                "NetworkID": n.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                "IPAddress": a.ip.to_string(),
                "IPPrefixLen": n.as_ref().map(|n| n.subnet.prefix).unwrap_or(0),
                "Gateway": n.as_ref().map(|n| n.gateway.to_string()).unwrap_or_default(),
                "Aliases": a.aliases,
                "DNSNames": [r.name.clone(), r.id[..12].to_string()],
            }),
        );
    }
    if let Some(obj) = v.as_object_mut() {
        let ns = obj.entry("NetworkSettings").or_insert_with(|| json!({}));
        if let Some(ns) = ns.as_object_mut() {
            ns.insert("Networks".into(), serde_json::Value::Object(nets));
        }
    }
    v["HostConfig"]["NetworkMode"] = json!(r.config.networks[0].network);
}

/// The default network's entry, and the top-level address fields Docker
/// fills for it (`{{.NetworkSettings.IPAddress}}`); empty while stopped,
/// as Docker's.
fn add_default(v: &mut serde_json::Value, r: &Record) {
    use crate::net::addr;
    use serde_json::json;
    let up = matches!(
        r.status,
        record::Status::Running | record::Status::Restarting
    );
    let (ip, prefix, gw, ip6, prefix6, gw6) = match up {
        true => (
            addr::CONTAINER4.to_string(),
            addr::PREFIX4,
            addr::GATEWAY4.to_string(),
            addr::CONTAINER6.to_string(),
            addr::PREFIX6,
            addr::GATEWAY6.to_string(),
        ),
        false => Default::default(),
    };
    let fields = json!({
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "Gateway": gw,
        "GlobalIPv6Address": ip6,
        "GlobalIPv6PrefixLen": prefix6,
        "IPv6Gateway": gw6,
    });
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    let ns = obj.entry("NetworkSettings").or_insert_with(|| json!({}));
    let Some(ns) = ns.as_object_mut() else {
        return;
    };
    let mut entry = fields.clone();
    entry["NetworkID"] = json!(crate::net::user::store::predefined_id("bridge"));
    entry["Aliases"] = json!(null);
    ns.insert("Networks".into(), json!({ "bridge": entry }));
    if let Some(f) = fields.as_object() {
        ns.extend(f.clone());
    }
}
