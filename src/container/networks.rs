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

/// The addresses the containers on network `name` hold.
pub fn addresses_on(root: &Path, name: &str) -> Vec<Ipv4Addr> {
    record::all(root)
        .iter()
        .flat_map(|r| r.config.networks.iter())
        .filter(|a| a.network == name)
        .map(|a| a.ip)
        .collect()
}
