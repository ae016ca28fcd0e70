//! RUN with heredocs, as BuildKit runs them:
//! - `RUN <<EOF` alone (one heredoc, no command): the document is the
//!   script. With a `#!` line it is a file run by its interpreter (BuildKit
//!   puts it at /dev/pipes/NAME); without one the stage's SHELL runs it.
//! - anything else (`RUN <<EOF bash`, `RUN cat <<A <<B`, `<<-`, quoted
//!   delimiters): the line and its documents, delimiters included, become
//!   one script for the SHELL, so the shell itself gives the heredoc
//!   meaning (tab stripping, no expansion under a quoted delimiter).

use super::dockerfile::heredoc::parse_heredoc;
use super::dockerfile::instruction::CommandLine;

/// Where a script file with a `#!` line is mounted in the step.
pub const PIPES: &str = "/dev/pipes";

/// What a RUN step executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub argv: Vec<String>,
    /// A script file to mount read-only at `PIPES/<name>` (name, content).
    pub script: Option<(String, String)>,
}

/// The command of a RUN: `shell` is the stage's SHELL.
pub fn run_command(c: &CommandLine, shell: &[String]) -> Result<RunCommand, String> {
    let with_shell = |script: String| {
        let mut v = shell.to_vec();
        v.push(script);
        v
    };
    if c.files.is_empty() {
        let argv = if c.shell_form {
            let mut v = shell.to_vec();
            v.extend(c.args.iter().cloned());
            v
        } else {
            c.args.clone()
        };
        return Ok(RunCommand { argv, script: None });
    }
    if !c.shell_form || c.args.len() != 1 {
        return Err("a heredoc needs the shell form of RUN".into());
    }
    let line = c.args[0].trim();
    if c.files.len() == 1 && parse_heredoc(line)?.is_some() {
        let doc = &c.files[0];
        let data = doc.text();
        if data.starts_with("#!") {
            let name = doc.name.replace('/', "_");
            return Ok(RunCommand {
                argv: vec![format!("{PIPES}/{name}")],
                script: Some((name, data)),
            });
        }
        return Ok(RunCommand {
            argv: with_shell(data),
            script: None,
        });
    }
    let mut script = c.args[0].clone();
    for f in &c.files {
        script.push('\n');
        script.push_str(&f.content);
        script.push_str(&f.name);
    }
    Ok(RunCommand {
        argv: with_shell(script),
        script: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::ast::Heredoc;

    fn doc(name: &str, content: &str, chomp: bool) -> Heredoc {
        Heredoc {
            name: name.into(),
            fd: 0,
            expand: true,
            chomp,
            content: content.into(),
        }
    }

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn a_lone_heredoc_is_the_script() {
        let c = CommandLine {
            args: vec!["<<-EOF".into()],
            shell_form: true,
            files: vec![doc("EOF", "\techo a\n\techo b\n", true)],
        };
        let r = run_command(&c, &sh()).unwrap();
        assert_eq!(r.argv, ["/bin/sh", "-c", "echo a\necho b\n"]);
        assert_eq!(r.script, None);
    }

    #[test]
    fn a_shebang_script_runs_as_a_file() {
        let c = CommandLine {
            args: vec!["<<EOF".into()],
            shell_form: true,
            files: vec![doc("EOF", "#!/bin/busybox sh\necho hi\n", false)],
        };
        let r = run_command(&c, &sh()).unwrap();
        assert_eq!(r.argv, ["/dev/pipes/EOF"]);
        assert_eq!(
            r.script,
            Some(("EOF".into(), "#!/bin/busybox sh\necho hi\n".into()))
        );
    }

    #[test]
    fn a_command_with_heredocs_is_one_shell_script() {
        let c = CommandLine {
            args: vec!["cat <<A - <<'B' > /f".into()],
            shell_form: true,
            files: vec![doc("A", "one\n", false), doc("B", "$two\n", false)],
        };
        let r = run_command(&c, &sh()).unwrap();
        assert_eq!(
            r.argv,
            ["/bin/sh", "-c", "cat <<A - <<'B' > /f\none\nA\n$two\nB"]
        );
    }

    #[test]
    fn no_heredoc_is_the_plain_command() {
        let c = CommandLine {
            args: vec!["echo hi".into()],
            shell_form: true,
            files: vec![],
        };
        assert_eq!(
            run_command(&c, &sh()).unwrap().argv,
            ["/bin/sh", "-c", "echo hi"]
        );
    }
}
