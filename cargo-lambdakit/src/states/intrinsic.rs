//! The intrinsic functions (`States.Format('{} items', $.count)` and the rest) that a
//! `Parameters` or `ResultSelector` field ending in `.$` may call: parsed and checked (name,
//! arity) when the definition is, run when the state is. Their failures are
//! `States.IntrinsicFailure`, as the service names them.

use base64::Engine;
use serde_json::{Number, Value};

use super::path::{Context, Path, kind};

/// A parsed call such as `States.ArrayLength($.items)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    function: Function,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal, and its pieces between unescaped `{}` (for `States.Format`).
    Text(String, Vec<String>),
    Literal(Value),
    Path(Path),
    Call(Call),
}

macro_rules! functions {
    ($($variant:ident = $name:literal, $min:literal ..= $max:expr;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Function { $($variant,)* }

        impl Function {
            const ALL: &'static [(&'static str, Function, usize, usize)] =
                &[$(($name, Function::$variant, $min, $max),)*];
        }
    };
}

functions! {
    Format = "States.Format", 1 ..= usize::MAX;
    StringToJson = "States.StringToJson", 1 ..= 1;
    JsonToString = "States.JsonToString", 1 ..= 1;
    Array = "States.Array", 0 ..= usize::MAX;
    ArrayPartition = "States.ArrayPartition", 2 ..= 2;
    ArrayContains = "States.ArrayContains", 2 ..= 2;
    ArrayRange = "States.ArrayRange", 3 ..= 3;
    ArrayGetItem = "States.ArrayGetItem", 2 ..= 2;
    ArrayLength = "States.ArrayLength", 1 ..= 1;
    ArrayUnique = "States.ArrayUnique", 1 ..= 1;
    Base64Encode = "States.Base64Encode", 1 ..= 1;
    Base64Decode = "States.Base64Decode", 1 ..= 1;
    Hash = "States.Hash", 2 ..= 2;
    JsonMerge = "States.JsonMerge", 3 ..= 3;
    MathRandom = "States.MathRandom", 2 ..= 3;
    MathAdd = "States.MathAdd", 2 ..= 2;
    StringSplit = "States.StringSplit", 2 ..= 2;
    Uuid = "States.UUID", 0 ..= 0;
}

