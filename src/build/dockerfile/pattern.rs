//! The shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`: `*` any run of
//! characters, `?` one character, `\*` `\?` `\\` literals, `\}` and `\/` the
//! bare character (its escape only kept it inside the `${}`), no brackets.
//!
//! BuildKit turns the pattern into a Go regular expression and takes its
//! leftmost-first match. For these patterns (only `*`, all greedy or all
//! lazy) that is the leftmost start that can match, and from it the
//! longest end (greedy) or the shortest (lazy); this module finds both by
//! simulating the set of pattern positions over the text, linear in the
//! text, with no recursion. The tests check it against a backtracking
//! search in Go's preference order. Like Go's `.`, neither `*` nor `?`
//! matches a newline.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    One,
    Lit(char),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
    greedy: bool,
}

impl Pattern {
    /// Compile `pattern`; an escape of anything but `* ? \ } /` is an error
    /// (BuildKit's "invalid escape").
    pub fn new(pattern: &str, greedy: bool) -> Result<Pattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '\\' => match chars.get(i) {
                    // The escape only protected the character inside `${}`.
                    Some('}') | Some('/') => {}
                    Some(&n @ ('*' | '?' | '\\')) => {
                        tokens.push(Token::Lit(n));
                        i += 1;
                    }
                    Some(&n) => return Err(format!("invalid escape '\\{n}'")),
                    None => return Err("invalid escape '\\'".to_string()),
                },
                c => tokens.push(Token::Lit(c)),
            }
        }
        Ok(Pattern { tokens, greedy })
    }

    /// The same pattern read backwards, for matching at a string's end.
    pub fn reversed(&self) -> Pattern {
        let mut tokens = self.tokens.clone();
        tokens.reverse();
        Pattern {
            tokens,
            greedy: self.greedy,
        }
    }

    /// Add token position `t` and those it reaches without consuming (a
    /// star may be empty) to `set`, keeping for each the smallest `origin`.
    fn add(&self, set: &mut Vec<(usize, usize)>, best: &mut [usize], t: usize, origin: usize) {
        let mut t = t;
        loop {
            if best[t] <= origin {
                return;
            }
            if best[t] == usize::MAX {
                set.push((t, origin));
            } else if let Some(e) = set.iter_mut().find(|e| e.0 == t) {
                e.1 = origin;
            }
            best[t] = origin;
            if t < self.tokens.len() && self.tokens[t] == Token::Star {
                t += 1;
            } else {
                return;
            }
        }
    }

    /// One step of the simulation: the positions after consuming `c`.
    fn step(&self, cur: &[(usize, usize)], c: char, best: &mut [usize]) -> Vec<(usize, usize)> {
        // `best` holds exactly `cur`'s entries; clear those (not all of it:
        // a long pattern would make every step cost its length).
        for &(t, _) in cur {
            best[t] = usize::MAX;
        }
        let mut next = Vec::new();
        for &(t, origin) in cur {
            match self.tokens.get(t) {
                Some(Token::Lit(l)) if *l == c => self.add(&mut next, best, t + 1, origin),
                Some(Token::One) if c != '\n' => self.add(&mut next, best, t + 1, origin),
                Some(Token::Star) if c != '\n' => self.add(&mut next, best, t, origin),
                _ => {}
            }
        }
        next
    }

    /// The end of the preferred match starting exactly at `start`.
    pub fn match_at(&self, s: &[char], start: usize) -> Option<usize> {
        let n = self.tokens.len();
        let mut best = vec![usize::MAX; n + 1];
        let mut cur = Vec::new();
        self.add(&mut cur, &mut best, 0, start);
        let mut found = None;
        let mut pos = start;
        loop {
            if cur.iter().any(|&(t, _)| t == n) {
                found = Some(pos);
                if !self.greedy {
                    return found;
                }
            }
            if pos == s.len() || cur.is_empty() {
                return found;
            }
            cur = self.step(&cur, s[pos], &mut best);
            pos += 1;
        }
    }

    /// The leftmost match at or after `from`: (start, end). A thread starts
    /// at every position; each pattern position keeps the leftmost start
    /// that reached it (the same position has the same future). Once one
    /// reaches the end, no new threads start, and only older ones may still
    /// win.
    pub fn find_from(&self, s: &[char], from: usize) -> Option<(usize, usize)> {
        let n = self.tokens.len();
        let mut best = vec![usize::MAX; n + 1];
        let mut cur: Vec<(usize, usize)> = Vec::new();
        let mut leftmost: Option<usize> = None;
        for pos in from..=s.len() {
            if leftmost.is_none() {
                self.add(&mut cur, &mut best, 0, pos);
            }
            if let Some(o) = cur.iter().filter(|e| e.0 == n).map(|e| e.1).min() {
                leftmost = Some(leftmost.map_or(o, |l| l.min(o)));
            }
            if let Some(l) = leftmost {
                cur.retain(|e| {
                    if e.1 >= l {
                        best[e.0] = usize::MAX;
                    }
                    e.1 < l
                });
            }
            if pos == s.len() || (leftmost.is_some() && cur.is_empty()) {
                break;
            }
            cur = self.step(&cur, s[pos], &mut best);
        }
        let l = leftmost?;
        self.match_at(s, l).map(|end| (l, end))
    }
}

