//! State machines: CreateStateMachine, DescribeStateMachine, UpdateStateMachine,
//! DeleteStateMachine, ListStateMachines, DescribeStateMachineForExecution, and their tags
//! (TagResource, UntagResource, ListTagsForResource).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Code, Fault, checked_name, epoch_seconds, listing, required, states_arn, text};
use crate::deploy::settings::{MachineType, Word as _};
use crate::emulator::{Emulator, lock};
use crate::states::StateMachine;

/// A state machine created on serve.
#[derive(Debug, Clone)]
pub(super) struct Machine {
    pub(super) name: String,
    pub(super) arn: String,
    /// The definition as given (DescribeStateMachine answers it unchanged).
    definition: String,
    /// What runs.
    pub(super) parsed: Arc<StateMachine>,
    pub(super) role_arn: String,
    pub(super) kind: MachineType,
    logging: Value,
    tracing: Value,
    description: Option<String>,
    created: SystemTime,
    /// Bumped by each UpdateStateMachine: the `revisionId` it answers.
    revision: u64,
    tags: BTreeMap<String, String>,
}

impl Machine {
    /// DescribeStateMachine's answer.
    pub(super) fn description(&self) -> Value {
        let mut described = json!({
            "stateMachineArn": self.arn,
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.definition,
            "roleArn": self.role_arn,
            "type": self.kind.as_str(),
            "creationDate": epoch_seconds(self.created),
            "loggingConfiguration": self.logging,
            "tracingConfiguration": self.tracing,
            "revisionId": self.revision.to_string(),
        });
        if let (Some(description), Value::Object(map)) = (&self.description, &mut described) {
            map.insert("description".into(), json!(description));
        }
        described
    }

    /// Whether `other` is created with the same settings (CreateStateMachine is idempotent
    /// then).
    fn same_as(&self, other: &Self) -> bool {
        self.definition == other.definition
            && self.role_arn == other.role_arn
            && self.kind == other.kind
            && self.logging == other.logging
            && self.tracing == other.tracing
    }
}

/// The definition of a request, parsed and checked whole.
fn definition(text: &str) -> Result<Arc<StateMachine>, Fault> {
    crate::states::parse(text).map(Arc::new).map_err(|invalid| {
        let problems: Vec<String> = invalid.problems.iter().map(ToString::to_string).collect();
        Fault::new(
            Code::InvalidDefinition,
            format!(
                "Invalid State Machine Definition: '{}'",
                problems.join("; ")
            ),
        )
    })
}

/// A role ARN as the service takes it: an IAM role's.
fn role(arn: &str) -> Result<String, Fault> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "iam", "", _, resource] if resource.starts_with("role/") => Ok(arn.to_owned()),
        _ => Err(Fault::new(
            Code::InvalidArn,
            format!(
                "Invalid Arn: 'Resource type not valid in this context: {arn}'; `roleArn` is an IAM role's ARN, `arn:aws:iam::ACCOUNT:role/NAME`"
            ),
        )),
    }
}

/// `loggingConfiguration` or `tracingConfiguration`, an object if given.
fn setting(request: &Value, field: &str) -> Result<Option<Value>, Fault> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(value.clone())),
        Some(_) => Err(Fault::new(
            Code::Serialization,
            format!("`{field}` must be an object"),
        )),
    }
}

