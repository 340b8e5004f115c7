//! Locations and the few ARNs the provider reads and writes: the stack's, the function's, the
//! analyzer's and the archive rule's. Pure parsing and formatting; no lookups.
//!
//! The analyzer is resolved without a lookup (SPEC §3 Create step 1): its ARN follows from its name and
//! the partition, region and account of the stack, so no `GetAnalyzer` round trip sits on the critical
//! path.

use std::fmt;

/// Where a stack (and therefore the rule it declares) lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {} in {}", self.account, self.region)
    }
}

impl Location {
    /// The DNS suffix of this partition's public endpoints, which every legitimate CloudFormation
    /// response URL (a presigned S3 URL) ends with.
    pub fn dns_suffix(&self) -> Option<&'static str> {
        partition_dns_suffix(&self.partition)
    }

    pub fn analyzer_arn(&self, analyzer_name: &str) -> String {
        format!(
            "arn:{}:access-analyzer:{}:{}:analyzer/{}",
            self.partition, self.region, self.account, analyzer_name
        )
    }
}

/// DNS suffixes of the partitions, as listed in the SDKs' partitions.json.
pub fn partition_dns_suffix(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" | "aws-us-gov" => Some("amazonaws.com"),
        "aws-cn" => Some("amazonaws.com.cn"),
        "aws-iso" => Some("c2s.ic.gov"),
        "aws-iso-b" => Some("sc2s.sgov.gov"),
        "aws-eusc" => Some("amazonaws.eu"),
        _ => None,
    }
}

/// Splits `arn:partition:service:region:account:resource` into its six parts.
fn split_arn(arn: &str) -> Option<[&str; 6]> {
    let mut parts = arn.splitn(6, ':');
    let fields = [
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ];
    (fields[0] == "arn" && !fields[1].is_empty()).then_some(fields)
}

fn location_of(fields: &[&str; 6]) -> Option<Location> {
    let [_, partition, _, region, account, _] = *fields;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (account_ok && !region.is_empty()).then(|| Location {
        partition: partition.to_owned(),
        region: region.to_owned(),
        account: account.to_owned(),
    })
}

/// Reads the location of a CloudFormation stack from its `StackId`
/// (`arn:aws:cloudformation:us-east-1:123456789012:stack/name/guid`).
pub fn stack_location(stack_id: &str) -> Option<Location> {
    let fields = split_arn(stack_id)?;
    if fields[2] != "cloudformation" || !fields[5].starts_with("stack/") {
        return None;
    }
    location_of(&fields)
}

/// Reads the location of the invoked Lambda function from its ARN, to tell the provider's own account
/// and region.
pub fn function_location(function_arn: &str) -> Option<Location> {
    let fields = split_arn(function_arn)?;
    if fields[2] != "lambda" {
        return None;
    }
    location_of(&fields)
}

/// An analyzer: where it lives, its name, and its ARN — formatted by [`Location::analyzer_arn`],
/// the one place that builds analyzer ARNs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analyzer {
    pub location: Location,
    pub name: String,
    pub arn: String,
}

impl Analyzer {
    pub fn new(location: Location, name: impl Into<String>) -> Analyzer {
        let name = name.into();
        Analyzer {
            arn: location.analyzer_arn(&name),
            location,
            name,
        }
    }

    /// Reads `arn:<partition>:access-analyzer:<region>:<account>:analyzer/<name>`.
    pub fn from_arn(arn: &str) -> Option<Analyzer> {
        let fields = split_arn(arn)?;
        if fields[2] != "access-analyzer" {
            return None;
        }
        let name = fields[5].strip_prefix("analyzer/")?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        Some(Analyzer::new(location_of(&fields)?, name))
    }
}

/// An archive rule ARN, the provider's PhysicalResourceId:
/// `arn:<partition>:access-analyzer:<region>:<account>:analyzer/<analyzer>/archive-rule/<rule>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRuleArn {
    pub location: Location,
    pub analyzer_name: String,
    pub rule_name: String,
}

impl ArchiveRuleArn {
    pub fn analyzer_arn(&self) -> String {
        self.location.analyzer_arn(&self.analyzer_name)
    }
}

impl fmt::Display for ArchiveRuleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/archive-rule/{}", self.analyzer_arn(), self.rule_name)
    }
}

pub fn parse_archive_rule_arn(arn: &str) -> Option<ArchiveRuleArn> {
    let fields = split_arn(arn)?;
    if fields[2] != "access-analyzer" {
        return None;
    }
    let rest = fields[5].strip_prefix("analyzer/")?;
    let (analyzer_name, rule_name) = rest.split_once("/archive-rule/")?;
    if analyzer_name.is_empty() || rule_name.is_empty() || rule_name.contains('/') {
        return None;
    }
    Some(ArchiveRuleArn {
        location: location_of(&fields)?,
        analyzer_name: analyzer_name.to_owned(),
        rule_name: rule_name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stack_location_from_a_stack_id() {
        let location = stack_location(
            "arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/my-stack/0a1b2c3d-guid",
        )
        .unwrap();
        assert_eq!(location.partition, "aws-cn");
        assert_eq!(location.region, "cn-north-1");
        assert_eq!(location.account, "123456789012");
        assert_eq!(location.dns_suffix(), Some("amazonaws.com.cn"));
    }

    #[test]
    fn rejects_stack_ids_that_are_not_stack_arns() {
        assert!(stack_location("not-an-arn").is_none());
        assert!(stack_location("arn:aws:s3:::bucket").is_none());
        assert!(stack_location("arn:aws:cloudformation:us-east-1:12345:stack/x/y").is_none());
    }

    #[test]
    fn archive_rule_arn_round_trips() {
        let arn = "arn:aws:access-analyzer:eu-west-1:123456789012:analyzer/_svc.analyzer/archive-rule/Rule-1.a";
        let parsed = parse_archive_rule_arn(arn).unwrap();
        assert_eq!(parsed.analyzer_name, "_svc.analyzer");
        assert_eq!(parsed.rule_name, "Rule-1.a");
        assert_eq!(parsed.to_string(), arn);
        assert_eq!(
            parsed.analyzer_arn(),
            "arn:aws:access-analyzer:eu-west-1:123456789012:analyzer/_svc.analyzer"
        );
    }

    #[test]
    fn markers_and_generated_ids_are_not_archive_rule_arns() {
        assert!(parse_archive_rule_arn("applied-archive-rule:none:Rule:abc").is_none());
        assert!(parse_archive_rule_arn("2026/11/28/[$LATEST]abcdef").is_none());
        assert!(parse_archive_rule_arn(
            "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/a"
        )
        .is_none());
    }

    #[test]
    fn analyzer_arn_parses_name_and_location_and_round_trips() {
        let arn = "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main";
        let parsed = Analyzer::from_arn(arn).unwrap();
        assert_eq!(parsed.name, "main");
        assert_eq!(parsed.location.region, "us-east-1");
        assert_eq!(parsed.arn, arn);
        assert_eq!(Analyzer::new(parsed.location.clone(), "main"), parsed);
        assert!(Analyzer::from_arn("arn:aws:iam::123456789012:role/x").is_none());
    }
}
