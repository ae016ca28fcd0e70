//! burrow's entry point: parse, dispatch, print the error chain on one line,
//! pick the exit code (Docker's convention, see `error`).

use std::process::ExitCode;

use burrow::cli;
use burrow::error;

fn main() -> ExitCode {
    // Invoked as burrow-runc (a link): runc's command line.
    let mut args = std::env::args_os();
    if args
        .next()
        .is_some_and(|a| cli::oci::invoked_as_runtime(&a))
    {
        return ExitCode::from(cli::oci::main("burrow-runc", args.collect()).clamp(0, 255) as u8);
    }
    let code = match cli::parse() {
        Ok(parsed) => match cli::dispatch(parsed) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("burrow: {}", error::one_line(&err));
                error::exit_code(&err)
            }
        },
        Err(code) => code,
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