/// Whether a `.$` field's text is an intrinsic call rather than a path.
pub(super) fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    /// Parses `text` as one call.
    ///
    /// # Errors
    ///
    /// What is wrong: the syntax, an unknown function (with the closest name), the arity.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser { text, at: 0 };
        let call = parser.call()?;
        parser.blank();
        if parser.at != text.len() {
            return Err(format!(
                "unexpected `{}` after the call `{}`",
                &text[parser.at..],
                &text[..parser.at]
            ));
        }
        Ok(call)
    }

    /// Runs the call against the state's data and the context object.
    ///
    /// # Errors
    ///
    /// The `States.IntrinsicFailure` cause: the function, and what was wrong with its input.
    pub fn eval(&self, data: &Value, context: &Context<'_>) -> Result<Value, String> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Text(text, _) => Value::String(text.clone()),
                Arg::Literal(value) => value.clone(),
                Arg::Path(path) => path.select(data, context).ok_or_else(|| {
                    format!(
                        "{}: the path `{}` names nothing in the input",
                        self.name(),
                        path.as_str()
                    )
                })?,
                Arg::Call(call) => call.eval(data, context)?,
            });
        }
        self.apply(values)
            .map_err(|why| format!("{}: {why}", self.name()))
    }

    fn name(&self) -> &'static str {
        Function::ALL
            .iter()
            .find(|entry| entry.1 == self.function)
            .map_or("States", |entry| entry.0)
    }

    fn apply(&self, values: Vec<Value>) -> Result<Value, String> {
        match self.function {
            Function::Array => return Ok(Value::Array(values)),
            Function::Format => {
                let Some(Arg::Text(_, pieces)) = self.args.first() else {
                    return Err("the template (first argument) must be a string literal".into());
                };
                let given = &values[1..];
                if pieces.len() - 1 != given.len() {
                    return Err(format!(
                        "the template has {} `{{}}` and {} values follow it",
                        pieces.len() - 1,
                        given.len()
                    ));
                }
                let mut out = pieces[0].clone();
                for (value, piece) in given.iter().zip(&pieces[1..]) {
                    match value {
                        Value::String(text) => out.push_str(text),
                        other => out.push_str(&other.to_string()),
                    }
                    out.push_str(piece);
                }
                return Ok(Value::String(out));
            }
            _ => {}
        }
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or(Value::Null);
        Ok(match self.function {
            Function::Array | Function::Format => unreachable!("handled above"),
            Function::StringToJson => {
                let text = string(next(), "its argument")?;
                serde_json::from_str(&text)
                    .map_err(|error| format!("`{text}` is not JSON: {error}"))?
            }
            Function::JsonToString => Value::String(next().to_string()),
            Function::ArrayPartition => {
                let items = array(next(), "the first argument")?;
                let size = integer(&next(), "the chunk size")?;
                if size <= 0 {
                    return Err(format!("the chunk size must be above 0, not {size}"));
                }
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                Value::Array(
                    items
                        .chunks(size)
                        .map(|chunk| Value::Array(chunk.to_vec()))
                        .collect(),
                )
            }
            Function::ArrayContains => {
                let items = array(next(), "the first argument")?;
                let wanted = next();
                Value::Bool(items.contains(&wanted))
            }
            Function::ArrayRange => {
                let start = integer(&next(), "the start")?;
                let end = integer(&next(), "the end")?;
                let step = integer(&next(), "the step")?;
                if step == 0 {
                    return Err("the step must not be 0".into());
                }
                let mut items = Vec::new();
                let mut at = start;
                while (step > 0 && at <= end) || (step < 0 && at >= end) {
                    if items.len() == 1000 {
                        return Err("the range has more than 1000 items".into());
                    }
                    items.push(Value::from(at));
                    at += step;
                }
                Value::Array(items)
            }
            Function::ArrayGetItem => {
                let items = array(next(), "the first argument")?;
                let index = integer(&next(), "the index")?;
                usize::try_from(index)
                    .ok()
                    .and_then(|index| items.get(index).cloned())
                    .ok_or_else(|| {
                        format!("index {index} is out of the array's {} items", items.len())
                    })?
            }
            Function::ArrayLength => Value::from(array(next(), "its argument")?.len()),
            Function::ArrayUnique => {
                let mut unique: Vec<Value> = Vec::new();
                for item in array(next(), "its argument")? {
                    if !unique.contains(&item) {
                        unique.push(item);
                    }
                }
                Value::Array(unique)
            }
            Function::Base64Encode => {
                let text = string(next(), "its argument")?;
                if text.len() > 10_000 {
                    return Err("the input is longer than 10,000 characters".into());
                }
                Value::String(base64::engine::general_purpose::STANDARD.encode(text))
            }
            Function::Base64Decode => {
                let text = string(next(), "its argument")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&text)
                    .map_err(|error| format!("`{text}` is not base64: {error}"))?;
                Value::String(
                    String::from_utf8(bytes)
                        .map_err(|_| "the decoded bytes are not UTF-8".to_owned())?,
                )
            }
            Function::Hash => {
                let data = match next() {
                    Value::String(text) => text,
                    Value::Null => return Err("the data to hash is null".into()),
                    other => other.to_string(),
                };
                let algorithm = string(next(), "the algorithm")?;
                Value::String(hash(&algorithm, data.as_bytes())?)
            }
            Function::JsonMerge => {
                let (Value::Object(mut left), Value::Object(right)) = (next(), next()) else {
                    return Err("the first two arguments must be objects".into());
                };
                match next() {
                    Value::Bool(false) => {}
                    Value::Bool(true) => {
                        return Err("only a shallow merge (`false`) is supported".into());
                    }
                    other => {
                        return Err(format!(
                            "the third argument must be a boolean, not {}",
                            kind(&other)
                        ));
                    }
                }
                left.extend(right);
                Value::Object(left)
            }
            Function::MathRandom => {
                use rand::{Rng, SeedableRng};
                let start = integer(&next(), "the start")?;
                let end = integer(&next(), "the end")?;
                if start >= end {
                    return Err(format!("the start ({start}) must be below the end ({end})"));
                }
                let value = match next() {
                    Value::Null => rand::rng().random_range(start..end),
                    seed => {
                        let seed = integer(&seed, "the seed")?;
                        rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
                    }
                };
                Value::from(value)
            }
            Function::MathAdd => {
                let a = integer(&next(), "the first argument")?;
                let b = integer(&next(), "the second argument")?;
                Value::from(a + b)
            }
            Function::StringSplit => {
                let text = string(next(), "the first argument")?;
                let delimiters = string(next(), "the delimiter")?;
                Value::Array(
                    text.split(|c| delimiters.contains(c))
                        .filter(|piece| !piece.is_empty())
                        .map(|piece| Value::String(piece.to_owned()))
                        .collect(),
                )
            }
            Function::Uuid => {
                let bytes: [u8; 16] = rand::random();
                Value::String(
                    uuid::Builder::from_random_bytes(bytes)
                        .into_uuid()
                        .to_string(),
                )
            }
        })
    }
}

