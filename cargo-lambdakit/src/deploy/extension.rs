//! The project's extensions on AWS: each one a deployed function names is published as a
//! layer version (`extensions/NAME` in its zip, AWS "Lambda extensions API"), once per
//! architecture its functions run on, and attached to those functions beside their own
//! `layers`.
//!
//! A layer version cannot change, so deploy publishes a new one only when the zip's SHA-256
//! (`Content.CodeSha256` of the newest version) or what it says of itself (description,
//! runtimes, architectures) differs; otherwise the newest is attached as it is. Layers have
//! no tags: a version is lambdakit's when its description ends with the [`marker`] naming the
//! package and extension, which is how destroy finds those it may delete, and only those.

use std::collections::BTreeMap;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture as AwsArchitecture, LayerVersionContentInput, Runtime};

use super::{Action, Change, Options, Outcome, TAG_PACKAGE};
use crate::aws::retry::retry;
use crate::aws::{self, Aws};
use crate::error::CliError;
use crate::package::zip::{Archive, MAX_DIRECT_UPLOAD_BYTES};
use crate::platform::{Architecture, Runtime as LambdaRuntime};
use crate::project::{Extension, Function, Project};

/// Lambda's limit on a layer version's description (AWS `PublishLayerVersion`).
pub const MAX_DESCRIPTION: usize = 256;

/// The marker's key for the extension, beside [`TAG_PACKAGE`] for its package.
pub const MARK_EXTENSION: &str = "lambdakit:extension";

/// How long a publish is retried while Lambda throttles.
const RETRY_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// What marks a layer version as published by lambdakit for `extension`:
/// `[lambdakit:package=PACKAGE lambdakit:extension=NAME]`.
pub fn marker(extension: &Extension) -> String {
    format!(
        "[{TAG_PACKAGE}={} {MARK_EXTENSION}={}]",
        extension.package, extension.name
    )
}

/// The description of `extension`'s layer versions: its `description`, then the [`marker`].
pub fn layer_description(extension: &Extension) -> String {
    match extension.description.as_deref() {
        Some(description) if !description.is_empty() => {
            format!("{description} {}", marker(extension))
        }
        _ => marker(extension),
    }
}

/// The package and extension a layer version's description names, when lambdakit published
/// it.
pub fn owner(description: &str) -> Option<(&str, &str)> {
    let (_, marked) = description.strip_suffix(']')?.rsplit_once('[')?;
    let (package, extension) = marked.split_once(' ')?;
    let package = package.strip_prefix(TAG_PACKAGE)?.strip_prefix('=')?;
    let extension = extension.strip_prefix(MARK_EXTENSION)?.strip_prefix('=')?;
    Some((package, extension))
}

/// The runtimes a binary needing glibc `max_glibc` (`None`: static) runs on: its layer's
/// `CompatibleRuntimes`.
pub fn runtimes(max_glibc: Option<(u32, u32)>) -> Vec<LambdaRuntime> {
    LambdaRuntime::ALL
        .into_iter()
        .filter(|runtime| max_glibc.is_none_or(|needed| needed <= runtime.glibc()))
        .collect()
}

/// A layer deploy needs: an extension, built for one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed<'a> {
    /// The extension.
    pub extension: &'a Extension,
    /// The architecture of the functions that use it.
    pub architecture: Architecture,
    /// The runtime whose glibc it is built for: the oldest of those functions' runtimes, so
    /// that it runs on each of them.
    pub runtime: LambdaRuntime,
}