/// `[{"key": K, "value": V}, ...]`.
fn tag_list(request: &Value) -> Result<Vec<(String, String)>, Fault> {
    let Some(tags) = request.get("tags").filter(|tags| !tags.is_null()) else {
        return Ok(Vec::new());
    };
    let bad = || {
        Fault::new(
            Code::Serialization,
            "`tags` must be a list of {\"key\": ..., \"value\": ...}",
        )
    };
    tags.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|tag| {
            let key = tag.get("key").and_then(Value::as_str).ok_or_else(bad)?;
            let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The name a state machine's ARN names, when it is one.
fn machine_name(arn: &str) -> Result<&str, Fault> {
    arn.split_once(":stateMachine:")
        .map(|(_, name)| name)
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| {
            Fault::new(
                Code::InvalidArn,
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'; expected a state machine's ARN, `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`"),
            )
        })
}

fn does_not_exist(arn: &str) -> Fault {
    Fault::new(
        Code::StateMachineDoesNotExist,
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

impl Emulator {
    /// The state machine of ARN `arn`.
    pub(super) fn machine(&self, arn: &str) -> Result<Machine, Fault> {
        let name = machine_name(arn)?;
        lock(&self.step_functions.machines)
            .get(name)
            .filter(|machine| machine.arn == arn)
            .cloned()
            .ok_or_else(|| does_not_exist(arn))
    }

    pub(super) fn create_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let name = required(request, "name")?;
        checked_name(name, "state machine")?;
        let definition_text = required(request, "definition")?;
        let parsed = definition(definition_text)?;
        let role_arn = role(required(request, "roleArn")?)?;
        let kind = match text(request, "type")? {
            None => MachineType::Standard,
            Some(word) => MachineType::named(word).ok_or_else(|| {
                Fault::new(
                    Code::Validation,
                    format!("`type` is `{word}`; it {}", MachineType::expected()),
                )
            })?,
        };
        let machine = Machine {
            name: name.to_owned(),
            arn: states_arn(&self.region, &format!("stateMachine:{name}")),
            definition: definition_text.to_owned(),
            parsed,
            role_arn,
            kind,
            logging: setting(request, "loggingConfiguration")?
                .unwrap_or_else(|| json!({"level": "OFF", "includeExecutionData": false})),
            tracing: setting(request, "tracingConfiguration")?
                .unwrap_or_else(|| json!({"enabled": false})),
            description: text(request, "description")?.map(str::to_owned),
            created: SystemTime::now(),
            revision: 1,
            tags: tag_list(request)?.into_iter().collect(),
        };
        let mut machines = lock(&self.step_functions.machines);
        if let Some(existing) = machines.get(name) {
            if existing.same_as(&machine) {
                return Ok(
                    json!({"stateMachineArn": existing.arn, "creationDate": epoch_seconds(existing.created)}),
                );
            }
            return Err(Fault::new(
                Code::StateMachineAlreadyExists,
                format!(
                    "State Machine Already Exists: '{}' (with another definition or settings; update it with UpdateStateMachine)",
                    existing.arn
                ),
            ));
        }
        let answer =
            json!({"stateMachineArn": machine.arn, "creationDate": epoch_seconds(machine.created)});
        machines.insert(name.to_owned(), machine);
        Ok(answer)
    }

    pub(super) fn describe_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let arn = required(request, "stateMachineArn")?;
        Ok(self.machine(arn)?.description())
    }

    pub(super) fn describe_state_machine_for_execution(
        &self,
        request: &Value,
    ) -> Result<Value, Fault> {
        let run = self.run(required(request, "executionArn")?)?;
        let machine = self.machine(&run.machine_arn)?;
        let mut described = machine.description();
        if let Value::Object(map) = &mut described {
            // Not part of this action's answer.
            map.remove("status");
            map.remove("type");
            map.remove("creationDate");
            map.insert("updateDate".into(), epoch_seconds(machine.created));
        }
        Ok(described)
    }

    pub(super) fn update_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let arn = required(request, "stateMachineArn")?;
        let definition_text = text(request, "definition")?;
        let parsed = definition_text.map(definition).transpose()?;
        let role_arn = text(request, "roleArn")?.map(role).transpose()?;
        let logging = setting(request, "loggingConfiguration")?;
        let tracing = setting(request, "tracingConfiguration")?;
        if definition_text.is_none() && role_arn.is_none() && logging.is_none() && tracing.is_none()
        {
            return Err(Fault::new(
                Code::Validation,
                "UpdateStateMachine changes nothing: give at least one of `definition`, `roleArn`, `loggingConfiguration`, `tracingConfiguration`",
            ));
        }
        let name = machine_name(arn)?;
        let mut machines = lock(&self.step_functions.machines);
        let machine = machines
            .get_mut(name)
            .filter(|machine| machine.arn == arn)
            .ok_or_else(|| does_not_exist(arn))?;
        if let (Some(text), Some(parsed)) = (definition_text, parsed) {
            machine.definition = text.to_owned();
            machine.parsed = parsed;
        }
        if let Some(role_arn) = role_arn {
            machine.role_arn = role_arn;
        }
        if let Some(logging) = logging {
            machine.logging = logging;
        }
        if let Some(tracing) = tracing {
            machine.tracing = tracing;
        }
        machine.revision += 1;
        Ok(json!({
            "updateDate": epoch_seconds(SystemTime::now()),
            "revisionId": machine.revision.to_string(),
        }))
    }

    /// Executions under way run to their end on the definition they started with.
    pub(super) fn delete_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let arn = required(request, "stateMachineArn")?;
        let name = machine_name(arn)?;
        let mut machines = lock(&self.step_functions.machines);
        if machines.get(name).is_some_and(|machine| machine.arn == arn) {
            machines.remove(name);
        }
        Ok(json!({}))
    }

    pub(super) fn list_state_machines(&self, request: &Value) -> Result<Value, Fault> {
        let listed: Vec<Value> = lock(&self.step_functions.machines)
            .values()
            .map(|machine| {
                json!({
                    "stateMachineArn": machine.arn,
                    "name": machine.name,
                    "type": machine.kind.as_str(),
                    "creationDate": epoch_seconds(machine.created),
                })
            })
            .collect();
        listing(request, "stateMachines", listed)
    }

    /// Runs `change` on the tags of the machine `resourceArn` names.
    fn with_tags<T>(
        &self,
        request: &Value,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> T,
    ) -> Result<T, Fault> {
        let arn = required(request, "resourceArn")?;
        let not_found = || {
            Fault::new(
                Code::ResourceNotFound,
                format!("Resource not found: '{arn}'"),
            )
        };
        let name = machine_name(arn).map_err(|_| not_found())?;
        let mut machines = lock(&self.step_functions.machines);
        let machine = machines
            .get_mut(name)
            .filter(|machine| machine.arn == arn)
            .ok_or_else(not_found)?;
        Ok(change(&mut machine.tags))
    }

    pub(super) fn tag_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let added = tag_list(request)?;
        self.with_tags(request, |tags| tags.extend(added))?;
        Ok(json!({}))
    }

    pub(super) fn untag_state_machine(&self, request: &Value) -> Result<Value, Fault> {
        let keys: Vec<String> = request
            .get("tagKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        self.with_tags(request, |tags| {
            for key in &keys {
                tags.remove(key);
            }
        })?;
        Ok(json!({}))
    }

    pub(super) fn state_machine_tags(&self, request: &Value) -> Result<Value, Fault> {
        let tags = self.with_tags(request, |tags| {
            tags.iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>()
        })?;
        Ok(json!({"tags": tags}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_machine_arns_are_checked() {
        assert!(role("arn:aws:iam::123456789012:role/orders-states").is_ok());
        assert_eq!(role("orders-states").unwrap_err().code, Code::InvalidArn);
        assert_eq!(
            machine_name("arn:aws:states:us-east-1:123456789012:stateMachine:orders").unwrap(),
            "orders"
        );
        assert_eq!(
            machine_name("arn:aws:states:us-east-1:123456789012:execution:orders:one")
                .unwrap_err()
                .code,
            Code::InvalidArn
        );
    }

    #[test]
    fn invalid_definitions_name_each_problem() {
        let fault =
            definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}"#).unwrap_err();
        assert_eq!(fault.code, Code::InvalidDefinition);
        assert!(fault.message.contains("\"A\""), "{}", fault.message);
        assert!(
            fault
                .message
                .starts_with("Invalid State Machine Definition: '")
        );
    }
}
