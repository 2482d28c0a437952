//! `cargo lambdakit template`: what `deploy` would create, written as a CloudFormation (or
//! SAM) template. It is derived from the same settings through deploy's own functions (the
//! role's policy and trust, the function's configuration and tags, the names deploy gives
//! rules, filters and roles), so that the template and deploy cannot drift apart.
//!
//! ARNs deploy computes for its account and region are computed here for CloudFormation's
//! pseudo parameters: a [`Place`] whose parts are `${AWS::Region}` and the like, marked so that
//! the strings holding them become `Fn::Sub`s (and only those; any other `${` is escaped).
//!
//! What a template cannot do is said, never dropped: notifications of an existing S3 bucket,
//! the processors of an existing Firehose delivery stream and the `LambdaConfig` of an existing
//! Cognito user pool belong to those resources' own templates (CloudFormation describes whole
//! resources a stack owns), so the template grants the invoke permission and lists the rest
//! in its `Metadata` and in [`Template::notes`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::extension::{self, Published};
use super::function::{self, Desired};
use super::settings::{
    Destination, ExecutionLogLevel, PoolTrigger, UrlAuth, UrlSettings, Word as _,
};
use super::{definition, role, state_machine, triggers};
use crate::aws::Place;
use crate::error::CliError;
use crate::project::{Api, Function, Project, StateMachine};

/// Which kind of template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Plain CloudFormation (`cloudformation`, the default).
    #[default]
    CloudFormation,
    /// The AWS SAM transform (`sam`): functions are `AWS::Serverless::Function`s, whose
    /// `AutoPublishAlias` publishes a version whenever the code changes.
    Sam,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Self; 2] = [Self::CloudFormation, Self::Sam];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudFormation => "cloudformation",
            Self::Sam => "sam",
        }
    }
}

/// How the template is written: both are CloudFormation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Syntax {
    /// JSON (the default).
    #[default]
    Json,
    /// YAML.
    Yaml,
}

impl Syntax {
    /// Every syntax, in the order help lists them.
    pub const ALL: [Self; 2] = [Self::Json, Self::Yaml];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Yaml => "yaml",
        }
    }
}

/// A template and what it could not express.
#[derive(Debug)]
pub struct Template {
    /// The template, as JSON.
    pub document: Value,
    /// What the settings ask for that the template leaves to something else, one sentence
    /// each (also in the template's `Metadata`).
    pub notes: Vec<String>,
}

/// The mark before a `{VARIABLE}` of `Fn::Sub`, in strings the template builds: a control
/// character that no AWS name or ARN takes, and that a setting's TOML string holds only when
/// written as the escape `\u0001`.
const MARK: char = '\u{1}';

/// `${variable}` of `Fn::Sub`, marked.
fn variable(name: &str) -> String {
    format!("{MARK}{{{name}}}")
}

/// `value` with each string holding a marked variable turned into an `Fn::Sub` of it, the
/// string's other `${` escaped (`${!`), so that they stay as written; a string that is one
/// variable alone becomes its `Ref` or `Fn::GetAtt`.
fn substituted(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains(MARK) => {
            let alone = text
                .strip_prefix(MARK)
                .and_then(|rest| rest.strip_prefix('{'))
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|name| !name.contains(['{', '}', MARK]));
            match alone {
                Some(name) => match name.split_once('.') {
                    Some((id, name)) => attribute(id, name),
                    None => reference(name),
                },
                None => json!({ "Fn::Sub": text.replace("${", "${!").replace(MARK, "$") }),
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(substituted).collect()),
        Value::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| (key, substituted(value)))
                .collect(),
        ),
        other => other,
    }
}

/// A logical id from a name: its letters and digits, each word capitalised
/// (`order-pipeline` → `OrderPipeline`).
fn logical(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `{"Ref": id}`.
fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
fn attribute(id: &str, name: &str) -> Value {
    json!({ "Fn::GetAtt": [id, name] })
}

/// CloudFormation's list of tags.
fn tag_list<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    let sorted: BTreeMap<&String, &String> = tags.into_iter().collect();
    sorted
        .into_iter()
        .map(|(key, value)| json!({"Key": key, "Value": value}))
        .collect()
}

/// `{"Key": value}` pascal-cased throughout: IoT's REST shapes as CloudFormation spells them.
fn pascal(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(pascal).collect()),
        Value::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| (logical(&key), pascal(value)))
                .collect(),
        ),
        other => other,
    }
}

/// What is being written.
struct Builder {
    format: Format,
    parameters: Map<String, Value>,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    notes: Vec<String>,
    ids: BTreeSet<String>,
}

impl Builder {
    /// A logical id for `name` with `suffix`, distinct from those taken.
    fn id(&mut self, name: &str, suffix: &str) -> String {
        let base = logical(name);
        let mut id = format!("{base}{suffix}");
        let mut n = 2;
        while self.ids.contains(&id) {
            id = format!("{base}{n}{suffix}");
            n += 1;
        }
        self.ids.insert(id.clone());
        id
    }

    fn resource(&mut self, id: &str, kind: &str, properties: Value) {
        self.resources.insert(
            id.to_owned(),
            json!({"Type": kind, "Properties": properties}),
        );
    }

    fn resource_after(&mut self, id: &str, kind: &str, properties: Value, after: &str) {
        self.resources.insert(
            id.to_owned(),
            json!({"Type": kind, "Properties": properties, "DependsOn": after}),
        );
    }

