//! `-p`/`--publish`, `--expose` and `-P` as data: Docker's syntax parsed
//! into plain requests (pure, unit-tested), and the bindings a start made,
//! printed the way Docker prints them (`ps`, `port`, `inspect`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One container port to publish, from `-p`: the host side is a port, a
/// range to pick a free one from, or 0..0 (any free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub host_ip: IpAddr,
    /// First and last acceptable host port; (0, 0): any.
    pub host_ports: (u16, u16),
    pub container_port: u16,
    pub proto: Proto,
}

/// A port the container offers (EXPOSE, `--expose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Exposed {
    pub port: u16,
    pub proto: Proto,
}

/// A host socket bound for a container port by a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

/// The container's ports as its record keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// `-p`, expanded to one entry per container port.
    #[serde(default)]
    pub publish: Vec<Publish>,
    /// `-P`: every exposed port on a free host port.
    #[serde(default)]
    pub publish_all: bool,
    /// The image's EXPOSE and `--expose`.
    #[serde(default)]
    pub exposed: Vec<Exposed>,
    /// What the last start bound (shown while the container runs).
    #[serde(default)]
    pub bound: Vec<Binding>,
}

impl PortConfig {
    /// What a start binds: the `-p` list, then with `-P` every exposed
    /// port that `-p` did not name, on any free port of 0.0.0.0.
    pub fn wanted(&self) -> Vec<Publish> {
        let mut all = self.publish.clone();
        if self.publish_all {
            for e in &self.exposed {
                let named = all
                    .iter()
                    .any(|p| p.container_port == e.port && p.proto == e.proto);
                if !named {
                    all.push(Publish {
                        host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        host_ports: (0, 0),
                        container_port: e.port,
                        proto: e.proto,
                    });
                }
            }
        }
        all
    }

    /// Add exposed ports (the image's, `--expose`), without duplicates.
    pub fn expose(&mut self, more: impl IntoIterator<Item = Exposed>) {
        for e in more {
            if !self.exposed.contains(&e) {
                self.exposed.push(e);
            }
        }
        self.exposed.sort();
    }
}

/// Bad `-p` or `--expose` text, said in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} {text:?}: {why}")]
pub struct SpecError {
    flag: &'static str,
    text: String,
    why: String,
}

fn bad(flag: &'static str, text: &str, why: impl Into<String>) -> SpecError {
    SpecError {
        flag,
        text: crate::text::escape_control(text).to_string(),
        why: why.into(),
    }
}

/// Split `PORT[/PROTO]`.
fn split_proto<'a>(
    flag: &'static str,
    whole: &str,
    s: &'a str,
) -> Result<(&'a str, Proto), SpecError> {
    match s.rsplit_once('/') {
        None => Ok((s, Proto::Tcp)),
        Some((p, "tcp")) => Ok((p, Proto::Tcp)),
        Some((p, "udp")) => Ok((p, Proto::Udp)),
        Some((_, other)) => Err(bad(
            flag,
            whole,
            format!("unsupported protocol {other:?} (tcp or udp)"),
        )),
    }
}

/// `N` or `N-M` (1..=65535, N <= M).
fn port_range(flag: &'static str, whole: &str, s: &str) -> Result<(u16, u16), SpecError> {
    let one = |t: &str| -> Result<u16, SpecError> {
        match t.parse::<u16>() {
            Ok(p) if p > 0 && t.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(bad(flag, whole, format!("{t:?} is not a port (1-65535)"))),
        }
    };
    match s.split_once('-') {
        None => one(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(bad(flag, whole, format!("the range {s} runs backwards")));
            }
            Ok((a, b))
        }
    }
}

/// Parse one `-p` value: `[IP:][HOSTPORT:]CTRPORT[/PROTO]`, where IP may be
/// `[v6]`, HOSTPORT and CTRPORT may be ranges (of equal length, or a host
/// range for one container port) and HOSTPORT may be empty (`IP::80`).
pub fn parse_publish(text: &str) -> Result<Vec<Publish>, SpecError> {
    const F: &str = "-p";
    let (rest, proto) = split_proto(F, text, text)?;
    // An IPv6 address in brackets may hold colons of its own.
    let (ip_text, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| bad(F, text, "an IPv6 address needs its closing ']'"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| bad(F, text, "expected [IP]:HOSTPORT:CONTAINERPORT"))?;
        (Some(ip), after)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip_text, host, ctr) = match (ip_text, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [ip, h, c]) => (Some(*ip), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        _ => return Err(bad(F, text, "expected [IP:][HOSTPORT:]CONTAINERPORT[/udp]")),
    };
    let host_ip = match ip_text {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(ip) => ip
            .parse()
            .map_err(|_| bad(F, text, format!("{ip:?} is not an IP address")))?,
    };
    if ctr.is_empty() {
        return Err(bad(F, text, "no container port"));
    }
    let ctr = port_range(F, text, ctr)?;
    let host = match host {
        None | Some("") => None,
        Some(h) => Some(port_range(F, text, h)?),
    };
    let n = ctr.1 - ctr.0;
    let mut out = Vec::new();
    for i in 0..=n {
        let host_ports = match host {
            None => (0, 0),
            // A host range for one container port: any free one of it.
            Some(h) if n == 0 => h,
            Some(h) if h.1 - h.0 == n => (h.0 + i, h.0 + i),
            Some(_) => {
                return Err(bad(
                    F,
                    text,
                    "the host and container port ranges differ in length",
                ))
            }
        };
        out.push(Publish {
            host_ip,
            host_ports,
            container_port: ctr.0 + i,
            proto,
        });
    }
    Ok(out)
}