fn string(value: Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(format!("{what} must be a string, not {}", kind(&other))),
    }
}

fn array(value: Value, what: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(format!("{what} must be an array, not {}", kind(&other))),
    }
}

/// An integer argument: a JSON integer, or a number with no fraction.
fn integer(value: &Value, what: &str) -> Result<i64, String> {
    let number = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    });
    number.ok_or_else(|| format!("{what} must be an integer, not {value}"))
}

fn hash(algorithm: &str, data: &[u8]) -> Result<String, String> {
    use sha2::Digest;
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
    Ok(match algorithm {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        other => {
            return Err(format!(
                "`{other}` is not an algorithm: MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
            ));
        }
    })
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn blank(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: char) -> bool {
        self.blank();
        if self.rest().starts_with(token) {
            self.at += token.len_utf8();
            true
        } else {
            false
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        self.blank();
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let Some(&(_, function, min, max)) = Function::ALL.iter().find(|entry| entry.0 == name)
        else {
            let known = Function::ALL.iter().map(|entry| entry.0);
            let hint = crate::suggest::closest(name, known)
                .map_or_else(String::new, |near| format!(" (did you mean `{near}`?)"));
            return Err(format!("`{name}` is not an intrinsic function{hint}"));
        };
        self.at += end;
        if !self.eat('(') {
            return Err(format!("`{name}` needs its arguments in parentheses"));
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.arg()?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(format!(
                        "expected `,` or `)` in the arguments of `{name}`, found `{}`",
                        self.rest()
                    ));
                }
            }
        }
        if args.len() < min || args.len() > max {
            let wanted = match (min, max) {
                (min, usize::MAX) => format!("at least {min}"),
                (min, max) if min == max => min.to_string(),
                (min, max) => format!("{min} or {max}"),
            };
            return Err(format!(
                "`{name}` takes {wanted} argument{}, not {}",
                if wanted == "1" { "" } else { "s" },
                args.len()
            ));
        }
        if function == Function::Format && !matches!(args[0], Arg::Text(..)) {
            return Err("`States.Format`'s first argument must be a string literal".into());
        }
        Ok(Call { function, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        self.blank();
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.text_literal();
        }
        if rest.starts_with("States.") {
            return self.call().map(Arg::Call);
        }
        // A path or a literal runs to the next `,` or `)` outside brackets and quotes.
        let mut depth = 0usize;
        let mut quote = false;
        let mut end = rest.len();
        for (at, c) in rest.char_indices() {
            match c {
                '\'' => quote = !quote,
                '[' | '(' if !quote => depth += 1,
                ']' if !quote => depth = depth.saturating_sub(1),
                ')' if !quote && depth == 0 => {
                    end = at;
                    break;
                }
                ')' if !quote => depth -= 1,
                ',' if !quote && depth == 0 => {
                    end = at;
                    break;
                }
                _ => {}
            }
        }
        let token = rest[..end].trim();
        self.at += end;
        if token.starts_with('$') {
            return Path::parse(token).map(Arg::Path);
        }
        match token {
            "true" | "false" | "null" => Ok(Arg::Literal(
                serde_json::from_str(token).unwrap_or(Value::Null),
            )),
            _ => token
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| {
                    token
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number)
                })
                .map(Arg::Literal)
                .ok_or_else(|| {
                    format!("`{token}` is not an argument: a 'string', a number, true, false, null, a path or a call")
                }),
        }
    }

    fn text_literal(&mut self) -> Result<Arg, String> {
        let start = self.at;
        self.at += 1;
        let mut value = String::new();
        let mut pieces = vec![String::new()];
        let mut chars = self.rest().char_indices();
        loop {
            let Some((offset, c)) = chars.next() else {
                return Err(format!(
                    "the string starting `{}` is not closed",
                    &self.text[start..]
                ));
            };
            match c {
                '\\' => {
                    let Some((_, escaped)) = chars.next() else {
                        return Err("a `\\` ends the text".into());
                    };
                    value.push(escaped);
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(escaped);
                    }
                }
                '\'' => {
                    self.at += offset + 1;
                    return Ok(Arg::Text(value, pieces));
                }
                '{' if self.text[self.at + offset..].starts_with("{}") => {
                    chars.next();
                    value.push_str("{}");
                    pieces.push(String::new());
                }
                c => {
                    value.push(c);
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(c);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(text: &str, data: Value) -> Result<Value, String> {
        Call::parse(text)?.eval(
            &data,
            &Context::ready(json!({"Execution": {"Name": "run-1"}})),
        )
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escapes() {
        let data = json!({"name": "Ana", "n": 3, "tags": ["a"]});
        assert_eq!(
            eval(
                "States.Format('Hi {}, {} items {}', $.name, $.n, $.tags)",
                data.clone()
            ),
            Ok(json!("Hi Ana, 3 items [\"a\"]"))
        );
        assert_eq!(
            eval(
                r"States.Format('\{\} it\'s {}', $$.Execution.Name)",
                data.clone()
            ),
            Ok(json!("{} it's run-1"))
        );
        let error = eval("States.Format('{} {}', $.name)", data).unwrap_err();
        assert!(error.contains("2 `{}` and 1 values"), "{error}");
    }

    #[test]
    fn json_array_and_string_functions() {
        let data = json!({"text": "{\"a\":[1,2]}", "list": [1, 2, 2, 3, 1], "o": {"a": 1}});
        assert_eq!(
            eval("States.StringToJson($.text)", data.clone()),
            Ok(json!({"a": [1, 2]}))
        );
        assert_eq!(
            eval("States.JsonToString($.o)", data.clone()),
            Ok(json!("{\"a\":1}"))
        );
        assert_eq!(
            eval("States.Array('a', 1, true, null, $.o)", data.clone()),
            Ok(json!(["a", 1, true, null, {"a": 1}]))
        );
        assert_eq!(eval("States.Array()", data.clone()), Ok(json!([])));
        assert_eq!(
            eval("States.ArrayPartition($.list, 2)", data.clone()),
            Ok(json!([[1, 2], [2, 3], [1]]))
        );
        assert_eq!(
            eval("States.ArrayContains($.list, 3)", data.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", data.clone()),
            Ok(json!([1, 3, 5, 7, 9]))
        );
        assert_eq!(
            eval("States.ArrayRange(3, 1, -1)", data.clone()),
            Ok(json!([3, 2, 1]))
        );
        assert_eq!(
            eval("States.ArrayGetItem($.list, 3)", data.clone()),
            Ok(json!(3))
        );
        assert_eq!(
            eval("States.ArrayLength($.list)", data.clone()),
            Ok(json!(5))
        );
        assert_eq!(
            eval("States.ArrayUnique($.list)", data.clone()),
            Ok(json!([1, 2, 3]))
        );
        assert_eq!(
            eval("States.StringSplit('a,b;;c', ',;')", data.clone()),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(
            eval(
                "States.JsonMerge($.o, States.StringToJson('{\"b\":2,\"a\":3}'), false)",
                data.clone()
            ),
            Ok(json!({"a": 3, "b": 2}))
        );
        assert_eq!(eval("States.MathAdd(40, -2)", data.clone()), Ok(json!(38)));
        assert_eq!(
            eval("States.ArrayLength(States.ArrayUnique($.list))", data),
            Ok(json!(3))
        );
    }

    #[test]
    fn encodings_hashes_and_random_values() {
        let data = json!({"s": "hello"});
        assert_eq!(
            eval("States.Base64Encode($.s)", data.clone()),
            Ok(json!("aGVsbG8="))
        );
        assert_eq!(
            eval("States.Base64Decode('aGVsbG8=')", data.clone()),
            Ok(json!("hello"))
        );
        for (algorithm, digest) in [
            ("MD5", "5d41402abc4b2a76b9719d911017c592"),
            ("SHA-1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
            (
                "SHA-256",
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            ),
        ] {
            let call = format!("States.Hash($.s, '{algorithm}')");
            assert_eq!(eval(&call, data.clone()), Ok(json!(digest)), "{algorithm}");
        }
        for algorithm in ["SHA-384", "SHA-512"] {
            let call = format!("States.Hash($.s, '{algorithm}')");
            assert!(eval(&call, data.clone()).unwrap().as_str().unwrap().len() >= 96);
        }
        let random = eval("States.MathRandom(5, 8)", data.clone())
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((5..8).contains(&random));
        assert_eq!(
            eval("States.MathRandom(1, 1000, 7)", data.clone()),
            eval("States.MathRandom(1, 1000, 7)", data.clone())
        );
        let uuid = eval("States.UUID()", data).unwrap();
        let uuid = uuid.as_str().unwrap();
        assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"));
    }

    #[test]
    fn runtime_failures_say_which_function_and_why() {
        let data = json!({"list": [1], "s": "x"});
        for (call, says) in [
            (
                "States.ArrayGetItem($.list, 4)",
                "States.ArrayGetItem: index 4 is out",
            ),
            ("States.ArrayLength($.s)", "must be an array, not a string"),
            ("States.StringToJson($.s)", "is not JSON"),
            ("States.Hash($.s, 'SHA-3')", "is not an algorithm"),
            ("States.ArrayRange(1, 2, 0)", "must not be 0"),
            ("States.ArrayRange(0, 2000, 1)", "more than 1000"),
            ("States.JsonMerge($.list, $.list, false)", "must be objects"),
            ("States.ArrayLength($.missing)", "names nothing"),
            ("States.Base64Decode('***')", "not base64"),
        ] {
            let error = eval(call, data.clone()).unwrap_err();
            assert!(error.contains(says), "{call}: {error}");
        }
    }

    #[test]
    fn bad_calls_are_refused_when_parsed() {
        for (call, says) in [
            ("States.Fromat('x')", "did you mean `States.Format`"),
            ("States.ArrayLength($.a, $.b)", "takes 1 argument, not 2"),
            ("States.MathRandom(1)", "takes 2 or 3 arguments"),
            ("States.Format($.a)", "string literal"),
            ("States.UUID() x", "unexpected `x`"),
            ("States.Array('a)", "not closed"),
            ("States.Array(nope)", "is not an argument"),
        ] {
            let error = Call::parse(call).unwrap_err();
            assert!(error.contains(says), "{call}: {error}");
        }
    }
}
