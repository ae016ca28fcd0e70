//! The user networks' resolver, in the keeper's network namespace on
//! port 53 of every gateway (one wildcard socket). A query is answered
//! for the network its sender is on (its source address is in the
//! subnet): the names, `--network-alias` aliases and short ids of the
//! running containers there get their address (A; AAAA and the rest:
//! no data, as the networks are IPv4); any other name goes to the host's
//! resolver through a socket of the host's namespace, the answer back
//! to the asker under its own query id. An internal network forwards
//! nothing (NXDOMAIN), as Docker's.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::container::record::{self, Status};

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
/// Short: a container that goes or moves is soon forgotten.
const TTL: u32 = 5;

/// A query's parts we need.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Lowercase, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question section ends.
    end: usize,
}

/// Parse a query with one question (None: not one we answer).
pub fn parse(msg: &[u8]) -> Option<Query> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let l = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        i += len;
    }
    let t = msg.get(i..i + 4)?;
    Some(Query {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        name: labels.join("."),
        qtype: u16::from_be_bytes([t[0], t[1]]),
        qclass: u16::from_be_bytes([t[2], t[3]]),
        end: i + 4,
    })
}

/// The answer to `q` (from the query bytes `msg`): `ip` for an A
/// question, no data for other types; or `rcode` alone.
pub fn answer(msg: &[u8], q: &Query, ip: Option<Ipv4Addr>, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, opcode 0, AA, the asker's RD; RA.
    out.push(0x84 | (msg[2] & 0x01));
    out.push(0x80 | rcode);
    let an: u16 = match ip {
        Some(_) if q.qtype == TYPE_A && q.qclass == CLASS_IN => 1,
        _ => 0,
    };
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&msg[12..q.end]);
    if let (1, Some(ip)) = (an, ip) {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// What the network of `from` says of `name`: Some(address) for one
/// of its running containers; None for a name it does not know; and
/// whether that network is internal.
fn lookup(root: &std::path::Path, from: Ipv4Addr, name: &str) -> (Option<Ipv4Addr>, bool) {
    let Some(net) = super::store::list(root)
        .into_iter()
        .find(|n| n.subnet.contains(from))
    else {
        return (None, false);
    };
    let found = record::all(root)
        .into_iter()
        .filter(|r| matches!(r.status, Status::Running | Status::Restarting))
        .find_map(|r| {
            let a = r.config.networks.iter().find(|a| a.network == net.name)?;
            let known = r.name.eq_ignore_ascii_case(name)
                || r.id.get(..12) == Some(name)
                || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(name));
            known.then_some(a.ip)
        });
    (found, net.internal)
}

/// Forwarded queries: our id -> (the asker's id, the asker, when).
type Pending = Arc<Mutex<HashMap<u16, (u16, SocketAddr, Instant)>>>;

/// Start the resolver's two threads: queries on `sock`, answers from the
/// host's resolver on `host`.
pub fn start(
    root: PathBuf,
    sock: UdpSocket,
    host: UdpSocket,
    upstream: Option<IpAddr>,
) -> anyhow::Result<()> {
    let pending: Pending = Arc::default();
    let back = sock.try_clone().context("clone the resolver's socket")?;
    let host_rx = host.try_clone().context("clone the forwarding socket")?;
    let p = pending.clone();
    let up = upstream.map(|ip| SocketAddr::new(ip, 53));
    std::thread::Builder::new()
        .name("dns-answers".into())
        .spawn(move || relay_answers(host_rx, back, up, p))
        .context("start the resolver")?;
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || serve(&root, sock, host, up, pending))
        .context("start the resolver")?;
    Ok(())
}

fn serve(
    root: &std::path::Path,
    sock: UdpSocket,
    host: UdpSocket,
    upstream: Option<SocketAddr>,
    pending: Pending,
) {
    let mut buf = [0u8; 4096];
    let mut next: u16 = 1;
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = &buf[..n];
        let Some(q) = parse(msg) else { continue };
        let IpAddr::V4(from4) = from.ip() else {
            continue;
        };
        let (ip, internal) = lookup(root, from4, &q.name);
        let reply = match (ip, upstream) {
            (Some(ip), _) => answer(msg, &q, Some(ip), 0),
            (None, _) if internal => answer(msg, &q, None, RCODE_NXDOMAIN),
            (None, Some(up)) => {
                let mut fwd = msg.to_vec();
                fwd[..2].copy_from_slice(&next.to_be_bytes());
                {
                    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                    p.retain(|_, v| v.2.elapsed() < Duration::from_secs(10));
                    p.insert(next, (q.id, from, Instant::now()));
                }
                next = next.wrapping_add(1).max(1);
                if host.send_to(&fwd, up).is_ok() {
                    continue;
                }
                answer(msg, &q, None, RCODE_SERVFAIL)
            }
            (None, None) => answer(msg, &q, None, RCODE_SERVFAIL),
        };
        let _ = sock.send_to(&reply, from);
    }
}

fn relay_answers(host: UdpSocket, back: UdpSocket, upstream: Option<SocketAddr>, pending: Pending) {
    let mut buf = [0u8; 65536];
    loop {
        let Ok((n, from)) = host.recv_from(&mut buf) else {
            continue;
        };
        if Some(from) != upstream || n < 12 {
            continue;
        }
        let ours = u16::from_be_bytes([buf[0], buf[1]]);
        let asker = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ours);
        if let Some((id, to, _)) = asker {
            buf[..2].copy_from_slice(&id.to_be_bytes());
            let _ = back.send_to(&buf[..n], to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn answers_a_with_the_address_and_aaaa_with_no_data() {
        let m = query("Web.Local", TYPE_A);
        let q = parse(&m).unwrap();
        assert_eq!(q.name, "web.local");
        let a = answer(&m, &q, Some(Ipv4Addr::new(10, 89, 0, 2)), 0);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 89, 0, 2]);

        let m6 = query("web", 28);
        let q6 = parse(&m6).unwrap();
        let a6 = answer(&m6, &q6, Some(Ipv4Addr::new(10, 89, 0, 2)), 0);
        assert_eq!(u16::from_be_bytes([a6[6], a6[7]]), 0);
        assert_eq!(a6.len(), m6.len());

        let nx = answer(&m, &q, None, RCODE_NXDOMAIN);
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        // An answer is not a query; a short message is nothing.
        assert!(parse(&a).is_none());
        assert!(parse(&m[..5]).is_none());
    }
}