    /// A String parameter.
    fn parameter(&mut self, id: &str, description: String) {
        self.parameters.insert(
            id.to_owned(),
            json!({"Type": "String", "MinLength": 1, "Description": description}),
        );
    }

    /// The permission for `principal` to invoke the function `function` (its ARN) from
    /// `source`, as deploy's `permit` grants it.
    fn permission(&mut self, id: &str, function: Value, principal: &str, source: Value) {
        let mut properties = json!({
            "Action": "lambda:InvokeFunction",
            "FunctionName": function,
            "Principal": principal,
            "SourceArn": source,
        });
        if triggers::names_account(principal) {
            properties["SourceAccount"] = reference("AWS::AccountId");
        }
        self.resource(id, "AWS::Lambda::Permission", properties);
    }
}

/// The template of what `deploy` would create for `functions` (the extensions' layers they
/// use, and their roles, URLs and triggers), `machines` (with their roles and log groups) and
/// `apis` (their routes, integrations, authorizers, stage and permissions), in `format`.
///
/// # Errors
///
/// The same [`CliError::Config`]s as deploy, for settings AWS would refuse.
pub fn template(
    project: &Project,
    functions: &[Function],
    machines: &[&StateMachine],
    apis: &[&Api],
    format: Format,
) -> Result<Template, CliError> {
    super::check(functions)?;
    for api in apis {
        api.check()?;
    }
    let layers = extension::needed(project, functions)?;
    let (partition, region, account) = (
        variable("AWS::Partition"),
        variable("AWS::Region"),
        variable("AWS::AccountId"),
    );
    let place = Place {
        partition: &partition,
        region: &region,
        account: &account,
    };
    let mut builder = Builder {
        format,
        parameters: Map::new(),
        resources: Map::new(),
        outputs: Map::new(),
        notes: Vec::new(),
        ids: BTreeSet::new(),
    };

    let mut published = Published::new();
    for needed in &layers {
        let extension = needed.extension;
        let layer = extension.layer_name(needed.architecture);
        let id = builder.id(&layer, "Layer");
        let (bucket, key) = code_parameters(
            &mut builder,
            &layer,
            &format!("the layer zip of the extension `{}`", extension.name),
            None,
        );
        builder.resource(
            &id,
            "AWS::Lambda::LayerVersion",
            json!({
                "LayerName": layer,
                "Description": extension::layer_description(extension),
                "Content": {"S3Bucket": reference(&bucket), "S3Key": reference(&key)},
                "CompatibleArchitectures": [needed.architecture.as_str()],
            }),
        );
        published.insert((extension.name.clone(), needed.architecture), variable(&id));
    }

    let mut arns = BTreeMap::new();
    for function in functions {
        let function = extension::attached(function, &published);
        let id = function_resources(&mut builder, &place, &function);
        arns.insert(function.aws_name().to_owned(), id);
    }
    for machine in machines {
        let functions: Vec<&Function> = functions
            .iter()
            .filter(|function| function.package == machine.package)
            .collect();
        state_machine_resources(&mut builder, machine, &functions, &arns);
    }
    for api in apis {
        let functions: Vec<&Function> = functions
            .iter()
            .filter(|function| function.package == api.package)
            .collect();
        api_resources(&mut builder, &place, api, &functions, &arns)?;
    }

    let mut document = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "What `cargo lambdakit deploy` creates, as a template (cargo lambdakit template)",
    });
    if format == Format::Sam {
        document["Transform"] = json!("AWS::Serverless-2016-10-31");
    }
    if !builder.notes.is_empty() {
        document["Metadata"] = json!({"LambdaKit": {"NotInTemplate": builder.notes}});
    }
    document["Parameters"] = Value::Object(builder.parameters);
    document["Resources"] = Value::Object(builder.resources);
    if !builder.outputs.is_empty() {
        document["Outputs"] = Value::Object(builder.outputs);
    }
    Ok(Template {
        document: substituted(document),
        notes: builder.notes,
    })
}

/// The bucket and key parameters of a zip; the bucket's default is `bucket_default` (the
/// function's `upload_bucket`), when it has one.
fn code_parameters(
    builder: &mut Builder,
    name: &str,
    what: &str,
    bucket_default: Option<&str>,
) -> (String, String) {
    let bucket = builder.id(name, "CodeBucket");
    let key = builder.id(name, "CodeKey");
    builder.parameter(&bucket, format!("The S3 bucket holding {what}"));
    if let Some(default) = bucket_default {
        builder.parameters[&bucket]["Default"] = json!(default);
    }
    builder.parameter(&key, format!("The S3 key of {what}"));
    (bucket, key)
}

/// The function's sources as ARNs, as deploy's `triggers::resolve` makes them: queue and
/// stream names in the stack's account and region, and a DynamoDB table's stream from a
/// parameter (a template cannot look up an existing table's stream).
fn resolved(builder: &mut Builder, place: &Place<'_>, function: &Function) -> Function {
    let mut function = function.clone();
    let name = function.aws_name().to_owned();
    let triggers = &mut function.deploy.triggers;
    for queue in &mut triggers.sqs {
        queue.source = triggers::queue_arn(place, &queue.source);
    }
    for stream in &mut triggers.kinesis {
        if !stream.source.starts_with("arn:") {
            stream.source = place.arn("kinesis", &format!("stream/{}", stream.source));
        }
    }
    for stream in &mut triggers.dynamodb {
        let Some(table) = &stream.table else { continue };
        let id = builder.id(&format!("{name}-{table}"), "StreamArn");
        builder.parameter(
            &id,
            format!("The stream ARN of the DynamoDB table `{table}` (its LatestStreamArn)"),
        );
        stream.source = variable(&id);
    }
    function
}

