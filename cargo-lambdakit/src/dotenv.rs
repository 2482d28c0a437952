//! `.env` files, the environment of a stage (`env_file` in its settings): the usual dotenv
//! subset, each mistake named by its line, so that a file of secrets is checked before any
//! build or AWS call. Its values are never printed (see `deploy::function`'s differences).
//!
//! A line is blank, a `#` comment, or `NAME=value`, optionally after `export `. A value is
//! bare (up to a ` #` comment, trimmed), in single quotes (as written), or in double quotes
//! (`\n`, `\r`, `\t`, `\"` and `\\` escaped); a quoted value ends on its line.

/// A line that is not a variable, and what is wrong with it (never a value: it may be a
/// secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Its number, from 1.
    pub line: usize,
    /// What is wrong, and how to write it.
    pub problem: String,
}

/// The variables of the file `text`, in order.
///
/// # Errors
///
/// The first line that is not blank, a comment or `NAME=value`, a name Lambda refuses, a
/// quote not closed on its line, and a name set twice.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, Malformed> {
    let mut variables: Vec<(String, String, usize)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let malformed = |problem: String| Malformed {
            line: number,
            problem,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some((name, value)) = line.split_once('=') else {
            // Not the line itself: it may be a secret.
            return Err(malformed(
                "has no `=`: each line is `NAME=value`, a `#` comment or blank".to_owned(),
            ));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(malformed(format!(
                "`{name}` is not a variable name Lambda takes: a letter, then letters, digits or `_`, two characters at least"
            )));
        }
        let value = self::value(value.trim()).map_err(malformed)?;
        if let Some((_, _, first)) = variables.iter().find(|(other, _, _)| other == name) {
            return Err(malformed(format!(
                "sets `{name}` again (line {first} sets it too): keep one"
            )));
        }
        variables.push((name.to_owned(), value, number));
    }
    Ok(variables
        .into_iter()
        .map(|(name, value, _)| (name, value))
        .collect())
}

/// Whether Lambda takes `name` as an environment variable's: `[a-zA-Z]([a-zA-Z0-9_])+`
/// (Lambda API reference, "Environment").
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value written `text` (trimmed): quoted or bare.
fn value(text: &str) -> Result<String, String> {
    let (value, rest) = match text.chars().next() {
        Some('\'') => {
            let Some((value, rest)) = text[1..].split_once('\'') else {
                return Err(unclosed('\''));
            };
            (value.to_owned(), rest)
        }
        Some('"') => {
            let mut value = String::new();
            let mut chars = text[1..].char_indices();
            let mut end = None;
            while let Some((at, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(at + 2);
                        break;
                    }
                    '\\' => match chars.next().map(|(_, escaped)| escaped) {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some(c @ ('"' | '\\')) => value.push(c),
                        Some(other) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => return Err(unclosed('"')),
                    },
                    c => value.push(c),
                }
            }
            let Some(end) = end else {
                return Err(unclosed('"'));
            };
            (value, &text[end..])
        }
        _ => {
            // A bare value ends at a comment: `#` after a space.
            let value = text
                .find(" #")
                .or_else(|| text.find("\t#"))
                .map_or(text, |at| &text[..at]);
            return Ok(value.trim_end().to_owned());
        }
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(
            "has more after the value's closing quote: only a `#` comment may follow it".to_owned(),
        );
    }
    Ok(value)
}

fn unclosed(quote: char) -> String {
    format!(
        "opens a value with `{quote}` and does not close it on its line (values span one line; write a line break as `\\n` in double quotes)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dotenv_subset_is_read() {
        let text = "\
# the stage's secrets

export API_KEY=s3cr3t
PLAIN = spaced value   # a comment
HASH=a#b
SINGLE='as \\n written # kept'
DOUBLE=\"line\\nbreak \\\"quoted\\\" \\\\ \\x\" # trailing
EMPTY=
\tINDENTED=yes\r
";
        assert_eq!(
            parse(text).unwrap(),
            [
                ("API_KEY", "s3cr3t"),
                ("PLAIN", "spaced value"),
                ("HASH", "a#b"),
                ("SINGLE", "as \\n written # kept"),
                ("DOUBLE", "line\nbreak \"quoted\" \\ \\x"),
                ("EMPTY", ""),
                ("INDENTED", "yes"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(
            parse("exported=1").unwrap(),
            [("exported".to_owned(), "1".to_owned())]
        );
    }

    #[test]
    fn each_mistake_names_its_line_and_the_fix() {
        let cases = [
            ("A1=x\nnot secret\n", 2, "has no `=`"),
            ("1A=x", 1, "`1A` is not a variable name Lambda takes"),
            ("MY-KEY=x", 1, "`MY-KEY` is not a variable name"),
            ("A=x", 1, "two characters at least"),
            ("=x", 1, "`` is not a variable name"),
            ("export =x", 1, "is not a variable name"),
            (
                "\n\nKEY=\"secret",
                3,
                "opens a value with `\"` and does not close it",
            ),
            ("KEY='secret", 1, "opens a value with `'`"),
            ("KEY=\"secret \\", 1, "does not close it"),
            (
                "KEY='a' secret",
                1,
                "has more after the value's closing quote",
            ),
            (
                "KEY=1\n# c\nKEY=2",
                3,
                "sets `KEY` again (line 1 sets it too)",
            ),
        ];
        for (text, line, says) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}");
            assert!(error.problem.contains(says), "{text:?}: {}", error.problem);
            assert!(!error.problem.contains("secret"), "{}", error.problem);
        }
    }
}
