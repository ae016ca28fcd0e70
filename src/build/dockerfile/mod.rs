//! The Dockerfile language (Docker's reference, BuildKit's behaviour):
//!
//! - `lexer`: directives, comments, continuations, heredoc bodies;
//! - `parse`: one logical line to a parse-tree node (`ast`);
//! - `instruction`: nodes to typed instructions, with `flags` and `mount`;
//! - `expand`: variable expansion and word splitting (`pattern` for `#%/`);
//! - `substitute`: which instructions expand, and how.
//!
//! `parse` below ties them together into stages.

pub mod ast;
pub mod directives;
pub mod expand;
pub mod flags;
pub mod heredoc;
pub mod instruction;
pub mod lexer;
pub mod mount;
pub mod parse;
pub mod pattern;
pub mod substitute;
pub mod words;

pub use ast::{Arg, Heredoc, Node};
pub use expand::{Env, ExpandError, Lex};
pub use instruction::{ArgDecl, From, Instruction};

/// A Dockerfile that cannot be used: it names the file, the line and the
/// instruction, on one line (`burrow build` exits 1 with it, as Docker does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ParseError {
    pub file: String,
    /// 1-based; 0 when the error is about the whole file.
    pub line: usize,
    pub end_line: usize,
    /// The instruction, uppercased, when the error is in one.
    pub instruction: Option<String>,
    pub message: String,
}

impl ParseError {
    /// As `burrow build` reports it: Docker exits 1 on a bad Dockerfile.
    pub fn coded(&self) -> crate::error::Coded {
        crate::error::Coded::new(1, self.to_string())
    }

    fn render(&self) -> String {
        let mut s = self.file.clone();
        if self.line > 0 {
            s.push_str(&format!(":{}", self.line));
        }
        if let Some(i) = &self.instruction {
            s.push_str(&format!(": {i}"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        crate::text::escape_control(&s)
    }
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    pub start_line: usize,
    pub end_line: usize,
    /// The logical line as written (continuations joined).
    pub source: String,
}

/// A stage: `FROM` and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub from: From,
    pub line: usize,
    pub source: String,
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
    /// `ARG`s before the first `FROM` (usable in FROM lines).
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    /// Start lines of instructions with blank lines inside a continuation.
    pub empty_continuations: Vec<usize>,
}

/// Parse `text`, read from `file` (used in errors only).
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let ast = lexer::parse_ast(text).map_err(|e| ParseError {
        file: file.to_string(),
        line: e.start,
        end_line: e.end,
        instruction: e.instruction,
        message: e.message,
    })?;
    let mut df = Dockerfile {
        escape: ast.directives.escape,
        syntax: ast.directives.syntax.clone(),
        check: ast.directives.check.clone(),
        meta_args: Vec::new(),
        stages: Vec::new(),
        empty_continuations: ast.empty_continuations.clone(),
    };
    for node in &ast.nodes {
        let located = |message: String| ParseError {
            file: file.to_string(),
            line: node.start_line,
            end_line: node.end_line,
            instruction: Some(node.cmd.to_ascii_uppercase()),
            message,
        };
        match instruction::parse_node(node).map_err(located)? {
            instruction::Parsed::From(from) => df.stages.push(Stage {
                from,
                line: node.start_line,
                source: node.original.trim().to_string(),
                steps: Vec::new(),
            }),
            instruction::Parsed::Instruction(Instruction::Arg(args)) if df.stages.is_empty() => {
                df.meta_args.extend(args)
            }
            instruction::Parsed::Instruction(i) => {
                let Some(stage) = df.stages.last_mut() else {
                    return Err(located("no build stage in current context".into()));
                };
                stage.steps.push(Step {
                    instruction: i,
                    start_line: node.start_line,
                    end_line: node.end_line,
                    source: node.original.trim().to_string(),
                });
            }
        }
    }
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_meta_args() {
        let df = parse(
            "Dockerfile",
            "ARG V=1\nFROM a:$V AS build\nRUN make\nFROM scratch\nCOPY --from=build /o /o\n",
        )
        .unwrap();
        assert_eq!(
            df.meta_args,
            [ArgDecl {
                key: "V".into(),
                default: Some("1".into())
            }]
        );
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].from.name.as_deref(), Some("build"));
        assert_eq!(df.stages[1].steps[0].start_line, 5);
    }

    #[test]
    fn errors_name_file_line_and_instruction() {
        let e = parse("ctx/Dockerfile", "FROM a\n\nRUN --bogus x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ctx/Dockerfile:3: RUN: unknown flag: --bogus"
        );
        let e = parse("Dockerfile", "RUN x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Dockerfile:1: RUN: no build stage in current context"
        );
        let e = parse("Dockerfile", "FROM a\nFOO bar\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:2: FOO: unknown instruction: FOO");
        let e = parse("Dockerfile", "# only a comment\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile: file with no instructions");
        assert_eq!(e.coded().code, 1);
        let e = parse("Dockerfile", "FROM a\nENV X\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: ENV: ENV must have two arguments"
        );
    }

    #[test]
    fn control_characters_in_errors_are_escaped() {
        let e = parse("Dockerfile", "FROM a\nFOO\u{1b}[2J x\n").unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'));
    }
}
