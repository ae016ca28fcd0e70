//! `--pids-limit`, `--memory` and `--cpus`: parsed as Docker parses them
//! and kept in the container's record under Docker's names. Where they are
//! enforced (a delegated cgroup, else RLIMIT_NPROC for the pids) is
//! `cgroup::apply_limits`.

use serde::{Deserialize, Serialize};

/// podman's default: a fork bomb stops there, a build never gets near.
pub const DEFAULT_PIDS: u64 = 2048;

/// Docker refuses less memory than this (the runtime itself needs some).
const MIN_MEMORY: u64 = 6 << 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Processes (threads too) at once; None: no limit (and in records
    /// made before the limit existed).
    #[serde(default)]
    pub pids: Option<u64>,
    /// Bytes of memory.
    #[serde(default)]
    pub memory: Option<u64>,
    /// CPUs in billionths (Docker's NanoCpus).
    #[serde(default)]
    pub nano_cpus: Option<u64>,
}

impl Limits {
    /// From the flags as typed; a bad value is one line naming the flag.
    pub fn from_flags(
        pids: Option<&str>,
        memory: Option<&str>,
        cpus: Option<&str>,
        ncpus: usize,
    ) -> Result<Limits, String> {
        Ok(Limits {
            pids: match pids {
                None => Some(DEFAULT_PIDS),
                Some(s) => parse_pids(s)?,
            },
            memory: memory.map(parse_memory).transpose()?.flatten(),
            nano_cpus: cpus.map(|s| parse_cpus(s, ncpus)).transpose()?.flatten(),
        })
    }
}

/// `--pids-limit N`; 0 and -1 mean no limit, as in Docker.
fn parse_pids(s: &str) -> Result<Option<u64>, String> {
    match s.trim().parse::<i64>() {
        Ok(0 | -1) => Ok(None),
        Ok(n) if n > 0 => Ok(Some(n as u64)),
        _ => Err(format!(
            "invalid --pids-limit {:?}: a number of processes, or -1 for no limit",
            crate::text::escape_control(s)
        )),
    }
}

/// `--memory`: bytes, or a number with b, k, m, g, t or p (powers of 1024,
/// "1.5g" and "512MiB" too, as Docker's RAMInBytes); 0 means no limit.
fn parse_memory(s: &str) -> Result<Option<u64>, String> {
    let bad = || {
        format!(
            "invalid --memory {:?}: bytes or a size such as 512m or 1g",
            crate::text::escape_control(s)
        )
    };
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let unit = unit.trim_start_matches(' ');
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    match bytes as u64 {
        0 => Ok(None),
        n if n < MIN_MEMORY => Err(format!(
            "invalid --memory {:?}: the least burrow allows is 6m",
            crate::text::escape_control(s)
        )),
        n => Ok(Some(n)),
    }
}

/// `--cpus 1.5` into billionths of a CPU, between 0.01 and the CPUs there
/// are (Docker's range); 0 means no limit.
fn parse_cpus(s: &str, ncpus: usize) -> Result<Option<u64>, String> {
    let range = format!("from 0.01 to {ncpus}, as there are {ncpus} CPUs");
    let bad = || {
        format!(
            "invalid --cpus {:?}: a number of CPUs {range}",
            crate::text::escape_control(s)
        )
    };
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let part: u64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    let nano = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(part))
        .ok_or_else(bad)?;
    match nano {
        0 => Ok(None),
        n if n < 10_000_000 || n > ncpus as u64 * 1_000_000_000 => Err(bad()),
        n => Ok(Some(n)),
    }
}

/// Human forms for the warning line ("512m", "1.5").
pub fn show_memory(bytes: u64) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] {
        if bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

pub fn show_cpus(nano: u64) -> String {
    let s = format!("{}.{:09}", nano / 1_000_000_000, nano % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_default_and_unlimited() {
        let l = Limits::from_flags(None, None, None, 2).unwrap();
        assert_eq!(l.pids, Some(2048));
        assert_eq!(l.memory, None);
        assert_eq!(parse_pids("50").unwrap(), Some(50));
        assert_eq!(parse_pids("-1").unwrap(), None);
        assert_eq!(parse_pids("0").unwrap(), None);
        assert!(parse_pids("-2").is_err());
        assert!(parse_pids("lots").is_err());
    }

    #[test]
    fn memory_as_docker_reads_it() {
        assert_eq!(parse_memory("512m").unwrap(), Some(512 << 20));
        assert_eq!(parse_memory("1g").unwrap(), Some(1 << 30));
        assert_eq!(parse_memory("1.5G").unwrap(), Some(3 << 29));
        assert_eq!(parse_memory("64MiB").unwrap(), Some(64 << 20));
        assert_eq!(parse_memory("10 mb").unwrap(), Some(10 << 20));
        assert_eq!(parse_memory("104857600").unwrap(), Some(100 << 20));
        assert_eq!(parse_memory("0").unwrap(), None);
        assert!(parse_memory("1k").unwrap_err().contains("least"));
        for bad in ["", "m", "12x", "-5m", "1e3", "1..5m", "99999999999p"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert_eq!(show_memory(512 << 20), "512m");
        assert_eq!(show_memory(3 << 29), "1536m");
    }

    #[test]
    fn cpus_in_billionths_within_the_machine() {
        assert_eq!(parse_cpus("1.5", 2).unwrap(), Some(1_500_000_000));
        assert_eq!(parse_cpus(".25", 2).unwrap(), Some(250_000_000));
        assert_eq!(parse_cpus("2", 2).unwrap(), Some(2_000_000_000));
        assert_eq!(parse_cpus("0", 2).unwrap(), None);
        for bad in ["3", "0.001", "-1", "1.2.3", "abc", "", ".", "0.0000000001"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad}");
        }
        assert_eq!(show_cpus(1_500_000_000), "1.5");
        assert_eq!(show_cpus(2_000_000_000), "2");
    }
}