/// The function's role, the function, its version, alias, URL and triggers; returns the
/// function's logical id.
fn function_resources(builder: &mut Builder, place: &Place<'_>, function: &Function) -> String {
    let function = &resolved(builder, place, function);
    let name = function.aws_name();
    let deploy = &function.deploy;
    let id = builder.id(name, "Function");
    let (bucket, key) = code_parameters(
        builder,
        name,
        &format!(
            "the zip of the function `{name}` (`cargo lambdakit zip --bin {}`)",
            function.name
        ),
        deploy.upload_bucket.as_deref(),
    );

    let role = match &deploy.role {
        Some(role) if role.starts_with("arn:") => json!(role),
        Some(role) => json!(place.role_arn(role)),
        None => {
            let role_id = builder.id(name, "Role");
            let tags = function::tags(function);
            builder.resource(
                &role_id,
                "AWS::IAM::Role",
                json!({
                    "RoleName": role::created_name(name),
                    "Description": role::description(name),
                    "AssumeRolePolicyDocument": role::trust("lambda.amazonaws.com"),
                    "Policies": [{
                        "PolicyName": role::POLICY,
                        "PolicyDocument": role::policy(place, function),
                    }],
                    "Tags": tag_list(tags.iter().filter(|(key, _)| key.starts_with("lambdakit:"))),
                }),
            );
            attribute(&role_id, "Arn")
        }
    };

    let desired = Desired::of(function, "");
    let sam = builder.format == Format::Sam;
    let mut properties = json!({
        "FunctionName": name,
        "Runtime": desired.runtime,
        "Handler": "bootstrap",
        "Role": role,
        "MemorySize": desired.memory,
        "Timeout": desired.timeout,
        "Architectures": [desired.architecture],
        "EphemeralStorage": {"Size": desired.ephemeral_storage},
        "LoggingConfig": {"LogFormat": desired.log_format},
    });
    if let Some(level) = &desired.log_level {
        properties["LoggingConfig"]["ApplicationLogLevel"] = json!(level);
    }
    if !desired.description.is_empty() {
        properties["Description"] = json!(desired.description);
    }
    if !desired.environment.is_empty() {
        let mut variables = Map::new();
        for (variable, value) in &desired.environment {
            if !desired.from_env_file.contains(variable) {
                variables.insert(variable.clone(), json!(value));
                continue;
            }
            // An env file's values are secrets deploy never prints: each is a parameter the
            // console and the API do not show (`NoEcho`), given when the stack is created.
            let id = builder.id(&format!("{name}-{variable}"), "Variable");
            builder.parameter(
                &id,
                format!("The value of `{variable}` of `{name}` (its env file's, kept out of the template)"),
            );
            builder.parameters[&id]["NoEcho"] = json!(true);
            if let Some(parameter) = builder.parameters[&id].as_object_mut() {
                // A variable may be empty.
                parameter.remove("MinLength");
            }
            variables.insert(variable.clone(), reference(&id));
        }
        properties["Environment"] = json!({"Variables": variables});
    }
    if !desired.layers.is_empty() {
        properties["Layers"] = json!(desired.layers);
    }
    if let Some(reserved) = deploy.reserved_concurrency {
        properties["ReservedConcurrentExecutions"] = json!(reserved);
    }
    if !desired.dead_letter.is_empty() {
        if sam {
            // SAM's name for it, with the queue's or topic's kind.
            properties["DeadLetterQueue"] = json!({
                "Type": Destination::of(&desired.dead_letter).as_str(),
                "TargetArn": desired.dead_letter,
            });
        } else {
            properties["DeadLetterConfig"] = json!({"TargetArn": desired.dead_letter});
        }
    }
    let (subnets, security_groups, ipv6) = &desired.vpc;
    if !subnets.is_empty() {
        properties["VpcConfig"] = json!({
            "SubnetIds": subnets,
            "SecurityGroupIds": security_groups,
            "Ipv6AllowedForDualStack": ipv6,
        });
    }
    if desired.per_tenant {
        // Lambda fixes it when it creates the function: CloudFormation replaces a function
        // whose tenancy changes, where deploy refuses.
        properties["TenancyConfig"] = json!({"TenantIsolationMode": "PER_TENANT"});
    }
    if let Some(recursion) = deploy.recursive_loop {
        properties["RecursiveLoop"] = json!(recursion.as_str());
    }
    if deploy.managed_instances.is_some() {
        // The linter the tests check templates with knows neither `AWS::Lambda::CapacityProvider`
        // nor `CapacityProviderConfig` yet: the template says so rather than carry them unchecked.
        builder.notes.push(format!(
            "`{}`: `managed_instances` (its capacity provider, operator role and `CapacityProviderConfig`) is not in the template yet; the function runs on Lambda's own capacity as written",
            function.name
        ));
    }
    let tags = function::tags(function);
    if sam {
        properties["CodeUri"] = json!({"Bucket": reference(&bucket), "Key": reference(&key)});
        properties["Tracing"] = json!(desired.tracing);
        let sorted: BTreeMap<&String, &String> = tags.iter().collect();
        properties["Tags"] = json!(sorted);
    } else {
        properties["Code"] = json!({"S3Bucket": reference(&bucket), "S3Key": reference(&key)});
        properties["TracingConfig"] = json!({"Mode": desired.tracing});
        properties["Tags"] = tag_list(&tags);
    }

    // The version and alias, and what the URL and its permissions name.
    let mut target = attribute(&id, "Arn");
    let publishes = deploy.publish.unwrap_or(false) || deploy.alias.is_some();
    match (&deploy.alias, sam) {
        (Some(alias), true) => {
            // SAM publishes a version whenever the code or configuration changes, and points
            // the alias at it, as deploy does.
            properties["AutoPublishAlias"] = json!(alias);
            if let Some(instances) = deploy.provisioned_concurrency {
                properties["ProvisionedConcurrencyConfig"] =
                    json!({"ProvisionedConcurrentExecutions": instances});
            }
            target = json!({"Ref": format!("{id}.Alias")});
        }
        _ if publishes => {
            let version = builder.id(name, "Version");
            builder.resource(
                &version,
                "AWS::Lambda::Version",
                json!({"FunctionName": reference(&id)}),
            );
            let instead = if sam {
                "or give the function an `alias`, which SAM's `AutoPublishAlias` publishes anew on each change"
            } else {
                "or use `--format sam`, whose `AutoPublishAlias` does it"
            };
            builder.notes.push(format!(
                "`{}`: CloudFormation publishes the version `{version}` once, when it is created; deploy publishes one whenever the code or configuration changes. Rename `{version}` to publish anew, {instead}",
                function.name
            ));
            if let Some(alias) = &deploy.alias {
                let alias_id = builder.id(name, "Alias");
                let mut alias_properties = json!({
                    "FunctionName": reference(&id),
                    "FunctionVersion": attribute(&version, "Version"),
                    "Name": alias,
                });
                if let Some(instances) = deploy.provisioned_concurrency {
                    alias_properties["ProvisionedConcurrencyConfig"] =
                        json!({"ProvisionedConcurrentExecutions": instances});
                }
                builder.resource(&alias_id, "AWS::Lambda::Alias", alias_properties);
                target = reference(&alias_id);
            }
        }
        _ => {}
    }

    match (&deploy.url, sam) {
        (Some(url), true) => {
            // SAM adds the permissions a public URL needs itself.
            properties["FunctionUrlConfig"] = url_config(url);
        }
        (Some(url), false) => {
            let url_id = builder.id(name, "Url");
            let mut config = url_config(url);
            config["TargetFunctionArn"] = target.clone();
            builder.resource(&url_id, "AWS::Lambda::Url", config);
            if url.auth == UrlAuth::None {
                let public = builder.id(name, "UrlPublicPermission");
                builder.resource(
                    &public,
                    "AWS::Lambda::Permission",
                    json!({
                        "Action": "lambda:InvokeFunctionUrl",
                        "FunctionName": target.clone(),
                        "Principal": "*",
                        "FunctionUrlAuthType": "NONE",
                    }),
                );
                // Since October 2025 a public URL also needs `lambda:InvokeFunction`, limited
                // to calls through the URL (AWS "Control access to function URLs").
                let invoke = builder.id(name, "UrlInvokePermission");
                builder.resource(
                    &invoke,
                    "AWS::Lambda::Permission",
                    json!({
                        "Action": "lambda:InvokeFunction",
                        "FunctionName": target.clone(),
                        "Principal": "*",
                        "InvokedViaFunctionUrl": true,
                    }),
                );
            }
            builder.outputs.insert(
                url_id.clone(),
                json!({"Description": format!("The URL of `{name}`"), "Value": attribute(&url_id, "FunctionUrl")}),
            );
        }
        (None, _) => {}
    }

    // What becomes of asynchronous invocations, on the alias when there is one, as deploy
    // puts it.
    if let Some(settings) = deploy
        .asynchronous
        .as_ref()
        .filter(|settings| settings.invoke_config())
    {
        let mut config = Map::new();
        if let Some(retries) = settings.retries {
            config.insert("MaximumRetryAttempts".into(), json!(retries));
        }
        if let Some(age) = settings.max_event_age {
            config.insert("MaximumEventAgeInSeconds".into(), json!(age));
        }
        let mut destinations = Map::new();
        for (key, arn) in [
            ("OnSuccess", &settings.on_success),
            ("OnFailure", &settings.on_failure),
        ] {
            let Some(arn) = arn else { continue };
            let mut destination = json!({"Destination": arn});
            if sam {
                // SAM's `EventInvokeConfig` wants the destination's kind beside its ARN.
                destination["Type"] = json!(Destination::of(arn).as_str());
            }
            destinations.insert(key.into(), destination);
        }
        if !destinations.is_empty() {
            config.insert("DestinationConfig".into(), Value::Object(destinations));
        }
        if sam {
            properties["EventInvokeConfig"] = Value::Object(config);
        } else {
            let invoke = builder.id(name, "EventInvokeConfig");
            config.insert("FunctionName".into(), reference(&id));
            let qualifier = deploy.alias.as_deref().unwrap_or("$LATEST");
            config.insert("Qualifier".into(), json!(qualifier));
            let mut resource =
                json!({"Type": "AWS::Lambda::EventInvokeConfig", "Properties": config});
            if let Some(alias) = target.get("Ref") {
                resource["DependsOn"] = alias.clone();
            }
            builder.resources.insert(invoke, resource);
        }
    }

    let kind = if sam {
        "AWS::Serverless::Function"
    } else {
        "AWS::Lambda::Function"
    };
    // The log group, when its retention or key is set: created before the function, so that
    // Lambda does not create it bare.
    if deploy.log_retention.is_some() || deploy.log_kms_key.is_some() {
        let group = builder.id(name, "LogGroup");
        let mut group_properties = json!({"LogGroupName": format!("/aws/lambda/{name}")});
        if let Some(days) = deploy.log_retention {
            group_properties["RetentionInDays"] = json!(days);
        }
        if let Some(key) = &deploy.log_kms_key {
            group_properties["KmsKeyId"] = json!(key);
        }
        builder.resource(&group, "AWS::Logs::LogGroup", group_properties);
        builder.notes.push(format!(
            "`{}`: the template creates the log group `/aws/lambda/{name}`, which deploy reuses when it exists (Lambda creates it at the function's first log); delete an existing one, or import it into the stack, before creating it",
            function.name
        ));
        builder.resource_after(&id, kind, properties, &group);
    } else {
        builder.resource(&id, kind, properties);
    }
    trigger_resources(builder, place, function, &id);
    id
}

