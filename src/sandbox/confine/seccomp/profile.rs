//! The Docker/OCI seccomp profile format: parsing, validation, and
//! resolution of `includes`/`excludes` against a capability set, an
//! architecture and a kernel version.
//!
//! Validation covers every entry, whether or not it applies to this
//! machine, so a profile that is wrong on arm64 is also refused on amd64.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::table;
use super::ProfileError;

/// A profile as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    /// Filter flags (SECCOMP_FILTER_FLAG_*); accepted for compatibility,
    /// burrow chooses its own flags at install time.
    #[serde(default)]
    pub flags: Option<Vec<String>>,
    #[serde(default)]
    pub syscalls: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One `syscalls[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub names: Vec<String>,
    /// The single-name form of older profiles.
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// What to do with a matched call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u32),
    Trace(u32),
    Log,
    Allow,
}

/// An argument comparison, as libseccomp defines them (64-bit compares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Ne(u64),
    Lt(u64),
    Le(u64),
    Eq(u64),
    Ge(u64),
    Gt(u64),
    /// (arg & mask) == value
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub cmp: Cmp,
}

/// One resolved rule: a call by name, an action, and the conditions that
/// must all hold (an empty list matches every call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    pub conds: Vec<Cond>,
}

/// The facts `includes`/`excludes` are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Capability names with the `CAP_` prefix, upper case.
    pub caps: BTreeSet<String>,
    /// Architecture in Go/OCI naming (amd64, arm64, riscv64).
    pub arch: String,
    /// Kernel (major, minor), for `minKernel`.
    pub kernel: (u32, u32),
}

/// Go architecture names accepted in `includes.arches`/`excludes.arches`.
const GO_ARCHES: &[&str] = &[
    "386",
    "x86",
    "amd64",
    "x32",
    "arm",
    "arm64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64n32",
    "mips64len32",
    "ppc",
    "ppc64",
    "ppc64le",
    "s390",
    "s390x",
    "riscv64",
    "loong64",
    "loongarch64",
    "parisc",
    "parisc64",
];

/// libseccomp architecture names accepted in `architectures`/`archMap`.
const SCMP_ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

impl Profile {
    /// Parse and validate a profile. `origin` names the file in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = serde_json::from_slice(bytes).map_err(|e| ProfileError::Json {
            origin: origin.to_string(),
            cause: e,
        })?;
        profile.validate(origin)?;
        Ok(profile)
    }

    fn validate(&self, origin: &str) -> Result<(), ProfileError> {
        let top = |what: &str, msg: String| ProfileError::Entry {
            origin: origin.to_string(),
            entry: what.to_string(),
            msg,
        };
        parse_action(&self.default_action, self.default_errno_ret, 1)
            .map_err(|m| top("defaultAction", m))?;
        for a in self.architectures.iter().flatten() {
            check_scmp_arch(a).map_err(|m| top("architectures", m))?;
        }
        for (i, m) in self.arch_map.iter().flatten().enumerate() {
            let what = format!("archMap[{i}]");
            check_scmp_arch(&m.architecture).map_err(|e| top(&what, e))?;
            for a in m.sub_architectures.iter().flatten() {
                check_scmp_arch(a).map_err(|e| top(&what, e))?;
            }
        }
        for (i, e) in self.syscalls.iter().enumerate() {
            e.validate(self.default_errno_ret)
                .map_err(|msg| top(&e.describe(i), msg))?;
        }
        Ok(())
    }

    /// The profile's default action.
    pub fn default(&self) -> Action {
        // Validated in parse().
        parse_action(&self.default_action, self.default_errno_ret, 1).unwrap_or(Action::Errno(1))
    }

    /// The rules that apply to `target`, in file order.
    pub fn resolve(&self, target: &Target) -> Vec<Rule> {
        let mut rules = Vec::new();
        for e in &self.syscalls {
            if !e.applies(target) {
                continue;
            }
            let Ok(action) = parse_action(&e.action, e.errno_ret.or(self.default_errno_ret), 1)
            else {
                continue; // validated in parse()
            };
            let conds: Vec<Cond> = e
                .args
                .iter()
                .flatten()
                .filter_map(|a| parse_cond(a).ok())
                .collect();
            for name in e.all_names() {
                for alt in split_same_index(&conds) {
                    rules.push(Rule {
                        name: name.to_string(),
                        action,
                        conds: alt,
                    });
                }
            }
        }
        rules
    }
}

impl Entry {
    fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .chain(self.name.iter())
            .map(|s| s.as_str())
    }

    /// `syscalls[3] (keyctl, add_key, ...)`: how errors name an entry.
    fn describe(&self, i: usize) -> String {
        let names: Vec<&str> = self.all_names().take(3).collect();
        let more = if self.all_names().count() > 3 {
            ", ..."
        } else {
            ""
        };
        format!("syscalls[{i}] ({}{more})", names.join(", "))
    }

    fn validate(&self, default_errno: Option<u32>) -> Result<(), String> {
        if self.all_names().next().is_none() {
            return Err("no syscall names".into());
        }
        for n in self.all_names() {
            if table::KNOWN.binary_search(&n).is_err() {
                return Err(format!("unknown syscall name {n:?}"));
            }
        }
        parse_action(&self.action, self.errno_ret.or(default_errno), 1)?;
        for a in self.args.iter().flatten() {
            parse_cond(a)?;
        }
        for f in [&self.includes, &self.excludes].into_iter().flatten() {
            for a in f.arches.iter().flatten() {
                if !GO_ARCHES.contains(&a.as_str()) {
                    return Err(format!("unknown arch {a:?}"));
                }
            }
            for c in f.caps.iter().flatten() {
                crate::sandbox::confine::caps::parse_cap(c).map_err(|e| e.to_string())?;
            }
            if let Some(k) = &f.min_kernel {
                parse_kernel(k).ok_or_else(|| format!("bad minKernel {k:?}"))?;
            }
        }
        Ok(())
    }

    /// Docker's semantics: every included cap must be held and the arch
    /// must be one of the included ones; any excluded cap held or excluded
    /// arch matching drops the entry.
    fn applies(&self, t: &Target) -> bool {
        let has_cap = |c: &String| {
            crate::sandbox::confine::caps::parse_cap(c)
                .map(|cap| t.caps.contains(&cap.to_string()))
                .unwrap_or(false)
        };
        let kernel_ge = |k: &String| parse_kernel(k).is_some_and(|k| t.kernel >= k);
        if let Some(ex) = &self.excludes {
            if ex.arches.iter().flatten().any(|a| arch_matches(a, &t.arch))
                || ex.caps.iter().flatten().any(has_cap)
                || ex.min_kernel.as_ref().is_some_and(kernel_ge)
            {
                return false;
            }
        }
        if let Some(inc) = &self.includes {
            if let Some(arches) = &inc.arches {
                if !arches.is_empty() && !arches.iter().any(|a| arch_matches(a, &t.arch)) {
                    return false;
                }
            }
            if !inc.caps.iter().flatten().all(has_cap) {
                return false;
            }
            if let Some(k) = &inc.min_kernel {
                if !kernel_ge(k) {
                    return false;
                }
            }
        }
        true
    }
}

fn arch_matches(profile_arch: &str, target: &str) -> bool {
    let norm = |a: &str| {
        match a {
            "x86" => "386",
            "loongarch64" => "loong64",
            other => other,
        }
        .to_string()
    };
    norm(profile_arch) == norm(target)
}

fn check_scmp_arch(a: &str) -> Result<(), String> {
    if SCMP_ARCHES.contains(&a) {
        Ok(())
    } else {
        Err(format!("unknown arch {a:?}"))
    }
}

/// Parse an action name; `errno` is the entry's errnoRet (or the
/// profile's default), `fallback` the errno when neither is given.
pub fn parse_action(name: &str, errno: Option<u32>, fallback: u32) -> Result<Action, String> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(fallback)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(fallback)),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => return Err("action SCMP_ACT_NOTIFY is not supported by burrow".into()),
        other => return Err(format!("unknown action {other:?}")),
    })
}

fn parse_cond(a: &Arg) -> Result<Cond, String> {
    if a.index > 5 {
        return Err(format!("argument index {} out of range 0-5", a.index));
    }
    let v = a.value;
    let cmp = match a.op.as_str() {
        "SCMP_CMP_NE" => Cmp::Ne(v),
        "SCMP_CMP_LT" => Cmp::Lt(v),
        "SCMP_CMP_LE" => Cmp::Le(v),
        "SCMP_CMP_EQ" => Cmp::Eq(v),
        "SCMP_CMP_GE" => Cmp::Ge(v),
        "SCMP_CMP_GT" => Cmp::Gt(v),
        "SCMP_CMP_MASKED_EQ" => {
            if a.value_two & !v != 0 {
                // Such a rule could never match under libseccomp.
                return Err(format!(
                    "SCMP_CMP_MASKED_EQ valueTwo {:#x} has bits outside the mask {v:#x}",
                    a.value_two
                ));
            }
            Cmp::MaskedEq {
                mask: v,
                value: a.value_two,
            }
        }
        other => return Err(format!("unknown comparison {other:?}")),
    };
    Ok(Cond {
        index: a.index as u8,
        cmp,
    })
}

/// runc's rule, kept for compatibility with existing profiles: conditions
/// on distinct arguments must all hold; when an argument is named twice,
/// each condition becomes a rule of its own (they are alternatives).
fn split_same_index(conds: &[Cond]) -> Vec<Vec<Cond>> {
    let mut seen = BTreeSet::new();
    let repeated = conds.iter().any(|c| !seen.insert(c.index));
    if repeated {
        conds.iter().map(|c| vec![*c]).collect()
    } else {
        vec![conds.to_vec()]
    }
}

/// "5.10" or "5.10.3" -> (5, 10).
pub fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0");
    let minor: String = minor.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((major, minor.parse().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[&str], arch: &str) -> Target {
        Target {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            arch: arch.into(),
            kernel: (6, 1),
        }
    }

    fn err(json: &str) -> String {
        Profile::parse(json.as_bytes(), "p.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_json_names_file_and_position() {
        let e = err("{\"defaultAction\": ");
        assert!(e.starts_with("seccomp profile p.json: bad JSON"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_syscall_names_entry() {
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["read","frobnicate"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert_eq!(
            e,
            "seccomp profile p.json: syscalls[1] (read, frobnicate): unknown syscall name \"frobnicate\""
        );
    }

    #[test]
    fn unknown_action_and_arch() {
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_MAYBE"}]}"#);
        assert!(
            e.contains("syscalls[0] (read): unknown action \"SCMP_ACT_MAYBE\""),
            "{e}"
        );
        let e = err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#);
        assert!(e.contains("defaultAction: unknown action"), "{e}");
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["vax"]}}]}"#);
        assert!(
            e.contains("syscalls[0] (read): unknown arch \"vax\""),
            "{e}"
        );
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_PDP11"]}"#);
        assert!(e.contains("architectures: unknown arch"), "{e}");
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_FLY"]}}]}"#);
        assert!(e.contains("unknown capability"), "{e}");
    }

    #[test]
    fn other_arch_names_are_known_but_not_errors() {
        Profile::parse(
            br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["chown32","s390_runtime_instr","set_tls"],"action":"SCMP_ACT_ALLOW"}]}"#,
            "p",
        )
        .unwrap();
    }

    #[test]
    fn includes_and_excludes() {
        let p = Profile::parse(
            br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
            {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
            {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"excludes":{"caps":["SYS_ADMIN"]}},
            {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
            {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}},
            {"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"9.0"}}]}"#,
            "p",
        )
        .unwrap();
        let names =
            |t: &Target| -> Vec<String> { p.resolve(t).into_iter().map(|r| r.name).collect() };
        assert_eq!(
            names(&target(&[], "amd64")),
            ["clone3", "arch_prctl", "ptrace"]
        );
        assert_eq!(
            names(&target(&["CAP_SYS_ADMIN"], "arm64")),
            ["mount", "ptrace"]
        );
        let r = p.resolve(&target(&[], "arm64"));
        assert_eq!(r[0].action, Action::Errno(38));
    }

    #[test]
    fn same_index_conditions_become_alternatives() {
        let p = Profile::parse(
            br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
              {"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[
              {"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "p",
        )
        .unwrap();
        let r = p.resolve(&target(&[], "amd64"));
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].conds.len(), 1);
        assert_eq!(r[2].conds.len(), 2);
    }

    #[test]
    fn masked_eq_value_outside_mask_is_refused() {
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
              {"index":0,"value":1,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#);
        assert!(e.contains("outside the mask"), "{e}");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("6.18.44-fc"), Some((6, 18)));
        assert_eq!(parse_kernel("x"), None);
    }

    /// Argument indexes run 0-5: 5 is the last good one.
    #[test]
    fn argument_index_five_is_the_last() {
        let profile = |index: u32| {
            format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {{"names":["read"],"action":"SCMP_ACT_ALLOW",
                  "args":[{{"index":{index},"value":1,"op":"SCMP_CMP_EQ"}}]}}]}}"#
            )
        };
        let p = Profile::parse(profile(5).as_bytes(), "p.json").unwrap();
        let rules = p.resolve(&target(&[], "amd64"));
        assert_eq!(
            rules[0].conds,
            vec![Cond {
                index: 5,
                cmp: Cmp::Eq(1)
            }]
        );
        let e = err(&profile(6));
        assert!(e.contains("argument index 6 out of range 0-5"), "{e}");
    }

    /// An entry is named by its first three calls; "..." only when it has more.
    #[test]
    fn errors_name_at_most_three_calls() {
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read","write","frobnicate"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert!(
            e.contains("syscalls[0] (read, write, frobnicate): unknown"),
            "{e}"
        );
        let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read","write","close","frobnicate"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert!(
            e.contains("syscalls[0] (read, write, close, ...): unknown"),
            "{e}"
        );
    }
}
