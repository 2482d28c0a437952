//! A Choice state's rules: the comparison operators (each with its `...Path` form), `And`,
//! `Or`, `Not`, the type tests and `StringMatches`, parsed from the definition and run against
//! the state's input.

use serde_json::{Map, Value};

use super::path::{Context, Path};
use crate::time::parse_rfc3339;

/// One rule: a comparison on a variable, or a combination of rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// All of them hold.
    And(Vec<Rule>),
    /// One of them holds.
    Or(Vec<Rule>),
    /// It does not hold.
    Not(Box<Rule>),
    /// A test of the value at `variable`.
    Test {
        /// The `Variable` path.
        variable: Path,
        /// What it must be.
        test: Test,
    },
}

/// A comparison or type test.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `String...`, `Numeric...`, `Boolean...`, `Timestamp...` (and their `...Path` forms).
    Compare {
        /// What the values are compared as.
        kind: Kind,
        /// How.
        order: Order,
        /// The other value.
        operand: Operand,
    },
    /// `StringMatches` with `*` wildcards.
    Matches(String),
    /// `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`, with the
    /// expected answer.
    Is(TypeTest, bool),
}

/// What a comparison compares values as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Strings, by code point.
    String,
    /// Numbers.
    Numeric,
    /// Booleans (equality only).
    Boolean,
    /// RFC 3339 timestamps.
    Timestamp,
}

/// A comparison's relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `...Equals`.
    Equals,
    /// `...LessThan`.
    LessThan,
    /// `...GreaterThan`.
    GreaterThan,
    /// `...LessThanEquals`.
    LessThanEquals,
    /// `...GreaterThanEquals`.
    GreaterThanEquals,
}

/// A type test's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    /// `IsNull`.
    Null,
    /// `IsPresent`.
    Present,
    /// `IsNumeric`.
    Numeric,
    /// `IsString`.
    String,
    /// `IsBoolean`.
    Boolean,
    /// `IsTimestamp`.
    Timestamp,
}

/// The other side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A value written in the rule.
    Value(Value),
    /// A path into the input (the `...Path` operators).
    Path(Path),
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const ORDERS: [(&str, Order); 5] = [
    ("Equals", Order::Equals),
    ("LessThanEquals", Order::LessThanEquals),
    ("GreaterThanEquals", Order::GreaterThanEquals),
    ("LessThan", Order::LessThan),
    ("GreaterThan", Order::GreaterThan),
];
const TYPE_TESTS: [(&str, TypeTest); 6] = [
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// Every operator name, for "did you mean".
fn operator_names() -> Vec<String> {
    let mut names = vec!["StringMatches".to_owned()];
    for (kind_name, kind) in KINDS {
        for (order_name, order) in ORDERS {
            if kind == Kind::Boolean && order != Order::Equals {
                continue;
            }
            names.push(format!("{kind_name}{order_name}"));
            names.push(format!("{kind_name}{order_name}Path"));
        }
    }
    names.extend(TYPE_TESTS.iter().map(|(name, _)| (*name).to_owned()));
    names
}

/// An operator name read: a comparison (by value or by path) or a type test.
enum Operator {
    Compare(Kind, Order, bool),
    Type(TypeTest),
}

fn operator(name: &str) -> Option<Operator> {
    if let Some(&(_, test)) = TYPE_TESTS.iter().find(|(known, _)| *known == name) {
        return Some(Operator::Type(test));
    }
    let (base, by_path) = match name.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (name, false),
    };
    for (kind_name, kind) in KINDS {
        let Some(rest) = base.strip_prefix(kind_name) else {
            continue;
        };
        let (_, order) = ORDERS.iter().find(|(order_name, _)| *order_name == rest)?;
        if kind == Kind::Boolean && *order != Order::Equals {
            return None;
        }
        return Some(Operator::Compare(kind, *order, by_path));
    }
    None
}