/// A function URL's `AuthType`, `InvokeMode` and `Cors`, as deploy sets them.
fn url_config(url: &UrlSettings) -> Value {
    let mut config = json!({
        "AuthType": url.auth.as_str(),
        "InvokeMode": url.invoke_mode.as_str(),
    });
    if let Some(cors) = &url.cors {
        let mut value = json!({"AllowCredentials": cors.allow_credentials});
        for (key, list) in [
            ("AllowOrigins", &cors.allow_origins),
            ("AllowMethods", &cors.allow_methods),
            ("AllowHeaders", &cors.allow_headers),
            ("ExposeHeaders", &cors.expose_headers),
        ] {
            if !list.is_empty() {
                value[key] = json!(list);
            }
        }
        if let Some(age) = cors.max_age {
            value["MaxAge"] = json!(age);
        }
        config["Cors"] = value;
    }
    config
}

/// The function's triggers, each as deploy makes it, with the permission its service needs.
fn trigger_resources(builder: &mut Builder, place: &Place<'_>, function: &Function, id: &str) {
    let name = function.aws_name();
    let bin = &function.name;
    let triggers = &function.deploy.triggers;
    let arn = || attribute(id, "Arn");

    for mapping in triggers::wanted_mappings(place, function) {
        let kind = logical(mapping.kind());
        let id_of_mapping = builder.id(name, &format!("{kind}Mapping"));
        let mut properties = mapping.properties();
        properties["FunctionName"] = reference(id);
        builder.resource(
            &id_of_mapping,
            "AWS::Lambda::EventSourceMapping",
            properties,
        );
    }

    // One permission per bucket, as deploy's statement ids are.
    let buckets: BTreeSet<&str> = triggers
        .s3
        .iter()
        .map(|trigger| trigger.bucket.as_str())
        .collect();
    for bucket in buckets {
        // What the notification would be, for whoever sets it.
        let wanted: Vec<String> = triggers
            .s3
            .iter()
            .filter(|trigger| trigger.bucket == bucket)
            .map(|trigger| {
                let mut what = trigger.events.join(" ");
                if let Some(prefix) = &trigger.prefix {
                    what.push_str(&format!(", prefix `{prefix}`"));
                }
                if let Some(suffix) = &trigger.suffix {
                    what.push_str(&format!(", suffix `{suffix}`"));
                }
                what
            })
            .collect();
        let permission = builder.id(&format!("{name}-{bucket}"), "S3Permission");
        let source = format!("arn:{}:s3:::{bucket}", place.partition);
        builder.permission(&permission, arn(), "s3.amazonaws.com", json!(source));
        builder.notes.push(format!(
            "`{bin}`: the notification of the S3 bucket `{bucket}` ({}; `triggers.s3`): CloudFormation sets notifications only on a bucket its own stack creates (AWS::S3::Bucket's NotificationConfiguration), so the template grants S3 the invoke permission only; add the notification with `cargo lambdakit deploy`, in the bucket's own template, or with `aws s3api put-bucket-notification-configuration`",
            wanted.join("; ")
        ));
    }

    for (index, schedule) in triggers.schedule.iter().enumerate() {
        let rule = builder.id(name, &format!("Schedule{index}"));
        let mut target = json!({"Id": "lambdakit", "Arn": arn()});
        if let Some(input) = &schedule.input {
            target["Input"] = json!(input);
        }
        builder.resource(
            &rule,
            "AWS::Events::Rule",
            json!({
                "Name": triggers::rule_name(name, index),
                "Description": triggers::schedule_description(name),
                "ScheduleExpression": schedule.expression,
                "State": "ENABLED",
                "Targets": [target],
            }),
        );
        let permission = builder.id(name, &format!("Schedule{index}Permission"));
        builder.permission(
            &permission,
            arn(),
            "events.amazonaws.com",
            attribute(&rule, "Arn"),
        );
    }

    for sns in &triggers.sns {
        let topic = sns.topic.rsplit(':').next().unwrap_or(&sns.topic);
        let permission = builder.id(&format!("{name}-{topic}"), "SnsPermission");
        builder.permission(&permission, arn(), "sns.amazonaws.com", json!(sns.topic));
        let subscription = builder.id(&format!("{name}-{topic}"), "Subscription");
        builder.resource(
            &subscription,
            "AWS::SNS::Subscription",
            json!({"TopicArn": sns.topic, "Protocol": "lambda", "Endpoint": arn()}),
        );
    }

    // One filter per log group, the last trigger on it winning, as deploy puts them.
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for logs in &triggers.logs {
        groups.insert(&logs.group, &logs.pattern);
    }
    for (group, pattern) in groups {
        let permission = builder.id(&format!("{name}-{group}"), "LogsPermission");
        let source = place.arn("logs", &format!("log-group:{group}:*"));
        builder.permission(&permission, arn(), "logs.amazonaws.com", json!(source));
        let filter = builder.id(&format!("{name}-{group}"), "SubscriptionFilter");
        // CloudWatch Logs checks that it may invoke the function when the filter is put.
        builder.resource_after(
            &filter,
            "AWS::Logs::SubscriptionFilter",
            json!({
                "LogGroupName": group,
                "FilterName": triggers::filter_name(name),
                "FilterPattern": pattern,
                "DestinationArn": arn(),
            }),
            &permission,
        );
    }

    for firehose in &triggers.firehose {
        let mut buffering = String::new();
        if let Some(size) = firehose.buffer_size {
            buffering.push_str(&format!(", BufferSizeInMBs {size}"));
        }
        if let Some(interval) = firehose.buffer_interval {
            buffering.push_str(&format!(", BufferIntervalInSeconds {interval}"));
        }
        builder.notes.push(format!(
            "`{bin}`: the Lambda processor of the Firehose delivery stream `{}` (`triggers.firehose`{buffering}): a template cannot change an existing delivery stream (AWS::KinesisFirehose::DeliveryStream describes a whole stream its stack owns), so it is not in the template; set it with `cargo lambdakit deploy`, or name the function's ARN in the stream's own template (ProcessingConfiguration, a `Lambda` processor)",
            firehose.stream
        ));
    }

    for ses in &triggers.ses {
        let rule_name = triggers::receipt_rule_name(name);
        let permission = builder.id(&format!("{name}-{}", ses.rule_set), "SesPermission");
        let source = place.arn(
            "ses",
            &format!("receipt-rule-set/{}:receipt-rule/{rule_name}", ses.rule_set),
        );
        builder.permission(&permission, arn(), "ses.amazonaws.com", json!(source));
        let mut rule = json!({
            "Name": rule_name,
            "Enabled": true,
            "Actions": [{"LambdaAction": {"FunctionArn": arn(), "InvocationType": ses.invocation_type.as_str()}}],
        });
        if !ses.recipients.is_empty() {
            rule["Recipients"] = json!(ses.recipients);
        }
        let id = builder.id(&format!("{name}-{}", ses.rule_set), "ReceiptRule");
        builder.resource_after(
            &id,
            "AWS::SES::ReceiptRule",
            json!({"RuleSetName": ses.rule_set, "Rule": rule}),
            &permission,
        );
        builder.notes.push(format!(
            "`{bin}`: the SES receipt rule set `{}` must exist and be active (`triggers.ses`): deploy creates a missing one, but a template's AWS::SES::ReceiptRuleSet would fail on one that exists, so the template adds only the rule",
            ses.rule_set
        ));
    }

    for (index, iot) in triggers.iot.iter().enumerate() {
        let rule = builder.id(name, &format!("TopicRule{index}"));
        let function_arn = variable(&format!("{id}.Arn"));
        let payload = triggers::topic_rule_payload(name, &iot.sql, &function_arn);
        builder.resource(
            &rule,
            "AWS::IoT::TopicRule",
            json!({
                "RuleName": triggers::topic_rule_name(name, index),
                "TopicRulePayload": pascal(payload),
            }),
        );
        let permission = builder.id(name, &format!("TopicRule{index}Permission"));
        builder.permission(
            &permission,
            arn(),
            "iot.amazonaws.com",
            attribute(&rule, "Arn"),
        );
    }

    for cognito in &triggers.cognito {
        let pool = &cognito.user_pool;
        let permission = builder.id(&format!("{name}-{pool}"), "CognitoPermission");
        let source = place.arn("cognito-idp", &format!("userpool/{pool}"));
        builder.permission(
            &permission,
            arn(),
            "cognito-idp.amazonaws.com",
            json!(source),
        );
        let mut keys: Vec<String> = cognito
            .triggers
            .iter()
            .map(|point| point.key().to_owned())
            .collect();
        if cognito.triggers.contains(&PoolTrigger::PreTokenGeneration) {
            keys.push(format!(
                "PreTokenGenerationConfig (LambdaVersion {})",
                cognito.token_version.as_str()
            ));
        }
        builder.notes.push(format!(
            "`{bin}`: the `LambdaConfig` keys {} of the Cognito user pool `{pool}` (`triggers.cognito`): CloudFormation cannot update part of an existing pool (AWS::Cognito::UserPool describes a whole pool its stack owns, and UpdateUserPool resets what it leaves out), so the template grants Cognito the invoke permission only; set the keys with `cargo lambdakit deploy`, or in the pool's own template",
            keys.join(", ")
        ));
    }
}

