//! `--format` as Docker reads it: `table` (the default table), `json`
//! (one JSON object a line), or a Go template (`{{.Names}}`,
//! `table {{.ID}}\t{{.Status}}`, `{{json .}}`, `{{.State.Pid}}`).
//!
//! Templates run on gtmpl, the Rust implementation of Go's text/template
//! (pipelines, if/range/with, variables, comparison functions). On top we
//! add what Docker adds: its functions (json, join, split, lower, upper,
//! title, pad, truncate, println), the `table` prefix with a header and
//! Go tabwriter's alignment, and values printed as Go's `%v` prints them.

use anyhow::anyhow;
use gtmpl::{FuncError, Template, Value};
use serde_json::Value as Json;

/// Docker's tabwriter: minimum cell width 10, 3 spaces of padding.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Render `rows` for `--format` (None: `default`, a `table ...` template).
/// `header` maps each field to its column title. Rows are like Go structs:
/// a field they lack is an error, as in Docker.
pub fn rows(
    format: Option<&str>,
    default: &str,
    header: &[(&str, &str)],
    rows: &[Json],
) -> anyhow::Result<String> {
    let format = match format.map(str::trim) {
        None | Some("") | Some("table") => default,
        Some("json") => return Ok(json_lines(rows)),
        Some(f) => f,
    };
    let (table, body) = split_table(format);
    let tpl = parse(&body)?;
    let mut out = String::new();
    if table {
        let labels = Json::Object(
            header
                .iter()
                .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
                .collect(),
        );
        out.push_str(&exec(&tpl, &labels, true)?);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&exec(&tpl, row, true)?);
        out.push('\n');
    }
    Ok(if table { tabwrite(&out) } else { out })
}

/// Render one object per line (inspect, info, version): documents, so a
/// missing key prints `<no value>` as Docker's raw-JSON fallback does.
pub fn objects(format: &str, objects: &[Json]) -> anyhow::Result<String> {
    let (table, body) = split_table(format);
    let tpl = parse(&body)?;
    let mut out = String::new();
    for o in objects {
        out.push_str(&exec(&tpl, o, false)?);
        out.push('\n');
    }
    Ok(if table { tabwrite(&out) } else { out })
}

fn json_lines(rows: &[Json]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// Docker's output: the JSON array, or each object through the template.
pub fn print_inspect(objects: &[Json], format: Option<&str>) -> anyhow::Result<()> {
    match format.map(str::trim) {
        None | Some("") | Some("json") => {
            println!("{}", serde_json::to_string_pretty(objects)?)
        }
        Some(tpl) => print!("{}", self::objects(tpl, objects)?),
    }
    Ok(())
}

/// Docker: a leading `table` asks for a header and aligned columns; `\t`
/// and `\n` typed in the shell mean a tab and a newline.
fn split_table(format: &str) -> (bool, String) {
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest),
        None => (false, format),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    (table, body)
}

fn parse(body: &str) -> anyhow::Result<Template> {
    let mut tpl = Template::default();
    tpl.add_funcs(&[
        ("json", json as gtmpl::Func),
        ("len", len),
        ("join", join),
        ("split", split),
        ("lower", lower),
        ("upper", upper),
        ("title", title),
        ("pad", pad),
        ("truncate", truncate),
        ("println", println),
        (SHOW, show),
    ]);
    tpl.parse(print_through_show(body))
        .map_err(|e| anyhow!("bad --format template: {e}"))?;
    Ok(tpl)
}

fn exec(tpl: &Template, data: &Json, strict: bool) -> anyhow::Result<String> {
    let ctx = gtmpl::Context::from(to_value(data, strict));
    tpl.render(&ctx).map_err(|e| match e {
        // gtmpl would print the whole object after the field's name.
        gtmpl::error::ExecError::NoFiledFor(field, _) => {
            anyhow!("bad --format template: can't evaluate field {field}")
        }
        e => anyhow!("bad --format template: {e}"),
    })
}

/// JSON into gtmpl's values: the top object of a row is an `Object` (an
/// unknown field is an error, as on a Go struct), documents are `Map`s.
fn to_value(j: &Json, strict: bool) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            _ => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        // Values come from images and registries: no escape sequences
        // reach the terminal through a template.
        Json::String(s) => Value::String(crate::text::escape_control(s)),
        Json::Array(a) => Value::Array(a.iter().map(|v| to_value(v, false)).collect()),
        Json::Object(o) => {
            let m = o
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v, false)))
                .collect();
            if strict {
                Value::Object(m)
            } else {
                Value::Map(m)
            }
        }
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => {
            let text = n.to_string();
            serde_json::from_str(&text).unwrap_or(Json::String(text))
        }
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        // Go's encoder writes a map's keys sorted.
        Value::Object(m) | Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&m[k])))
                    .collect(),
            )
        }
    }
}

