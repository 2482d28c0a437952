//! Layers: `PublishLayerVersion`, `GetLayerVersion`, `GetLayerVersionByArn`,
//! `ListLayerVersions`, `ListLayers` and `DeleteLayerVersion` (AWS Lambda API reference), and
//! the zip GetLayerVersion's `Content.Location` names.
//!
//! A version's extensions are unpacked once, when it is published (`crate::emulator::layer`,
//! as `serve --layer` unpacks them), and run in the instances of each function whose `Layers`
//! names it; the rest of a layer (libraries, data) has no `/opt` to go to and stays in its zip.
//! Version numbers grow per layer and are never given twice, deleted or not. A version deleted
//! while a function runs it is kept for that function (Lambda keeps serving a function with the
//! layer version it has) and forgotten once none does.

use std::path::PathBuf;

use base64::Engine as _;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::operation::LayerList;
use super::{
    does_not_exist, invalid, json_response, last_modified, read_request, refused, zip_download,
};
use crate::emulator::state::{self, LayerRecord, LayerVersion};
use crate::emulator::{Body, Emulator, boxed, empty, lock};
use crate::local::ACCOUNT;
use crate::package::zip::MAX_DIRECT_UPLOAD_BYTES;

/// Lambda's limits on a layer version's description and license (AWS PublishLayerVersion).
const MAX_DESCRIPTION: usize = 256;
const MAX_LICENSE: usize = 512;
/// Lambda's limit on a layer version's compatible runtimes (AWS PublishLayerVersion).
const MAX_RUNTIMES: usize = 15;
/// A layer version's zip in its directory.
const ZIP: &str = "layer.zip";

/// The PublishLayerVersion request body (AWS Lambda API reference, "PublishLayerVersion").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishRequest {
    #[serde(default)]
    content: ContentRequest,
    description: Option<String>,
    #[serde(default)]
    compatible_runtimes: Vec<String>,
    #[serde(default)]
    compatible_architectures: Vec<String>,
    license_info: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentRequest {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
}

impl PublishRequest {
    /// The version's settings and its zip, checked as Lambda checks them.
    fn check(self) -> Result<(LayerVersion, Vec<u8>), Box<Response<Body>>> {
        let invalid = |message: &str| Box::new(invalid(message));
        if self.content.s3_bucket.is_some() {
            return Err(invalid(
                "the local Lambda takes a layer's content as Content.ZipFile only, not from S3",
            ));
        }
        let encoded = self
            .content
            .zip_file
            .ok_or_else(|| invalid("Content.ZipFile is required: the layer's zip, base64"))?;
        let zip = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| invalid("Content.ZipFile is not base64"))?;
        if zip.len() as u64 > MAX_DIRECT_UPLOAD_BYTES {
            return Err(Box::new(refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                &format!(
                    "Content.ZipFile is {} bytes, over the {MAX_DIRECT_UPLOAD_BYTES} bytes Lambda takes inline",
                    zip.len()
                ),
            )));
        }
        let description = self.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(invalid(&format!(
                "Description is longer than the {MAX_DESCRIPTION} characters Lambda takes"
            )));
        }
        if self
            .license_info
            .as_ref()
            .is_some_and(|license| license.chars().count() > MAX_LICENSE)
        {
            return Err(invalid(&format!(
                "LicenseInfo is longer than the {MAX_LICENSE} characters Lambda takes"
            )));
        }
        if self.compatible_runtimes.len() > MAX_RUNTIMES {
            return Err(invalid(&format!(
                "CompatibleRuntimes has {} runtimes; Lambda takes at most {MAX_RUNTIMES}",
                self.compatible_runtimes.len()
            )));
        }
        if let Some(other) = self
            .compatible_architectures
            .iter()
            .find(|architecture| !matches!(architecture.as_str(), "x86_64" | "arm64"))
        {
            return Err(invalid(&format!(
                "CompatibleArchitectures has `{other}`; Lambda takes `x86_64` and `arm64`"
            )));
        }
        let version = LayerVersion {
            description,
            compatible_runtimes: self.compatible_runtimes,
            compatible_architectures: self.compatible_architectures,
            license_info: self.license_info,
            code_sha256: base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(&zip)),
            code_size: zip.len() as u64,
            created_date: last_modified(std::time::SystemTime::now()),
            extensions: Vec::new(),
            deleted: false,
        };
        Ok((version, zip))
    }
}