/// The state machine's role, log group and the machine, as deploy makes them; `arns` maps
/// the AWS names of the template's functions to their logical ids.
fn state_machine_resources(
    builder: &mut Builder,
    machine: &StateMachine,
    functions: &[&Function],
    arns: &BTreeMap<String, String>,
) {
    let name = &machine.settings.name;
    let id = builder.id(name, "StateMachine");
    // The definition names its functions through `DefinitionSubstitutions`, Step Functions'
    // own placeholders; the role's policy through `Fn::Sub`.
    let (definition, _) = definition::resolve(&machine.definition, functions, &|function| {
        arns.get(function)
            .map_or_else(|| function.to_owned(), |id| format!("${{{id}Arn}}"))
    });
    let text = definition.to_string();
    let substitutions: Map<String, Value> = arns
        .values()
        .filter(|id| text.contains(&format!("${{{id}Arn}}")))
        .map(|id| (format!("{id}Arn"), attribute(id, "Arn")))
        .collect();
    let (_, invoked) = definition::resolve(&machine.definition, functions, &|function| {
        arns.get(function)
            .map_or_else(|| function.to_owned(), |id| variable(&format!("{id}.Arn")))
    });
    let tags = state_machine::tags(machine);

    let role = builder.id(name, "StateMachineRole");
    let mut role_properties = json!({
        "RoleName": state_machine::role_name(name),
        "Description": state_machine::role_description(name),
        "AssumeRolePolicyDocument": role::trust("states.amazonaws.com"),
        "Tags": tag_list(tags.iter().filter(|(key, _)| key.starts_with("lambdakit:"))),
    });
    if let Some(policy) = state_machine::policy(machine, &invoked) {
        role_properties["Policies"] =
            json!([{"PolicyName": role::POLICY, "PolicyDocument": policy}]);
    }
    builder.resource(&role, "AWS::IAM::Role", role_properties);

    let logging = &machine.settings.logging;
    let mut properties = json!({
        "StateMachineName": name,
        "StateMachineType": machine.settings.machine_type.as_str(),
        "RoleArn": attribute(&role, "Arn"),
        "Definition": definition,
        "TracingConfiguration": {"Enabled": machine.settings.tracing},
        "Tags": tag_list(&tags),
    });
    if !substitutions.is_empty() {
        properties["DefinitionSubstitutions"] = Value::Object(substitutions);
    }
    if logging.level != ExecutionLogLevel::Off {
        let group = state_machine::log_group(machine);
        let group_id = builder.id(name, "LogGroup");
        builder.resource(
            &group_id,
            "AWS::Logs::LogGroup",
            json!({"LogGroupName": group, "Tags": tag_list(&tags)}),
        );
        builder.notes.push(format!(
            "the state machine `{name}`: the template creates its log group `{group}`, which deploy reuses when it exists; delete an existing one, or set `logging.log_group`, before creating the stack"
        ));
        properties["LoggingConfiguration"] = json!({
            "Level": logging.level.as_str(),
            "IncludeExecutionData": logging.include_execution_data,
            "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": attribute(&group_id, "Arn")}}],
        });
    }
    builder.resource(&id, "AWS::StepFunctions::StateMachine", properties);
}

