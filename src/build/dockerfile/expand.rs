//! Variable expansion and word splitting as BuildKit's shell lexer does them
//! (frontend/dockerfile/shell): quotes, the escape token, `$V`, `${V}`,
//! `${V:-x}` `${V-x}` `${V:+x}` `${V+x}` `${V:?e}` `${V?e}`, `${V#p}`
//! `${V##p}` `${V%p}` `${V%%p}`, `${V/p/r}` `${V//p/r}`. Not a shell: no
//! command substitution, no arithmetic, no globbing.
//!
//! One deliberate difference: BuildKit's words buffer is shared between a
//! word and the `${V:-...}` inside it, so `a${X:-b}` split into words loses
//! the `a`; here each level keeps its own buffer.

use std::collections::HashMap;

use super::pattern;

/// Where variable values come from.
pub trait Env {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

/// `NAME=value` strings, the first `=` splitting; a later duplicate wins, as
/// in BuildKit's `EnvsFromSlice`.
impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        <[(String, String)] as Env>::get(self.as_slice(), name)
    }
}

/// No variables at all.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// An expansion that failed; the message is BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// The lexer's settings; `Lex::new('\\')` is what instructions use.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the result (heredoc detection uses this).
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave `$V` as written when V is not set.
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters.
    pub skip_quotes: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }

    /// The word with variables replaced and quotes removed (spaces kept).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        self.process(word, env).map(|(w, _)| w)
    }

    /// The word expanded then split into words at unquoted white space.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        self.process(word, env).map(|(_, ws)| ws)
    }

    fn process(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), ExpandError> {
        let mut sw = Scanner {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        sw.stop_on(None, self.raw_escapes).map_err(|e| {
            ExpandError(format!(
                "failed to process {}: {}",
                super::ast::go_quote(word),
                e.0
            ))
        })
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ExpandError> {
    Err(ExpandError(msg.into()))
}

/// Words being collected: unquoted white space (also from an expanded
/// variable) separates them; quoted or escaped text never does.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Scanner<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    raw_escapes: bool,
    /// `${...}` inside `${...}`: bounded, so a hostile word cannot
    /// overflow the stack (BuildKit's Go stack just grows).
    depth: usize,
}

const MAX_NESTING: usize = 64;

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Process up to `stop` (consumed) or the end of input.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' if !self.lex.skip_quotes => Some(self.single_quote()?),
                '"' if !self.lex.skip_quotes => Some(self.double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or(ch);
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                // The escape takes the next character literally; at the end
                // of input it vanishes.
                match self.next() {
                    Some(c) => ch = c,
                    None => break,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    /// Everything up to the next `'` literally; no escapes.
    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let q = self.next();
        if self.lex.raw_quotes {
            out.extend(q);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// Up to the next unescaped `"`, expanding `$`; the escape token only
    /// escapes `"`, `$` and itself, elsewhere it stays.
    fn double_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let q = self.next();
        if self.lex.raw_quotes {
            out.extend(q);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                self.pos += 1;
                                ch = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.get(name).map(str::to_string)
    }

    /// `$NAME`, `${NAME}` and `${NAME<modifier>...}`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // '{'
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return err("unsupported modifier (\u{fffd}) in substitution");
        };
        let mut chs = ch.to_string();
        match ch {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = ch == ':';
                if null_is_unset {
                    ch = self.next().unwrap_or('\u{fffd}');
                    chs.push(ch);
                }
                let raw = ch == '#' || ch == '%';
                if null_is_unset && raw {
                    return err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = self.stop_on_brace('}', raw, "syntax error: missing '}'")?;
                let value = self.lookup(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let empty = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match ch {
                    '-' => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty { String::new() } else { word }),
                    '?' => match value {
                        None => err(format!(
                            "{name}: {}",
                            or(&word, "is not allowed to be unset")
                        )),
                        Some(v) if null_is_unset && v.is_empty() => err(format!(
                            "{name}: {}",
                            or(&word, "is not allowed to be empty")
                        )),
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        // One `#` is the shortest match, `##` the longest.
                        let (greedy, pat) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let v = value.unwrap_or_default();
                        let r = if ch == '%' {
                            pattern::trim_suffix(&pat, &v, greedy)
                        } else {
                            pattern::trim_prefix(&pat, &v, greedy)
                        };
                        r.map_err(ExpandError)
                    }
                    _ => err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pat = self.stop_on_brace('/', true, "syntax error: missing '/' in ${}")?;
                let repl = self.stop_on_brace('}', true, "syntax error: missing '}'")?;
                let value = self.lookup(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pat}/{repl}}}"));
                }
                pattern::replace(&pat, &value.unwrap_or_default(), &repl, all).map_err(ExpandError)
            }
            _ => err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// A nested word up to `stop`; running out of input is `at_eof`.
    fn stop_on_brace(
        &mut self,
        stop: char,
        raw: bool,
        at_eof: &str,
    ) -> Result<String, ExpandError> {
        if self.depth >= MAX_NESTING {
            return err("syntax error: substitutions nested too deeply");
        }
        self.depth += 1;
        let r = self.stop_on(Some(stop), raw);
        self.depth -= 1;
        match r {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => err(at_eof),
            Err(e) => Err(e),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (a
    /// positional parameter); or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphabetic() || is_digit(ch) || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    /// `<<` and the blanks after it stay together, so that `<< EOF` is one
    /// word for the heredoc detection.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            out.push(c);
            self.pos += 1;
        }
        out
    }
}

fn or<'a>(word: &'a str, default: &'a str) -> &'a str {
    if word.is_empty() {
        default
    } else {
        word
    }
}

/// Go's `unicode.IsDigit` (decimal digits of any script), approximated by
/// Rust's numeric class outside ASCII.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [("PWD", "/home"), ("EMPTY", ""), ("P", "a/b/c.tar.gz")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(s: &str) -> Result<String, ExpandError> {
        Lex::new('\\').process_word(s, &env())
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(word("${X:-a}").unwrap(), "a");
        assert_eq!(word("${EMPTY:-a}").unwrap(), "a");
        assert_eq!(word("${EMPTY-a}").unwrap(), "");
        assert_eq!(word("${PWD:+x}").unwrap(), "x");
        assert_eq!(word("${EMPTY+x}").unwrap(), "x");
        assert_eq!(word("${EMPTY:+x}").unwrap(), "");
    }

    #[test]
    fn required_variables_fail_with_the_message() {
        assert_eq!(
            word("${X:?set X}").unwrap_err().0,
            "failed to process \"${X:?set X}\": X: set X"
        );
        assert!(word("${EMPTY:?}").is_err());
        assert_eq!(word("${EMPTY?}").unwrap(), "");
    }

    #[test]
    fn patterns() {
        assert_eq!(word("${P#*/}").unwrap(), "b/c.tar.gz");
        assert_eq!(word("${P##*/}").unwrap(), "c.tar.gz");
        assert_eq!(word("${P%.*}").unwrap(), "a/b/c.tar");
        assert_eq!(word("${P%%.*}").unwrap(), "a/b/c");
        assert_eq!(word("${P/\\//-}").unwrap(), "a-b/c.tar.gz");
        assert_eq!(word("${P//\\//-}").unwrap(), "a-b-c.tar.gz");
        assert!(word("${P:#x}").is_err());
    }

    #[test]
    fn skip_unset_keeps_the_reference() {
        let mut lex = Lex::new('\\');
        lex.skip_unset = true;
        assert_eq!(
            lex.process_word("$X ${Y} ${Z:-d}", &NoEnv).unwrap(),
            "$X ${Y} ${Z:-d}"
        );
    }

    #[test]
    fn backtick_escape() {
        let lex = Lex::new('`');
        assert_eq!(lex.process_word("a`$PWD\\x", &env()).unwrap(), "a$PWD\\x");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let w = format!("{}x{}", "${a:-".repeat(100_000), "}".repeat(100_000));
        assert!(word(&w).is_err());
        let ok = format!("{}x{}", "${a:-".repeat(10), "}".repeat(10));
        assert_eq!(word(&ok).unwrap(), "x");
    }

    #[test]
    fn nested_default_keeps_the_words_before_it() {
        let words = Lex::new('\\').process_words("a${X:-b c}d", &NoEnv).unwrap();
        assert_eq!(words, ["ab", "cd"]);
    }
}