/// Go's `%v`: `[a b]` for a list, `map[k:v]` with sorted keys, `<nil>`.
fn go_print(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Function(_) => "<func>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) | Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_print(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

const SHOW: &str = "__burrow_show";

/// gtmpl prints a value with Rust's Debug (`[String("a")]`); Go prints
/// `[a]`. So every action that prints gets `| __burrow_show` appended,
/// which returns the Go rendering as a string. Actions that print nothing
/// (keywords, comments, variable declarations) are left alone.
fn print_through_show(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 32);
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let action = &rest[start..];
        let Some(end) = action_end(action) else {
            // Unclosed: let gtmpl report it.
            out.push_str(action);
            return out;
        };
        let (inner_start, inner_end) = trim_markers(&action[..end]);
        let inner = &action[inner_start..inner_end];
        out.push_str(&action[..inner_start]);
        out.push_str(inner);
        if prints(inner) {
            out.push_str(" | ");
            out.push_str(SHOW);
        }
        out.push_str(&action[inner_end..end]);
        rest = &action[end..];
    }
    out.push_str(rest);
    out
}

/// The byte just past an action's closing `}}`, skipping quoted strings.
fn action_end(action: &str) -> Option<usize> {
    let b = action.as_bytes();
    let mut i = 2;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) if b[i] == b'\\' && q != b'`' => i += 1,
            Some(q) if b[i] == q => quote = None,
            Some(_) => {}
            None if b[i] == b'"' || b[i] == b'`' || b[i] == b'\'' => quote = Some(b[i]),
            None if b[i..].starts_with(b"}}") => return Some(i + 2),
            None => {}
        }
        i += 1;
    }
    None
}

/// The span of an action's inside, without `{{`, `}}` and trim markers.
fn trim_markers(action: &str) -> (usize, usize) {
    let mut start = 2;
    if action[start..].starts_with("- ") {
        start += 1;
    }
    let mut end = action.len() - 2;
    if action[..end].ends_with(" -") {
        end -= 1;
    }
    (start, end.max(start))
}

fn prints(inner: &str) -> bool {
    let t = inner.trim();
    if t.is_empty() || t.starts_with("/*") {
        return false;
    }
    let first = t
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    const KEYWORDS: [&str; 10] = [
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    if KEYWORDS.contains(&first) {
        return false;
    }
    // `$x := ...`, `$i, $v := ...`, `$x = ...`: a declaration.
    if t.starts_with('$') {
        let head: String = t.chars().take_while(|c| *c != '"' && *c != '`').collect();
        if head.contains(":=") || head.split_whitespace().nth(1) == Some("=") {
            return false;
        }
    }
    true
}

/// Go's text/tabwriter as Docker sets it up: each tab-terminated cell is
/// padded to its column's width (the widest cell plus 3, at least 10); the
/// text after a line's last tab is not a cell and is left as it is.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let columns = lines.iter().map(|c| c.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns.saturating_sub(1))
        .map(|i| {
            let widest = lines
                .iter()
                .filter(|cells| cells.len() > i + 1)
                .map(|cells| cells[i].chars().count())
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

// Docker's template functions (cli/templates). gtmpl passes arguments as
// values; a wrong type is the template's error, reported as such.

fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::NoValue) | Some(Value::Nil) | None if i > 0 => {
            Err(FuncError::AtLeastXArgs(name.into(), i + 1))
        }
        Some(v) => Ok(go_print(v)),
        None => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

fn arg_int(args: &[Value], i: usize, name: &str) -> Result<usize, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .to_string()
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: {n} is not a count"))),
        _ => Err(FuncError::Generic(format!(
            "{name}: argument {} must be a number",
            i + 1
        ))),
    }
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or_else(|| FuncError::ExactlyXArgs("json".into(), 1))?;
    Ok(Value::String(to_json(v).to_string()))
}

/// Go's `len`, which also counts a map's entries (gtmpl's does not:
/// inspect objects are maps here, so `{{len .Mounts}}` must work).
fn len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match args {
        [Value::String(s)] => s.len(),
        [Value::Array(a)] => a.len(),
        [Value::Object(m) | Value::Map(m)] => m.len(),
        [v] => {
            return Err(FuncError::Generic(format!(
                "len of type {}",
                match v {
                    Value::Nil | Value::NoValue => "nil",
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    _ => "func",
                }
            )))
        }
        _ => return Err(FuncError::ExactlyXArgs("len".into(), 1)),
    };
    Ok(Value::from(n as u64))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1, "join")?;
    match args.first() {
        Some(Value::Array(a)) => Ok(Value::String(
            a.iter().map(go_print).collect::<Vec<_>>().join(&sep),
        )),
        _ => Err(FuncError::Generic(
            "join: the first argument must be a list".into(),
        )),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "split")?;
    let sep = arg_str(args, 1, "split")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "lower")?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "upper")?.to_uppercase()))
}

/// Go's strings.Title: the first letter of each word upper-cased.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    Ok(Value::String(out))
}

/// `pad S BEFORE AFTER`: S with spaces on each side.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "pad")?;
    let before = arg_int(args, 1, "pad")?;
    let after = arg_int(args, 2, "pad")?;
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    )))
}