/// Parses one rule; `top` says whether it is a `Choices` entry (which carries `Next`, read by
/// the caller). Problems are `(field, message)` pairs, the field relative to `at`.
pub(super) fn parse(
    value: &Value,
    at: &str,
    top: bool,
    problems: &mut Vec<(String, String)>,
) -> Rule {
    let fallback = Rule::And(Vec::new());
    let Value::Object(map) = value else {
        problems.push((at.to_owned(), "a choice rule must be an object".into()));
        return fallback;
    };
    let combinators: Vec<&str> = ["And", "Or", "Not"]
        .into_iter()
        .filter(|name| map.contains_key(*name))
        .collect();
    let operators: Vec<&String> = map
        .keys()
        .filter(|key| {
            !matches!(
                key.as_str(),
                "Variable" | "Next" | "Comment" | "And" | "Or" | "Not"
            )
        })
        .collect();
    for key in &operators {
        if operator(key).is_none() && key.as_str() != "StringMatches" {
            let names = operator_names();
            let hint = crate::suggest::closest(key, names.iter().map(String::as_str))
                .map_or_else(String::new, |near| format!(" (did you mean \"{near}\"?)"));
            problems.push((
                format!("{at}.{key}"),
                format!("\"{key}\" is not a comparison operator{hint}"),
            ));
            return fallback;
        }
    }
    if !top && map.contains_key("Next") {
        problems.push((
            format!("{at}.Next"),
            "only a top-level choice rule has `Next`".into(),
        ));
    }
    match (combinators.as_slice(), operators.as_slice()) {
        ([], []) => {
            problems.push((
                at.to_owned(),
                "the rule has no comparison: give it `Variable` and one operator (e.g. \"StringEquals\"), or `And`, `Or` or `Not`".into(),
            ));
            fallback
        }
        ([combinator], []) => {
            if map.contains_key("Variable") {
                problems.push((
                    format!("{at}.Variable"),
                    format!("a rule with `{combinator}` has no `Variable`"),
                ));
            }
            let inner = &map[*combinator];
            let field = format!("{at}.{combinator}");
            if *combinator == "Not" {
                return Rule::Not(Box::new(parse(inner, &field, false, problems)));
            }
            let Value::Array(rules) = inner else {
                problems.push((field, format!("`{combinator}` takes an array of rules")));
                return fallback;
            };
            if rules.is_empty() {
                problems.push((field.clone(), format!("`{combinator}` has no rules")));
            }
            let rules = rules
                .iter()
                .enumerate()
                .map(|(index, rule)| parse(rule, &format!("{field}[{index}]"), false, problems))
                .collect();
            if *combinator == "And" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            }
        }
        ([], [name]) => compare(map, name, at, problems).unwrap_or(fallback),
        _ => {
            let mut all: Vec<&str> = combinators;
            all.extend(operators.iter().map(|name| name.as_str()));
            problems.push((
                at.to_owned(),
                format!(
                    "the rule has {} comparisons ({}): give it exactly one",
                    all.len(),
                    all.join(", ")
                ),
            ));
            fallback
        }
    }
}

fn compare(
    map: &Map<String, Value>,
    name: &str,
    at: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<Rule> {
    let variable = match map.get("Variable") {
        Some(Value::String(text)) => match Path::parse(text) {
            Ok(path) => path,
            Err(why) => {
                problems.push((format!("{at}.Variable"), why));
                return None;
            }
        },
        Some(_) => {
            problems.push((
                format!("{at}.Variable"),
                "`Variable` must be a path string".into(),
            ));
            return None;
        }
        None => {
            problems.push((
                format!("{at}.Variable"),
                format!("`{name}` needs a `Variable`, the path of the value it tests"),
            ));
            return None;
        }
    };
    let field = format!("{at}.{name}");
    let operand = &map[name];
    let mut wrong = |what: &str| {
        problems.push((field.clone(), format!("`{name}` takes {what}")));
        None
    };
    let test = if name == "StringMatches" {
        match operand {
            Value::String(pattern) => Test::Matches(pattern.clone()),
            _ => return wrong("a string pattern"),
        }
    } else {
        match operator(name)? {
            Operator::Type(test) => match operand {
                Value::Bool(expected) => Test::Is(test, *expected),
                _ => return wrong("true or false"),
            },
            Operator::Compare(kind, order, true) => match operand.as_str().map(Path::parse) {
                Some(Ok(path)) => Test::Compare {
                    kind,
                    order,
                    operand: Operand::Path(path),
                },
                Some(Err(why)) => return wrong(&format!("a path: {why}")),
                None => return wrong("a path string"),
            },
            Operator::Compare(kind, order, false) => {
                let fits = match kind {
                    Kind::String => operand.is_string(),
                    Kind::Numeric => operand.is_number(),
                    Kind::Boolean => operand.is_boolean(),
                    Kind::Timestamp => operand.as_str().and_then(parse_rfc3339).is_some(),
                };
                if !fits {
                    return wrong(match kind {
                        Kind::String => "a string",
                        Kind::Numeric => "a number",
                        Kind::Boolean => "true or false",
                        Kind::Timestamp => "an RFC 3339 timestamp such as \"2026-01-31T12:00:00Z\"",
                    });
                }
                Test::Compare {
                    kind,
                    order,
                    operand: Operand::Value(operand.clone()),
                }
            }
        }
    };
    Some(Rule::Test { variable, test })
}

impl Rule {
    /// Whether the rule holds for `data`.
    ///
    /// # Errors
    ///
    /// The `States.Runtime` cause when a path names nothing (except under `IsPresent`).
    pub fn holds(&self, data: &Value, context: &Context<'_>) -> Result<bool, String> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.holds(data, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.holds(data, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.holds(data, context)?),
            Rule::Test { variable, test } => {
                let value = variable.select(data, context);
                if let Test::Is(TypeTest::Present, expected) = test {
                    return Ok(value.is_some() == *expected);
                }
                let missing = |path: &Path| {
                    format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        path.as_str()
                    )
                };
                let value = value.ok_or_else(|| missing(variable))?;
                Ok(match test {
                    Test::Is(kind, expected) => {
                        let is = match kind {
                            TypeTest::Null => value.is_null(),
                            TypeTest::Present => true,
                            TypeTest::Numeric => value.is_number(),
                            TypeTest::String => value.is_string(),
                            TypeTest::Boolean => value.is_boolean(),
                            TypeTest::Timestamp => value.as_str().and_then(parse_rfc3339).is_some(),
                        };
                        is == *expected
                    }
                    Test::Matches(pattern) => value
                        .as_str()
                        .is_some_and(|text| matches_pattern(pattern, text)),
                    Test::Compare {
                        kind,
                        order,
                        operand,
                    } => {
                        let other = match operand {
                            Operand::Value(other) => other.clone(),
                            Operand::Path(path) => {
                                path.select(data, context).ok_or_else(|| missing(path))?
                            }
                        };
                        compare_values(*kind, *order, &value, &other)
                    }
                })
            }
        }
    }
}

