//! Which instructions expand variables, and which of their parts, as
//! Docker documents ("Environment replacement": ADD, COPY, ENV, EXPOSE,
//! FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD's trigger when it
//! runs) and BuildKit does (also ARG, the flags of COPY/ADD, RUN's mounts,
//! the content of unquoted heredocs). RUN, CMD, ENTRYPOINT, SHELL and
//! HEALTHCHECK are left to the shell in the container.

use super::expand::{Env, ExpandError, Lex};
use super::instruction::{ArgDecl, Files, From, Instruction, KeyValue};

/// Build args every build knows without an ARG line (Docker's predefined
/// proxy args); `--build-arg` may set them, and like Docker a build keeps
/// them out of the image history unless the Dockerfile declares them.
pub const PREDEFINED_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// BuildKit's automatic platform args, in the global scope of every
/// build: FROM lines see them, and a stage sees one once it declares it
/// (`ARG TARGETARCH`). Build and target are this machine.
pub fn platform_args() -> Vec<(String, String)> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let variant = if arch == "arm64" { "v8" } else { "" };
    let platform = match variant {
        "" => format!("linux/{arch}"),
        v => format!("linux/{arch}/{v}"),
    };
    let mut out = Vec::new();
    for side in ["BUILD", "TARGET"] {
        out.push((format!("{side}PLATFORM"), platform.clone()));
        out.push((format!("{side}OS"), "linux".to_string()));
        out.push((format!("{side}ARCH"), arch.to_string()));
        out.push((format!("{side}VARIANT"), variant.to_string()));
    }
    out
}

/// The instruction has parts that expand before it runs.
pub fn expands(i: &Instruction) -> bool {
    use Instruction as I;
    match i {
        I::Add(_) | I::Copy(_) | I::Env(_) | I::Expose(_) | I::Label(_) | I::StopSignal(_) => true,
        I::User(_) | I::Volume(_) | I::Workdir(_) | I::Arg(_) => true,
        // RUN expands its --mount values only (see `Run::mounts`).
        I::Run(r) => !r.mount_specs.is_empty(),
        I::Cmd(_) | I::Entrypoint(_) | I::Shell(_) | I::Healthcheck(_) => false,
        I::Maintainer(_) | I::Onbuild(_) => false,
    }
}

/// One word with the stage's variables, as instructions see it.
pub fn word_expander<'a>(
    escape: char,
    env: &'a dyn Env,
) -> impl FnMut(&str) -> Result<String, String> + 'a {
    let lex = Lex::new(escape);
    move |w: &str| lex.process_word(w, env).map_err(|e| e.0)
}

fn each(v: &mut [String], lex: &Lex, env: &dyn Env) -> Result<(), ExpandError> {
    for s in v.iter_mut() {
        *s = lex.process_word(s, env)?;
    }
    Ok(())
}

fn opt(v: &mut Option<String>, lex: &Lex, env: &dyn Env) -> Result<(), ExpandError> {
    if let Some(s) = v {
        *s = lex.process_word(s, env)?;
    }
    Ok(())
}

fn pairs(v: &mut [KeyValue], lex: &Lex, env: &dyn Env) -> Result<(), ExpandError> {
    for kv in v.iter_mut() {
        kv.key = lex.process_word(&kv.key, env)?;
        kv.value = lex.process_word(&kv.value, env)?;
    }
    Ok(())
}

fn files(f: &mut Files, lex: &Lex, env: &dyn Env) -> Result<(), ExpandError> {
    each(&mut f.sources, lex, env)?;
    f.dest = lex.process_word(&f.dest, env)?;
    // Heredoc content: variables only; quotes in it are content.
    let mut raw = Lex::new('\\');
    raw.skip_quotes = true;
    for file in f.inline.iter_mut().filter(|f| f.expand) {
        file.data = raw.process_word(&file.data, env)?;
    }
    Ok(())
}

/// Expand `i` in place with the variables its stage sees at that point
/// (ENV so far, and the ARGs in scope); `escape` is the file's.
pub fn expand(i: &mut Instruction, escape: char, env: &dyn Env) -> Result<(), ExpandError> {
    use Instruction as I;
    let lex = Lex::new(escape);
    match i {
        I::Env(kv) | I::Label(kv) => pairs(kv, &lex, env),
        I::Arg(decls) => args(decls, escape, env),
        I::User(s) | I::Workdir(s) | I::StopSignal(s) => {
            *s = lex.process_word(s, env)?;
            Ok(())
        }
        I::Volume(v) => each(v, &lex, env),
        // A port word may expand to several ports.
        I::Expose(ports) => {
            let mut out = Vec::new();
            for p in ports.iter() {
                out.extend(lex.process_words(p, env)?);
            }
            *ports = out;
            Ok(())
        }
        I::Copy(c) => {
            opt(&mut c.from, &lex, env)?;
            opt(&mut c.chown, &lex, env)?;
            opt(&mut c.chmod, &lex, env)?;
            files(&mut c.files, &lex, env)
        }
        I::Add(a) => {
            opt(&mut a.chown, &lex, env)?;
            opt(&mut a.chmod, &lex, env)?;
            opt(&mut a.checksum, &lex, env)?;
            files(&mut a.files, &lex, env)
        }
        I::Run(_) | I::Cmd(_) | I::Entrypoint(_) | I::Shell(_) | I::Healthcheck(_) => Ok(()),
        I::Maintainer(_) | I::Onbuild(_) => Ok(()),
    }
}

