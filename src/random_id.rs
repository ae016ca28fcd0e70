//! Random 64-hex-digit ids, as Docker's: containers, networks, volumes
//! and build steps take theirs from here.

use std::io::Read;

use anyhow::Context;

/// 64 random hex digits.
pub fn new_id() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