fn compare_values(kind: Kind, order: Order, left: &Value, right: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match kind {
        Kind::String => left
            .as_str()
            .zip(right.as_str())
            .map(|(left, right)| left.cmp(right)),
        Kind::Numeric => left
            .as_f64()
            .zip(right.as_f64())
            .and_then(|(left, right)| left.partial_cmp(&right)),
        Kind::Boolean => left
            .as_bool()
            .zip(right.as_bool())
            .map(|(left, right)| left.cmp(&right)),
        Kind::Timestamp => left
            .as_str()
            .and_then(parse_rfc3339)
            .zip(right.as_str().and_then(parse_rfc3339))
            .map(|(left, right)| left.cmp(&right)),
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match order {
        Order::Equals => ordering == Ordering::Equal,
        Order::LessThan => ordering == Ordering::Less,
        Order::GreaterThan => ordering == Ordering::Greater,
        Order::LessThanEquals => ordering != Ordering::Greater,
        Order::GreaterThanEquals => ordering != Ordering::Less,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a star and `\\` a backslash.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    enum Token {
        Char(char),
        Any,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Any),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Any))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(value: Value) -> Rule {
        let mut problems = Vec::new();
        let rule = parse(&value, "Choices[0]", true, &mut problems);
        assert_eq!(problems, Vec::<(String, String)>::new());
        rule
    }

    fn holds(value: Value, data: &Value) -> bool {
        rule(value).holds(data, &Context::ready(json!({}))).unwrap()
    }

    #[test]
    fn every_comparison_operator_and_its_path_form() {
        let data = json!({
            "s": "b", "n": 5, "f": 2.5, "t": true,
            "ts": "2026-01-31T12:00:00Z", "other": {"s": "b", "n": 5, "t": true, "ts": "2026-01-31T13:00:00+01:00"}
        });
        let cases = [
            ("StringEquals", "s", json!("b"), true),
            ("StringLessThan", "s", json!("c"), true),
            ("StringGreaterThan", "s", json!("c"), false),
            ("StringLessThanEquals", "s", json!("b"), true),
            ("StringGreaterThanEquals", "s", json!("a"), true),
            ("NumericEquals", "n", json!(5.0), true),
            ("NumericLessThan", "f", json!(3), true),
            ("NumericGreaterThan", "n", json!(5), false),
            ("NumericLessThanEquals", "n", json!(5), true),
            ("NumericGreaterThanEquals", "f", json!(2.6), false),
            ("BooleanEquals", "t", json!(true), true),
            (
                "TimestampEquals",
                "ts",
                json!("2026-01-31T13:00:00+01:00"),
                true,
            ),
            (
                "TimestampLessThan",
                "ts",
                json!("2026-01-31T12:00:01Z"),
                true,
            ),
            (
                "TimestampGreaterThan",
                "ts",
                json!("2026-01-31T12:00:01Z"),
                false,
            ),
            (
                "TimestampLessThanEquals",
                "ts",
                json!("2026-01-31T12:00:00Z"),
                true,
            ),
            (
                "TimestampGreaterThanEquals",
                "ts",
                json!("2027-01-01T00:00:00Z"),
                false,
            ),
        ];
        for (operator, variable, operand, expected) in cases {
            let variable = format!("$.{variable}");
            let test = json!({"Variable": variable, operator: operand, "Next": "X"});
            assert_eq!(holds(test, &data), expected, "{operator} {operand}");
        }
        for (operator, variable, path, expected) in [
            ("StringEqualsPath", "s", "$.other.s", true),
            ("NumericGreaterThanEqualsPath", "n", "$.other.n", true),
            ("NumericLessThanPath", "n", "$.other.n", false),
            ("BooleanEqualsPath", "t", "$.other.t", true),
            ("TimestampEqualsPath", "ts", "$.other.ts", true),
            ("StringLessThanPath", "s", "$.other.s", false),
        ] {
            let variable = format!("$.{variable}");
            let test = json!({"Variable": variable, operator: path, "Next": "X"});
            assert_eq!(holds(test, &data), expected, "{operator}");
        }
        // A value of another type does not match (and is no error).
        assert!(!holds(
            json!({"Variable": "$.s", "NumericEquals": 1, "Next": "X"}),
            &data
        ));
        // A missing variable is a runtime error, except for IsPresent.
        let missing = rule(json!({"Variable": "$.nope", "StringEquals": "a", "Next": "X"}));
        let error = missing
            .holds(&data, &Context::ready(json!({})))
            .unwrap_err();
        assert!(error.contains("Invalid path '$.nope'"), "{error}");
    }

    #[test]
    fn type_tests_combinators_and_patterns() {
        let data = json!({"n": 1, "s": "x", "z": null, "b": false, "ts": "2026-01-31T12:00:00.5Z"});
        for (operator, variable, expected) in [
            ("IsNull", "z", true),
            ("IsNull", "n", false),
            ("IsPresent", "nope", false),
            ("IsPresent", "z", true),
            ("IsNumeric", "n", true),
            ("IsString", "n", false),
            ("IsBoolean", "b", true),
            ("IsTimestamp", "ts", true),
            ("IsTimestamp", "s", false),
        ] {
            let variable = format!("$.{variable}");
            let test = json!({"Variable": variable, operator: true, "Next": "X"});
            assert_eq!(holds(test, &data), expected, "{operator} {variable}");
        }
        assert!(holds(
            json!({"Variable": "$.nope", "IsPresent": false, "Next": "X"}),
            &data
        ));
        let and = json!({"And": [
            {"Variable": "$.n", "NumericEquals": 1},
            {"Not": {"Variable": "$.s", "StringEquals": "y"}}
        ], "Next": "X"});
        assert!(holds(and, &data));
        let or = json!({"Or": [
            {"Variable": "$.n", "NumericEquals": 2},
            {"Variable": "$.b", "BooleanEquals": true}
        ], "Next": "X"});
        assert!(!holds(or, &data));
        assert!(matches_pattern("log-*.txt", "log-2026-01.txt"));
        assert!(matches_pattern("*", ""));
        assert!(matches_pattern("a*b*c", "aXXbYYbc"));
        assert!(!matches_pattern("a*b", "aXXc"));
        assert!(matches_pattern(r"\*star\\", r"*star\"));
        assert!(!matches_pattern(r"\*", "x"));
    }

    #[test]
    fn bad_rules_are_named() {
        let mut problems = Vec::new();
        for rule in [
            json!({"Variable": "$.a", "Next": "X"}),
            json!({"Variable": "$.a", "StringEquals": "a", "NumericEquals": 1, "Next": "X"}),
            json!({"Variable": "$.a", "StringEqual": "a", "Next": "X"}),
            json!({"Variable": "$.a", "NumericEquals": "1", "Next": "X"}),
            json!({"Variable": "a", "IsNull": true, "Next": "X"}),
            json!({"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}, "Next": "X"}),
            json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "X"}),
        ] {
            parse(&rule, "Choices[0]", true, &mut problems);
        }
        let text: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let expected = [
            "Choices[0]: the rule has no comparison",
            "Choices[0]: the rule has 2 comparisons (NumericEquals, StringEquals)",
            "Choices[0].StringEqual: \"StringEqual\" is not a comparison operator (did you mean \"StringEquals\"?)",
            "Choices[0].NumericEquals: `NumericEquals` takes a number",
            "Choices[0].Variable: `a` is not a path",
            "Choices[0].Not.Next: only a top-level choice rule has `Next`",
            "Choices[0].TimestampEquals: `TimestampEquals` takes an RFC 3339 timestamp",
        ];
        assert_eq!(text.len(), expected.len(), "{text:#?}");
        for (line, start) in text.iter().zip(expected) {
            assert!(line.starts_with(start), "{line}\n  expected {start}");
        }
    }
}