/// The layers `functions` need, in extension and architecture order.
///
/// # Errors
///
/// When a function names an extension not built for its architecture
/// (`compatible_architectures`), or has more than Lambda's 5 layers with its extensions.
pub fn needed<'a>(
    project: &'a Project,
    functions: &[Function],
) -> Result<Vec<Needed<'a>>, CliError> {
    let mut needed: BTreeMap<(&str, Architecture), Needed<'a>> = BTreeMap::new();
    for function in functions {
        let key = format!(
            "package.metadata.lambdakit.functions.{}.extensions",
            function.name
        );
        let layers = function.deploy.layers.as_ref().map_or(0, Vec::len);
        if layers + function.extensions.len() > 5 {
            return Err(CliError::Config {
                key,
                problem: format!(
                    "gives `{}` {} layers with its {layers} of `layers`, over Lambda's limit of 5",
                    function.name,
                    layers + function.extensions.len()
                ),
            });
        }
        let runtime = function.deploy.runtime.unwrap_or_default();
        for name in &function.extensions {
            let extension = project.extension(name).ok_or_else(|| CliError::Config {
                key: key.clone(),
                problem: format!(
                    "names `{name}`, which is not an extension of the project; please report this, the project's settings were checked"
                ),
            })?;
            if !extension.architectures.contains(&function.architecture) {
                let listed: Vec<&str> = extension
                    .architectures
                    .iter()
                    .map(|architecture| architecture.as_str())
                    .collect();
                return Err(CliError::Config {
                    key: format!("{}.compatible_architectures", extension.settings_key()),
                    problem: format!(
                        "are {}, but `{}` runs on {} and uses `{name}`: add {} to them, or give the function another architecture",
                        listed.join(" and "),
                        function.name,
                        function.architecture,
                        function.architecture
                    ),
                });
            }
            let entry = needed
                .entry((&extension.name, function.architecture))
                .or_insert(Needed {
                    extension,
                    architecture: function.architecture,
                    runtime,
                });
            if runtime.glibc() < entry.runtime.glibc() {
                entry.runtime = runtime;
            }
        }
    }
    Ok(needed.into_values().collect())
}

/// The layer version ARN of each extension for each architecture, as deploy published or
/// found it.
pub type Published = BTreeMap<(String, Architecture), String>;

/// `function` with its extensions' layer versions after its own `layers`.
pub fn attached(function: &Function, published: &Published) -> Function {
    let mut function = function.clone();
    if function.extensions.is_empty() {
        return function;
    }
    let mut layers = function.deploy.layers.take().unwrap_or_default();
    layers.extend(function.extensions.iter().filter_map(|name| {
        published
            .get(&(name.clone(), function.architecture))
            .cloned()
    }));
    function.deploy.layers = Some(layers);
    function
}

/// A built extension to publish.
#[derive(Debug)]
pub struct Layer<'a> {
    /// Which extension, for which architecture.
    pub needed: Needed<'a>,
    /// Its layer zip.
    pub archive: &'a Archive,
    /// The runtimes its build runs on, see [`runtimes`].
    pub runtimes: Vec<LambdaRuntime>,
}

/// What a layer version says of itself, as deploy compares it.
#[derive(Debug, PartialEq)]
struct Described {
    code_sha256: String,
    description: String,
    runtimes: Vec<String>,
    architectures: Vec<String>,
}

impl Described {
    fn of(layer: &Layer<'_>) -> Self {
        Self {
            code_sha256: layer.archive.code_sha256(),
            description: layer_description(layer.needed.extension),
            runtimes: layer
                .runtimes
                .iter()
                .map(|runtime| runtime.as_str().to_owned())
                .collect(),
            architectures: vec![layer.needed.architecture.as_str().to_owned()],
        }
    }

    fn differences(&self, current: &Self) -> Vec<String> {
        let mut changed = Vec::new();
        if current.code_sha256 != self.code_sha256 {
            changed.push(format!(
                "CodeSha256 {} → {}",
                short(&current.code_sha256),
                short(&self.code_sha256)
            ));
        }
        if current.description != self.description {
            changed.push("description".into());
        }
        if current.runtimes != self.runtimes {
            changed.push(format!(
                "runtimes {} → {}",
                current.runtimes.join(" "),
                self.runtimes.join(" ")
            ));
        }
        if current.architectures != self.architectures {
            changed.push(format!(
                "architectures {} → {}",
                current.architectures.join(" "),
                self.architectures.join(" ")
            ));
        }
        changed
    }
}

