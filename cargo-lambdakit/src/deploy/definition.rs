//! A state machine's definition as deploy sends it: read from its file (Amazon States
//! Language in JSON or YAML), with the project's functions named as `${function:NAME}` (or
//! `${function:NAME}:QUALIFIER`, an alias or version) in a `Task`'s `Resource` or in the
//! `FunctionName` of its `Parameters` (or, in JSONata, `Arguments`), inside Parallel branches
//! and Map processors too. Each reference is checked against the package's functions when the
//! project is read, before anything is built or called, and resolved here, in one place, to
//! the function's ARN on AWS.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;
use crate::project::Function;

/// How a reference to a project function starts.
pub const PREFIX: &str = "${function:";

/// One place in a definition that names a project function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The state's name.
    pub state: String,
    /// Where the state is, such as `States.Fan.Branches[0].States.Validate`.
    pub path: String,
    /// The field: `Resource`, `Parameters.FunctionName` or `Arguments.FunctionName`.
    pub field: &'static str,
    /// The function's binary name.
    pub function: String,
    /// The alias or version after it (`live` in `${function:validate}:live`).
    pub qualifier: Option<String>,
}

/// The definition in `text`, read from `file`: JSON for `.json`, YAML for `.yaml` and `.yml`.
///
/// # Errors
///
/// [`CliError::Definition`] naming the file, the line and column, and what the parser found.
pub fn parse(file: &Path, text: &str) -> Result<Value, CliError> {
    let yaml = file
        .extension()
        .is_some_and(|extension| extension == "yaml" || extension == "yml");
    let (value, language) = if yaml {
        (from_yaml(text), "YAML")
    } else {
        let value = serde_json::from_str::<Value>(text).map_err(|error| {
            (
                error.line(),
                error.column(),
                // serde_json's message ends with its own " at line L column C".
                error
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            )
        });
        (value, "JSON")
    };
    let invalid = |problem: String| CliError::Definition {
        file: file.display().to_string(),
        problem,
        hint: format!(
            "a definition is an Amazon States Language document in {language}: an object with `StartAt` and `States`"
        ),
    };
    let value = value.map_err(|(line, column, message)| {
        invalid(format!(
            "is not valid {language} at line {line}, column {column}: {message}"
        ))
    })?;
    if value.get("States").is_none_or(|states| !states.is_object()) {
        return Err(invalid("has no `States` object".into()));
    }
    Ok(value)
}

/// YAML's one document as JSON; YAML's errors as (line, column, message).
fn from_yaml(text: &str) -> Result<Value, (usize, usize, String)> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn json(yaml: Yaml) -> Result<Value, String> {
        Ok(match yaml {
            Yaml::Null => Value::Null,
            Yaml::Boolean(value) => Value::Bool(value),
            Yaml::Integer(value) => Value::from(value),
            Yaml::Real(text) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::String(text), Value::Number),
            Yaml::String(text) => Value::String(text),
            Yaml::Array(items) => {
                Value::Array(items.into_iter().map(json).collect::<Result<_, _>>()?)
            }
            Yaml::Hash(entries) => {
                let mut object = Map::new();
                for (key, value) in entries {
                    let key = match key {
                        Yaml::String(key) => key,
                        Yaml::Integer(key) => key.to_string(),
                        Yaml::Boolean(key) => key.to_string(),
                        other => return Err(format!("a key is not a string: {other:?}")),
                    };
                    object.insert(key, json(value)?);
                }
                Value::Object(object)
            }
            Yaml::Alias(_) | Yaml::BadValue => {
                return Err("YAML aliases (`*name`) are not supported; write the value out".into());
            }
        })
    }
    let mut documents = YamlLoader::load_from_str(text).map_err(|error| {
        let marker = error.marker();
        // yaml-rust2's columns count from 0 (its own Display adds one).
        (marker.line(), marker.col() + 1, error.info().to_owned())
    })?;
    if documents.len() != 1 {
        return Err((
            1,
            1,
            format!("has {} documents; one is needed", documents.len()),
        ));
    }
    json(documents.remove(0)).map_err(|message| (1, 1, message))
}

/// What `text` names when it is a reference, `${function:NAME}` with an optional `:QUALIFIER`:
/// `None` when it is not one, else the name and qualifier or what is wrong with it.
fn reference(text: &str) -> Option<Result<(String, Option<String>), String>> {
    let rest = text.strip_prefix(PREFIX)?;
    let Some((name, after)) = rest.split_once('}') else {
        return Some(Err(format!("`{text}` has no closing `}}`")));
    };
    if name.is_empty() {
        return Some(Err(format!("`{text}` names no function")));
    }
    let qualifier = match after {
        "" => None,
        _ => match after.strip_prefix(':') {
            Some(qualifier) if !qualifier.is_empty() => Some(qualifier.to_owned()),
            _ => {
                return Some(Err(format!(
                    "`{text}` has `{after}` after the reference; only `:ALIAS` or `:VERSION` may follow it"
                )));
            }
        },
    };
    Some(Ok((name.to_owned(), qualifier)))
}

