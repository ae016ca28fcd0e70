//! The parse tree: one node per instruction, as BuildKit's parser makes it
//! (command, flags, arguments, heredocs, lines), before any instruction's
//! own rules apply. `dump` prints it in BuildKit's format, which is what the
//! conformance cases compare byte for byte.

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction name as written (`run`, `RUN`...).
    pub cmd: String,
    /// `--name=value` words before the arguments.
    pub flags: Vec<String>,
    pub args: Vec<Arg>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The whole logical line, continuations joined.
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Word(String),
    /// ONBUILD's instruction.
    Sub(Box<Node>),
}

/// A `<<EOF` document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// `3<<EOF` gives 3; 0 when not written.
    pub fd: u32,
    /// No part of the delimiter was quoted: variables in it expand.
    pub expand: bool,
    /// `<<-`: leading tabs are removed from each line.
    pub chomp: bool,
    /// The lines between the instruction and the delimiter, newlines kept.
    pub content: String,
}

impl Heredoc {
    /// The content with `<<-`'s leading tabs removed when asked for.
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

impl Node {
    pub fn name(&self) -> String {
        self.cmd.to_ascii_lowercase()
    }

    /// The plain word arguments (ONBUILD's sub-instruction flattened into its
    /// name and words, as BuildKit's `nodeArgs` does).
    pub fn words(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.args {
            match a {
                Arg::Word(w) => out.push(w.clone()),
                Arg::Sub(n) => {
                    out.push(n.cmd.clone());
                    out.extend(n.words());
                }
            }
        }
        out
    }

    /// BuildKit's `Node.Dump` for one instruction: `name ["--flag"] "arg"...`.
    pub fn dump(&self) -> String {
        let mut s = self.cmd.to_lowercase();
        if !self.flags.is_empty() {
            let quoted: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", quoted.join(" ")));
        }
        for a in &self.args {
            s.push(' ');
            match a {
                Arg::Word(w) => s.push_str(&go_quote(w)),
                Arg::Sub(n) => s.push_str(&format!("({})", n.dump())),
            }
        }
        s.trim().to_string()
    }
}

/// A whole file's tree in BuildKit's dump format: one `(...)` line per
/// instruction, each ending in a newline.
pub fn dump(nodes: &[Node]) -> String {
    nodes.iter().map(|n| format!("({})\n", n.dump())).collect()
}

/// Go's `strconv.Quote`: double quotes, `\"` `\\`, the C escapes, `\xNN`
/// for other control bytes, `\uNNNN` / `\UNNNNNNNN` for characters Go does
/// not print (close to Go's `IsPrint` table for the ones that matter).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters, private use and non-characters: Go escapes them.
    !matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0xfdd0..=0xfdef | 0xfffe | 0xffff | 0xf0000..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\u{8}\u{c}\n\r\t"), r#""\x00\b\f\n\r\t""#);
        assert_eq!(go_quote("♥☃é"), "\"♥☃é\"");
        assert_eq!(go_quote("\u{200b}\u{a0}"), r#""\u200b\u00a0""#);
    }

    #[test]
    fn chomp_removes_leading_tabs_per_line() {
        let h = Heredoc {
            name: "EOF".into(),
            fd: 0,
            expand: true,
            chomp: true,
            content: "\t\ta\n\tb\n".into(),
        };
        assert_eq!(h.text(), "a\nb\n");
    }
}
