//! Test infrastructure for `applied-archive-rule`: local stand-ins for the services the provider
//! talks to, each a real HTTP server on 127.0.0.1 so the code under test runs unchanged.
//!
//! - [`access_analyzer`]: an IAM Access Analyzer emulator speaking the restJson1 wire protocol the
//!   official SDK uses, with fault injection and a request record.
//! - [`organization`]: one endpoint for STS, Organizations, EC2 `DescribeRegions` and Access
//!   Analyzer across the accounts and regions of an organization, for the command line's sweep.
//! - [`events`]: the EventBridge events auto-apply receives (CloudTrail records, schedules).
//! - [`receiver`]: the CloudFormation `ResponseURL` (an S3 presigned URL) that records the PUTs.
//! - [`runtime_api`]: a fake Lambda Runtime API, to run the real `bootstrap` binary end to end.
//!
//! This crate is used by tests, demos and benchmarks only; it never links into the Lambda binary.

pub mod access_analyzer;
pub mod events;
pub mod organization;
pub mod receiver;
pub mod runtime_api;

mod server;
mod util;
