//! The file to logical lines, as BuildKit reads it: parser directives at the
//! top, `#` comments, the escape token at a line's end continuing it (blank
//! and comment lines inside a continuation are skipped), and the bodies of
//! heredocs, which are taken verbatim after their instruction's line.

use super::ast::Node;
use super::directives::Directives;
use super::heredoc::heredocs_in_line;
use super::parse::node_from_line;

/// A parse failure before any instruction's own rules: a message and the
/// lines it concerns (1-based; `end >= start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub start: usize,
    pub end: usize,
    /// The instruction being read, when there was one.
    pub instruction: Option<String>,
}

/// The parse tree and what the directives said.
#[derive(Debug, Clone)]
pub struct Ast {
    pub nodes: Vec<Node>,
    pub directives: Directives,
    /// Lines of instructions that had blank lines inside a continuation
    /// (BuildKit warns about these).
    pub empty_continuations: Vec<usize>,
}

/// Physical lines with their line ends kept (BuildKit's `scanLines`).
fn physical_lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split_inclusive('\n').collect()
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Strip a trailing escape token (and blanks after it): it continues the
/// line, unless it is itself escaped (`\\` at the end is literal).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

/// A physical line read for an instruction: newline gone, directives
/// noted, a comment reduced to nothing.
fn process_line<'a>(d: &mut Directives, raw: &'a str, strip_left: bool) -> Result<&'a str, String> {
    let mut token = trim_newline(raw);
    if strip_left {
        token = token.trim_start();
    }
    d.see(token)?;
    Ok(if is_comment(token) { "" } else { token })
}

/// Parse the whole file into instruction nodes.
pub fn parse_ast(text: &str) -> Result<Ast, SyntaxError> {
    let mut d = Directives::default();
    let mut lines = physical_lines(text).into_iter();
    let mut nodes = Vec::new();
    let mut empty_continuations = Vec::new();
    let mut current = 0usize;
    let locate =
        |message: String, start: usize, end: usize, instruction: Option<String>| SyntaxError {
            message,
            start,
            end: end.max(start),
            instruction,
        };

    while let Some(raw) = lines.next() {
        let first = process_line(&mut d, raw, true)
            .map_err(|m| locate(m, current + 1, current + 1, None))?;
        current += 1;
        let start = current;
        let (first, mut end_of_line) = trim_continuation(first, d.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let mut had_empty = false;
        while !end_of_line {
            let Some(raw) = lines.next() else { break };
            let next = process_line(&mut d, raw, false)
                .map_err(|m| locate(m, current + 1, current + 1, None))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if next.trim_start().is_empty() {
                had_empty = true;
                continue;
            }
            let (next, eol) = trim_continuation(next, d.escape);
            end_of_line = eol;
            line.push_str(next);
        }
        if had_empty {
            empty_continuations.push(start);
        }

        let name = || line.split_whitespace().next().map(str::to_ascii_uppercase);
        let mut node =
            node_from_line(&line, d.escape).map_err(|m| locate(m, start, current, name()))?;
        if can_contain_heredoc(&node) && line.contains("<<") {
            let heredocs =
                heredocs_in_line(&line).map_err(|m| locate(m, start, current, name()))?;
            for mut h in heredocs {
                let mut terminated = false;
                for raw in lines.by_ref() {
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if h.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == h.name {
                        terminated = true;
                        break;
                    }
                    h.content.push_str(raw);
                }
                if !terminated {
                    return Err(locate(
                        format!("unterminated heredoc {}", h.name),
                        start,
                        current,
                        name(),
                    ));
                }
                node.heredocs.push(h);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        // About the whole file: no line.
        return Err(locate("file with no instructions".into(), 0, 0, None));
    }
    Ok(Ast {
        nodes,
        directives: d,
        empty_continuations,
    })
}

/// RUN, COPY and ADD in shell form (also as ONBUILD's trigger) may open
/// heredocs.
fn can_contain_heredoc(node: &Node) -> bool {
    let mut n = node;
    if n.name() == "onbuild" {
        if let Some(super::ast::Arg::Sub(sub)) = n.args.first() {
            n = sub;
        }
    }
    matches!(n.name().as_str(), "run" | "copy" | "add") && !n.json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("a \\  ", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a`", '`'), ("a", false));
    }

    #[test]
    fn heredoc_bodies_are_kept_verbatim() {
        let ast =
            parse_ast("FROM x\nRUN <<A cat - <<-B\n#not a comment\n$X\nA\n\tb\n\tB\nUSER u\n")
                .unwrap();
        let run = &ast.nodes[1];
        assert_eq!((run.start_line, run.end_line), (2, 7));
        assert_eq!(run.heredocs[0].content, "#not a comment\n$X\n");
        assert_eq!(run.heredocs[1].text(), "b\n");
        assert_eq!(ast.nodes[2].dump(), r#"user "u""#);
    }

    #[test]
    fn several_heredocs_read_in_order() {
        let ast =
            parse_ast("FROM x\nCOPY <<X <<Y /dest\nY\nX\nX\nY\nUSER <<INVALID\nINVALID\n").unwrap();
        let hs = &ast.nodes[1].heredocs;
        assert_eq!(
            (hs[0].content.as_str(), hs[1].content.as_str()),
            ("Y\n", "X\n")
        );
        // USER takes no heredoc: the next line is an instruction of its own.
        assert_eq!(ast.nodes.len(), 4);
        assert!(ast.nodes[2].heredocs.is_empty());
    }

    #[test]
    fn chomped_delimiter_may_be_indented() {
        let ast = parse_ast("FROM x\nRUN <<-E\n\tbaz\n\tE\n").unwrap();
        assert_eq!(ast.nodes[1].heredocs[0].content, "\tbaz\n");
        assert_eq!(ast.nodes.len(), 2);
    }

    #[test]
    fn blank_lines_inside_continuations_are_noted_comments_are_not() {
        let text = "FROM a\nRUN ok \\\n  x\nRUN something \\\n\n  following\nRUN c \\\n# comment\n  after\nRUN d \\\n  # indented\n  e\n";
        let ast = parse_ast(text).unwrap();
        assert_eq!(ast.empty_continuations, [4]);
        assert_eq!(ast.nodes[2].dump(), r#"run "something   following""#);
        assert_eq!(ast.nodes[3].dump(), r#"run "c   after""#);
        assert_eq!(ast.nodes[4].dump(), r#"run "d   e""#);
    }

    #[test]
    fn json_run_has_no_heredoc() {
        let ast = parse_ast("FROM x\nRUN [\"a\", \"<<EOF\"]\nUSER u\n").unwrap();
        assert!(ast.nodes[1].heredocs.is_empty());
        assert_eq!(ast.nodes.len(), 3);
    }

    #[test]
    fn unterminated_heredoc_names_its_lines() {
        let e = parse_ast("FROM x\nRUN <<EOF\nhi\n").unwrap_err();
        assert_eq!(
            (e.start, e.end, e.instruction.as_deref()),
            (2, 3, Some("RUN"))
        );
    }
}
