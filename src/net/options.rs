//! `--dns`, `--dns-search`, `--dns-option` and `--add-host` (Docker's
//! flags), and the /etc/hosts and /etc/resolv.conf a container on the
//! default network gets from them. Pure: the caller reads the host's
//! files and writes ours.

use std::net::IpAddr;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::addr;

/// `--add-host`'s word for the host, as Docker spells it.
pub const HOST_GATEWAY: &str = "host-gateway";

/// The names the host gets in /etc/hosts when the user asked for it.
const HOST_NAMES: [&str; 2] = ["host.docker.internal", "host.containers.internal"];

/// One `--add-host NAME:IP` (IP may be `host-gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub ip: String,
}

/// The container's name-resolution settings, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    #[serde(default)]
    pub add_hosts: Vec<HostEntry>,
}

impl Options {
    /// Parse and check the flags' values.
    pub fn from_flags(
        dns: &[String],
        dns_search: &[String],
        dns_options: &[String],
        add_hosts: &[String],
    ) -> anyhow::Result<Options> {
        let esc = crate::text::escape_control;
        let mut o = Options::default();
        for d in dns {
            match d.parse() {
                Ok(ip) => o.dns.push(ip),
                Err(_) => bail!("--dns {:?}: not an IP address", esc(d)),
            }
        }
        for (flag, list, out) in [
            ("--dns-search", dns_search, &mut o.dns_search),
            ("--dns-option", dns_options, &mut o.dns_options),
        ] {
            for v in list {
                if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    bail!("{flag} {:?}: one word expected", esc(v));
                }
                out.push(v.clone());
            }
        }
        for h in add_hosts {
            // NAME:IP (IPv6 addresses hold colons: split at the first) or NAME=IP.
            let split = h.split_once('=').or_else(|| h.split_once(':'));
            let Some((name, ip)) = split else {
                bail!("--add-host {:?}: expected NAME:IP", esc(h));
            };
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !name_ok {
                bail!(
                    "--add-host {:?}: {:?} is not a host name",
                    esc(h),
                    esc(name)
                );
            }
            if ip != HOST_GATEWAY && ip.parse::<IpAddr>().is_err() {
                bail!(
                    "--add-host {:?}: {:?} is neither an IP address nor {HOST_GATEWAY}",
                    esc(h),
                    esc(ip)
                );
            }
            o.add_hosts.push(HostEntry {
                name: name.to_string(),
                ip: ip.to_string(),
            });
        }
        Ok(o)
    }

    /// The user asked for the host (`--add-host NAME:host-gateway`): only
    /// then does the gateway address reach the host's loopback.
    pub fn host_loopback(&self) -> bool {
        self.add_hosts.iter().any(|h| h.ip == HOST_GATEWAY)
    }

    /// /etc/hosts on the default network.
    pub fn hosts(&self, hostname: &str) -> String {
        let mut s = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{hostname}\n",
            addr::CONTAINER4
        );
        s.push_str(&self.extra_hosts());
        s
    }

    /// The `--add-host` lines (any network), `host-gateway` resolved; with
    /// it, the host's fixed names too.
    pub fn extra_hosts(&self) -> String {
        let mut s = String::new();
        for h in &self.add_hosts {
            let ip = if h.ip == HOST_GATEWAY {
                addr::GATEWAY4.to_string()
            } else {
                h.ip.clone()
            };
            s.push_str(&format!("{ip}\t{}\n", h.name));
        }
        if self.host_loopback() {
            let missing: Vec<&str> = HOST_NAMES
                .into_iter()
                .filter(|n| !self.add_hosts.iter().any(|h| h.name == *n))
                .collect();
            if !missing.is_empty() {
                s.push_str(&format!("{}\t{}\n", addr::GATEWAY4, missing.join(" ")));
            }
        }
        s
    }

    /// /etc/resolv.conf: our resolver (or `--dns`), the host's search
    /// domains and options unless given.
    pub fn resolv_conf(&self, host: &str, ipv6: bool) -> String {
        let mut s = String::new();
        if self.dns.is_empty() {
            s.push_str(&format!("nameserver {}\n", addr::DNS4));
            if ipv6 {
                s.push_str(&format!("nameserver {}\n", addr::DNS6));
            }
        } else {
            for d in &self.dns {
                s.push_str(&format!("nameserver {d}\n"));
            }
        }
        let host_words = |key: &str| -> Vec<String> {
            host.lines()
                .filter_map(|l| l.trim().strip_prefix(key))
                .filter(|rest| rest.starts_with([' ', '\t']))
                .flat_map(|rest| rest.split_whitespace().map(String::from))
                .collect()
        };
        let search = if self.dns_search.is_empty() {
            host_words("search")
        } else {
            self.dns_search.clone()
        };
        if !search.is_empty() && search != ["."] {
            s.push_str(&format!("search {}\n", search.join(" ")));
        }
        let options = if self.dns_options.is_empty() {
            host_words("options")
        } else {
            self.dns_options.clone()
        };
        if !options.is_empty() {
            s.push_str(&format!("options {}\n", options.join(" ")));
        }
        s
    }
}

