//! `--link NAME[:ALIAS]` on the default network (Docker's legacy links).
//!
//! Every container on the default network has a namespace of its own with
//! the same address (10.0.2.100), so the linked container cannot be
//! reached at its own address. Each link gets an address of its own in
//! the linking container's subnet instead (`address`: 10.0.2.10, .11,
//! ...), named in its /etc/hosts (`hosts`). Its translator takes the
//! flows to that address (the stack answers for any address) and opens
//! their other end from a socket made inside the linked container's
//! network namespace (`maker`), connected to its address there: so the
//! linked container sees an ordinary local connection, and no process of
//! the linked container (its supervisor) is involved.
//!
//! Pure here: the record's entry, the flag's syntax, the addresses, the
//! /etc/hosts lines and Docker's link variables.

pub mod maker;

use std::net::Ipv4Addr;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::net::addr;
use crate::net::publish::{Exposed, Proto};

/// The first link's address; the k-th is this + k.
const FIRST: u8 = 10;
/// Links a container may have: their addresses stay below the
/// container's own (10.0.2.100).
pub const MAX: usize = 80;

/// One link, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked container's id.
    pub id: String,
    /// Its name when the link was made.
    pub name: String,
    /// The alias (the name when none was given).
    pub alias: String,
    /// Its hostname, named in /etc/hosts too.
    #[serde(default)]
    pub hostname: String,
}

/// Parse `NAME[:ALIAS]` into (target, alias).
pub fn parse(s: &str) -> anyhow::Result<(String, String)> {
    let (target, alias) = match s.split_once(':') {
        Some((t, a)) => (t, a),
        None => (s, s),
    };
    // Docker takes "/name" too.
    let target = target.trim_start_matches('/');
    let ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    if !ok(target) || !ok(alias) {
        bail!(
            "invalid --link {:?}: expected NAME[:ALIAS]",
            crate::text::escape_control(s)
        );
    }
    Ok((target.to_string(), alias.to_string()))
}

/// The address the `k`-th link (from 0) has in the linking container.
pub fn address(k: usize) -> Ipv4Addr {
    let o = addr::NET4.octets();
    Ipv4Addr::new(o[0], o[1], o[2], FIRST + k.min(MAX - 1) as u8)
}

/// Which link an address is, given `count` links.
pub fn index_of(ip: Ipv4Addr, count: usize) -> Option<usize> {
    let (o, net) = (ip.octets(), addr::NET4.octets());
    if o[..3] != net[..3] || o[3] < FIRST {
        return None;
    }
    let k = usize::from(o[3] - FIRST);
    (k < count.min(MAX)).then_some(k)
}

