//! burrow's entry point: parse, dispatch, print the error chain on one line,
//! pick the exit code (Docker's convention, see `error`).

use std::process::ExitCode;

use burrow::cli;
use burrow::error;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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

/// `burrow ps | head -0`: Rust ignores SIGPIPE, so printing to a closed
/// pipe panicked ("failed printing to stdout: Broken pipe", exit 101).
/// End quietly instead, as a program killed by SIGPIPE would (128 + 13),
/// without changing the signal's disposition, which burrow's forked
/// stages inherit and rely on.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}
