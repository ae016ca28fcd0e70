//! Compose's variable interpolation in string values: `$V`, `${V}`,
//! `${V:-default}`, `${V-default}`, `${V:?error}`, `${V?error}`,
//! `${V:+replacement}`, `${V+replacement}`, `$$` for a `$`; defaults and
//! replacements may hold interpolations themselves.

use std::collections::BTreeMap;

use serde_json::Value;

/// Where variables come from: the process environment over the `.env`
/// file (or `--env-file`), as Compose ranks them.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub map: BTreeMap<String, String>,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
}

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `${V:?msg}` / `${V?msg}` with V missing.
    Required { name: String, message: String },
    /// A `$` that starts nothing Compose knows.
    Invalid,
}

/// Interpolate every string in `v` (keys are left alone, as Compose does);
/// `path` names where in the file, for errors. Unset variables without a
/// default become "" and are reported once each through `unset`.
pub fn value(
    v: &mut Value,
    vars: &Vars,
    path: &str,
    unset: &mut Vec<String>,
) -> anyhow::Result<()> {
    match v {
        Value::String(s) if s.contains('$') => {
            *s = string(s, vars, unset).map_err(|p| match p {
                Problem::Required { name, message } => anyhow::anyhow!(
                    "{path}: required variable {name} is missing a value: {message}"
                ),
                Problem::Invalid => anyhow::anyhow!(
                    "invalid interpolation format for {path}: {:?}; you may need to escape any $ \
                     with another $",
                    crate::text::escape_control(s)
                ),
            })?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                value(x, vars, &format!("{path}[{i}]"), unset)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                value(x, vars, &super::yaml::join(path, k), unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Interpolate one string.
pub fn string(s: &str, vars: &Vars, unset: &mut Vec<String>) -> Result<String, Problem> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or(Problem::Invalid)?;
            out.push_str(&braced(&body[..end], vars, unset)?);
            rest = &body[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                return Err(Problem::Invalid);
            }
            out.push_str(&lookup(&after[..n], vars, unset));
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The length of the variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

/// Where the `}` that closes a `${` is, nested ones skipped.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, vars: &Vars, unset: &mut Vec<String>) -> String {
    match vars.get(name) {
        Some(v) => v.to_string(),
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// The inside of `${...}`.
fn braced(body: &str, vars: &Vars, unset: &mut Vec<String>) -> Result<String, Problem> {
    let n = name_len(body);
    if n == 0 {
        return Err(Problem::Invalid);
    }
    let (name, op) = body.split_at(n);
    if op.is_empty() {
        return Ok(lookup(name, vars, unset));
    }
    let value = vars.get(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    // With a colon, an empty value counts as missing.
    let present = value.is_some_and(|v| !colon || !v.is_empty());
    let Some(kind) = op.chars().next() else {
        return Err(Problem::Invalid);
    };
    let arg = &op[kind.len_utf8()..];
    match kind {
        '-' if present => Ok(value.unwrap_or_default().to_string()),
        '-' => string(arg, vars, unset),
        '?' if present => Ok(value.unwrap_or_default().to_string()),
        '?' => Err(Problem::Required {
            name: name.to_string(),
            message: string(arg, vars, unset)?,
        }),
        '+' if present => string(arg, vars, unset),
        '+' => Ok(String::new()),
        _ => Err(Problem::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.map.insert("SET".into(), "value".into());
        v.map.insert("EMPTY".into(), String::new());
        v.map.insert("NAME".into(), "SET".into());
        v
    }

    fn i(s: &str) -> Result<String, Problem> {
        string(s, &vars(), &mut Vec::new())
    }

    #[test]
    fn every_form() {
        assert_eq!(i("$SET and ${SET}").unwrap(), "value and value");
        assert_eq!(i("${UNSET:-d} ${EMPTY:-d} ${SET:-d}").unwrap(), "d d value");
        assert_eq!(i("${UNSET-d} ${EMPTY-d} ${SET-d}").unwrap(), "d  value");
        assert_eq!(i("${UNSET:+x}|${EMPTY:+x}|${SET:+x}").unwrap(), "||x");
        assert_eq!(i("${UNSET+x}|${EMPTY+x}|${SET+x}").unwrap(), "|x|x");
        assert_eq!(i("$$SET costs $$5").unwrap(), "$SET costs $5");
        assert_eq!(i("${SET?boom}${EMPTY?boom}").unwrap(), "value");
        assert_eq!(i("${UNSET:-${SET}-x}").unwrap(), "value-x");
        assert_eq!(i("${UNSET:-a:b}").unwrap(), "a:b");
        assert_eq!(i("${SET}suffix $SET.x").unwrap(), "valuesuffix value.x");
    }

    #[test]
    fn required_variables_and_bad_templates_fail() {
        assert_eq!(
            i("${UNSET:?say why}"),
            Err(Problem::Required {
                name: "UNSET".into(),
                message: "say why".into()
            })
        );
        assert!(matches!(i("${EMPTY:?e}"), Err(Problem::Required { .. })));
        assert!(matches!(i("${UNSET?e}"), Err(Problem::Required { .. })));
        for bad in ["$ 5", "${", "${}", "${SET:}", "${SET!x}", "cost $"] {
            assert_eq!(i(bad), Err(Problem::Invalid), "{bad}");
        }
    }

    #[test]
    fn unset_variables_are_reported_once() {
        let mut unset = Vec::new();
        let s = string("$A ${A} ${B:-x} $C", &vars(), &mut unset).unwrap();
        assert_eq!(s, "  x ");
        assert_eq!(unset, ["A", "C"]);
    }

    #[test]
    fn errors_name_the_path() {
        let mut v = serde_json::json!({"services": {"web": {"image": "${IMG:?set IMG}"}}});
        let e = value(&mut v, &vars(), "", &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "services.web.image: required variable IMG is missing a value: set IMG"
        );
    }
}
