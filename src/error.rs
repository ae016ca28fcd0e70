//! Exit codes and the one-line error a user sees.
//!
//! Docker's convention: 125 when burrow itself fails, 126 when the command
//! cannot be executed, 127 when it is not found, otherwise the command's own.

use std::fmt;

/// burrow itself failed (bad flag, unusable store, registry error...).
pub const EXIT_BURROW: i32 = 125;
/// The container's command exists but cannot be executed.
pub const EXIT_CANNOT_EXEC: i32 = 126;
/// The container's command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error that carries its own exit code; anything else exits 125.
#[derive(Debug)]
pub struct Coded {
    pub code: i32,
    pub message: String,
}

impl Coded {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Coded {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// The exit code for an error chain: the first `Coded` in it, else 125.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Coded>().map(|c| c.code))
        .unwrap_or(EXIT_BURROW)
}

/// The error chain on one line, control characters escaped, so that a
/// hostile name from an image or a registry cannot rewrite the terminal.
pub fn one_line(err: &anyhow::Error) -> String {
    let joined = format!("{err:#}");
    crate::text::escape_control(&joined.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn coded_error_sets_the_exit_code_through_context() {
        let err = Err::<(), _>(Coded::new(EXIT_NOT_FOUND, "no such command"))
            .context("run")
            .unwrap_err();
        assert_eq!(exit_code(&err), 127);
        assert_eq!(one_line(&err), "run: no such command");
    }

    #[test]
    fn plain_errors_exit_125() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_code(&err), EXIT_BURROW);
    }

    #[test]
    fn one_line_escapes_control_characters() {
        let err = anyhow::anyhow!("bad \x1b[2Jname\nsecond");
        assert_eq!(one_line(&err), "bad \\x1b[2Jname second");
    }
}