/// The /etc/hosts line of the `k`-th link: the alias, the linked
/// container's hostname and name (Docker's order), each once.
pub fn hosts_line(k: usize, link: &Link) -> String {
    let mut names: Vec<&str> = Vec::new();
    for n in [&link.alias, &link.hostname, &link.name] {
        let n = n.as_str();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    format!("{}\t{}\n", address(k), names.join(" "))
}

/// Docker's link variables for the `k`-th link of container `linker`:
/// ALIAS_PORT (the first port), ALIAS_PORT_80_TCP (and _ADDR, _PORT,
/// _PROTO) per exposed port, ALIAS_NAME=/linker/alias, and ALIAS_ENV_X
/// per variable of the linked container (not HOME, PATH, HOSTNAME).
pub fn env(
    k: usize,
    link: &Link,
    linker: &str,
    exposed: &[Exposed],
    target_env: &[String],
) -> Vec<String> {
    let alias = link.alias.to_ascii_uppercase().replace(['-', '.'], "_");
    let ip = address(k);
    let mut ports = exposed.to_vec();
    // By port, tcp before udp (Docker's order).
    ports.sort_by_key(|p| (p.port, p.proto != Proto::Tcp));
    ports.dedup();
    let mut out = Vec::new();
    if let Some(p) = ports.first() {
        out.push(format!("{alias}_PORT={}://{ip}:{}", p.proto, p.port));
    }
    for p in &ports {
        let key = format!(
            "{alias}_PORT_{}_{}",
            p.port,
            p.proto.to_string().to_uppercase()
        );
        out.push(format!("{key}={}://{ip}:{}", p.proto, p.port));
        out.push(format!("{key}_ADDR={ip}"));
        out.push(format!("{key}_PORT={}", p.port));
        out.push(format!("{key}_PROTO={}", p.proto));
    }
    out.push(format!("{alias}_NAME=/{linker}/{}", link.alias));
    for e in target_env {
        let Some((name, value)) = e.split_once('=') else {
            continue;
        };
        if ["HOME", "PATH", "HOSTNAME"].contains(&name) {
            continue;
        }
        out.push(format!("{alias}_ENV_{name}={value}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, alias: &str) -> Link {
        Link {
            id: "abc".into(),
            name: name.into(),
            alias: alias.into(),
            hostname: "4e0c3ac8d7d3".into(),
        }
    }

    #[test]
    fn the_flag_takes_a_name_and_an_optional_alias() {
        assert_eq!(parse("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse("db:mysql").unwrap(), ("db".into(), "mysql".into()));
        assert_eq!(parse("/db:mysql").unwrap(), ("db".into(), "mysql".into()));
        for bad in ["", ":x", "db:", "d b", "db:a/b", "db:x\n"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_link_has_its_own_address_below_the_containers() {
        assert_eq!(address(0), Ipv4Addr::new(10, 0, 2, 10));
        assert_eq!(address(MAX - 1), Ipv4Addr::new(10, 0, 2, 89));
        assert!(address(MAX - 1) < addr::CONTAINER4);
        assert_eq!(index_of(Ipv4Addr::new(10, 0, 2, 11), 2), Some(1));
        assert_eq!(index_of(Ipv4Addr::new(10, 0, 2, 12), 2), None);
        assert_eq!(index_of(Ipv4Addr::new(10, 0, 2, 9), 2), None);
        assert_eq!(index_of(Ipv4Addr::new(10, 0, 3, 10), 2), None);
        assert_eq!(index_of(addr::GATEWAY4, 80), None);
    }

    #[test]
    fn hosts_names_the_alias_hostname_and_name_once() {
        assert_eq!(
            hosts_line(0, &link("db", "mysql")),
            "10.0.2.10\tmysql 4e0c3ac8d7d3 db\n"
        );
        assert_eq!(
            hosts_line(1, &link("db", "db")),
            "10.0.2.11\tdb 4e0c3ac8d7d3\n"
        );
    }

    #[test]
    fn variables_are_dockers() {
        let exposed = [
            Exposed {
                port: 53,
                proto: Proto::Udp,
            },
            Exposed {
                port: 80,
                proto: Proto::Tcp,
            },
            Exposed {
                port: 53,
                proto: Proto::Tcp,
            },
        ];
        let env = env(
            0,
            &link("db", "my-web"),
            "app",
            &exposed,
            &["PATH=/bin".into(), "MYSQL_USER=u".into(), "X".into()],
        );
        assert_eq!(
            env,
            [
                "MY_WEB_PORT=tcp://10.0.2.10:53",
                "MY_WEB_PORT_53_TCP=tcp://10.0.2.10:53",
                "MY_WEB_PORT_53_TCP_ADDR=10.0.2.10",
                "MY_WEB_PORT_53_TCP_PORT=53",
                "MY_WEB_PORT_53_TCP_PROTO=tcp",
                "MY_WEB_PORT_53_UDP=udp://10.0.2.10:53",
                "MY_WEB_PORT_53_UDP_ADDR=10.0.2.10",
                "MY_WEB_PORT_53_UDP_PORT=53",
                "MY_WEB_PORT_53_UDP_PROTO=udp",
                "MY_WEB_PORT_80_TCP=tcp://10.0.2.10:80",
                "MY_WEB_PORT_80_TCP_ADDR=10.0.2.10",
                "MY_WEB_PORT_80_TCP_PORT=80",
                "MY_WEB_PORT_80_TCP_PROTO=tcp",
                "MY_WEB_NAME=/app/my-web",
                "MY_WEB_ENV_MYSQL_USER=u",
            ]
        );
    }
}