/// The fields a function may be named in, as paths in a state.
const FIELDS: [(&str, Option<&str>, &str); 3] = [
    ("Resource", None, "Resource"),
    (
        "Parameters",
        Some("FunctionName"),
        "Parameters.FunctionName",
    ),
    ("Arguments", Some("FunctionName"), "Arguments.FunctionName"),
];

/// Calls `visit` with every field of every state (in `States`, Parallel `Branches`, and Map
/// `ItemProcessor` or `Iterator`) where a function may be named.
fn walk(
    states: &mut Value,
    path: &str,
    visit: &mut dyn FnMut(&str, &str, &'static str, &mut Value),
) {
    let Some(states) = states.as_object_mut() else {
        return;
    };
    for (name, state) in states.iter_mut() {
        let here = format!("{path}.{name}");
        for (field, inner, label) in FIELDS {
            let value = match inner {
                None => state.get_mut(field),
                Some(inner) => state.get_mut(field).and_then(|value| value.get_mut(inner)),
            };
            if let Some(value) = value {
                visit(name, &here, label, value);
            }
        }
        if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
            for (index, branch) in branches.iter_mut().enumerate() {
                if let Some(inner) = branch.get_mut("States") {
                    walk(inner, &format!("{here}.Branches[{index}].States"), visit);
                }
            }
        }
        for processor in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state
                .get_mut(processor)
                .and_then(|processor| processor.get_mut("States"))
            {
                walk(inner, &format!("{here}.{processor}.States"), visit);
            }
        }
    }
}

/// Every function `definition` names, checked against `functions` (its package's), in the
/// order of the states.
///
/// # Errors
///
/// [`CliError::Definition`] naming the state and the field, for a reference that is malformed,
/// names no function of the package (with a did-you-mean), or an alias or version the
/// function does not have.
pub fn references(
    file: &Path,
    definition: &Value,
    functions: &[&Function],
) -> Result<Vec<Reference>, CliError> {
    let mut found = Vec::new();
    let mut problem = None;
    let mut states = definition.get("States").cloned().unwrap_or(Value::Null);
    walk(&mut states, "States", &mut |state, path, field, value| {
        if problem.is_some() {
            return;
        }
        let Some(parsed) = value.as_str().and_then(reference) else {
            return;
        };
        let at = if path == format!("States.{state}") {
            format!("the state `{state}`")
        } else {
            format!("the state `{state}` (`{path}`)")
        };
        let (name, qualifier) = match parsed {
            Ok(parsed) => parsed,
            Err(message) => {
                problem = Some((format!("{at}: `{field}`: {message}"), None));
                return;
            }
        };
        let names = || functions.iter().map(|function| function.name.as_str());
        let Some(function) = functions.iter().find(|function| function.name == name) else {
            problem = Some((
                format!(
                    "{at} names the function `{name}` in `{field}`, which is not a function of the package{}",
                    crate::suggest::did_you_mean(&name, names())
                ),
                Some(names().map(|name| format!("`{name}`")).collect::<Vec<_>>()),
            ));
            return;
        };
        if let Some(qualifier) = &qualifier
            && let Err(message) = qualifier_of(function, qualifier)
        {
            problem = Some((
                format!("{at} names `{name}:{qualifier}` in `{field}`: {message}"),
                None,
            ));
            return;
        }
        found.push(Reference {
            state: state.to_owned(),
            path: path.to_owned(),
            field,
            function: name,
            qualifier,
        });
    });
    match problem {
        None => Ok(found),
        Some((problem, names)) => Err(CliError::Definition {
            file: file.display().to_string(),
            problem,
            hint: match names {
                Some(names) if names.is_empty() => {
                    "the package has no function: add a binary target for it".into()
                }
                Some(names) => format!(
                    "write `${{function:NAME}}` with a function (binary target) of the package: {}",
                    names.join(", ")
                ),
                None => "write `${function:NAME}`, or `${function:NAME}:ALIAS` with the function's `alias`".into(),
            },
        }),
    }
}