/// ARG names and defaults (a default may use earlier variables).
pub fn args(decls: &mut [ArgDecl], escape: char, env: &dyn Env) -> Result<(), ExpandError> {
    let lex = Lex::new(escape);
    for d in decls.iter_mut() {
        d.key = lex.process_word(&d.key, env)?;
        opt(&mut d.default, &lex, env)?;
    }
    Ok(())
}

/// FROM's image and platform, with the ARGs declared before the first FROM.
pub fn expand_from(from: &mut From, escape: char, meta: &dyn Env) -> Result<(), ExpandError> {
    let lex = Lex::new(escape);
    from.base = lex.process_word(&from.base, meta)?;
    opt(&mut from.platform, &lex, meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn env() -> Vec<(String, String)> {
        [("V", "1.2"), ("D", "/app"), ("P", "80 443/udp")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn steps(text: &str) -> Vec<Instruction> {
        let df = parse("Dockerfile", text).unwrap();
        df.stages[0]
            .steps
            .iter()
            .map(|s| s.instruction.clone())
            .collect()
    }

    #[test]
    fn expanding_instructions() {
        let text = "FROM a\nENV X=$V\nWORKDIR $D/src\nEXPOSE $P\nCOPY --chown=${U:-0}:0 f-$V \"$D\"/\nCOPY <<EOF /x\n'$V'\nEOF\nCOPY <<'EOF' /y\n$V\nEOF\n";
        let mut got = steps(text);
        for i in got.iter_mut() {
            assert!(expands(i));
            expand(i, '\\', &env()).unwrap();
        }
        let Instruction::Env(kv) = &got[0] else {
            panic!()
        };
        assert_eq!(kv[0].value, "1.2");
        assert_eq!(got[1], Instruction::Workdir("/app/src".into()));
        assert_eq!(
            got[2],
            Instruction::Expose(vec!["80".into(), "443/udp".into()])
        );
        let Instruction::Copy(c) = &got[3] else {
            panic!()
        };
        assert_eq!(c.chown.as_deref(), Some("0:0"));
        assert_eq!(
            (c.files.sources[0].as_str(), c.files.dest.as_str()),
            ("f-1.2", "/app/")
        );
        let Instruction::Copy(c) = &got[4] else {
            panic!()
        };
        assert_eq!(c.files.inline[0].data, "'1.2'\n");
        let Instruction::Copy(c) = &got[5] else {
            panic!()
        };
        assert_eq!(c.files.inline[0].data, "$V\n");
    }

    #[test]
    fn run_and_cmd_are_left_to_the_shell() {
        let mut got = steps("FROM a\nRUN echo $V\nCMD echo $V\n");
        for i in got.iter_mut() {
            assert!(!expands(i));
            expand(i, '\\', &env()).unwrap();
        }
        let Instruction::Run(r) = &got[0] else {
            panic!()
        };
        assert_eq!(r.command.args, ["echo $V"]);
    }

    #[test]
    fn run_mounts_expand_through_the_expander() {
        let got = steps("FROM a\nRUN --mount=type=cache,target=$D/cache make\n");
        let Instruction::Run(r) = &got[0] else {
            panic!()
        };
        let env = env();
        let mounts = r.mounts(&mut word_expander('\\', &env)).unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/app/cache"));
    }

    #[test]
    fn from_uses_meta_args() {
        let df = parse("Dockerfile", "ARG V\nFROM alpine:${V:-3}\n").unwrap();
        let mut from = df.stages[0].from.clone();
        expand_from(&mut from, '\\', &env()).unwrap();
        assert_eq!(from.base, "alpine:1.2");
    }

    #[test]
    fn a_failed_expansion_is_an_error() {
        let mut got = steps("FROM a\nUSER ${NOPE:?must be set}\n");
        let e = expand(&mut got[0], '\\', &env()).unwrap_err();
        assert!(e.0.ends_with("NOPE: must be set"), "{}", e.0);
    }
}
