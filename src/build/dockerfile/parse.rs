//! One logical line to a parse-tree node: the instruction name, the
//! `--flags` before its arguments, and the arguments split by that
//! instruction's rule (BuildKit's dispatch table of line parsers).

use super::ast::{go_quote, Arg, Node};
use super::words::{parse_json_array, parse_words, split_fields, JsonError};

/// Parse `line` (continuations already joined) into a node without lines
/// or heredocs; the error is a message for the caller to locate.
pub fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    node_at_depth(line, escape, 0)
}

/// ONBUILD's trigger is parsed as a node of its own; a chain of them is
/// an error anyway (checked by the typed layer), so the tree stops at a
/// few levels instead of recursing once per word of a hostile line.
const MAX_ONBUILD_NESTING: usize = 4;

fn node_at_depth(line: &str, escape: char, depth: usize) -> Result<Node, String> {
    let trimmed = line.trim();
    let mut parts = split_fields(trimmed, 2).into_iter();
    let cmd = parts.next().unwrap_or_default();
    let (args_text, flags) = match parts.next() {
        Some(rest) => extract_flags(&rest, escape),
        None => (String::new(), Vec::new()),
    };
    let rest = args_text.trim();
    let (args, json) = match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(rest)?,
        "arg" => (words(parse_words(rest, escape)), false),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest)?,
        "env" | "label" => (name_val(rest, &cmd.to_ascii_uppercase(), escape)?, false),
        "expose" | "from" => (whitespace_list(rest), false),
        "healthcheck" => health(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => (string(rest), false),
        "onbuild" if rest.is_empty() => (Vec::new(), false),
        "onbuild" if depth >= MAX_ONBUILD_NESTING => {
            return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
        }
        "onbuild" => (
            vec![Arg::Sub(Box::new(node_at_depth(rest, escape, depth + 1)?))],
            false,
        ),
        // An unknown instruction keeps one empty argument (BuildKit's
        // parseIgnore); the typed layer rejects it with its name.
        _ => (vec![Arg::Word(String::new())], false),
    };
    Ok(Node {
        cmd,
        flags,
        args,
        json,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
    })
}

fn words(ws: Vec<String>) -> Vec<Arg> {
    ws.into_iter().map(Arg::Word).collect()
}

fn string(rest: &str) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    vec![Arg::Word(rest.to_string())]
}

fn whitespace_list(rest: &str) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    words(split_fields(rest, 0))
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// The exec form when the text is a JSON array of strings, else the whole
/// text as one argument (the shell form).
fn maybe_json(rest: &str) -> Result<(Vec<Arg>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json_array(rest) {
        Ok(v) => Ok((words(v), true)),
        Err(JsonError::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonError::NotArray) => Ok((string(rest), false)),
    }
}

/// The exec form, else white-space separated words.
fn maybe_json_to_list(rest: &str) -> Result<(Vec<Arg>, bool), String> {
    match parse_json_array(rest) {
        Ok(v) => Ok((words(v), true)),
        Err(JsonError::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonError::NotArray) => Ok((whitespace_list(rest), false)),
    }
}

/// HEALTHCHECK: a type word (`CMD`, `NONE`...) then a maybe-JSON command.
fn health(rest: &str) -> Result<(Vec<Arg>, bool), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let cmd = rest[sep..].trim_start();
    let (mut tail, json) = maybe_json(cmd)?;
    let mut args = vec![Arg::Word(rest[..sep].to_string())];
    args.append(&mut tail);
    Ok((args, json))
}

/// ENV and LABEL: `KEY value` (the old form, the rest of the line is the
/// value) or `K=V K2=V2...`; each pair becomes key, value, separator.
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<Arg>, String> {
    let ws = parse_words(rest, escape);
    let Some(first) = ws.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_fields(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(words(vec![
            parts[0].clone(),
            parts[1].clone(),
            String::new(),
        ]));
    }
    let mut out = Vec::new();
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.extend(words(vec![k.to_string(), v.to_string(), "=".to_string()]));
    }
    Ok(out)
}

/// The leading `--flag[=value]` words (quotes and escapes resolved) and
/// the text after them; a bare `--` ends the flags and is dropped.
pub fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(line.len(), |&(b, _)| b);
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            let ch = chars[i].1;
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            // Only a word starting with `--` is a flag.
            if ch != '-' || chars.get(i + 1).map(|c| c.1) != Some('-') {
                return (line[byte_at(i)..].to_string(), flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        let mut ch = chars[i].1;
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (line[byte_at(i)..].to_string(), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    i += 1;
                    continue;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    i += 1;
                    ch = chars[i].1;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    i += 1;
                    ch = chars[i].1;
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        i += 1;
    }
    (String::new(), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_the_first_plain_word() {
        let (rest, flags) = extract_flags("--from=b --chown='a b' src dst", '\\');
        assert_eq!(flags, ["--from=b", "--chown=a b"]);
        assert_eq!(rest, "src dst");
        let (rest, flags) = extract_flags("--x -- --y", '\\');
        assert_eq!((rest.as_str(), flags), (" --y", vec!["--x".to_string()]));
    }

    #[test]
    fn onbuild_nests_its_instruction() {
        let n = node_from_line("ONBUILD RUN echo hi", '\\').unwrap();
        assert_eq!(n.dump(), r#"onbuild (run "echo hi")"#);
    }

    #[test]
    fn a_long_onbuild_chain_is_an_error_not_a_stack_overflow() {
        let line = format!("{}RUN x", "ONBUILD ".repeat(200_000));
        assert!(node_from_line(&line, '\\').is_err());
        // Short chains still parse (BuildKit's tree has them; the typed
        // layer rejects them).
        let n = node_from_line("ONBUILD ONBUILD RUN x", '\\').unwrap();
        assert_eq!(n.dump(), r#"onbuild (onbuild (run "x"))"#);
    }

    #[test]
    fn env_without_value_is_an_error() {
        assert_eq!(
            node_from_line("ENV PATH", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
    }
}