/// A layer's name, checked as Lambda checks it.
fn checked_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.len() <= 140
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "LayerName `{name}` is not a layer name: 1 to 140 letters, digits, `-` and `_`"
        ))
    }
}

impl LayerVersion {
    /// Whether it is listed under `list`'s runtime and architecture.
    fn matches(&self, list: &LayerList) -> bool {
        !self.deleted
            && list
                .compatible_runtime
                .as_ref()
                .is_none_or(|runtime| self.compatible_runtimes.contains(runtime))
            && list
                .compatible_architecture
                .as_ref()
                .is_none_or(|architecture| self.compatible_architectures.contains(architecture))
    }
}

impl Emulator {
    /// The ARN of the layer `name`.
    fn layer_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:layer:{name}", self.region)
    }

    /// The layer and version a layer version ARN of this serve names.
    fn parse_layer_arn(&self, arn: &str) -> Option<(String, u64)> {
        let (layer, version) = arn.rsplit_once(':')?;
        let name = layer.strip_prefix(&self.layer_arn(""))?;
        checked_name(name).ok()?;
        Some((name.to_owned(), version.parse().ok()?))
    }

    /// A version as ListLayerVersions lists it (AWS "LayerVersionsListItem").
    fn layer_version_item(&self, name: &str, number: u64, version: &LayerVersion) -> Value {
        let mut item = json!({
            "LayerVersionArn": format!("{}:{number}", self.layer_arn(name)),
            "Version": number,
            "Description": version.description,
            "CreatedDate": version.created_date,
            "CompatibleRuntimes": version.compatible_runtimes,
            "CompatibleArchitectures": version.compatible_architectures,
        });
        if let Some(license) = &version.license_info {
            item["LicenseInfo"] = json!(license);
        }
        item
    }

    /// A version as PublishLayerVersion and GetLayerVersion answer it, its zip at
    /// `/lambdakit/layer/` on `host`.
    fn layer_version_answer(
        &self,
        name: &str,
        number: u64,
        version: &LayerVersion,
        host: &str,
    ) -> Value {
        let mut answer = self.layer_version_item(name, number, version);
        answer["LayerArn"] = json!(self.layer_arn(name));
        answer["Content"] = json!({
            "Location": format!("http://{host}/lambdakit/layer/{name}/{number}.zip"),
            "CodeSha256": version.code_sha256,
            "CodeSize": version.code_size,
        });
        answer
    }

    /// The version `number` of the layer `name`, unless it is deleted.
    fn live_layer_version(&self, name: &str, number: u64) -> Option<LayerVersion> {
        lock(&self.layers)
            .get(name)
            .and_then(|record| record.versions.get(&number))
            .filter(|version| !version.deleted)
            .cloned()
    }

    /// `PublishLayerVersion`: a new version of the layer `name` (made by its first), its
    /// extensions unpacked.
    pub(super) async fn publish_layer(
        &self,
        name: &str,
        body: crate::emulator::RequestBody,
        host: &str,
    ) -> Response<Body> {
        if let Err(problem) = checked_name(name) {
            return invalid(&problem);
        }
        let request: PublishRequest = match read_request(body, "PublishLayerVersion").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let (mut version, zip) = match request.check() {
            Ok(checked) => checked,
            Err(refusal) => return *refusal,
        };
        let _changing = self.changes.lock().await;
        let mut record = lock(&self.layers)
            .get(name)
            .cloned()
            .unwrap_or_else(|| LayerRecord::new(name));
        let number = record.last_version + 1;
        let layer_dir = state::layer_dir(&self.state, name);
        let dir = layer_dir.join(number.to_string());
        let unpacked = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || {
                // Left by a publish that stopped before its record was written, if anything.
                let _ = std::fs::remove_dir_all(&dir);
                let unpacked = crate::emulator::layer::unpack_extensions(&zip, &dir)
                    .map_err(|problem| Box::new(invalid(&format!("Content.ZipFile {problem}"))))
                    .and_then(|extensions| {
                        std::fs::create_dir_all(&dir)
                            .and_then(|()| std::fs::write(dir.join(ZIP), &zip))
                            .map(|()| extensions)
                            .map_err(|error| {
                                Box::new(super::service_error(&format!(
                                    "the layer's zip cannot be kept in the state directory: {error}"
                                )))
                            })
                    });
                if unpacked.is_err() {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                unpacked
            }
        })
        .await;
        let extensions = match unpacked {
            Ok(Ok(extensions)) => extensions,
            Ok(Err(refusal)) => return *refusal,
            Err(error) => {
                return super::service_error(&format!("unpacking the layer stopped: {error}"));
            }
        };
        version.extensions = extensions
            .iter()
            .filter_map(|path| path.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        record.last_version = number;
        record.versions.insert(number, version.clone());
        if let Err(refusal) = save_layer(layer_dir, record.clone()).await {
            super::remove_dir(dir).await;
            return refusal;
        }
        lock(&self.layers).insert(name.to_owned(), record);
        println!("lambdakit: published version {number} of the layer {name}");
        json_response(
            StatusCode::CREATED,
            &self.layer_version_answer(name, number, &version, host),
        )
    }

    /// `GetLayerVersion`.
    pub(super) fn get_layer_version(&self, name: &str, number: u64, host: &str) -> Response<Body> {
        match self.live_layer_version(name, number) {
            Some(version) => json_response(
                StatusCode::OK,
                &self.layer_version_answer(name, number, &version, host),
            ),
            None => does_not_exist(),
        }
    }

    /// `GetLayerVersionByArn`.
    pub(super) fn get_layer_version_by_arn(&self, arn: &str, host: &str) -> Response<Body> {
        if !arn.starts_with("arn:") || !arn.contains(":layer:") {
            return invalid(&format!(
                "Arn `{arn}` is not a layer version ARN (`arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`)"
            ));
        }
        match self.parse_layer_arn(arn) {
            Some((name, number)) => self.get_layer_version(&name, number, host),
            None => does_not_exist(),
        }
    }

    /// `ListLayerVersions`: the versions of `name` that `list` asks for, newest first, a
    /// page at a time (`NextMarker`: the last one's number). A layer never published has
    /// none, as on AWS.
    pub(super) fn list_layer_versions(&self, name: &str, list: &LayerList) -> Response<Body> {
        let after: Option<u64> = list
            .marker
            .as_deref()
            .and_then(|marker| marker.parse().ok());
        let layers = lock(&self.layers);
        let matching: Vec<(u64, &LayerVersion)> = layers
            .get(name)
            .into_iter()
            .flat_map(|record| record.versions.iter().rev())
            .filter(|(number, version)| {
                version.matches(list) && after.is_none_or(|after| **number < after)
            })
            .map(|(number, version)| (*number, version))
            .collect();
        let page = &matching[..matching.len().min(list.max_items)];
        let items: Vec<Value> = page
            .iter()
            .map(|(number, version)| self.layer_version_item(name, *number, version))
            .collect();
        let mut answer = json!({ "LayerVersions": items });
        if matching.len() > page.len()
            && let Some((last, _)) = page.last()
        {
            answer["NextMarker"] = json!(last.to_string());
        }
        json_response(StatusCode::OK, &answer)
    }

    /// `ListLayers`: each layer with a version `list` asks for, by name, with the newest such
    /// version (`LatestMatchingVersion`), a page at a time (`NextMarker`: the last one's name).
    pub(super) fn list_layers(&self, list: &LayerList) -> Response<Body> {
        let layers = lock(&self.layers);
        let matching: Vec<Value> = layers
            .values()
            .filter(|record| {
                list.marker
                    .as_deref()
                    .is_none_or(|marker| record.name.as_str() > marker)
            })
            .filter_map(|record| {
                let (number, version) = record
                    .versions
                    .iter()
                    .rev()
                    .find(|(_, version)| version.matches(list))?;
                Some(json!({
                    "LayerName": record.name,
                    "LayerArn": self.layer_arn(&record.name),
                    "LatestMatchingVersion": self.layer_version_item(&record.name, *number, version),
                }))
            })
            .collect();
        let page = &matching[..matching.len().min(list.max_items)];
        let mut answer = json!({ "Layers": page });
        if matching.len() > page.len()
            && let Some(last) = page.last()
        {
            answer["NextMarker"] = last["LayerName"].clone();
        }
        json_response(StatusCode::OK, &answer)
    }

    /// `DeleteLayerVersion`: the version is no longer found, listed or attached; the functions
    /// that run it keep it. Deleting a version that is not there succeeds, as on AWS.
    pub(super) async fn delete_layer_version(&self, name: &str, number: u64) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let record = {
            let mut layers = lock(&self.layers);
            let Some(record) = layers.get_mut(name) else {
                return boxed(empty(StatusCode::NO_CONTENT));
            };
            match record.versions.get_mut(&number) {
                Some(version) if !version.deleted => version.deleted = true,
                _ => return boxed(empty(StatusCode::NO_CONTENT)),
            }
            record.clone()
        };
        if let Err(refusal) = save_layer(state::layer_dir(&self.state, name), record).await {
            return refusal;
        }
        println!("lambdakit: deleted version {number} of the layer {name}");
        self.sweep_layers().await;
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// The zip of a layer version: what GetLayerVersion's `Content.Location` names.
    pub(super) async fn layer_code(&self, name: &str, number: u64) -> Response<Body> {
        if self.live_layer_version(name, number).is_none() {
            return does_not_exist();
        }
        let zip = state::layer_dir(&self.state, name)
            .join(number.to_string())
            .join(ZIP);
        zip_download(zip).await.unwrap_or_else(does_not_exist)
    }

    /// Checks a function's `Layers` as Lambda does (their number is checked with the request):
    /// each a version this serve has (not deleted), and no layer twice.
    pub(super) fn check_layers(&self, arns: &[String]) -> Result<(), String> {
        let mut seen: Vec<(String, &str)> = Vec::new();
        for arn in arns {
            let Some((name, _)) = self
                .parse_layer_arn(arn)
                .filter(|(name, number)| self.live_layer_version(name, *number).is_some())
            else {
                // AWS's words.
                return Err(format!("Layer version {arn} does not exist."));
            };
            if let Some((_, other)) = seen.iter().find(|(known, _)| *known == name) {
                return Err(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {other} and {arn} are versions of the same layer."
                ));
            }
            seen.push((name, arn.as_str()));
        }
        Ok(())
    }

    /// The extensions a function with `Layers` `arns` runs, in order (a later layer's file of
    /// one name wins, as in `/opt`): those of each version, deleted or not.
    ///
    /// # Errors
    ///
    /// When a version is not kept (a state directory changed by hand).
    pub(super) fn layer_extensions(&self, arns: &[String]) -> Result<Vec<PathBuf>, String> {
        let layers = lock(&self.layers);
        let mut extensions = Vec::new();
        for arn in arns {
            let version = self.parse_layer_arn(arn).and_then(|(name, number)| {
                let version = layers.get(&name)?.versions.get(&number)?;
                let dir = state::layer_dir(&self.state, &name)
                    .join(number.to_string())
                    .join("extensions");
                Some(
                    version
                        .extensions
                        .iter()
                        .map(|extension| dir.join(extension))
                        .collect::<Vec<_>>(),
                )
            });
            let Some(version) = version else {
                return Err(format!(
                    "its layer version `{arn}` is not kept in the state directory"
                ));
            };
            crate::emulator::layer::overlay(&mut extensions, &version);
        }
        Ok(extensions)
    }

    /// The size of a layer version's zip, as a function's configuration reports it.
    pub(super) fn layer_code_size(&self, arn: &str) -> u64 {
        self.parse_layer_arn(arn)
            .and_then(|(name, number)| {
                lock(&self.layers)
                    .get(&name)?
                    .versions
                    .get(&number)
                    .map(|version| version.code_size)
            })
            .unwrap_or(0)
    }

    /// Reads back the layers an earlier serve published; returns a warning for each that
    /// cannot be read.
    pub(super) fn load_layers(&self) -> Vec<String> {
        let (records, warnings) = state::load_layers(&self.state);
        let mut layers = lock(&self.layers);
        for record in records {
            layers.insert(record.name.clone(), record);
        }
        warnings
    }

    /// Forgets the deleted versions no function runs any more, and removes their files; the
    /// layer's record stays, so that its numbers are not given again.
    pub(super) async fn sweep_layers(&self) {
        let swept = self.unused_layer_versions();
        let swept = tokio::task::spawn_blocking(move || swept.apply()).await;
        if let Ok(Err(warning)) | Err(warning) = swept.map_err(|error| error.to_string()) {
            eprintln!("warning: {warning}");
        }
    }

    /// The deleted versions no function runs, taken out of their records.
    pub(super) fn unused_layer_versions(&self) -> Swept {
        let used: std::collections::BTreeSet<String> = lock(&self.records)
            .values()
            .flat_map(|record| {
                std::iter::once(&record.latest)
                    .chain(record.versions.values())
                    .flat_map(|config| config.described.layers.iter().cloned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut swept = Swept::default();
        for record in lock(&self.layers).values_mut() {
            let layer_arn = self.layer_arn(&record.name);
            let unused: Vec<u64> = record
                .versions
                .iter()
                .filter(|(number, version)| {
                    version.deleted && !used.contains(&format!("{layer_arn}:{number}"))
                })
                .map(|(number, _)| *number)
                .collect();
            if unused.is_empty() {
                continue;
            }
            let dir = state::layer_dir(&self.state, &record.name);
            for number in unused {
                record.versions.remove(&number);
                swept.dirs.push(dir.join(number.to_string()));
            }
            swept.records.push((dir, record.clone()));
        }
        swept
    }
}

/// What [`Emulator::unused_layer_versions`] took out: the records to write again and the
/// version directories to remove.
#[derive(Debug, Default)]
pub(super) struct Swept {
    records: Vec<(PathBuf, LayerRecord)>,
    dirs: Vec<PathBuf>,
}

impl Swept {
    /// Writes the records, then removes the directories.
    pub(super) fn apply(self) -> Result<(), String> {
        for (dir, record) in self.records {
            record.save(&dir).map_err(|error| {
                format!(
                    "the record of the layer `{}` cannot be written into the state directory: {error}",
                    record.name
                )
            })?;
        }
        for dir in self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }
}

/// Writes a layer's `record` into its directory `dir`.
async fn save_layer(dir: PathBuf, record: LayerRecord) -> Result<(), Response<Body>> {
    match tokio::task::spawn_blocking(move || record.save(&dir)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(super::service_error(&format!(
            "the layer's record cannot be written into the state directory: {error}"
        ))),
        Err(error) => Err(super::service_error(&format!(
            "writing the layer's record stopped: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_are_checked_as_lambda_checks_them() {
        assert_eq!(checked_name("telemetry-shipper_2"), Ok(()));
        for bad in ["", "a/b", "a.b", &"x".repeat(141)] {
            let problem = checked_name(bad).unwrap_err();
            assert!(problem.contains("is not a layer name"), "{problem}");
        }
    }

    #[test]
    fn a_version_is_listed_under_the_runtime_and_architecture_it_names() {
        let version = LayerVersion {
            description: String::new(),
            compatible_runtimes: vec!["provided.al2023".into()],
            compatible_architectures: vec!["arm64".into()],
            license_info: None,
            code_sha256: String::new(),
            code_size: 0,
            created_date: String::new(),
            extensions: Vec::new(),
            deleted: false,
        };
        let list = |runtime: Option<&str>, architecture: Option<&str>| LayerList {
            compatible_runtime: runtime.map(str::to_owned),
            compatible_architecture: architecture.map(str::to_owned),
            marker: None,
            max_items: 50,
        };
        assert!(version.matches(&list(None, None)));
        assert!(version.matches(&list(Some("provided.al2023"), Some("arm64"))));
        assert!(!version.matches(&list(Some("provided.al2"), None)));
        assert!(!version.matches(&list(None, Some("x86_64"))));
        let deleted = LayerVersion {
            deleted: true,
            ..version
        };
        assert!(!deleted.matches(&list(None, None)));
    }
}