/// The first characters of a CodeSha256, enough to tell two apart in a plan.
fn short(sha: &str) -> String {
    if sha.is_empty() {
        return "none".into();
    }
    sha.chars().take(12).collect::<String>() + "…"
}

/// Publishes `layer` as a new version of its layer, unless the newest version is the same;
/// returns what was done and the version ARN to attach (ending in `:next` in a dry run that
/// would publish).
///
/// # Errors
///
/// When AWS refuses a call, or the layer's newest version is not lambdakit's for this
/// extension (without `--adopt`), or the zip is over what Lambda takes inline.
pub async fn ensure(
    aws: &Aws,
    layer: &Layer<'_>,
    options: Options,
) -> Result<(Outcome, String), CliError> {
    let extension = layer.needed.extension;
    let name = extension.layer_name(layer.needed.architecture);
    let layer_arn = aws.arn("lambda", &format!("layer:{name}"));
    let desired = Described::of(layer);
    let newest = newest_version(aws, &name).await?;
    let (action, current_arn) = match newest {
        None => (Action::Create, None),
        Some((version, description)) => {
            check_ours(extension, &name, &description, options.adopt)?;
            let found = aws
                .lambda
                .get_layer_version()
                .layer_name(&name)
                .version_number(version)
                .send()
                .await
                .map_err(|error| aws::failed("lambda:GetLayerVersion", error))?;
            let current = Described {
                code_sha256: found
                    .content()
                    .and_then(|content| content.code_sha256())
                    .unwrap_or_default()
                    .to_owned(),
                description: found.description().unwrap_or_default().to_owned(),
                runtimes: found
                    .compatible_runtimes()
                    .iter()
                    .map(|runtime| runtime.as_str().to_owned())
                    .collect(),
                architectures: found
                    .compatible_architectures()
                    .iter()
                    .map(|architecture| architecture.as_str().to_owned())
                    .collect(),
            };
            let arn = found
                .layer_version_arn()
                .map_or_else(|| format!("{layer_arn}:{version}"), str::to_owned);
            match desired.differences(&current) {
                changed if changed.is_empty() => (Action::Unchanged, Some(arn)),
                changed => (Action::Update(changed), None),
            }
        }
    };
    let (arn, version) = match current_arn {
        Some(arn) => (arn, None),
        None if options.dry_run => (format!("{layer_arn}:next"), None),
        None => {
            let published = publish(aws, layer, &name, &desired).await?;
            let version = published.rsplit(':').next().map(str::to_owned);
            (published, version)
        }
    };
    let outcome = Outcome {
        name: name.clone(),
        arn: layer_arn,
        changes: vec![Change::new("layer", name, action)],
        url: None,
        version,
        notes: Vec::new(),
    };
    Ok((outcome, arn))
}

/// The newest version of the layer `name` and its description, if it has any.
async fn newest_version(aws: &Aws, name: &str) -> Result<Option<(i64, String)>, CliError> {
    let mut newest: Option<(i64, String)> = None;
    let mut pages = aws
        .lambda
        .list_layer_versions()
        .layer_name(name)
        .into_paginator()
        .items()
        .send();
    while let Some(version) = pages.next().await {
        let version = match version {
            Ok(version) => version,
            Err(error) if aws::not_found(&error) => return Ok(None),
            Err(error) => return Err(aws::failed("lambda:ListLayerVersions", error)),
        };
        if newest
            .as_ref()
            .is_none_or(|(newest, _)| version.version() > *newest)
        {
            newest = Some((
                version.version(),
                version.description().unwrap_or_default().to_owned(),
            ));
        }
    }
    Ok(newest)
}

