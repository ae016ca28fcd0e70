//! Finding the `<<EOF` words of a RUN, COPY or ADD line: `[n]<<[-]WORD`,
//! where a quoted WORD (`<<'EOF'`, `<<"EOF"`, `<<E"O"F`) means the content
//! is not expanded.

use super::ast::Heredoc;
use super::expand::{Lex, NoEnv};

/// The heredocs a line opens, in order (content still empty).
pub fn heredocs_in_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset = true;
    // A line that does not lex has no heredocs (BuildKit ignores the error).
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut out = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// The heredoc a single word names, if it is one.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = word[..digits].parse().unwrap_or(0);

    // Lex the delimiter with and without its quotes: if the counts of quote
    // characters differ, part of it was quoted and the content stays as is.
    let mut lex = Lex::new('\\');
    lex.skip_unset = true;
    let plain = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if plain.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if raw.len() != plain.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: plain[0].clone(),
        fd,
        expand: quotes(&plain[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_heredoc_with_its_options() {
        let hs = heredocs_in_line(r#"RUN 3<<-'A' cat - <<"B" && x <<C"#).unwrap();
        let got: Vec<_> = hs
            .iter()
            .map(|h| (h.name.as_str(), h.fd, h.chomp, h.expand))
            .collect();
        assert_eq!(
            got,
            [
                ("A", 3, true, false),
                ("B", 0, false, false),
                ("C", 0, false, true)
            ]
        );
    }

    #[test]
    fn a_space_after_the_arrows_is_allowed() {
        let hs = heredocs_in_line("RUN cat << EOF").unwrap();
        assert_eq!(hs[0].name, "EOF");
    }

    #[test]
    fn delimiter_quoting_decides_expansion() {
        let cases = [
            ("RUN <<eo'f'", "eof", false),
            ("RUN <<eo\\'f", "eo'f", true),
            ("RUN <<'e'o\\'f", "eo'f", false),
            ("RUN <<'one two'", "one two", false),
            ("RUN <<$EOF", "$EOF", true),
            ("RUN <<  EOF  > foo", "EOF", true),
        ];
        for (line, name, expand) in cases {
            let hs = heredocs_in_line(line).unwrap();
            assert_eq!(hs.len(), 1, "{line}");
            assert_eq!(
                (hs[0].name.as_str(), hs[0].expand),
                (name, expand),
                "{line}"
            );
        }
    }

    #[test]
    fn single_words() {
        for w in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(parse_heredoc(w).unwrap().unwrap().name, "EOF", "{w}");
        }
        for w in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(w).is_err(), "{w}");
        }
        for w in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(parse_heredoc(w).unwrap(), None, "{w}");
        }
    }

    #[test]
    fn not_heredocs() {
        assert!(heredocs_in_line("RUN echo a<b && x << <y")
            .unwrap()
            .is_empty());
        assert!(heredocs_in_line("RUN echo '<<EOF'").unwrap().is_empty());
    }
}
