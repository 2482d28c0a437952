//! Lambda extensions: processes (external extensions) or tasks beside the handler (internal
//! ones) that Lambda tells of every invocation and of the shutdown, and the Telemetry API's
//! events they can subscribe to (AWS "Lambda Extensions API", "Lambda Telemetry API").

pub mod telemetry;