fn check_ours(
    extension: &Extension,
    name: &str,
    description: &str,
    adopt: bool,
) -> Result<(), CliError> {
    match owner(description) {
        Some((package, of)) if package == extension.package && of == extension.name => Ok(()),
        Some((package, of)) => Err(CliError::Conflict {
            resource: format!("the layer `{name}`"),
            problem: format!("was published for the extension `{of}` of the package `{package}`"),
            hint: format!(
                "give one of them another `layer_name` in `[{}]`",
                extension.settings_key()
            ),
        }),
        None if adopt => Ok(()),
        None => Err(CliError::Conflict {
            resource: format!("the layer `{name}`"),
            problem: "exists on AWS, and lambdakit did not publish it".into(),
            hint: format!(
                "pass `--adopt` to publish over it, or give yours another `layer_name` in `[{}]`",
                extension.settings_key()
            ),
        }),
    }
}

/// Publishes a version of the layer `name`; returns its ARN.
async fn publish(
    aws: &Aws,
    layer: &Layer<'_>,
    name: &str,
    desired: &Described,
) -> Result<String, CliError> {
    let size = layer.archive.bytes.len() as u64;
    if size > MAX_DIRECT_UPLOAD_BYTES {
        return Err(CliError::Config {
            key: layer.needed.extension.settings_key(),
            problem: format!(
                "makes a layer zip of {size} bytes, over the {MAX_DIRECT_UPLOAD_BYTES} bytes Lambda takes inline"
            ),
        });
    }
    let content = LayerVersionContentInput::builder()
        .zip_file(Blob::new(layer.archive.bytes.clone()))
        .build();
    let published = retry(
        RETRY_LIMIT,
        || {
            aws.lambda
                .publish_layer_version()
                .layer_name(name)
                .description(&desired.description)
                .content(content.clone())
                .set_compatible_runtimes(Some(
                    desired
                        .runtimes
                        .iter()
                        .map(|runtime| Runtime::from(runtime.as_str()))
                        .collect(),
                ))
                .compatible_architectures(AwsArchitecture::from(layer.needed.architecture.as_str()))
                .send()
        },
        throttled,
    )
    .await
    .map_err(|error| aws::failed("lambda:PublishLayerVersion", error))?;
    published
        .layer_version_arn()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Aws {
            operation: "lambda:PublishLayerVersion".into(),
            code: None,
            message: "the answer has no `LayerVersionArn`; please report this".into(),
        })
}

fn throttled<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    aws::code(error) == Some("TooManyRequestsException")
}

/// A layer version lambdakit published: the layer's name and ARN, the version and its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The layer's name.
    pub layer: String,
    /// The layer's ARN.
    pub layer_arn: String,
    /// The version's number.
    pub version: i64,
}

/// The layer versions lambdakit published for the extensions of `packages` (found by the
/// [`marker`] in their descriptions, whatever the extensions are called now), in layer and
/// version order.
///
/// # Errors
///
/// When AWS refuses a call.
pub async fn published(aws: &Aws, packages: &[String]) -> Result<Vec<Version>, CliError> {
    let mut found = Vec::new();
    let mut layers = aws.lambda.list_layers().into_paginator().items().send();
    let mut names = Vec::new();
    while let Some(layer) = layers.next().await {
        let layer = layer.map_err(|error| aws::failed("lambda:ListLayers", error))?;
        if let (Some(name), Some(arn)) = (layer.layer_name(), layer.layer_arn()) {
            names.push((name.to_owned(), arn.to_owned()));
        }
    }
    for (name, layer_arn) in names {
        let mut versions = aws
            .lambda
            .list_layer_versions()
            .layer_name(&name)
            .into_paginator()
            .items()
            .send();
        while let Some(version) = versions.next().await {
            let version =
                version.map_err(|error| aws::failed("lambda:ListLayerVersions", error))?;
            let ours = owner(version.description().unwrap_or_default())
                .is_some_and(|(package, _)| packages.iter().any(|wanted| wanted == package));
            if ours {
                found.push(Version {
                    layer: name.clone(),
                    layer_arn: layer_arn.clone(),
                    version: version.version(),
                });
            }
        }
    }
    found.sort_by(|one, other| (&one.layer, one.version).cmp(&(&other.layer, other.version)));
    Ok(found)
}

