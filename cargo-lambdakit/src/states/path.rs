//! The JSONPath subset the Amazon States Language allows: `$` (the state's data) or `$$` (the
//! context object), then `.field`, `['field']`, `[n]`, `[*]`, `..field` and filters such as
//! `[?(@.price > 10)]`. A reference path (what `ResultPath` takes) is `$` followed by fields and
//! indices only, so that it names one place a value can be written.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The context object (`$$`), built only when a path reads it: it holds the execution's input,
/// which a state that never reads `$$` should not pay to copy.
pub struct Context<'a> {
    value: OnceLock<Value>,
    build: Option<&'a (dyn Fn() -> Value + Send + Sync)>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("value", &self.value.get())
            .finish()
    }
}

impl<'a> Context<'a> {
    /// A context object built already.
    pub fn ready(value: Value) -> Self {
        Self {
            value: OnceLock::from(value),
            build: None,
        }
    }

    /// A context object built by `build` when first read.
    pub fn lazy(build: &'a (dyn Fn() -> Value + Send + Sync)) -> Self {
        Self {
            value: OnceLock::new(),
            build: Some(build),
        }
    }

    /// The context object.
    pub fn get(&self) -> &Value {
        self.value
            .get_or_init(|| self.build.map_or(Value::Null, |build| build()))
    }
}

/// Where a path starts: the state's data or the context object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`.
    Data,
    /// `$$`.
    Context,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// What `$` or `$$` it starts from.
    pub root: Root,
    segments: Vec<Segment>,
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    Descendant(String),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    fields: Vec<String>,
    test: Option<(Comparison, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Path {
    /// Parses `text` as a path.
    ///
    /// # Errors
    ///
    /// What is wrong with it, for the caller to name the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (root, mut rest) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Data, rest)
        } else {
            return Err(format!("`{text}` is not a path: a path starts with `$`"));
        };
        let bad = |why: &str| Err(format!("`{text}` is not a valid path: {why}"));
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("..") {
                let (name, tail) = split_name(after);
                if name.is_empty() {
                    return bad("`..` needs a field name after it");
                }
                segments.push(Segment::Descendant(name.to_owned()));
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('.') {
                let (name, tail) = split_name(after);
                if name.is_empty() {
                    return bad("`.` needs a field name after it");
                }
                segments.push(if name == "*" {
                    Segment::Wildcard
                } else {
                    Segment::Field(name.to_owned())
                });
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('[') {
                let Some((inside, tail)) = bracket(after) else {
                    return bad("a `[` is not closed");
                };
                segments.push(match parse_bracket(inside.trim()) {
                    Some(segment) => segment,
                    None => return bad(&format!("`[{inside}]` is not a field, index or filter")),
                });
                rest = tail;
            } else {
                return bad(&format!("unexpected `{rest}`"));
            }
        }
        Ok(Self {
            root,
            segments,
            text: text.to_owned(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path names at most one value (no wildcard, slice, descendant or filter).
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Field(_) | Segment::Index(_)))
    }

    /// Whether it is a reference path: `$` and then fields and indices only.
    pub fn is_reference(&self) -> bool {
        self.root == Root::Data && self.is_definite()
    }

    /// The value a definite path names, or the array of every match of an indefinite one;
    /// `None` when a definite path names nothing.
    pub fn select(&self, data: &Value, context: &Context<'_>) -> Option<Value> {
        let start = match self.root {
            Root::Data => data,
            Root::Context => context.get(),
        };
        if self.is_definite() {
            let mut at = start;
            for segment in &self.segments {
                at = match (segment, at) {
                    (Segment::Field(name), Value::Object(map)) => map.get(name)?,
                    (Segment::Index(index), Value::Array(items)) => {
                        items.get(resolve(*index, items.len())?)?
                    }
                    _ => return None,
                };
            }
            return Some(at.clone());
        }
        let mut found = vec![start];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in found {
                step(segment, value, &mut next);
            }
            found = next;
        }
        Some(Value::Array(found.into_iter().cloned().collect()))
    }

    /// `target` with `value` written where this reference path points, creating objects on the
    /// way; `$` replaces the whole of it.
    ///
    /// # Errors
    ///
    /// When the way there holds something that is not an object (or, for an index, an array
    /// long enough).
    pub fn write(&self, mut target: Value, value: Value) -> Result<Value, String> {
        let mut at = &mut target;
        for segment in &self.segments {
            at = match segment {
                Segment::Field(name) => {
                    if at.is_null() {
                        *at = Value::Object(Map::new());
                    }
                    match at {
                        Value::Object(map) => map.entry(name.clone()).or_insert(Value::Null),
                        other => {
                            return Err(format!(
                                "Unable to apply ResultPath \"{}\": `{name}` is a field of {}, not of an object",
                                self.text,
                                kind(other)
                            ));
                        }
                    }
                }
                Segment::Index(index) => match at {
                    Value::Array(items) => {
                        let len = items.len();
                        match resolve(*index, len) {
                            Some(position) => &mut items[position],
                            None => {
                                return Err(format!(
                                    "Unable to apply ResultPath \"{}\": index {index} is past the array's {len} items",
                                    self.text
                                ));
                            }
                        }
                    }
                    other => {
                        return Err(format!(
                            "Unable to apply ResultPath \"{}\": [{index}] indexes {}, not an array",
                            self.text,
                            kind(other)
                        ));
                    }
                },
                _ => return Err(format!("\"{}\" is not a reference path", self.text)),
            };
        }
        *at = value;
        Ok(target)
    }
}