/// `truncate S N`: the first N characters of S.
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "truncate")?;
    let n = arg_int(args, 1, "truncate")?;
    Ok(Value::String(s.chars().take(n).collect()))
}

/// Go's fmt.Sprintln: operands separated by spaces, a newline at the end.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let items: Vec<String> = args.iter().map(go_print).collect();
    Ok(Value::String(format!("{}\n", items.join(" "))))
}

fn show(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        args.last()
            .map(go_print)
            .unwrap_or_else(|| "<no value>".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Json {
        json!({"ID": "abc", "Names": "web", "Status": "Up 2 seconds", "Labels": "a=b"})
    }

    const HEAD: &[(&str, &str)] = &[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Status", "STATUS"),
        ("Labels", "LABELS"),
    ];

    #[test]
    fn len_counts_maps_lists_and_strings() {
        let doc = json!({"M": {"a": 1, "b": 2}, "L": [1, 2, 3], "S": "abcd", "N": 5});
        let out = objects(
            "{{len .M}} {{len .L}} {{len .S}}",
            std::slice::from_ref(&doc),
        )
        .unwrap();
        assert_eq!(out, "2 3 4\n");
        assert!(objects("{{len .N}}", &[doc]).is_err());
    }

    #[test]
    fn plain_template_one_line_a_row() {
        let out = rows(Some("{{.Names}}"), "", HEAD, &[row(), row()]).unwrap();
        assert_eq!(out, "web\nweb\n");
        let out = rows(Some(r"{{.ID}}\t{{.Names}}"), "", HEAD, &[row()]).unwrap();
        assert_eq!(out, "abc\tweb\n");
    }

    #[test]
    fn table_prints_header_and_aligns_like_tabwriter() {
        let out = rows(Some(r"table {{.ID}}\t{{.Status}}"), "", HEAD, &[row()]).unwrap();
        assert_eq!(out, "CONTAINER ID   STATUS\nabc            Up 2 seconds\n");
        // Short columns are still 10 wide.
        let out = rows(Some(r"table {{.ID}}\t{{.Names}}"), "", HEAD, &[]).unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\n");
        let out = rows(Some(r"table {{.Names}}\t{{.ID}}"), "", HEAD, &[row()]).unwrap();
        assert_eq!(out, "NAMES     CONTAINER ID\nweb       abc\n");
    }

    #[test]
    fn json_of_a_row_and_unknown_fields() {
        let out = rows(Some("{{json .}}"), "", HEAD, &[row()]).unwrap();
        let v: Json = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v, row());
        let err = rows(Some("{{.Nope}}"), "", HEAD, &[row()]).unwrap_err();
        assert!(err.to_string().contains("Nope"), "{err}");
        assert!(rows(Some("{{.ID"), "", HEAD, &[row()]).is_err());
        assert!(rows(Some("{{nosuchfunc .ID}}"), "", HEAD, &[row()]).is_err());
    }

    #[test]
    fn documents_print_like_go() {
        let doc = json!({
            "State": {"Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"z": "1", "a": "2"}, "Cmd": null},
        });
        let one = |f: &str| objects(f, std::slice::from_ref(&doc)).unwrap();
        assert_eq!(one("{{.State.Pid}}"), "42\n");
        assert_eq!(one("{{.Config.Env}}"), "[A=1 B=2]\n");
        assert_eq!(one("{{.Config.Labels}}"), "map[a:2 z:1]\n");
        assert_eq!(one("{{.Config.Cmd}}"), "<nil>\n");
        assert_eq!(one("{{.Nope}}"), "<no value>\n");
        assert_eq!(one("{{json .State}}"), "{\"Pid\":42,\"Running\":true}\n");
        assert_eq!(one("{{join .Config.Env \",\"}}"), "A=1,B=2\n");
        assert_eq!(
            one("{{range .Config.Env}}{{println .}}{{end}}"),
            "A=1\nB=2\n\n"
        );
        assert_eq!(one("{{- $p := .State.Pid -}} pid={{$p}}"), "pid=42\n");
        assert_eq!(one("{{if .State.Running}}up{{else}}down{{end}}"), "up\n");
        assert_eq!(one("{{\"a}}b\" | upper}}"), "A}}B\n");
        assert_eq!(
            one("{{lower \"AB\"}} {{title \"hello world\"}}"),
            "ab Hello World\n"
        );
        assert_eq!(
            one("{{truncate \"abcdef\" 3}}|{{pad \"x\" 1 2}}|"),
            "abc| x  |\n"
        );
        assert_eq!(one("{{index (split \"a:b\" \":\") 1}}"), "b\n");
    }

    #[test]
    fn rows_json_keyword_and_default() {
        let out = rows(Some("json"), "", HEAD, &[row()]).unwrap();
        assert_eq!(out.lines().count(), 1);
        let out = rows(None, r"table {{.Names}}", HEAD, &[row()]).unwrap();
        assert_eq!(out, "NAMES\nweb\n");
    }
}