/// Parse one `--expose` value (or an image's EXPOSE key): `PORT[/PROTO]`
/// or a range.
pub fn parse_expose(text: &str) -> Result<Vec<Exposed>, SpecError> {
    const F: &str = "--expose";
    let (p, proto) = split_proto(F, text, text)?;
    let (a, b) = port_range(F, text, p)?;
    Ok((a..=b).map(|port| Exposed { port, proto }).collect())
}

/// The image's EXPOSE keys (`80/tcp`, `53/udp`) join the container's
/// exposed ports; a key that is no port (an image may say anything) is
/// skipped.
pub fn expose_image_ports(ports: &mut PortConfig, image: Option<&[String]>) {
    for key in image.unwrap_or_default() {
        match parse_expose(key) {
            Ok(e) => ports.expose(e),
            Err(e) => tracing::debug!("image EXPOSE skipped: {e}"),
        }
    }
}

/// `0.0.0.0:8080->80/tcp`, `[::1]:8080->80/tcp`, as `ps` shows one.
impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}->{}/{}",
            host_addr(self.host_ip, self.host_port),
            self.container_port,
            self.proto
        )
    }
}

/// `IP:PORT`, brackets around IPv6 (`[::]:8080`).
pub fn host_addr(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// `ps`'s PORTS column: the bindings, and exposed ports without one as
/// `80/tcp`, comma-separated, as Docker prints them.
pub fn ps_column(bound: &[Binding], exposed: &[Exposed]) -> String {
    let mut parts: Vec<String> = bound.iter().map(Binding::to_string).collect();
    for e in exposed {
        if !bound
            .iter()
            .any(|b| b.container_port == e.port && b.proto == e.proto)
        {
            parts.push(format!("{}/{}", e.port, e.proto));
        }
    }
    parts.join(", ")
}

/// `NetworkSettings.Ports` as Docker's inspect has it: every exposed or
/// bound `PORT/PROTO` to its host bindings (null when none).
pub fn inspect_ports(bound: &[Binding], exposed: &[Exposed]) -> serde_json::Value {
    let mut keys: Vec<(u16, Proto)> = exposed.iter().map(|e| (e.port, e.proto)).collect();
    keys.extend(bound.iter().map(|b| (b.container_port, b.proto)));
    keys.sort();
    keys.dedup();
    let mut map = serde_json::Map::new();
    for (port, proto) in keys {
        let list: Vec<serde_json::Value> = bound
            .iter()
            .filter(|b| b.container_port == port && b.proto == proto)
            .map(|b| {
                serde_json::json!({
                    "HostIp": b.host_ip.to_string(),
                    "HostPort": b.host_port.to_string(),
                })
            })
            .collect();
        let v = if list.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::Array(list)
        };
        map.insert(format!("{port}/{proto}"), v);
    }
    serde_json::Value::Object(map)
}

/// `HostConfig.PortBindings` as Docker's inspect has it: the request.
pub fn inspect_port_bindings(publish: &[Publish]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in publish {
        let host_port = match p.host_ports {
            (0, 0) => String::new(),
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}-{b}"),
        };
        let ip = match p.host_ip {
            IpAddr::V4(v4) if v4.is_unspecified() => String::new(),
            ip => ip.to_string(),
        };
        let entry = serde_json::json!({ "HostIp": ip, "HostPort": host_port });
        let key = format!("{}/{}", p.container_port, p.proto);
        match map
            .entry(key)
            .or_insert_with(|| serde_json::Value::Array(vec![]))
        {
            serde_json::Value::Array(a) => a.push(entry),
            _ => unreachable!("only arrays are inserted"),
        }
    }
    serde_json::Value::Object(map)
}