/// A JSON value's kind, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn resolve(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let position = if index < 0 { len + index } else { index };
    (0..len)
        .contains(&position)
        .then(|| usize::try_from(position).ok())
        .flatten()
}

fn step<'a>(segment: &Segment, value: &'a Value, out: &mut Vec<&'a Value>) {
    match (segment, value) {
        (Segment::Field(name), Value::Object(map)) => out.extend(map.get(name)),
        (Segment::Index(index), Value::Array(items)) => {
            out.extend(resolve(*index, items.len()).map(|position| &items[position]));
        }
        (Segment::Slice(start, end), Value::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let clamp = |bound: i64| {
                let bound = if bound < 0 { len + bound } else { bound };
                usize::try_from(bound.clamp(0, len)).unwrap_or_default()
            };
            let from = start.map_or(0, clamp);
            let to = end.map_or(items.len(), clamp);
            if from < to {
                out.extend(&items[from..to]);
            }
        }
        (Segment::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (Segment::Wildcard, Value::Array(items)) => out.extend(items),
        (Segment::Descendant(name), _) => descend(name, value, out),
        (Segment::Filter(filter), Value::Array(items)) => {
            out.extend(items.iter().filter(|item| filter.keeps(item)));
        }
        _ => {}
    }
}

fn descend<'a>(name: &str, value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            out.extend(map.get(name));
            for child in map.values() {
                descend(name, child, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                descend(name, child, out);
            }
        }
        _ => {}
    }
}

impl Filter {
    fn keeps(&self, item: &Value) -> bool {
        let mut at = item;
        for field in &self.fields {
            match at.get(field) {
                Some(value) => at = value,
                None => return false,
            }
        }
        let Some((comparison, operand)) = &self.test else {
            return true;
        };
        let order = match (at, operand) {
            (Value::Number(a), Value::Number(b)) => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (a, b) => (a == b).then_some(std::cmp::Ordering::Equal),
        };
        use std::cmp::Ordering::{Equal, Greater, Less};
        match comparison {
            Comparison::Equal => order == Some(Equal),
            Comparison::NotEqual => order != Some(Equal),
            Comparison::Less => order == Some(Less),
            Comparison::LessOrEqual => matches!(order, Some(Less | Equal)),
            Comparison::Greater => order == Some(Greater),
            Comparison::GreaterOrEqual => matches!(order, Some(Greater | Equal)),
        }
    }
}

/// A field name after `.`: up to the next `.` or `[`.
fn split_name(text: &str) -> (&str, &str) {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    text.split_at(end)
}

