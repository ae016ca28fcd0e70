//! Text that reaches the terminal. Names come from images and registries,
//! which are untrusted, so control characters are escaped before printing.

/// Replace control characters (but not plain spaces) with `\xNN` escapes.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_escape_sequences_and_keeps_unicode() {
        assert_eq!(super::escape_control("a\tb\u{7f}é"), "a\\x09b\\x7fé");
    }
}