/// The resources of the HTTP API `api` (whose routes invoke `functions`, whose logical ids
/// are in `arns`): plain `AWS::ApiGatewayV2` ones in both formats, with the bodies deploy
/// sends (`deploy::api`), pascal-cased as CloudFormation spells them.
fn api_resources(
    builder: &mut Builder,
    place: &Place<'_>,
    api: &Api,
    functions: &[&Function],
    arns: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    let name = api.aws_name();
    let arn_of = |function: &Function| {
        arns.get(function.aws_name())
            .map_or_else(String::new, |id| variable(&format!("{id}.Arn")))
    };
    let desired = super::api::desired(*place, &arn_of, api, functions)?;
    let id = builder.id(&name, "HttpApi");
    let api_ref = variable(&id);
    let mut properties = json!({
        "Name": name,
        "ProtocolType": "HTTP",
        "Tags": super::api::tags(api),
    });
    if let Some(cors) = super::api::cors(api) {
        properties["CorsConfiguration"] = pascal(cors);
    }
    builder.resource(&id, "AWS::ApiGatewayV2::Api", properties);
    let with_api = |body: Value| {
        let mut properties = pascal(body);
        properties["ApiId"] = json!(api_ref);
        properties
    };
    let mut integrations = BTreeMap::new();
    for binary in &desired.integrated {
        let (aws_name, arn) = &desired.functions[binary];
        let integration = builder.id(&format!("{name}-{aws_name}"), "Integration");
        builder.resource(
            &integration,
            "AWS::ApiGatewayV2::Integration",
            with_api(super::api::integration(arn)),
        );
        integrations.insert(binary.clone(), variable(&integration));
    }
    let mut authorizers = BTreeMap::new();
    for (authorizer, body) in &desired.authorizers {
        let authorizer_id = builder.id(&format!("{name}-{authorizer}"), "Authorizer");
        builder.resource(
            &authorizer_id,
            "AWS::ApiGatewayV2::Authorizer",
            with_api(body.clone()),
        );
        authorizers.insert(authorizer.clone(), variable(&authorizer_id));
    }
    for route in &api.settings.routes {
        let route_id = builder.id(&format!("{name}-{}", route.key.text()), "Route");
        let body = super::api::route(
            api,
            route,
            integrations.get(&route.function).map_or("", String::as_str),
            route
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizers.get(authorizer))
                .map_or("", String::as_str),
        );
        builder.resource(&route_id, "AWS::ApiGatewayV2::Route", with_api(body));
    }
    let stage = builder.id(&name, "Stage");
    let mut properties = with_api(super::api::stage(api));
    // The variables' names as written, not pascal-cased.
    properties["StageVariables"] = json!(api.settings.stage_variables);
    builder.resource(&stage, "AWS::ApiGatewayV2::Stage", properties);
    let source = format!(
        "arn:{}:execute-api:{}:{}:{api_ref}/*",
        place.partition, place.region, place.account
    );
    for (aws_name, arn) in desired.functions.values() {
        let permission = builder.id(&format!("{name}-{aws_name}"), "ApiPermission");
        builder.permission(
            &permission,
            json!(arn),
            "apigateway.amazonaws.com",
            json!(source),
        );
    }
    builder.outputs.insert(
        format!("{id}Endpoint"),
        json!({
            "Description": format!("The HTTP API `{name}`'s address"),
            "Value": variable(&format!("{id}.ApiEndpoint")),
        }),
    );
    Ok(())
}

