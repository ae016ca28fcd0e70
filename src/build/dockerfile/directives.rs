//! Parser directives: `# syntax=`, `# escape=`, `# check=` comments at the
//! very top of the file. The first line that is not one (an instruction, a
//! blank line, any other comment) ends them; each may appear once.

/// The directives found, and whether more may still come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
    seen_escape: bool,
    done: bool,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
            seen_escape: false,
            done: false,
        }
    }
}

/// Go's regexp `\s`: ASCII white space without `\v`.
fn re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// `#`, blanks, `name`, `=`, value (BuildKit's
/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` after the `#`).
fn split_directive(line: &str) -> Option<(String, String)> {
    let body = line.strip_prefix('#')?.trim_start();
    let mut chars = body.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let name_end = body
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(body.len(), |(i, _)| i);
    let name = &body[..name_end];
    let after = body[name_end..].trim_start_matches(re_space);
    let value_part = after.strip_prefix('=')?;
    let lead = value_part.len() - value_part.trim_start_matches(re_space).len();
    let value = if lead == value_part.len() {
        // Only blanks after `=`: the lazy `.+?` still takes the last one.
        value_part.chars().last()?.to_string()
    } else {
        value_part[lead..].trim_end_matches(re_space).to_string()
    };
    Some((name.to_ascii_lowercase(), value))
}

impl Directives {
    /// Look at one physical line (newline trimmed). An error is a repeated
    /// directive or a bad escape token.
    pub fn see(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let seen = match name.as_str() {
            "escape" => std::mem::replace(&mut self.seen_escape, true),
            "syntax" => self.syntax.is_some(),
            "check" => self.check.is_some(),
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if seen {
            return Err(format!("only one {name} parser directive can be used"));
        }
        match name.as_str() {
            "escape" => {
                self.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.syntax = Some(value),
            _ => self.check = Some(value),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directives_until_the_first_other_line() {
        let mut d = Directives::default();
        d.see("# syntax = docker/dockerfile:1").unwrap();
        d.see("#escape=`").unwrap();
        d.see("# check=skip=all").unwrap();
        d.see("FROM x").unwrap();
        d.see("# escape=\\").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn a_repeated_directive_or_bad_token_is_an_error() {
        let mut d = Directives::default();
        d.see("# escape=`").unwrap();
        assert!(d.see("# escape=\\").is_err());
        assert!(Directives::default().see("# escape=x").is_err());
    }

    #[test]
    fn an_unknown_directive_ends_them() {
        let mut d = Directives::default();
        d.see("# foo=bar").unwrap();
        d.see("# escape=`").unwrap();
        assert_eq!(d.escape, '\\');
    }
}
