//! IPv4 subnets of user networks: parsing (`10.89.3.0/24`), overlap, and
//! the allocation of the next free /24 of 10.89.0.0/16, podman's pool.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A network address and prefix; `addr` has no host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Subnet {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The `n`th address (1: the first host address).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + n)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// How many host addresses it has (network and broadcast aside).
    pub fn hosts(&self) -> u32 {
        (!mask(self.prefix)).saturating_sub(1)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Subnet, String> {
        let bad = || format!("invalid subnet {s:?}: want an IPv4 CIDR such as 10.89.5.0/24");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        // Room for a gateway, a container and the broadcast address.
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "invalid subnet {s:?}: the prefix must be between /8 and /30"
            ));
        }
        if u32::from(addr) & !mask(prefix) != 0 {
            return Err(format!(
                "invalid subnet {s:?}: host bits are set (did you mean {}/{prefix}?)",
                Ipv4Addr::from(u32::from(addr) & mask(prefix))
            ));
        }
        Ok(Subnet { addr, prefix })
    }
}

impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(s: String) -> Result<Subnet, String> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// The first /24 of 10.89.0.0/16 that overlaps none of `taken`.
pub fn allocate(taken: &[Subnet]) -> Option<Subnet> {
    (0..=255u8)
        .map(|i| Subnet {
            addr: Ipv4Addr::new(10, 89, i, 0),
            prefix: 24,
        })
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_allocates() {
        let s: Subnet = "10.89.3.0/24".parse().unwrap();
        assert!(s.contains(Ipv4Addr::new(10, 89, 3, 7)));
        assert!(!s.contains(Ipv4Addr::new(10, 89, 4, 7)));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 89, 3, 255));
        assert_eq!(s.hosts(), 254);
        assert!("10.89.3.1/24".parse::<Subnet>().is_err());
        assert!("10.89.3.0".parse::<Subnet>().is_err());
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
        let wide: Subnet = "10.89.0.0/22".parse().unwrap();
        assert!(wide.overlaps(&s) || !wide.contains(s.addr));
        assert_eq!(
            allocate(&[wide]).unwrap().to_string(),
            "10.89.4.0/24",
            "skips the /22's four"
        );
    }
}
