//! Sizes as Docker prints them (its go-units package), so every table of
//! burrow rounds the same way Docker's do:
//! - `human_size`: decimal units, 3 significant digits ("164MB", "5.9kB"),
//!   what `images`, `ps -s`, `history` and the I/O columns of `stats` use;
//! - `bytes_size`: binary units, 4 significant digits ("23.54MiB"), what
//!   the memory column of `stats` uses.

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `HumanSizeWithPrecision(size, 3)`.
pub fn human_size(bytes: u64) -> String {
    custom(bytes as f64, 1000.0, &DECIMAL, 3)
}

/// go-units `BytesSize`: `%.4g` of the size in powers of 1024.
pub fn bytes_size(bytes: u64) -> String {
    custom(bytes as f64, 1024.0, &BINARY, 4)
}

fn custom(mut size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i + 1 < units.len() {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `%.Ng`: N significant digits, trailing zeros dropped, and the
/// exponent form when the exponent is < -4 or >= N (so 999.9 with three
/// digits is "1e+03", as Docker prints it too).
pub fn go_g(v: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    // Rust's `{:e}` rounds exactly, as Go's strconv does; its exponent is
    // the one %g decides on.
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: u64 = 1000;
    const MB: u64 = 1000 * KB;
    const GB: u64 = 1000 * MB;
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;

    #[test]
    fn human_size_like_docker_images() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.02kB");
        assert_eq!(human_size(5_900), "5.9kB");
        assert_eq!(human_size(123_400), "123kB");
        assert_eq!(human_size(4_264_000), "4.26MB");
        assert_eq!(human_size(7_800_000), "7.8MB");
        // The image: 167.8649 MB is "168MB", never "167.8649MB".
        assert_eq!(human_size(167_864_900), "168MB");
        assert_eq!(human_size(164 * MB + 1234), "164MB");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_size(GB), "1GB");
        // %g's own rounding into the exponent form, as Docker shows it.
        assert_eq!(human_size(999_600), "1e+03kB");
    }

    #[test]
    fn bytes_size_like_docker_stats() {
        // go-units' own examples.
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(MIB), "1MiB");
        assert_eq!(bytes_size(2 * MIB), "2MiB");
        assert_eq!(bytes_size((3.42 * GIB as f64) as u64), "3.42GiB");
        assert_eq!(bytes_size((5.372 * (GIB * 1024) as f64) as u64), "5.372TiB");
        assert_eq!(bytes_size(512), "512B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size((23.5401 * MIB as f64) as u64), "23.54MiB");
        assert_eq!(bytes_size((1.944 * GIB as f64) as u64), "1.944GiB");
    }

    #[test]
    fn go_g_matches_go() {
        assert_eq!(go_g(0.0, 3), "0");
        assert_eq!(go_g(1.0, 3), "1");
        assert_eq!(go_g(1.005, 3), "1");
        assert_eq!(go_g(12.345, 3), "12.3");
        assert_eq!(go_g(100.0, 3), "100");
        assert_eq!(go_g(999.5, 3), "1e+03");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_g(1023.9, 4), "1024");
    }
}