/// Checks that `function` has the alias or version `qualifier`: its `alias`, a version
/// number when it publishes versions, or `$LATEST`.
fn qualifier_of(function: &Function, qualifier: &str) -> Result<(), String> {
    let deploy = &function.deploy;
    let publishes = deploy.publish.unwrap_or(false) || deploy.alias.is_some();
    if qualifier == "$LATEST" || deploy.alias.as_deref() == Some(qualifier) {
        return Ok(());
    }
    if qualifier.chars().all(|c| c.is_ascii_digit()) {
        return if publishes {
            Ok(())
        } else {
            Err(format!(
                "`{}` publishes no versions: set `publish = true` or an `alias` for it",
                function.name
            ))
        };
    }
    Err(match &deploy.alias {
        Some(alias) => format!(
            "`{}` has no alias `{qualifier}`; its alias is `{alias}`",
            function.name
        ),
        None => format!(
            "`{}` has no alias: set `alias = \"{qualifier}\"` in its settings",
            function.name
        ),
    })
}

/// The definition with every reference replaced by the ARN `arn` gives its function (the
/// function's name on AWS) and qualifier, and those ARNs, sorted and each once: what the
/// state machine's role may invoke.
pub fn resolve(
    definition: &Value,
    functions: &[&Function],
    arn: &dyn Fn(&str) -> String,
) -> (Value, Vec<String>) {
    let mut resolved = definition.clone();
    let mut invoked = Vec::new();
    if let Some(states) = resolved.get_mut("States") {
        walk(states, "States", &mut |_, _, _, value| {
            let Some(Ok((name, qualifier))) = value.as_str().and_then(reference) else {
                return;
            };
            // `references` has checked every name when the project was read.
            let Some(function) = functions.iter().find(|function| function.name == name) else {
                return;
            };
            let mut target = arn(function.aws_name());
            if let Some(qualifier) = qualifier {
                target = format!("{target}:{qualifier}");
            }
            invoked.push(target.clone());
            *value = Value::String(target);
        });
    }
    invoked.sort();
    invoked.dedup();
    (resolved, invoked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn functions() -> Vec<Function> {
        let mut validate = Function::standalone("validate");
        validate.deploy.alias = Some("live".into());
        let mut load = Function::standalone("load");
        load.deploy.name = Some("orders-load".into());
        vec![validate, load, Function::standalone("transform")]
    }

    fn definition() -> Value {
        json!({
            "StartAt": "Validate",
            "States": {
                "Validate": {"Type": "Task", "Resource": "${function:validate}:live", "Next": "Fan"},
                "Fan": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Transform", "States": {
                            "Transform": {"Type": "Task", "Resource": "${function:transform}", "End": true},
                        }},
                        {"StartAt": "Lines", "States": {
                            "Lines": {"Type": "Map", "ItemProcessor": {"StartAt": "Load", "States": {
                                "Load": {
                                    "Type": "Task",
                                    "Resource": "arn:aws:states:::lambda:invoke",
                                    "Parameters": {"FunctionName": "${function:load}", "Payload.$": "$"},
                                    "End": true,
                                },
                            }}, "End": true},
                        }},
                    ],
                    "Next": "Old",
                },
                "Old": {"Type": "Map", "Iterator": {"StartAt": "Again", "States": {
                    "Again": {"Type": "Task", "Resource": "${function:transform}", "End": true},
                }}, "End": true},
            },
        })
    }

    fn arn(name: &str) -> String {
        format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}")
    }

    #[test]
    fn references_are_found_in_every_state_and_resolved_to_arns() {
        let functions = functions();
        let functions: Vec<&Function> = functions.iter().collect();
        let found = references(Path::new("o.json"), &definition(), &functions).unwrap();
        let mut seen: Vec<(String, &str, String, Option<String>)> = found
            .iter()
            .map(|r| {
                (
                    r.path.clone(),
                    r.field,
                    r.function.clone(),
                    r.qualifier.clone(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (
                    "States.Fan.Branches[0].States.Transform".into(),
                    "Resource",
                    "transform".into(),
                    None
                ),
                (
                    "States.Fan.Branches[1].States.Lines.ItemProcessor.States.Load".into(),
                    "Parameters.FunctionName",
                    "load".into(),
                    None
                ),
                (
                    "States.Old.Iterator.States.Again".into(),
                    "Resource",
                    "transform".into(),
                    None
                ),
                (
                    "States.Validate".into(),
                    "Resource",
                    "validate".into(),
                    Some("live".into())
                ),
            ]
        );

        let (resolved, invoked) = resolve(&definition(), &functions, &arn);
        assert_eq!(
            resolved["States"]["Validate"]["Resource"],
            format!("{}:live", arn("validate"))
        );
        let load = &resolved["States"]["Fan"]["Branches"][1]["States"]["Lines"]["ItemProcessor"]["States"]
            ["Load"];
        assert_eq!(load["Parameters"]["FunctionName"], arn("orders-load"));
        // What is not a reference stays as written.
        assert_eq!(load["Resource"], "arn:aws:states:::lambda:invoke");
        assert_eq!(load["Parameters"]["Payload.$"], "$");
        assert_eq!(
            invoked,
            [
                arn("orders-load"),
                arn("transform"),
                format!("{}:live", arn("validate"))
            ]
        );
    }

    #[test]
    fn bad_references_name_the_state_the_field_and_the_fix() {
        let functions = functions();
        let functions: Vec<&Function> = functions.iter().collect();
        let with = |path: &[&str], value: &str| {
            let mut definition = definition();
            let mut at = &mut definition;
            for key in path {
                at = match key.parse::<usize>() {
                    Ok(index) => &mut at[index],
                    Err(_) => &mut at[*key],
                };
            }
            *at = Value::String(value.into());
            definition
        };
        let cases = [
            (
                with(&["States", "Validate", "Resource"], "${function:validat}"),
                "the state `Validate` names the function `validat` in `Resource`, which is not a function of the package; did you mean `validate`?",
                "`validate`, `load`, `transform`",
            ),
            (
                with(
                    &[
                        "States",
                        "Fan",
                        "Branches",
                        "1",
                        "States",
                        "Lines",
                        "ItemProcessor",
                        "States",
                        "Load",
                        "Parameters",
                        "FunctionName",
                    ],
                    "${function:lod}",
                ),
                "the state `Load` (`States.Fan.Branches[1].States.Lines.ItemProcessor.States.Load`) names the function `lod` in `Parameters.FunctionName`",
                "binary target",
            ),
            (
                with(
                    &["States", "Validate", "Resource"],
                    "${function:validate}:prod",
                ),
                "`validate` has no alias `prod`; its alias is `live`",
                "`${function:NAME}:ALIAS`",
            ),
            (
                with(&["States", "Validate", "Resource"], "${function:load}:3"),
                "`load` publishes no versions",
                "`${function:NAME}:ALIAS`",
            ),
            (
                with(&["States", "Validate", "Resource"], "${function:validate"),
                "no closing `}`",
                "`${function:NAME}`",
            ),
            (
                with(
                    &["States", "Validate", "Resource"],
                    "${function:validate}-x",
                ),
                "only `:ALIAS` or `:VERSION` may follow it",
                "`${function:NAME}`",
            ),
        ];
        for (definition, says, hint) in cases {
            let Err(CliError::Definition {
                file,
                problem,
                hint: given,
            }) = references(Path::new("flow.json"), &definition, &functions)
            else {
                panic!("accepted: {says}");
            };
            assert_eq!(file, "flow.json");
            assert!(problem.contains(says), "{problem}");
            assert!(given.contains(hint), "{given}");
        }
    }

    #[test]
    fn json_and_yaml_are_read_and_their_errors_say_where() {
        let yaml = "StartAt: Validate\nStates:\n  Validate:\n    Type: Task\n    Resource: \"${function:validate}\"\n    TimeoutSeconds: 3\n    End: true\n";
        let from_yaml = parse(Path::new("flow.asl.yaml"), yaml).unwrap();
        assert_eq!(
            from_yaml,
            json!({"StartAt": "Validate", "States": {"Validate": {
                "Type": "Task", "Resource": "${function:validate}", "TimeoutSeconds": 3, "End": true,
            }}})
        );
        let from_json = parse(Path::new("flow.json"), &from_yaml.to_string()).unwrap();
        assert_eq!(from_json, from_yaml);

        let Err(CliError::Definition { file, problem, .. }) = parse(
            Path::new("states/flow.json"),
            "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\"Type\": \"Pass\" \"End\": true}\n  }\n}\n",
        ) else {
            panic!("bad JSON was accepted");
        };
        assert_eq!(file, "states/flow.json");
        assert!(
            problem.starts_with("is not valid JSON at line 4, column "),
            "{problem}"
        );
        assert!(problem.contains("expected `,` or `}`"), "{problem}");

        let Err(CliError::Definition { problem, .. }) = parse(
            Path::new("flow.yml"),
            "StartAt: A\nStates:\n  A:\n    Type: Pass\n   End: true\n",
        ) else {
            panic!("bad YAML was accepted");
        };
        assert!(
            problem.starts_with("is not valid YAML at line 5, column "),
            "{problem}"
        );

        let Err(CliError::Definition { problem, hint, .. }) =
            parse(Path::new("flow.json"), "{\"StartAt\": \"A\"}")
        else {
            panic!("a definition without states was accepted");
        };
        assert_eq!(problem, "has no `States` object");
        assert!(hint.contains("`StartAt` and `States`"), "{hint}");
    }
}