/// The host's resolvers, from its resolv.conf text (where the translator
/// sends the container's queries); loopback ones (127.0.0.53) included:
/// the translator runs in the host's network namespace.
pub fn host_resolvers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| {
            let w = rest.split_whitespace().next()?;
            // A scoped address (fe80::1%eth0) cannot be told apart here.
            w.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(add: &[&str]) -> anyhow::Result<Options> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        Options::from_flags(&[], &[], &[], &add)
    }

    #[test]
    fn host_gateway_names_the_gateway_and_opens_the_host() {
        let o = parse(&["host.docker.internal:host-gateway", "db:10.1.2.3"]).unwrap();
        assert!(o.host_loopback());
        let h = o.hosts("abc");
        assert!(h.contains("10.0.2.100\tabc\n"), "{h}");
        assert!(h.contains("10.0.2.2\thost.docker.internal\n"), "{h}");
        assert!(h.contains("10.0.2.2\thost.containers.internal\n"), "{h}");
        assert!(h.contains("10.1.2.3\tdb\n"), "{h}");
        assert!(!parse(&["db:10.1.2.3"]).unwrap().host_loopback());
        assert!(!parse(&["db:10.1.2.3"])
            .unwrap()
            .hosts("a")
            .contains("host."));
    }

    #[test]
    fn bad_add_host_values_are_refused() {
        assert!(parse(&["nohost"]).is_err());
        assert!(parse(&["a b:1.2.3.4"]).is_err());
        assert!(parse(&["x:notanip"]).is_err());
        let v6 = parse(&["v6:fd00::5", "w=[::1]"]).unwrap();
        assert_eq!(v6.add_hosts[0].ip, "fd00::5");
        assert_eq!(v6.add_hosts[1].ip, "::1");
    }

    #[test]
    fn resolv_conf_names_our_resolver_and_keeps_the_hosts_search() {
        let host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n";
        let o = Options::default();
        assert_eq!(
            o.resolv_conf(host, true),
            "nameserver 10.0.2.3\nnameserver fd00::3\nsearch corp.example\noptions edns0 trust-ad\n"
        );
        let o = Options::from_flags(
            &["192.0.2.1".into()],
            &["a.test".into()],
            &["ndots:2".into()],
            &[],
        )
        .unwrap();
        assert_eq!(
            o.resolv_conf(host, false),
            "nameserver 192.0.2.1\nsearch a.test\noptions ndots:2\n"
        );
        assert!(Options::from_flags(&["x".into()], &[], &[], &[]).is_err());
        assert_eq!(
            host_resolvers("# c\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bad\n"),
            vec![
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }
}
