//! The typed model: each parse-tree node checked by its instruction's rules
//! (argument counts, flags, forms) into an `Instruction`, as BuildKit's
//! `instructions` package does.

use std::time::Duration;

use super::ast::{Heredoc, Node};
use super::flags::{Flags, Kind};
use super::heredoc::parse_heredoc;
use super::mount::{parse_mount, Mount};

/// A command line in shell form (`RUN echo hi`: one string, run by the
/// stage's SHELL) or exec form (`RUN ["echo", "hi"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    /// Shell form: `args` is one string for the shell.
    pub shell_form: bool,
    /// Heredocs of RUN, fed to the command (`RUN <<EOF`).
    pub files: Vec<Heredoc>,
}

/// RUN's network (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// `--mount` values as written; see `Run::mounts`.
    pub mount_specs: Vec<String>,
    pub network: Network,
    /// `--security=insecure|sandbox`.
    pub security: Option<String>,
}

impl Run {
    /// The mounts, each value expanded with `expand`.
    pub fn mounts(
        &self,
        expand: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<Vec<Mount>, String> {
        self.mount_specs
            .iter()
            .map(|s| parse_mount(s, expand))
            .collect()
    }
}

/// A file of COPY/ADD given inline as a heredoc (`COPY <<EOF /file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    pub name: String,
    pub data: String,
    /// Variables in `data` expand (the delimiter was not quoted).
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub sources: Vec<String>,
    pub inline: Vec<InlineFile>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub files: Files,
    /// `--from=stage|image|index`.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub files: Files,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: Option<bool>,
    pub checksum: Option<String>,
    pub unpack: Option<bool>,
    pub excludes: Vec<String>,
}

/// A `KEY=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of ARG, with its default if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub key: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: turn off the base image's check.
    None,
    Check {
        /// `["CMD", args...]` (exec form) or `["CMD-SHELL", "cmd"]`.
        test: Vec<String>,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Expose(Vec<String>),
    Env(Vec<KeyValue>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    /// The trigger's text, run when a later build uses this image.
    Onbuild(String),
    StopSignal(String),
    Healthcheck(Health),
    Shell(Vec<String>),
}

/// FROM: the start of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub base: String,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// A node's typed meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    From(From),
    Instruction(Instruction),
}

fn check_flags(node: &Node, known: &[(&str, Kind)]) -> Result<Flags, String> {
    Flags::parse(&node.flags, known)
}

fn exactly_one(node: &Node, name: &str) -> Result<String, String> {
    let w = node.words();
    if w.len() != 1 {
        return Err(format!("{name} requires exactly one argument"));
    }
    check_flags(node, &[])?;
    Ok(w[0].clone())
}

fn at_least_one(w: &[String], name: &str) -> Result<(), String> {
    if w.is_empty() {
        return Err(format!("{name} requires at least one argument"));
    }
    Ok(())
}

fn command_line(node: &Node) -> CommandLine {
    let w = node.words();
    let args = if node.json || w.is_empty() {
        w
    } else {
        vec![w.join(" ")]
    };
    CommandLine {
        args,
        shell_form: !node.json,
        files: node.heredocs.clone(),
    }
}

fn key_values(node: &Node, name: &str) -> Result<Vec<KeyValue>, String> {
    check_flags(node, &[])?;
    let w = node.words();
    if w.is_empty() {
        return Err(format!("{name} requires at least one argument"));
    }
    if w.len() % 3 != 0 {
        return Err(format!("Bad input to {name}, too many arguments"));
    }
    w.chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(format!("{name} names can not be blank"));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
            })
        })
        .collect()
}

