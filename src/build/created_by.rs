//! The CREATED BY text of a config-only step, as Docker's classic builder
//! writes it: the shell, then `#(nop) ` and the step as one more word, so
//! the joined text has two spaces (`/bin/sh -c #(nop)  ENV A=b`); WORKDIR
//! alone is one word with one space (`/bin/sh -c #(nop) WORKDIR /app`).
//! Values are the expanded ones; lists print as Go prints them.

use serde_json::Value;

use super::dockerfile::Instruction;

/// Go's `%q` of a string list: `["a" "b"]`.
fn quoted(list: &[String]) -> String {
    let q: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", q.join(" "))
}

/// `argv`: the step's command as the config now holds it (CMD, ENTRYPOINT);
/// `config`: the config after the step (WORKDIR's absolute path).
pub fn config_step(
    instr: &Instruction,
    argv: Option<&[String]>,
    config: &Value,
    source: &str,
) -> String {
    let kv = |word: &str, l: &[super::dockerfile::instruction::KeyValue]| {
        let mut s = word.to_string();
        for k in l {
            s.push_str(&format!(" {}={}", k.key, k.value));
        }
        s
    };
    let step = match instr {
        Instruction::Workdir(_) => {
            let wd = config["config"]["WorkingDir"].as_str().unwrap_or("/");
            return format!("/bin/sh -c #(nop) WORKDIR {wd}");
        }
        Instruction::Env(l) => kv("ENV", l),
        Instruction::Label(l) => kv("LABEL", l),
        Instruction::Cmd(_) => format!("CMD {}", quoted(argv.unwrap_or_default())),
        Instruction::Entrypoint(_) => format!("ENTRYPOINT {}", quoted(argv.unwrap_or_default())),
        Instruction::Expose(p) => format!("EXPOSE {}", p.join(" ")),
        Instruction::Volume(v) => format!("VOLUME [{}]", v.join(" ")),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Maintainer(m) => format!("MAINTAINER {m}"),
        Instruction::Onbuild(t) => format!("ONBUILD {t}"),
        Instruction::Shell(s) => format!("SHELL [{}]", s.join(" ")),
        Instruction::Arg(decls) => {
            let d: Vec<String> = decls
                .iter()
                .map(|d| match &d.default {
                    Some(v) => format!("{}={v}", d.key),
                    None => d.key.clone(),
                })
                .collect();
            format!("ARG {}", d.join(" "))
        }
        _ => source.to_string(),
    };
    format!("/bin/sh -c #(nop)  {step}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;
    use serde_json::json;

    fn by(line: &str, argv: Option<&[String]>) -> String {
        let df = parse("Dockerfile", &format!("FROM scratch\n{line}\n")).unwrap();
        let config = json!({"config": {"WorkingDir": "/app/src"}});
        config_step(&df.stages[0].steps[0].instruction, argv, &config, line)
    }

    #[test]
    fn as_the_classic_builder_writes_them() {
        assert_eq!(by("ENV A=b C=d", None), "/bin/sh -c #(nop)  ENV A=b C=d");
        assert_eq!(by("LABEL a=b", None), "/bin/sh -c #(nop)  LABEL a=b");
        assert_eq!(
            by("EXPOSE 80/tcp", None),
            "/bin/sh -c #(nop)  EXPOSE 80/tcp"
        );
        assert_eq!(
            by("VOLUME /data /logs", None),
            "/bin/sh -c #(nop)  VOLUME [/data /logs]"
        );
        assert_eq!(by("USER app", None), "/bin/sh -c #(nop)  USER app");
        assert_eq!(
            by("WORKDIR src", None),
            "/bin/sh -c #(nop) WORKDIR /app/src"
        );
        assert_eq!(by("ARG V=1", None), "/bin/sh -c #(nop)  ARG V=1");
        let a = ["nginx".to_string(), "-g".into(), "daemon off;".into()];
        assert_eq!(
            by("CMD nginx", Some(&a)),
            "/bin/sh -c #(nop)  CMD [\"nginx\" \"-g\" \"daemon off;\"]"
        );
    }
}
