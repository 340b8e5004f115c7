//! `Custom::AppliedArchiveRule`: a CloudFormation custom resource that creates or updates an IAM
//! Access Analyzer archive rule and applies it to the findings that already exist.
//!
//! - [`properties`] and [`filter`]: the resource's properties, parsed once into valid types;
//! - [`lifecycle`]: Create, Update and Delete against the [`access_analyzer::AccessAnalyzer`] interface;
//! - [`cfn`]: the CloudFormation protocol (response body, size limit, response URL, delivery);
//! - [`apply_rules`]: `Custom::ApplyArchiveRules`, which applies existing rules without owning them;
//! - [`handler`]: one invocation under a deadline guard.

// Errors end an invocation and are built at most a few times per event; keeping them unboxed keeps
// the code plain, and their size costs nothing measurable.
#![allow(clippy::result_large_err)]

pub mod access_analyzer;
pub mod apply_rules;
pub mod arn;
pub mod cfn;
pub mod error;
pub mod filter;
pub mod handler;
pub mod lifecycle;
pub mod properties;
