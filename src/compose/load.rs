//! Loading a project as Compose v2 does: find the files (or take `-f`),
//! read `.env` (or `--env-file`), interpolate and check each file, follow
//! `include`, merge the files in order, resolve `extends`, keep the
//! services of the active profiles, name the project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use super::interpolate::{self, Vars};
use super::{dotenv, merge, normalize, schema, yaml};

/// Compose's file names, in the order it looks for them.
pub const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
pub const OVERRIDE_NAMES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The flags shared by every `compose` verb.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f`, in order; `-` reads standard input.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    /// `--env-file`, in order (later files win).
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub directory: PathBuf,
    pub files: Vec<PathBuf>,
    /// The normalised model (what `config` prints).
    pub model: Value,
    /// Said once each on stderr by the caller (unset variables, several
    /// candidate files).
    pub warnings: Vec<String>,
}

/// Load the project the options point at.
pub fn load(opts: &Options) -> anyhow::Result<Project> {
    let cwd = std::env::current_dir().context("the current directory")?;
    let mut warnings = Vec::new();
    let files = find_files(opts, &cwd, &mut warnings)?;
    let directory = match &opts.project_directory {
        Some(d) => absolute(&cwd, d),
        None => files
            .first()
            .and_then(|f| f.parent())
            .filter(|_| !is_stdin(&files[0]))
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
    };
    let vars = variables(opts, &cwd, &directory)?;
    let schema = schema::load_schema()?;
    let mut model = Value::Object(Map::new());
    let mut unset = Vec::new();
    for f in &files {
        let doc = read_file(f, &vars, schema.as_ref(), &mut unset)?;
        let doc = with_includes(doc, f, &directory, schema.as_ref(), &mut unset, 0)?;
        merge::files(&mut model, doc);
    }
    for u in unset {
        warnings.push(format!(
            "The {u:?} variable is not set. Defaulting to a blank string."
        ));
    }
    resolve_extends(
        &mut model,
        &directory,
        &vars,
        schema.as_ref(),
        &mut warnings,
    )?;
    normalize::absolutize(&mut model, &directory);
    let name = project_name(opts, &vars, &model, &directory)?;
    let profiles = active_profiles(opts, &vars);
    let mut top = match model {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    keep_profiles(&mut top, &profiles);
    check_services(&top)?;
    let model = normalize::project(&name, top, &vars)?;
    Ok(Project {
        name,
        directory,
        files,
        model,
        warnings,
    })
}

fn is_stdin(p: &Path) -> bool {
    p == Path::new("-")
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// `-f` as given; else COMPOSE_FILE; else the first compose file found in
/// the current directory or its parents, with its override file.
fn find_files(
    opts: &Options,
    cwd: &Path,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts
            .files
            .iter()
            .map(|f| {
                if is_stdin(f) {
                    f.clone()
                } else {
                    absolute(cwd, f)
                }
            })
            .collect());
    }
    if let Some(list) = std::env::var("COMPOSE_FILE").ok().filter(|s| !s.is_empty()) {
        let sep = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        return Ok(list
            .split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|f| absolute(cwd, Path::new(f)))
            .collect());
    }
    let start = opts
        .project_directory
        .as_deref()
        .map(|d| absolute(cwd, d))
        .unwrap_or_else(|| cwd.to_path_buf());
    for dir in start.ancestors() {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        let Some(first) = found.first() else { continue };
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            warnings.push(format!(
                "Found multiple config files with supported names: {}. Using {}",
                names.join(", "),
                first.display()
            ));
        }
        let mut files = vec![first.clone()];
        if let Some(o) = OVERRIDE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
        {
            files.push(o);
        }
        return Ok(files);
    }
    bail!(
        "no configuration file provided: not found (looked for {} in {} and its parents; \
         or name one with -f)",
        FILE_NAMES.join(", "),
        start.display()
    )
}

/// The variables for interpolation: the env files (`--env-file`, else
/// `.env` in the project directory), under the process environment.
fn variables(opts: &Options, cwd: &Path, dir: &Path) -> anyhow::Result<Vars> {
    let mut vars = Vars::default();
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let dot = dir.join(".env");
        if dot.is_file() {
            vec![dot]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| absolute(cwd, f)).collect()
    };
    let mut process = Vars::default();
    for (k, v) in std::env::vars() {
        process.map.insert(k, v);
    }
    for f in env_files {
        let text = std::fs::read_to_string(&f)
            .with_context(|| format!("read the env file {}", f.display()))?;
        // Later lines see earlier ones, and the environment.
        let mut seen = process.clone();
        for (k, v) in &vars.map {
            seen.map.entry(k.clone()).or_insert(v.clone());
        }
        let parsed =
            dotenv::parse(&text, &seen).with_context(|| format!("env file {}", f.display()))?;
        vars.map.extend(parsed);
    }
    vars.map.extend(process.map);
    Ok(vars)
}

/// Read, parse, interpolate and check one file.
fn read_file(
    f: &Path,
    vars: &Vars,
    schema: Option<&Value>,
    unset: &mut Vec<String>,
) -> anyhow::Result<Value> {
    let shown = crate::text::escape_control(&f.display().to_string());
    let text = if is_stdin(f) {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("read the compose file from standard input")?;
        s
    } else {
        std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
    };
    let mut doc = yaml::parse(&shown, &text)?;
    interpolate::value(&mut doc, vars, "", unset).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    schema::validate(f, &doc, schema)?;
    Ok(doc)
}

/// `include`: each entry is a project of its own (its paths relative to
/// its directory, its own env file), whose resources join this one; a
/// name both define is an error.
fn with_includes(
    mut doc: Value,
    file: &Path,
    project_dir: &Path,
    schema: Option<&Value>,
    unset: &mut Vec<String>,
    depth: usize,
) -> anyhow::Result<Value> {
    let Some(includes) = doc.as_object_mut().and_then(|m| m.remove("include")) else {
        return Ok(doc);
    };
    if depth > 16 {
        bail!("{}: include nests too deep (a cycle?)", file.display());
    }
    let base = if is_stdin(file) {
        project_dir.to_path_buf()
    } else {
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let Value::Array(entries) = includes else {
        bail!("{}: include must be a list", file.display());
    };
    for entry in entries {
        let (paths, dir, env_files) = match &entry {
            Value::String(s) => (vec![s.clone()], None, Vec::new()),
            Value::Object(o) => {
                let paths = match o.get("path") {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                    _ => bail!("{}: include: an entry without a path", file.display()),
                };
                let env = match o.get("env_file") {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                };
                let dir = o
                    .get("project_directory")
                    .and_then(Value::as_str)
                    .map(String::from);
                (paths, dir, env)
            }
            _ => bail!(
                "{}: include: an entry must be a path or a mapping",
                file.display()
            ),
        };
        let files: Vec<PathBuf> = paths.iter().map(|p| base.join(p)).collect();
        let sub_dir = match dir {
            Some(d) => base.join(d),
            None => files[0].parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let sub_opts = Options {
            env_files: env_files.iter().map(|e| base.join(e)).collect(),
            ..Default::default()
        };
        let vars = variables(&sub_opts, &base, &sub_dir)?;
        let mut sub = Value::Object(Map::new());
        for f in &files {
            let d = read_file(f, &vars, schema, unset)?;
            let d = with_includes(d, f, &sub_dir, schema, unset, depth + 1)?;
            merge::files(&mut sub, d);
        }
        normalize::absolutize(&mut sub, &sub_dir);
        join_included(&mut doc, sub, &files[0])?;
    }
    Ok(doc)
}

fn join_included(doc: &mut Value, sub: Value, from: &Path) -> anyhow::Result<()> {
    let (Some(top), Value::Object(sub)) = (doc.as_object_mut(), sub) else {
        return Ok(());
    };
    for (section, items) in sub {
        let Value::Object(items) = items else {
            continue;
        };
        if !["services", "networks", "volumes", "secrets", "configs"].contains(&section.as_str()) {
            continue;
        }
        let into = top
            .entry(section.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if into.is_null() {
            *into = Value::Object(Map::new());
        }
        let Some(into) = into.as_object_mut() else {
            continue;
        };
        for (k, v) in items {
            if into.contains_key(&k) {
                bail!(
                    "{section}.{k} conflicts with imported resource (from {})",
                    from.display()
                );
            }
            into.insert(k, v);
        }
    }
    Ok(())
}

/// `extends`: a service takes another's configuration (from this model or
/// another file) and merges its own over it.
fn resolve_extends(
    model: &mut Value,
    dir: &Path,
    vars: &Vars,
    schema: Option<&Value>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    let Some(services) = model.get("services").and_then(Value::as_object).cloned() else {
        return Ok(());
    };
    let mut done = Map::new();
    for name in services.keys() {
        let mut chain = Vec::new();
        let mut unset = Vec::new();
        let svc = extended(&services, name, dir, vars, schema, &mut chain, &mut unset)?;
        done.insert(name.clone(), svc);
        for u in unset {
            warnings.push(format!(
                "The {u:?} variable is not set. Defaulting to a blank string."
            ));
        }
    }
    model["services"] = Value::Object(done);
    Ok(())
}

fn extended(
    services: &Map<String, Value>,
    name: &str,
    dir: &Path,
    vars: &Vars,
    schema: Option<&Value>,
    chain: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> anyhow::Result<Value> {
    let key = format!("{}:{name}", dir.display());
    if chain.contains(&key) {
        bail!(
            "services.{name}: extends makes a cycle ({})",
            chain.join(" -> ")
        );
    }
    chain.push(key);
    let svc = services
        .get(name)
        .cloned()
        .with_context(|| format!("extends names a service {name:?} that does not exist"))?;
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let (base_name, file) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(o) => (
            o.get("service")
                .and_then(Value::as_str)
                .with_context(|| format!("services.{name}.extends: service is required"))?
                .to_string(),
            o.get("file").and_then(Value::as_str).map(String::from),
        ),
        _ => bail!("services.{name}.extends: must be a name or a mapping"),
    };
    let mut base = match file {
        None => extended(services, &base_name, dir, vars, schema, chain, unset)?,
        Some(f) => {
            let path = dir.join(&f);
            let other = read_file(&path, vars, schema, unset)?;
            let other_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut wrapped = other.clone();
            // Its relative paths are its directory's.
            normalize::absolutize(&mut wrapped, &other_dir);
            let other_services = wrapped
                .get("services")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if !other_services.contains_key(&base_name) {
                bail!(
                    "services.{name}.extends: no service {base_name:?} in {}",
                    path.display()
                );
            }
            extended(
                &other_services,
                &base_name,
                &other_dir,
                vars,
                schema,
                chain,
                unset,
            )?
        }
    };
    let mut own = svc;
    if let Some(o) = own.as_object_mut() {
        o.remove("extends");
    }
    if let Some(b) = base.as_object_mut() {
        // Never inherited: how the base relates to others.
        b.remove("depends_on");
    }
    merge::service(&mut base, own);
    chain.pop();
    Ok(base)
}

/// `-p`, COMPOSE_PROJECT_NAME, the file's `name:`, or the directory's
/// name made valid.
fn project_name(opts: &Options, vars: &Vars, model: &Value, dir: &Path) -> anyhow::Result<String> {
    let given = opts
        .project_name
        .clone()
        .or_else(|| {
            vars.get("COMPOSE_PROJECT_NAME")
                .map(String::from)
                .filter(|s| !s.is_empty())
        })
        .or_else(|| model.get("name").and_then(Value::as_str).map(String::from));
    match given {
        Some(n) => {
            if !valid_name(&n) {
                bail!(
                    "invalid project name {:?}: must consist only of lowercase alphanumeric \
                     characters, hyphens, and underscores as well as start with a letter or number",
                    crate::text::escape_control(&n)
                );
            }
            Ok(n)
        }
        None => {
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let n: String = base
                .chars()
                .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
                .collect();
            let n = n.trim_start_matches(['_', '-']).to_string();
            if n.is_empty() {
                bail!(
                    "project name must not be empty: the directory {} gives none; use -p",
                    dir.display()
                );
            }
            Ok(n)
        }
    }
}

pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn active_profiles(opts: &Options, vars: &Vars) -> Vec<String> {
    let mut p = opts.profiles.clone();
    if p.is_empty() {
        if let Some(env) = vars.get("COMPOSE_PROFILES") {
            p = env
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
    }
    p
}

/// Services with `profiles` only when one of them is active (`*`: all).
fn keep_profiles(top: &mut Map<String, Value>, active: &[String]) {
    let Some(Value::Object(services)) = top.get_mut("services") else {
        return;
    };
    let all = active.iter().any(|a| a == "*");
    services.retain(|_, svc| {
        let Some(Value::Array(ps)) = svc.get("profiles") else {
            return true;
        };
        all || ps
            .iter()
            .any(|p| p.as_str().is_some_and(|p| active.iter().any(|a| a == p)))
    });
}

/// What the schema cannot say: each service has an image or a build,
/// names only defined services in depends_on, and no dependency cycle.
fn check_services(top: &Map<String, Value>) -> anyhow::Result<()> {
    let Some(Value::Object(services)) = top.get("services") else {
        return Ok(());
    };
    let mut deps: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, svc) in services {
        if svc.get("image").is_none() && svc.get("build").is_none() {
            bail!("service {name:?} has neither an image nor a build context specified");
        }
        let d: Vec<String> =
            merge::depends_map(svc.get("depends_on").cloned().unwrap_or(Value::Null))
                .into_iter()
                .filter(|(_, v)| v.get("required") != Some(&Value::Bool(false)))
                .map(|(k, _)| k)
                .collect();
        for dep in &d {
            if !services.contains_key(dep) {
                bail!("service {name:?} depends on undefined service {dep:?}");
            }
        }
        deps.insert(name, d);
    }
    // Depth-first, with the path so far for the message.
    fn visit<'a>(
        n: &'a str,
        deps: &'a BTreeMap<&str, Vec<String>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> anyhow::Result<()> {
        if done.contains(&n) {
            return Ok(());
        }
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<&str> = path[i..].to_vec();
            cycle.push(n);
            bail!("dependency cycle detected: {}", cycle.join(" -> "));
        }
        path.push(n);
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, path, done)?;
        }
        path.pop();
        done.push(n);
        Ok(())
    }
    let mut done = Vec::new();
    for n in deps.keys() {
        visit(n, &deps, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let mut env = Vars::default();
        env.map.insert("HOME".into(), "/h".into());
        let m = dotenv::parse(
            "# c\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"x\\ny $A\"\nE=${HOME}/e\nF=\n",
            &env,
        )
        .unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "lit $A");
        assert_eq!(m["D"], "x\ny 1");
        assert_eq!(m["E"], "/h/e");
        assert_eq!(m["F"], "");
        assert!(dotenv::parse("A='open\n", &env).is_err());
    }

    #[test]
    fn project_names() {
        assert!(valid_name("my_app-1"));
        assert!(!valid_name("My"));
        assert!(!valid_name("-x"));
        let opts = Options::default();
        let m = serde_json::json!({});
        let n = project_name(&opts, &Vars::default(), &m, Path::new("/x/My.App_1")).unwrap();
        assert_eq!(n, "myapp_1");
        let m = serde_json::json!({"name": "Bad Name"});
        assert!(project_name(&opts, &Vars::default(), &m, Path::new("/x/a")).is_err());
    }

    #[test]
    fn cycles_and_missing_dependencies_are_refused() {
        let top = |v: Value| v.as_object().unwrap().clone();
        let e = check_services(&top(serde_json::json!({"services": {
            "a": {"image": "x", "depends_on": ["b"]},
            "b": {"image": "x", "depends_on": {"c": {"condition": "service_healthy"}}},
            "c": {"image": "x", "depends_on": ["a"]},
        }})))
        .unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle detected: a -> b -> c -> a");
        let e = check_services(&top(serde_json::json!({"services": {
            "a": {"image": "x", "depends_on": ["nope"]},
        }})))
        .unwrap_err();
        assert!(e.to_string().contains("undefined service \"nope\""));
        assert!(check_services(&top(serde_json::json!({"services": {"a": {}}}))).is_err());
    }

    #[test]
    fn extends_within_the_file_merges_and_refuses_a_cycle() {
        let mut m = serde_json::json!({"services": {
            "base": {"image": "b", "environment": {"A": "1"}, "depends_on": ["x"]},
            "web": {"extends": "base", "environment": ["B=2"]},
        }});
        let mut w = Vec::new();
        resolve_extends(&mut m, Path::new("/p"), &Vars::default(), None, &mut w).unwrap();
        let web = &m["services"]["web"];
        assert_eq!(web["image"], "b");
        assert_eq!(web["environment"], serde_json::json!({"A": "1", "B": "2"}));
        assert!(web.get("extends").is_none());
        assert!(web.get("depends_on").is_none());
        let mut m = serde_json::json!({"services": {
            "a": {"image": "x", "extends": "b"},
            "b": {"image": "x", "extends": {"service": "a"}},
        }});
        let e =
            resolve_extends(&mut m, Path::new("/p"), &Vars::default(), None, &mut w).unwrap_err();
        assert!(e.to_string().contains("extends makes a cycle"), "{e}");
    }

    #[test]
    fn profiles_filter_services() {
        let mut top = serde_json::json!({"services": {
            "always": {"image": "x"},
            "dbg": {"image": "x", "profiles": ["debug"]},
        }})
        .as_object()
        .unwrap()
        .clone();
        let mut t = top.clone();
        keep_profiles(&mut t, &[]);
        assert_eq!(t["services"].as_object().unwrap().len(), 1);
        keep_profiles(&mut top, &["debug".into()]);
        assert_eq!(top["services"].as_object().unwrap().len(), 2);
    }
}
