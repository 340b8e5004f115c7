//! `Custom::AppliedArchiveRule`: a CloudFormation custom resource that creates or updates an IAM
//! Access Analyzer archive rule and applies it to the findings that already exist.
//!
//! - [`handler`]: one invocation — the event in, the checks, the work, one response out — with
//!   [`guard`], the deadline guard around the work, and [`cfn`], the CloudFormation protocol
//!   (response body, size limit, response URL, delivery);
//! - [`request`]: what the resource types read of a request and answer; [`progress`]: what the
//!   guard knows of the work so far;
//! - [`properties`] and [`filter`]: the resources' properties, parsed once into valid types;
//! - [`lifecycle`]: Create, Update and Delete of `Custom::AppliedArchiveRule`;
//!   [`apply_rules`]: `Custom::ApplyArchiveRules`, which applies existing rules without owning them;
//! - [`apply`]: the apply engine both share: count, guard, apply, verify, log the evidence, and
//!   [`metrics`], the Embedded Metric Format line of every apply;
//! - [`auto_apply`]: SPEC §9, applying rules made by any tool from their CloudTrail events and on
//!   a schedule, through the same engine;
//! - [`access_analyzer`]: the interface to Access Analyzer and its AWS SDK implementation;
//! - [`arn`]: locations, analyzers and the ARNs of both; [`token`]: client tokens;
//!   [`error`]: what an operator reads when something fails.

// Errors end an invocation and are built at most a few times per event; keeping them unboxed keeps
// the code plain, and their size costs nothing measurable.
#![allow(clippy::result_large_err)]

pub mod access_analyzer;
pub mod apply;
pub mod apply_rules;
pub mod arn;
pub mod auto_apply;
pub mod cfn;
pub mod error;
pub mod filter;
pub mod guard;
pub mod handler;
pub mod lifecycle;
pub mod metrics;
pub mod progress;
pub mod properties;
pub mod request;
pub mod token;