fn files(node: &Node, name: &str) -> Result<Files, String> {
    let w = node.words();
    if w.len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let (srcs, dest) = w.split_at(w.len() - 1);
    if parse_heredoc(&dest[0])?.is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut out = Files {
        sources: Vec::new(),
        inline: Vec::new(),
        dest: dest[0].clone(),
    };
    for src in srcs {
        match parse_heredoc(src)? {
            Some(h) => {
                let doc = node.heredocs.iter().find(|d| d.name == h.name);
                let data = doc.map(Heredoc::text).unwrap_or_default();
                out.inline.push(InlineFile {
                    name: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => out.sources.push(src.clone()),
        }
    }
    Ok(out)
}

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2m30s`...
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {}", super::ast::go_quote(s));
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if let Some(neg) = rest.strip_prefix('-') {
        return if neg.chars().all(|c| c == '0' || c == '.') {
            Ok(Duration::ZERO)
        } else {
            Err(format!("negative duration {s}"))
        };
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * nanos;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(total as u64))
}

fn interval(flags: &Flags, name: &str) -> Result<Option<Duration>, String> {
    let Some(v) = flags.string(name) else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    let d = parse_go_duration(&v)?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < Duration::from_millis(1) {
        return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
    }
    Ok(Some(d))
}

fn healthcheck(node: &Node) -> Result<Health, String> {
    let w = node.words();
    at_least_one(&w, "HEALTHCHECK")?;
    let typ = w[0].to_ascii_uppercase();
    if typ == "NONE" {
        if w.len() != 1 {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        check_flags(node, &[])?;
        return Ok(Health::None);
    }
    let flags = check_flags(
        node,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"));
    }
    let rest = &w[1..];
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = if node.json {
        std::iter::once("CMD".to_string())
            .chain(rest.iter().cloned())
            .collect()
    } else {
        vec!["CMD-SHELL".to_string(), rest.join(" ")]
    };
    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("invalid --retries value {v}"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(u32::try_from(n).map_err(|_| format!("invalid --retries value {v}"))?)
        }
    };
    Ok(Health::Check {
        test,
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries,
    })
}

fn valid_stage_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "-_.".contains(x))
}

fn from(node: &Node) -> Result<From, String> {
    let w = node.words();
    let name = match w.len() {
        3 if w[1].eq_ignore_ascii_case("as") => {
            let n = w[2].to_lowercase();
            if !valid_stage_name(&n) {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    super::ast::go_quote(&w[2])
                ));
            }
            Some(n)
        }
        1 => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = check_flags(node, &[("platform", Kind::String)])?;
    Ok(From {
        base: w[0].clone(),
        name,
        platform: flags.string("platform").filter(|p| !p.is_empty()),
    })
}

fn onbuild(node: &Node) -> Result<String, String> {
    let w = node.words();
    at_least_one(&w, "ONBUILD")?;
    check_flags(node, &[])?;
    let trigger = w[0].trim().to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    // The original text less the ONBUILD word, heredocs appended.
    let orig = node.original.trim_start();
    let mut expr = orig[orig.find(char::is_whitespace).unwrap_or(orig.len())..]
        .trim_start()
        .to_string();
    for h in &node.heredocs {
        expr.push('\n');
        expr.push_str(&h.content);
        expr.push_str(&h.name);
    }
    Ok(expr)
}

fn run(node: &Node) -> Result<Run, String> {
    let flags = check_flags(
        node,
        &[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
        ],
    )?;
    let network = match flags.string("network").as_deref() {
        None | Some("default") => Network::Default,
        Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(v) => return Err(format!("invalid network mode {}", super::ast::go_quote(v))),
    };
    let security = flags.string("security");
    if let Some(s) = &security {
        if s != "insecure" && s != "sandbox" {
            return Err(format!(
                "unsupported security mode {}",
                super::ast::go_quote(s)
            ));
        }
    }
    let r = Run {
        command: command_line(node),
        mount_specs: flags.strings("mount"),
        network,
        security,
    };
    // Specs without variables can be checked now.
    for spec in r.mount_specs.iter().filter(|s| !s.contains('$')) {
        parse_mount(spec, &mut |v| Ok(v.to_string()))?;
    }
    Ok(r)
}

/// Turn one node into its typed form; the error message is BuildKit's.
pub fn parse_node(node: &Node) -> Result<Parsed, String> {
    use Instruction as I;
    let name = node.name();
    let i = match name.as_str() {
        "from" => return from(node).map(Parsed::From),
        "run" => I::Run(run(node)?),
        "cmd" => {
            check_flags(node, &[])?;
            I::Cmd(command_line(node))
        }
        "entrypoint" => {
            check_flags(node, &[])?;
            I::Entrypoint(command_line(node))
        }
        "env" => I::Env(key_values(node, "ENV")?),
        "label" => I::Label(key_values(node, "LABEL")?),
        "maintainer" => I::Maintainer(exactly_one(node, "MAINTAINER")?),
        "workdir" => I::Workdir(exactly_one(node, "WORKDIR")?),
        "user" => I::User(exactly_one(node, "USER")?),
        "stopsignal" => I::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "expose" => {
            let mut w = node.words();
            at_least_one(&w, "EXPOSE")?;
            check_flags(node, &[])?;
            w.sort();
            I::Expose(w)
        }
        "volume" => {
            let w = node.words();
            at_least_one(&w, "VOLUME")?;
            check_flags(node, &[])?;
            let mut v = Vec::new();
            for x in w {
                let x = x.trim();
                if x.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                v.push(x.to_string());
            }
            I::Volume(v)
        }
        "arg" => {
            let w = node.words();
            at_least_one(&w, "ARG")?;
            let mut out = Vec::new();
            for a in w {
                out.push(match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDecl {
                        key: k.to_string(),
                        default: Some(v.to_string()),
                    },
                    None => ArgDecl {
                        key: a,
                        default: None,
                    },
                });
            }
            I::Arg(out)
        }
        "shell" => {
            check_flags(node, &[])?;
            let c = command_line(node);
            if c.args.is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            I::Shell(c.args)
        }
        "healthcheck" => I::Healthcheck(healthcheck(node)?),
        "onbuild" => I::Onbuild(onbuild(node)?),
        "copy" => {
            let f = check_flags(
                node,
                &[
                    ("chown", Kind::String),
                    ("from", Kind::String),
                    ("chmod", Kind::String),
                    ("link", Kind::Bool),
                    ("exclude", Kind::Strings),
                    ("parents", Kind::Bool),
                ],
            )?;
            I::Copy(Copy {
                files: files(node, "COPY")?,
                from: f.string("from").filter(|s| !s.is_empty()),
                chown: f.string("chown").filter(|s| !s.is_empty()),
                chmod: f.string("chmod").filter(|s| !s.is_empty()),
                link: f.bool("link"),
                parents: f.bool("parents"),
                excludes: f.strings("exclude"),
            })
        }
        "add" => {
            let f = check_flags(
                node,
                &[
                    ("chown", Kind::String),
                    ("chmod", Kind::String),
                    ("link", Kind::Bool),
                    ("keep-git-dir", Kind::Bool),
                    ("checksum", Kind::String),
                    ("unpack", Kind::Bool),
                    ("exclude", Kind::Strings),
                ],
            )?;
            I::Add(Add {
                files: files(node, "ADD")?,
                chown: f.string("chown").filter(|s| !s.is_empty()),
                chmod: f.string("chmod").filter(|s| !s.is_empty()),
                link: f.bool("link"),
                keep_git_dir: f.opt_bool("keep-git-dir"),
                checksum: f.string("checksum").filter(|s| !s.is_empty()),
                unpack: f.opt_bool("unpack"),
                excludes: f.strings("exclude"),
            })
        }
        _ => return Err(format!("unknown instruction: {}", node.cmd)),
    };
    Ok(Parsed::Instruction(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse::node_from_line;

    fn parse(line: &str) -> Result<Parsed, String> {
        parse_node(&node_from_line(line, '\\').unwrap())
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
    }

    #[test]
    fn healthcheck_forms() {
        assert_eq!(
            parse("HEALTHCHECK NONE").unwrap(),
            Parsed::Instruction(Instruction::Healthcheck(Health::None))
        );
        let Parsed::Instruction(Instruction::Healthcheck(Health::Check {
            test,
            interval,
            retries,
            ..
        })) = parse("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/").unwrap()
        else {
            panic!("not a check")
        };
        assert_eq!(test, ["CMD-SHELL", "curl -f http://x/"]);
        assert_eq!(interval, Some(Duration::from_secs(5)));
        assert_eq!(retries, Some(3));
        assert!(parse("HEALTHCHECK NONE x").is_err());
        assert!(parse("HEALTHCHECK CONNECT TCP 7000").is_err());
        assert!(parse("HEALTHCHECK --interval=1ns CMD x").is_err());
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            parse("FROM --platform=linux/arm64 alpine AS Build").unwrap(),
            Parsed::From(From {
                base: "alpine".into(),
                name: Some("build".into()),
                platform: Some("linux/arm64".into())
            })
        );
        assert!(parse("FROM a b").is_err());
        assert!(parse("FROM a AS 1x").is_err());
    }

    #[test]
    fn copy_flags_and_inline_files() {
        let Parsed::Instruction(Instruction::Copy(c)) =
            parse("COPY --from=build --chown=1:2 --chmod=755 --link --parents a b /dst/").unwrap()
        else {
            panic!("not a copy")
        };
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!((c.link, c.parents), (true, true));
        assert_eq!(c.files.sources, ["a", "b"]);
        assert!(parse("COPY --bogus a b").is_err());
        assert!(parse("COPY a").is_err());
        assert!(parse("COPY a <<EOF").is_err());
    }

    #[test]
    fn run_flags() {
        let Parsed::Instruction(Instruction::Run(r)) =
            parse("RUN --mount=type=cache,target=/c --network=none make").unwrap()
        else {
            panic!("not a run")
        };
        assert_eq!(r.network, Network::None);
        assert_eq!(r.mount_specs, ["type=cache,target=/c"]);
        assert_eq!(r.command.args, ["make"]);
        assert!(parse("RUN --network=bridge x").is_err());
        assert!(parse("RUN --mount=type=nope x").is_err());
    }

    #[test]
    fn onbuild_rules() {
        assert_eq!(
            parse("ONBUILD  RUN echo hi").unwrap(),
            Parsed::Instruction(Instruction::Onbuild("RUN echo hi".into()))
        );
        assert!(parse("ONBUILD ONBUILD RUN x").is_err());
        assert!(parse("ONBUILD FROM x").is_err());
    }

    #[test]
    fn shell_needs_json() {
        assert!(parse("SHELL /bin/sh -c").is_err());
        assert_eq!(
            parse(r#"SHELL ["/bin/bash", "-c"]"#).unwrap(),
            Parsed::Instruction(Instruction::Shell(vec!["/bin/bash".into(), "-c".into()]))
        );
    }
}