/// The inside of a bracket and what follows its `]`, minding quotes and nested brackets.
fn bracket(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    let mut quote = None;
    for (at, character) in text.char_indices() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(character),
            (None, '[' | '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ']') if depth == 0 => return Some((&text[..at], &text[at + 1..])),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn parse_bracket(inside: &str) -> Option<Segment> {
    if inside == "*" {
        return Some(Segment::Wildcard);
    }
    if let Some(name) = quoted(inside) {
        return Some(Segment::Field(name));
    }
    if let Ok(index) = inside.parse::<i64>() {
        return Some(Segment::Index(index));
    }
    if let Some((start, end)) = inside.split_once(':') {
        let bound = |text: &str| -> Option<Option<i64>> {
            let text = text.trim();
            if text.is_empty() {
                Some(None)
            } else {
                text.parse().ok().map(Some)
            }
        };
        return Some(Segment::Slice(bound(start)?, bound(end)?));
    }
    let expression = inside.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let operators = [
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        ("<=", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ];
    let (left, test) = match operators
        .iter()
        .find_map(|(symbol, comparison)| Some((expression.split_once(symbol)?, *comparison)))
    {
        Some(((left, right), comparison)) => {
            let right = right.trim();
            let operand = match quoted(right) {
                Some(text) => Value::String(text),
                None => serde_json::from_str(right).ok()?,
            };
            (left.trim(), Some((comparison, operand)))
        }
        None => (expression, None),
    };
    let fields = left.strip_prefix('@')?;
    let mut names = Vec::new();
    for name in fields.split('.').skip(1) {
        if name.is_empty() {
            return None;
        }
        names.push(name.to_owned());
    }
    if !fields.is_empty() && names.is_empty() {
        return None;
    }
    Some(Segment::Filter(Filter {
        fields: names,
        test,
    }))
}

fn quoted(text: &str) -> Option<String> {
    let inner = text
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .or_else(|| {
            text.strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
        })?;
    Some(inner.replace("\\'", "'"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn select(path: &str, data: &Value) -> Option<Value> {
        Path::parse(path)
            .unwrap()
            .select(data, &Context::ready(json!({"Execution": {"Name": "run"}})))
    }

    #[test]
    fn definite_paths_name_one_value() {
        let data = json!({"a": {"b": [10, 20, {"c d": true}]}, "x": null});
        assert_eq!(select("$", &data), Some(data.clone()));
        assert_eq!(select("$.a.b[1]", &data), Some(json!(20)));
        assert_eq!(select("$.a.b[-1]['c d']", &data), Some(json!(true)));
        assert_eq!(select("$['a'][\"b\"][0]", &data), Some(json!(10)));
        assert_eq!(select("$.x", &data), Some(Value::Null));
        assert_eq!(select("$.missing", &data), None);
        assert_eq!(select("$.a.b[7]", &data), None);
        assert_eq!(select("$$.Execution.Name", &data), Some(json!("run")));
        assert!(Path::parse("$.a[0]").unwrap().is_reference());
        assert!(!Path::parse("$$.a").unwrap().is_reference());
        assert!(!Path::parse("$.a[*]").unwrap().is_reference());
    }

    #[test]
    fn indefinite_paths_gather_every_match() {
        let data = json!({"items": [{"n": 1, "k": "a"}, {"n": 5, "k": "b"}, {"k": "c"}], "deep": {"n": 9}});
        assert_eq!(select("$.items[*].k", &data), Some(json!(["a", "b", "c"])));
        assert_eq!(select("$..n", &data), Some(json!([9, 1, 5])));
        assert_eq!(select("$.items[?(@.n > 1)].k", &data), Some(json!(["b"])));
        assert_eq!(
            select("$.items[?(@.k == 'c')]", &data),
            Some(json!([{"k": "c"}]))
        );
        assert_eq!(select("$.items[?(@.n)].n", &data), Some(json!([1, 5])));
        assert_eq!(select("$.items[0:2].k", &data), Some(json!(["a", "b"])));
        assert_eq!(select("$.nothing[*]", &data), Some(json!([])));
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        for (text, says) in [
            ("a.b", "starts with `$`"),
            ("$.", "needs a field name"),
            ("$[0", "not closed"),
            ("$[?(x)]", "not a field, index or filter"),
            ("$a", "unexpected `a`"),
        ] {
            let error = Path::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn reference_paths_write_and_create_objects() {
        let path = Path::parse("$.a.b").unwrap();
        assert_eq!(
            path.write(json!({"a": {"c": 1}}), json!(2)).unwrap(),
            json!({"a": {"c": 1, "b": 2}})
        );
        assert_eq!(
            path.write(json!({}), json!(2)).unwrap(),
            json!({"a": {"b": 2}})
        );
        assert_eq!(
            Path::parse("$")
                .unwrap()
                .write(json!({"a": 1}), json!(3))
                .unwrap(),
            json!(3)
        );
        assert_eq!(
            Path::parse("$.l[1]")
                .unwrap()
                .write(json!({"l": [1, 2]}), json!(9))
                .unwrap(),
            json!({"l": [1, 9]})
        );
        let error = path.write(json!({"a": "text"}), json!(2)).unwrap_err();
        assert!(error.contains("a string"), "{error}");
        assert!(path.write(json!("text"), json!(2)).is_err());
    }
}