/// The template as text.
pub fn render(document: &Value, syntax: Syntax) -> String {
    let mut text = String::new();
    match syntax {
        Syntax::Json => {
            text = serde_json::to_string_pretty(document)
                .expect("a serde_json::Value always serializes");
            text.push('\n');
        }
        Syntax::Yaml => yaml(document, 0, &mut text),
    }
    text
}

/// A scalar as YAML: strings double-quoted, as JSON writes them (a JSON string is a YAML
/// double-quoted scalar), so that no YAML parser reads `2012-10-17` as a date or `NO` as
/// false.
fn scalar(value: &Value) -> String {
    match value {
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Object(entries) if entries.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

/// Whether `value` is written on its key's or dash's line.
fn inline(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(entries) => entries.is_empty(),
        _ => true,
    }
}

/// `value` as block YAML at `indent` spaces; keys plain when they are letters, digits, `_`
/// and `-` (logical ids, property names), else quoted (`"Fn::Sub"`).
fn yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                let plain = key.starts_with(|c: char| c.is_ascii_alphabetic())
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                let key = if plain {
                    key.clone()
                } else {
                    Value::String(key.clone()).to_string()
                };
                if inline(value) {
                    out.push_str(&format!("{pad}{key}: {}\n", scalar(value)));
                } else {
                    out.push_str(&format!("{pad}{key}:\n"));
                    yaml(value, indent + 2, out);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if inline(item) {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                } else {
                    out.push_str(&format!("{pad}-\n"));
                    yaml(item, indent + 2, out);
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_strings_become_subs_and_others_stay() {
        let value = json!({
            "a": format!("arn:{}:sqs:{}:q", variable("AWS::Partition"), variable("AWS::Region")),
            "b": ["${aws:username}", format!("${{x}}-{}", variable("F.Arn"))],
        });
        assert_eq!(
            substituted(value),
            json!({
                "a": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:q"},
                "b": ["${aws:username}", {"Fn::Sub": "${!x}-${F.Arn}"}],
            })
        );
        assert_eq!(
            substituted(json!([variable("F.Arn"), variable("P")])),
            json!([{"Fn::GetAtt": ["F", "Arn"]}, {"Ref": "P"}])
        );
    }

    #[test]
    fn logical_ids_are_the_names_words_capitalised() {
        assert_eq!(logical("order-pipeline"), "OrderPipeline");
        assert_eq!(logical("check_order2"), "CheckOrder2");
        assert_eq!(
            pascal(json!({"awsIotSqlVersion": "x", "actions": [{"lambda": {"functionArn": "f"}}]})),
            json!({"AwsIotSqlVersion": "x", "Actions": [{"Lambda": {"FunctionArn": "f"}}]})
        );
    }

    #[test]
    fn yaml_is_the_same_document() {
        let document = json!({
            "A": [1, "two", true, null, [], [{"x": "y"}, ["z"]]],
            "B": {"Fn::Sub": "${AWS::Region}"},
            "Version": "2012-10-17",
            "C": {},
        });
        let text = render(&document, Syntax::Yaml);
        let parsed = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        let parsed = &parsed[0];
        assert_eq!(parsed["B"]["Fn::Sub"].as_str(), Some("${AWS::Region}"));
        assert_eq!(parsed["A"][1].as_str(), Some("two"));
        assert_eq!(parsed["A"][5][0]["x"].as_str(), Some("y"));
        assert_eq!(parsed["A"][5][1][0].as_str(), Some("z"));
        assert!(parsed["A"][4].as_vec().is_some_and(Vec::is_empty));
        assert_eq!(parsed["Version"].as_str(), Some("2012-10-17"));
        assert!(text.contains("Version: \"2012-10-17\""), "{text}");
    }
}
