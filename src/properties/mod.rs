//! `ResourceProperties` of both resource types, parsed once into types that cannot hold an invalid
//! rule (SPEC §2, §8.1). Parsing only: nothing here calls AWS or looks anything up.
//!
//! CloudFormation sends every scalar property as a string (`"true"`, `"60"`), while a direct
//! invocation or SAM local may send real JSON booleans and numbers; both are accepted.

use std::time::Duration;

use serde_json::{Map, Value};

pub mod values;

pub use values::parse_bool;

use crate::arn::{Analyzer, Location};
use crate::error::PropertyError;
use crate::filter::Filter;
use values::{
    check_analyzer_name, check_rule_name, describe, optional, parse_nonempty_string,
    parse_scalar_string, parse_u64_in, properties_map, reject_unknown,
};

const KNOWN_PROPERTIES: [&str; 11] = [
    "ServiceToken",
    "ServiceTimeout",
    "AnalyzerName",
    "AnalyzerArn",
    "RuleName",
    "Filter",
    "ApplyToExistingFindings",
    "ArchiveTimeoutSeconds",
    "AdoptExisting",
    "MaxFindingsToArchive",
    "Revision",
];
const DEFAULT_ARCHIVE_TIMEOUT_SECONDS: u64 = 60;
/// Lambda's own limit: no wait can outlast a 15-minute invocation.
const MAX_ARCHIVE_TIMEOUT_SECONDS: u64 = 900;

/// Validated properties of one `Custom::AppliedArchiveRule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProperties {
    pub analyzer: AnalyzerRef,
    pub rule_name: String,
    pub filter: Filter,
    pub apply_to_existing_findings: bool,
    pub archive_timeout: Duration,
    pub adopt_existing: bool,
    pub max_findings_to_archive: Option<u64>,
    pub revision: Option<String>,
}

/// The analyzer as declared: by name, by ARN, or both (which must agree once resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnalyzerRef {
    Name(String),
    Arn(String),
    Both { name: String, arn: String },
}

impl AnalyzerRef {
    /// Resolves the analyzer in the stack's own partition, region and account, without any lookup. An ARN elsewhere is
    /// refused: the provider only acts where it runs.
    pub fn resolve(&self, stack: &Location) -> Result<Analyzer, PropertyError> {
        match self {
            AnalyzerRef::Name(name) => Ok(Analyzer::new(stack.clone(), name)),
            AnalyzerRef::Arn(arn) => resolve_arn(arn, stack),
            AnalyzerRef::Both { name, arn } => {
                let resolved = resolve_arn(arn, stack)?;
                if &resolved.name != name {
                    return Err(PropertyError::new(
                        "AnalyzerArn",
                        format!(
                            "names analyzer {:?} but AnalyzerName is {name:?}; give one of them or make them agree",
                            resolved.name
                        ),
                    ));
                }
                Ok(resolved)
            }
        }
    }
}

fn resolve_arn(arn: &str, stack: &Location) -> Result<Analyzer, PropertyError> {
    let parsed = Analyzer::from_arn(arn).ok_or_else(|| {
        PropertyError::new(
            "AnalyzerArn",
            format!("{arn:?} is not an analyzer ARN (arn:<partition>:access-analyzer:<region>:<account>:analyzer/<name>)"),
        )
    })?;
    if parsed.location != *stack {
        return Err(PropertyError::new(
            "AnalyzerArn",
            format!(
                "{arn:?} is in {} of partition {}, but the stack is in {} of partition {}; the provider only acts in its own account and region",
                parsed.location, parsed.location.partition, stack, stack.partition
            ),
        ));
    }
    check_analyzer_name("AnalyzerArn", &parsed.name)?;
    Ok(parsed)
}

