//! Splitting an instruction's argument text, before any expansion: quoted
//! words (quotes kept, for ENV/LABEL/ARG), white-space fields (FROM, EXPOSE,
//! the shell form of COPY/ADD/VOLUME), and JSON arrays (the exec form).

/// BuildKit's `reWhitespace` class: `[\t\v\f\r ]`.
pub fn is_field_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Split at runs of `[\t\v\f\r ]`, at most `limit` pieces (0: no limit),
/// as Go's `Regexp.Split` does.
pub fn split_fields(s: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if limit != 0 && out.len() + 1 == limit {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_field_space) {
            None => {
                out.push(rest.to_string());
                return out;
            }
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_field_space);
            }
        }
    }
}

/// Words separated by white space, quotes and escapes kept in the word
/// (they are removed at expansion). An escape token at the very end goes.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut blank_ok = false;
    let mut word = String::new();
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        let mut ch = chars[i];
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    // Unquoted: keep the escape and the character after it,
                    // even when that is a quote.
                    word.push(ch);
                    i += 1;
                    ch = chars[i];
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                // Nothing escapes inside single quotes.
                if ch == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    ch = chars[i];
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        i += 1;
    }
    words
}

/// Why text is not an exec-form array.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON, or not an array: the text is the shell form.
    NotArray,
    /// A JSON array with something other than strings: an error.
    NotStrings,
}

/// The exec form: a JSON array of strings.
pub fn parse_json_array(rest: &str) -> Result<Vec<String>, JsonError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonError::NotArray);
    }
    let values: Vec<serde_json::Value> =
        serde_json::from_str(rest).map_err(|_| JsonError::NotArray)?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(JsonError::NotStrings),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_like_go_regexp_split() {
        assert_eq!(split_fields("a \t b c", 0), ["a", "b", "c"]);
        assert_eq!(split_fields("a  b c", 2), ["a", "b c"]);
        assert_eq!(split_fields("a", 2), ["a"]);
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="x y" b=c\ d e='' "#, '\\'),
            [r#"a="x y""#, r"b=c\ d", "e=''"]
        );
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(parse_json_array(r#" ["a", "b"]"#).unwrap(), ["a", "b"]);
        assert_eq!(parse_json_array("[1]"), Err(JsonError::NotStrings));
        assert_eq!(parse_json_array("['a']"), Err(JsonError::NotArray));
        assert_eq!(parse_json_array("echo"), Err(JsonError::NotArray));
    }
}
