//! Failover between the host's resolvers for the container's DNS: its
//! queries go to the resolver that answered last (the first one at
//! start); a query without an answer after `TIMEOUT` (or refused by the
//! resolver's host) is sent again to the next one, which then serves
//! the next queries. A host with a dead first `nameserver` so costs one
//! second once, not the container's own resolver timeout (5 s) on every
//! name.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a resolver has to answer a query before the next one gets it.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The host's resolvers, in resolv.conf order, and the one in use.
#[derive(Debug, Default)]
pub struct Resolvers {
    list: Vec<IpAddr>,
    current: usize,
}

impl Resolvers {
    pub fn new(list: Vec<IpAddr>) -> Resolvers {
        Resolvers { list, current: 0 }
    }

    /// The resolver new queries go to (its index and address).
    pub fn current(&self) -> Option<(usize, SocketAddr)> {
        self.addr(self.current)
    }

    fn addr(&self, i: usize) -> Option<(usize, SocketAddr)> {
        self.list.get(i).map(|ip| (i, SocketAddr::new(*ip, 53)))
    }

    /// Resolver `i` answered: it serves the next queries.
    pub fn answered(&mut self, i: usize) {
        if i < self.list.len() {
            self.current = i;
        }
    }

    /// Resolver `i` did not answer in time (or refused): the next one in
    /// the list, which also serves the next queries. None when there is
    /// no other one.
    pub fn failed(&mut self, i: usize) -> Option<(usize, SocketAddr)> {
        if self.list.len() < 2 {
            return None;
        }
        let next = (i + 1) % self.list.len();
        if self.current == i {
            self.current = next;
        }
        self.addr(next)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// A DNS flow's state: which resolver its socket is connected to, and
/// its last query while no answer came.
#[derive(Debug)]
pub struct Query {
    pub resolver: usize,
    /// The query (to send again elsewhere) and when it left.
    pub waiting: Option<(Vec<u8>, Instant)>,
    /// Resolvers this query went to; at `len()` it is given up (the
    /// container's resolver asks again in its own time).
    pub tried: usize,
    /// The host said the resolver's port is closed (ICMP): no need to wait.
    pub refused: bool,
}

impl Query {
    pub fn new(resolver: usize) -> Query {
        Query {
            resolver,
            waiting: None,
            tried: 0,
            refused: false,
        }
    }

    /// A query left for the resolver.
    pub fn sent(&mut self, data: &[u8], now: Instant) {
        self.waiting = Some((data.to_vec(), now));
        self.tried = 1;
        self.refused = false;
    }

    /// When this query should go to the next resolver, if it waits.
    pub fn deadline(&self) -> Option<Instant> {
        let (_, at) = self.waiting.as_ref()?;
        Some(if self.refused { *at } else { *at + TIMEOUT })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolvers(n: usize) -> Resolvers {
        Resolvers::new(
            (1..=n)
                .map(|i| IpAddr::from([127, 0, 0, 50 + i as u8]))
                .collect(),
        )
    }

    #[test]
    fn a_silent_resolver_passes_its_queries_and_the_next_ones_on() {
        let mut r = resolvers(3);
        assert_eq!(r.current().unwrap().1, "127.0.0.51:53".parse().unwrap());
        // The first is silent: the second gets the query, and new ones.
        let (i, addr) = r.failed(0).unwrap();
        assert_eq!((i, addr), (1, "127.0.0.52:53".parse().unwrap()));
        assert_eq!(r.current().unwrap().0, 1);
        // A late failure of an old flow on the first does not move it back.
        r.failed(2);
        assert_eq!(r.current().unwrap().0, 1);
        // The last one wraps around to the first.
        assert_eq!(r.failed(2).unwrap().0, 0);
        r.answered(2);
        assert_eq!(r.current().unwrap().0, 2);
    }

    #[test]
    fn one_resolver_has_nowhere_to_fail_over_to() {
        let mut r = resolvers(1);
        assert!(r.failed(0).is_none());
        assert_eq!(r.current().unwrap().0, 0);
        assert!(Resolvers::new(vec![]).current().is_none());
    }

    #[test]
    fn a_refused_query_moves_on_at_once() {
        let now = Instant::now();
        let mut q = Query::new(0);
        assert_eq!(q.deadline(), None);
        q.sent(b"q", now);
        assert_eq!(q.deadline(), Some(now + TIMEOUT));
        q.refused = true;
        assert_eq!(q.deadline(), Some(now));
    }
}