impl RuleProperties {
    /// Parses `ResourceProperties` of a Create or Update. Unknown keys are refused so that a typo
    /// (`Filters`, `ruleName`) fails loudly instead of being ignored.
    pub fn parse(properties: &Value) -> Result<RuleProperties, PropertyError> {
        let map = properties_map(properties)?;
        reject_unknown(map, &KNOWN_PROPERTIES)?;
        check_service_timeout(map)?;
        let analyzer = parse_analyzer_ref(map)?;
        let rule_name = parse_rule_name(map.get("RuleName"))?;
        let filter = Filter::parse(
            map.get("Filter")
                .ok_or_else(|| PropertyError::new("Filter", "is required"))?,
        )?;
        let apply_to_existing_findings =
            optional(map, "ApplyToExistingFindings", parse_bool)?.unwrap_or(true);
        let archive_timeout = parse_archive_timeout(map)?;
        let adopt_existing = optional(map, "AdoptExisting", parse_bool)?.unwrap_or(false);
        let max_findings_to_archive = parse_max_findings(map)?;
        let revision = optional(map, "Revision", parse_scalar_string)?;
        Ok(RuleProperties {
            analyzer,
            rule_name,
            filter,
            apply_to_existing_findings,
            archive_timeout,
            adopt_existing,
            max_findings_to_archive,
            revision,
        })
    }
}

const APPLY_RULES_PROPERTIES: [&str; 8] = [
    "ServiceToken",
    "ServiceTimeout",
    "AnalyzerName",
    "AnalyzerArn",
    "RuleNames",
    "ArchiveTimeoutSeconds",
    "MaxFindingsToArchive",
    "Revision",
];

/// Validated properties of one `Custom::ApplyArchiveRules` (SPEC §8.1): rules that exist already
/// (declared natively, say), applied without being owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyRulesProperties {
    pub analyzer: AnalyzerRef,
    /// `None`: every rule of the analyzer.
    pub rule_names: Option<Vec<String>>,
    pub archive_timeout: Duration,
    /// Counted over all rules together: distinct findings matched by any of them.
    pub max_findings_to_archive: Option<u64>,
    pub revision: Option<String>,
}

impl ApplyRulesProperties {
    pub fn parse(properties: &Value) -> Result<ApplyRulesProperties, PropertyError> {
        let map = properties_map(properties)?;
        reject_unknown(map, &APPLY_RULES_PROPERTIES)?;
        check_service_timeout(map)?;
        Ok(ApplyRulesProperties {
            analyzer: parse_analyzer_ref(map)?,
            rule_names: optional(map, "RuleNames", parse_rule_names)?,
            archive_timeout: parse_archive_timeout(map)?,
            max_findings_to_archive: parse_max_findings(map)?,
            revision: optional(map, "Revision", parse_scalar_string)?,
        })
    }
}

/// `ServiceTimeout` is CloudFormation's, but a value it would refuse is refused here too.
fn check_service_timeout(map: &Map<String, Value>) -> Result<(), PropertyError> {
    optional(map, "ServiceTimeout", |p, v| {
        parse_u64_in(p, v, 1, u64::MAX)
    })
    .map(|_| ())
}

/// `ArchiveTimeoutSeconds`: 0–900, default 60.
fn parse_archive_timeout(map: &Map<String, Value>) -> Result<Duration, PropertyError> {
    let seconds = optional(map, "ArchiveTimeoutSeconds", |p, v| {
        parse_u64_in(p, v, 0, MAX_ARCHIVE_TIMEOUT_SECONDS)
    })?;
    Ok(Duration::from_secs(
        seconds.unwrap_or(DEFAULT_ARCHIVE_TIMEOUT_SECONDS),
    ))
}

/// `MaxFindingsToArchive`: any whole number, absent for no limit.
fn parse_max_findings(map: &Map<String, Value>) -> Result<Option<u64>, PropertyError> {
    optional(map, "MaxFindingsToArchive", |p, v| {
        parse_u64_in(p, v, 0, u64::MAX)
    })
}