/// Deletes the `versions` of one layer (with `dry_run`, only says it would).
///
/// # Errors
///
/// When AWS refuses a call; what was deleted stays deleted.
pub async fn delete(
    aws: &Aws,
    versions: &[Version],
    options: Options,
) -> Result<Option<Outcome>, CliError> {
    let Some(first) = versions.first() else {
        return Ok(None);
    };
    let mut changes = Vec::new();
    for version in versions {
        if !options.dry_run {
            aws.lambda
                .delete_layer_version()
                .layer_name(&version.layer)
                .version_number(version.version)
                .send()
                .await
                .map_err(|error| aws::failed("lambda:DeleteLayerVersion", error))?;
        }
        changes.push(Change::new(
            "layer",
            format!("{}:{}", version.layer, version.version),
            Action::Delete,
        ));
    }
    Ok(Some(Outcome {
        name: first.layer.clone(),
        arn: first.layer_arn.clone(),
        changes,
        url: None,
        version: None,
        notes: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension() -> Extension {
        Extension {
            name: "telemetry-shipper".into(),
            package: "shop".into(),
            layer: "telemetry-shipper".into(),
            description: Some("Ships logs".into()),
            architectures: Architecture::ALL.to_vec(),
        }
    }

    #[test]
    fn the_marker_is_read_back_from_the_description() {
        let extension = extension();
        let described = layer_description(&extension);
        assert_eq!(
            described,
            "Ships logs [lambdakit:package=shop lambdakit:extension=telemetry-shipper]"
        );
        assert_eq!(owner(&described), Some(("shop", "telemetry-shipper")));
        assert_eq!(owner("Someone else's [tools]"), None);
        assert_eq!(owner(""), None);
        let bare = Extension {
            description: None,
            ..extension
        };
        assert_eq!(
            owner(&layer_description(&bare)),
            Some(("shop", "telemetry-shipper"))
        );
    }

    #[test]
    fn a_static_build_runs_on_every_runtime_and_a_new_glibc_only_on_al2023() {
        assert_eq!(runtimes(None), LambdaRuntime::ALL);
        assert_eq!(runtimes(Some((2, 17))), LambdaRuntime::ALL);
        assert_eq!(runtimes(Some((2, 34))), [LambdaRuntime::ProvidedAl2023]);
    }

    #[test]
    fn extension_layers_come_after_the_functions_own() {
        let mut function = Function::standalone("web");
        function.architecture = Architecture::Arm64;
        function.deploy.layers = Some(vec!["arn:aws:lambda:eu-west-1:1:layer:tools:3".into()]);
        function.extensions = vec!["telemetry-shipper".into()];
        let mut published = Published::new();
        published.insert(
            ("telemetry-shipper".into(), Architecture::X86_64),
            "arn:aws:lambda:eu-west-1:1:layer:telemetry-shipper:4".into(),
        );
        published.insert(
            ("telemetry-shipper".into(), Architecture::Arm64),
            "arn:aws:lambda:eu-west-1:1:layer:telemetry-shipper-arm64:2".into(),
        );
        assert_eq!(
            attached(&function, &published).deploy.layers,
            Some(vec![
                "arn:aws:lambda:eu-west-1:1:layer:tools:3".into(),
                "arn:aws:lambda:eu-west-1:1:layer:telemetry-shipper-arm64:2".into(),
            ])
        );
        let plain = Function::standalone("plain");
        assert_eq!(attached(&plain, &published).deploy.layers, None);
    }
}