/// `${V#p}` / `${V##p}`: drop the shortest (longest) matching prefix.
pub fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let p = Pattern::new(pattern, greedy).map_err(|e| invalid(pattern, &e))?;
    let s: Vec<char> = value.chars().collect();
    Ok(match p.match_at(&s, 0) {
        Some(end) => s[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${V%p}` / `${V%%p}`: drop the shortest (longest) matching suffix, found
/// as a prefix of the reversed value (as BuildKit does).
pub fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let p = Pattern::new(pattern, greedy)
        .map_err(|e| invalid(pattern, &e))?
        .reversed();
    let mut s: Vec<char> = value.chars().collect();
    s.reverse();
    Ok(match p.match_at(&s, 0) {
        Some(end) => s[end..].iter().rev().collect(),
        None => value.to_string(),
    })
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match). Replacing every
/// match goes through Go's `ReplaceAllString`, whose replacement is a
/// template (`$0`, `${0}` the match, `$$` a dollar); the single replacement
/// is literal. Empty matches right after a match are skipped, as Go does.
pub fn replace(pattern: &str, value: &str, repl: &str, all: bool) -> Result<String, String> {
    let p = Pattern::new(pattern, true).map_err(|e| invalid(pattern, &e))?;
    let s: Vec<char> = value.chars().collect();
    if !all {
        return Ok(match p.find_from(&s, 0) {
            Some((a, b)) => {
                let mut out: String = s[..a].iter().collect();
                out.push_str(repl);
                out.extend(&s[b..]);
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let (mut last_end, mut search) = (0usize, 0usize);
    while search <= s.len() {
        let Some((a, b)) = p.find_from(&s, search) else {
            break;
        };
        out.extend(&s[last_end..a]);
        if b > last_end || a == 0 {
            let matched: String = s[a..b].iter().collect();
            out.push_str(&expand_template(repl, &matched));
        }
        last_end = b;
        search = if search + 1 > b { search + 1 } else { b };
    }
    out.extend(&s[last_end.min(s.len())..]);
    Ok(out)
}

fn invalid(pattern: &str, e: &str) -> String {
    format!("invalid pattern ({pattern}) in substitution: {e}")
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0` and
/// `${0}` the match, any other name empty, a `$` not followed by a name kept.
fn expand_template(template: &str, matched: &str) -> String {
    let t: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] != '$' {
            out.push(t[i]);
            i += 1;
            continue;
        }
        i += 1;
        if t.get(i) == Some(&'$') {
            out.push('$');
            i += 1;
            continue;
        }
        let is_name = |c: &char| c.is_alphanumeric() || *c == '_';
        let (name, next) = if t.get(i) == Some(&'{') {
            let len = t[i + 1..].iter().take_while(|c| is_name(c)).count();
            if len == 0 || t.get(i + 1 + len) != Some(&'}') {
                out.push('$');
                continue;
            }
            (
                t[i + 1..i + 1 + len].iter().collect::<String>(),
                i + len + 2,
            )
        } else {
            let len = t[i..].iter().take_while(|c| is_name(c)).count();
            if len == 0 {
                out.push('$');
                continue;
            }
            (t[i..i + len].iter().collect::<String>(), i + len)
        };
        if name == "0" {
            out.push_str(matched);
        }
        i = next;
    }
    out
}

#[cfg(test)]
use std::collections::HashSet;

#[cfg(test)]
impl Pattern {
    /// Go's preference order, literally: the first success of a depth-first
    /// search trying each star's lengths longest (greedy) or shortest first.
    ///
    /// A depth-first search in preference order, with an explicit stack
    /// (one frame per star being tried) so a long pattern cannot overflow
    /// the thread's stack, and a memo of (token, position) pairs known to
    /// fail.
    fn match_backtracking(&self, s: &[char], start: usize) -> Option<usize> {
        self.match_with(s, start, &mut HashSet::new())
    }

    /// `match_at` with a failure memo that may be shared between start
    /// positions: a (token, position) pair fails whatever led to it.
    fn match_with(
        &self,
        s: &[char],
        start: usize,
        failed: &mut HashSet<(usize, usize)>,
    ) -> Option<usize> {
        struct Frame {
            ti: usize,
            si: usize,
            tried: usize,
            max: usize,
        }
        let n = self.tokens.len();
        let mut stack: Vec<Frame> = Vec::new();
        let (mut ti, mut si) = (0, start);
        loop {
            // Go forward until the pattern ends (a match) or a token fails.
            loop {
                if ti == n {
                    return Some(si);
                }
                if failed.contains(&(ti, si)) {
                    break;
                }
                match self.tokens[ti] {
                    Token::Lit(c) if s.get(si) == Some(&c) => {}
                    Token::One if s.get(si).is_some_and(|&c| c != '\n') => {}
                    Token::Lit(_) | Token::One => {
                        failed.insert((ti, si));
                        break;
                    }
                    Token::Star => {
                        // How far the star may reach: up to the next newline.
                        let max = s[si..]
                            .iter()
                            .position(|&c| c == '\n')
                            .unwrap_or(s.len() - si);
                        stack.push(Frame {
                            ti,
                            si,
                            tried: 0,
                            max,
                        });
                        let k = if self.greedy { max } else { 0 };
                        ti += 1;
                        si += k;
                        continue;
                    }
                }
                ti += 1;
                si += 1;
            }
            // Back to the innermost star with a choice left.
            loop {
                let f = stack.last_mut()?;
                f.tried += 1;
                if f.tried > f.max {
                    failed.insert((f.ti, f.si));
                    stack.pop();
                    continue;
                }
                let k = if self.greedy {
                    f.max - f.tried
                } else {
                    f.tried
                };
                ti = f.ti + 1;
                si = f.si + k;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_shortest_and_longest() {
        assert_eq!(trim_prefix("*/", "a/b/c", false).unwrap(), "b/c");
        assert_eq!(trim_prefix("*/", "a/b/c", true).unwrap(), "c");
        assert_eq!(trim_prefix("x", "a/b/c", true).unwrap(), "a/b/c");
    }

    #[test]
    fn suffix_shortest_and_longest() {
        assert_eq!(trim_suffix("/*", "a/b/c", false).unwrap(), "a/b");
        assert_eq!(trim_suffix("/*", "a/b/c", true).unwrap(), "a");
        assert_eq!(trim_suffix("\\*c", "ab*c", true).unwrap(), "ab");
    }

    #[test]
    fn replace_first_and_all() {
        assert_eq!(replace("o", "foo", "0", false).unwrap(), "f0o");
        assert_eq!(replace("o", "foo", "0", true).unwrap(), "f00");
        assert_eq!(replace("o", "foo", "<$0>", true).unwrap(), "f<o><o>");
        assert_eq!(replace("x*", "abc", "-", true).unwrap(), "abc");
    }

    #[test]
    fn bad_escape_is_an_error() {
        assert!(trim_prefix("\\x", "a", false).is_err());
        assert!(trim_prefix("\\", "a", false).is_err());
    }

    #[test]
    fn stars_do_not_cross_newlines() {
        assert_eq!(trim_prefix("*", "ab\ncd", true).unwrap(), "\ncd");
    }

    #[test]
    fn a_long_pattern_does_not_overflow_the_stack() {
        let value = "a".repeat(300_000);
        assert_eq!(trim_prefix(&value, &value, true).unwrap(), "");
        let stars = "*".repeat(300_000);
        assert_eq!(trim_suffix(&stars, "abc", false).unwrap(), "abc");
    }

    #[test]
    fn searching_every_start_stays_fast() {
        let value = "a".repeat(20_000);
        let t = std::time::Instant::now();
        assert_eq!(replace("*x", &value, "y", true).unwrap(), value);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }

    /// The linear search agrees with Go's backtracking preference order on
    /// every small pattern and text over a tiny alphabet.
    #[test]
    fn agrees_with_backtracking_in_preference_order() {
        use proptest::prelude::*;
        let tok = prop_oneof![Just('*'), Just('?'), Just('a'), Just('b')];
        let ch = prop_oneof![Just('a'), Just('b'), Just('\n')];
        let cases = (
            proptest::collection::vec(tok, 0..6),
            proptest::collection::vec(ch, 0..10),
            any::<bool>(),
        );
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 5_000,
            failure_persistence: None,
            ..Default::default()
        });
        runner
            .run(&cases, |(p, s, greedy)| {
                let pat: String = p.iter().collect();
                let pattern = Pattern::new(&pat, greedy).unwrap();
                for start in 0..=s.len() {
                    prop_assert_eq!(
                        pattern.match_at(&s, start),
                        pattern.match_backtracking(&s, start),
                        "{:?} at {} of {:?} greedy {}",
                        pat,
                        start,
                        s,
                        greedy
                    );
                }
                let leftmost = (0..=s.len())
                    .find_map(|st| pattern.match_backtracking(&s, st).map(|e| (st, e)));
                prop_assert_eq!(pattern.find_from(&s, 0), leftmost, "{:?} in {:?}", pat, s);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn many_stars_stay_fast() {
        let value = "a".repeat(200);
        let pattern = "*a".repeat(30) + "b";
        assert_eq!(trim_prefix(&pattern, &value, true).unwrap(), value);
    }
}