fn parse_rule_names(property: &str, value: &Value) -> Result<Vec<String>, PropertyError> {
    let items = value.as_array().ok_or_else(|| {
        PropertyError::new(
            property,
            format!("must be a list of rule names, got {}", describe(value)),
        )
    })?;
    if items.is_empty() {
        return Err(PropertyError::new(
            property,
            "must name at least one rule; leave it out to apply every rule of the analyzer",
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("{property}[{i}]");
        let name = parse_nonempty_string(&path, item)?;
        check_rule_name(&path, &name)?;
        if names.contains(&name) {
            return Err(PropertyError::new(
                path,
                format!("{name:?} is listed twice"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// `ServiceTimeout` bounds the provider's own time budget (SPEC §4). It is read leniently, before
/// validation, because even a Delete (whose properties are never validated) must honour it.
pub fn service_timeout(properties: &Value) -> Option<Duration> {
    let value = properties.get("ServiceTimeout")?;
    parse_u64_in("ServiceTimeout", value, 1, u64::MAX)
        .ok()
        .map(Duration::from_secs)
}

pub(crate) fn parse_analyzer_ref(map: &Map<String, Value>) -> Result<AnalyzerRef, PropertyError> {
    let name = optional(map, "AnalyzerName", parse_nonempty_string)?;
    let arn = optional(map, "AnalyzerArn", parse_nonempty_string)?;
    if let Some(name) = &name {
        check_analyzer_name("AnalyzerName", name)?;
    }
    match (name, arn) {
        (Some(name), None) => Ok(AnalyzerRef::Name(name)),
        (None, Some(arn)) => Ok(AnalyzerRef::Arn(arn)),
        (Some(name), Some(arn)) => Ok(AnalyzerRef::Both { name, arn }),
        (None, None) => Err(PropertyError::new(
            "AnalyzerName",
            "is required (or give AnalyzerArn)",
        )),
    }
}

fn parse_rule_name(value: Option<&Value>) -> Result<String, PropertyError> {
    let value = value.ok_or_else(|| PropertyError::new("RuleName", "is required"))?;
    let name = parse_nonempty_string("RuleName", value)?;
    check_rule_name("RuleName", &name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stack() -> Location {
        Location {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn base() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
            "AnalyzerName": "main",
            "RuleName": "ignore-roles",
            "Filter": {"resourceType": {"Eq": ["AWS::IAM::Role"]}}
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut props = base();
        props[key] = value;
        props
    }

    fn error_of(props: Value) -> PropertyError {
        RuleProperties::parse(&props).unwrap_err()
    }

    #[test]
    fn defaults_apply_when_optional_properties_are_absent() {
        let p = RuleProperties::parse(&base()).unwrap();
        assert!(p.apply_to_existing_findings);
        assert_eq!(p.archive_timeout, Duration::from_secs(60));
        assert!(!p.adopt_existing);
        assert_eq!(p.max_findings_to_archive, None);
        assert_eq!(p.revision, None);
        assert_eq!(p.analyzer, AnalyzerRef::Name("main".into()));
    }

    #[test]
    fn scalars_arrive_as_strings_from_cloudformation() {
        let mut props = base();
        props["ApplyToExistingFindings"] = json!("False");
        props["ArchiveTimeoutSeconds"] = json!("0");
        props["AdoptExisting"] = json!("TRUE");
        props["MaxFindingsToArchive"] = json!("250");
        props["Revision"] = json!(7);
        props["ServiceTimeout"] = json!("300");
        let p = RuleProperties::parse(&props).unwrap();
        assert!(!p.apply_to_existing_findings);
        assert_eq!(p.archive_timeout, Duration::ZERO);
        assert!(p.adopt_existing);
        assert_eq!(p.max_findings_to_archive, Some(250));
        assert_eq!(p.revision.as_deref(), Some("7"));
        assert_eq!(service_timeout(&props), Some(Duration::from_secs(300)));
    }

    #[test]
    fn bad_scalars_name_the_property_and_the_value() {
        for (key, value) in [
            ("ApplyToExistingFindings", json!("yes")),
            ("AdoptExisting", json!(1)),
            ("ArchiveTimeoutSeconds", json!("901")),
            ("ArchiveTimeoutSeconds", json!("-1")),
            ("ArchiveTimeoutSeconds", json!("6O")),
            ("MaxFindingsToArchive", json!(-3)),
            ("MaxFindingsToArchive", json!("1.5")),
            ("ServiceTimeout", json!("0")),
            ("Revision", json!({"a": 1})),
        ] {
            let e = error_of(with(key, value.clone()));
            assert_eq!(e.property, key);
            assert!(
                e.to_string().contains(&describe(&value)),
                "{key}: {e} should show the value"
            );
        }
    }

    #[test]
    fn required_properties_are_named_when_missing() {
        for key in ["RuleName", "Filter", "AnalyzerName"] {
            let mut props = base();
            props.as_object_mut().unwrap().remove(key);
            assert_eq!(error_of(props).property, key);
        }
        assert_eq!(
            RuleProperties::parse(&Value::Null).unwrap_err().property,
            "AnalyzerName"
        );
    }

    #[test]
    fn unknown_properties_are_refused_by_name() {
        let e = error_of(with("Filters", json!({})));
        assert_eq!(e.property, "Filters");
        assert!(e.to_string().contains("not a property"));
    }

    #[test]
    fn names_follow_the_service_patterns() {
        for bad in ["1rule", "_rule", "rule name", "", &"r".repeat(256)] {
            assert_eq!(
                error_of(with("RuleName", json!(bad))).property,
                "RuleName",
                "{bad:?}"
            );
        }
        assert!(RuleProperties::parse(&with("RuleName", json!("R.u_l-e9"))).is_ok());
        assert!(RuleProperties::parse(&with("AnalyzerName", json!("_service.linked"))).is_ok());
        assert_eq!(
            error_of(with("AnalyzerName", json!("9lives"))).property,
            "AnalyzerName"
        );
    }

    #[test]
    fn analyzer_arn_resolves_to_its_name_in_the_stack_location() {
        let mut props = base();
        props.as_object_mut().unwrap().remove("AnalyzerName");
        props["AnalyzerArn"] =
            json!("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main");
        let p = RuleProperties::parse(&props).unwrap();
        let analyzer = p.analyzer.resolve(&stack()).unwrap();
        assert_eq!(analyzer.name, "main");
        assert_eq!(
            analyzer.arn,
            "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main"
        );
    }

    #[test]
    fn both_analyzer_properties_must_name_one_analyzer() {
        let mut props = base();
        props["AnalyzerArn"] =
            json!("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main");
        let p = RuleProperties::parse(&props).unwrap();
        assert!(p.analyzer.resolve(&stack()).is_ok());
        props["AnalyzerArn"] =
            json!("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/other");
        let p = RuleProperties::parse(&props).unwrap();
        let e = p.analyzer.resolve(&stack()).unwrap_err();
        assert_eq!(e.property, "AnalyzerArn");
    }

    #[test]
    fn apply_rules_properties_parse_rule_names_and_defaults() {
        let p = ApplyRulesProperties::parse(&json!({
            "ServiceToken": "x", "AnalyzerName": "main", "RuleNames": ["a", "b.c"],
            "MaxFindingsToArchive": "10"
        }))
        .unwrap();
        assert_eq!(p.rule_names, Some(vec!["a".to_owned(), "b.c".to_owned()]));
        assert_eq!(p.max_findings_to_archive, Some(10));
        assert_eq!(p.archive_timeout, Duration::from_secs(60));
        let all = ApplyRulesProperties::parse(&json!({"AnalyzerName": "main"})).unwrap();
        assert_eq!(all.rule_names, None);
        for (bad, property) in [
            (
                json!({"AnalyzerName": "main", "RuleNames": []}),
                "RuleNames",
            ),
            (
                json!({"AnalyzerName": "main", "RuleNames": ["a", "a"]}),
                "RuleNames[1]",
            ),
            (
                json!({"AnalyzerName": "main", "RuleNames": ["9a"]}),
                "RuleNames[0]",
            ),
            (
                json!({"AnalyzerName": "main", "RuleNames": "a"}),
                "RuleNames",
            ),
            (json!({"AnalyzerName": "main", "RuleName": "a"}), "RuleName"),
            (json!({"RuleNames": ["a"]}), "AnalyzerName"),
        ] {
            let e = ApplyRulesProperties::parse(&bad).unwrap_err();
            assert_eq!(e.property, property, "{bad}");
        }
    }

    #[test]
    fn analyzer_arn_in_another_account_or_region_is_refused() {
        for arn in [
            "arn:aws:access-analyzer:eu-west-1:123456789012:analyzer/main",
            "arn:aws:access-analyzer:us-east-1:999999999999:analyzer/main",
            "not-an-arn",
        ] {
            let r = AnalyzerRef::Arn(arn.into()).resolve(&stack());
            assert_eq!(r.unwrap_err().property, "AnalyzerArn", "{arn}");
        }
    }
}