/// A container's inspect JSON gets its ports as Docker's has them:
/// `Config.ExposedPorts`, `HostConfig.PortBindings` and
/// `PublishAllPorts`, and `NetworkSettings.Ports` (bindings only while it
/// runs). Merged into objects that may hold other keys.
pub fn add_to_inspect(v: &mut serde_json::Value, ports: &PortConfig, running: bool) {
    use serde_json::{json, Value};
    let mut put = |section: &str, key: &str, val: Value| {
        if let Some(obj) = v.as_object_mut() {
            let sec = obj.entry(section).or_insert_with(|| json!({}));
            if let Some(sec) = sec.as_object_mut() {
                sec.insert(key.to_string(), val);
            }
        }
    };
    let exposed: serde_json::Map<String, Value> = ports
        .exposed
        .iter()
        .map(|e| (format!("{}/{}", e.port, e.proto), json!({})))
        .collect();
    put("Config", "ExposedPorts", Value::Object(exposed));
    put(
        "HostConfig",
        "PortBindings",
        inspect_port_bindings(&ports.publish),
    );
    put(
        "HostConfig",
        "PublishAllPorts",
        Value::Bool(ports.publish_all),
    );
    let bound: &[Binding] = if running { &ports.bound } else { &[] };
    put(
        "NetworkSettings",
        "Ports",
        inspect_ports(bound, &ports.exposed),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    fn p(ip: IpAddr, h: (u16, u16), c: u16, proto: Proto) -> Publish {
        Publish {
            host_ip: ip,
            host_ports: h,
            container_port: c,
            proto,
        }
    }

    #[test]
    fn docker_publish_forms() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let cases: Vec<(&str, Vec<Publish>)> = vec![
            ("8080:80", vec![p(ANY, (8080, 8080), 80, Proto::Tcp)]),
            ("80", vec![p(ANY, (0, 0), 80, Proto::Tcp)]),
            (
                "127.0.0.1:8080:80",
                vec![p(lo, (8080, 8080), 80, Proto::Tcp)],
            ),
            ("127.0.0.1::80", vec![p(lo, (0, 0), 80, Proto::Tcp)]),
            ("15353:53/udp", vec![p(ANY, (15353, 15353), 53, Proto::Udp)]),
            ("53/udp", vec![p(ANY, (0, 0), 53, Proto::Udp)]),
            ("[::1]:8080:80", vec![p(v6, (8080, 8080), 80, Proto::Tcp)]),
            ("[::1]::80/tcp", vec![p(v6, (0, 0), 80, Proto::Tcp)]),
            (
                "8000-8001:80-81",
                vec![
                    p(ANY, (8000, 8000), 80, Proto::Tcp),
                    p(ANY, (8001, 8001), 81, Proto::Tcp),
                ],
            ),
            ("9000-9010:80", vec![p(ANY, (9000, 9010), 80, Proto::Tcp)]),
            (
                "80-81/udp",
                vec![
                    p(ANY, (0, 0), 80, Proto::Udp),
                    p(ANY, (0, 0), 81, Proto::Udp),
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_publish(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn bad_publish_says_why_in_one_line() {
        for (text, why) in [
            ("", "no container port"),
            ("8080:", "no container port"),
            ("8080:0", "not a port"),
            ("8080:70000", "not a port"),
            ("x:80", "not a port"),
            ("8080:80/sctp", "unsupported protocol"),
            ("1.2.3:8080:80", "not an IP address"),
            ("a:b:c:d", "expected"),
            ("[::1:8080:80", "closing"),
            ("8000-8002:80-81", "differ in length"),
            ("90-80:80", "backwards"),
            ("+80", "not a port"),
        ] {
            let e = parse_publish(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.starts_with("invalid -p "), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn expose_and_publish_all() {
        assert_eq!(
            parse_expose("7000-7001/udp").unwrap(),
            vec![
                Exposed {
                    port: 7000,
                    proto: Proto::Udp
                },
                Exposed {
                    port: 7001,
                    proto: Proto::Udp
                }
            ]
        );
        assert!(parse_expose("http").is_err());
        let mut c = PortConfig {
            publish: parse_publish("8080:80").unwrap(),
            publish_all: true,
            ..Default::default()
        };
        c.expose(parse_expose("80").unwrap());
        c.expose(parse_expose("443").unwrap());
        c.expose(parse_expose("80/tcp").unwrap());
        assert_eq!(c.exposed.len(), 2);
        let w = c.wanted();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[1], p(ANY, (0, 0), 443, Proto::Tcp));
        c.publish_all = false;
        assert_eq!(c.wanted().len(), 1);
    }

    #[test]
    fn shown_as_docker_shows_them() {
        let b = vec![
            Binding {
                host_ip: ANY,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            Binding {
                host_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let e = vec![
            Exposed {
                port: 80,
                proto: Proto::Tcp,
            },
            Exposed {
                port: 443,
                proto: Proto::Tcp,
            },
        ];
        assert_eq!(
            ps_column(&b, &e),
            "0.0.0.0:8080->80/tcp, [::1]:5353->53/udp, 443/tcp"
        );
        let v = inspect_ports(&b, &e);
        assert_eq!(
            v.to_string(),
            r#"{"53/udp":[{"HostIp":"::1","HostPort":"5353"}],"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}"#
        );
        let req = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(
            inspect_port_bindings(&req).to_string(),
            r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":""}]}"#
        );
    }
}
