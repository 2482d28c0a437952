//! Lambda deployment packages: what goes in them and how they are written.

pub mod trust;
pub mod zip;
