//! SPEC §2, every validation rule as bad input: a FAILED response whose reason names the property,
//! on Create and on Update, and no state-changing call reaching Access Analyzer.

mod common;

use common::*;
use serde_json::{json, Value};

/// (what is wrong, the property path the reason must name, the bad properties)
fn bad_inputs() -> Vec<(&'static str, &'static str, Value)> {
    let with = |key: &str, value: Value| {
        let mut props = rule("r", roles_filter());
        props[key] = value;
        props
    };
    let without = |key: &str| {
        let mut props = rule("r", roles_filter());
        props.as_object_mut().unwrap().remove(key);
        props
    };
    let arn_only = |arn: &str| {
        let mut props = without("AnalyzerName");
        props["AnalyzerArn"] = json!(arn);
        props
    };
    let twenty_one: Vec<String> = (0..21).map(|i| format!("v{i}")).collect();
    vec![
        ("no analyzer", "AnalyzerName", without("AnalyzerName")),
        (
            "analyzer name pattern",
            "AnalyzerName",
            with("AnalyzerName", json!("1st-analyzer")),
        ),
        (
            "empty analyzer name",
            "AnalyzerName",
            with("AnalyzerName", json!("")),
        ),
        (
            "analyzer ARN malformed",
            "AnalyzerArn",
            arn_only("arn:aws:iam::123456789012:role/x"),
        ),
        (
            "analyzer ARN in another region",
            "AnalyzerArn",
            arn_only("arn:aws:access-analyzer:eu-west-1:123456789012:analyzer/main"),
        ),
        (
            "analyzer ARN in another account",
            "AnalyzerArn",
            arn_only("arn:aws:access-analyzer:us-east-1:210987654321:analyzer/main"),
        ),
        (
            "name and ARN disagree",
            "AnalyzerArn",
            with(
                "AnalyzerArn",
                json!("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/other"),
            ),
        ),
        ("no rule name", "RuleName", without("RuleName")),
        (
            "rule name starts with a digit",
            "RuleName",
            with("RuleName", json!("9rule")),
        ),
        (
            "rule name starts with _",
            "RuleName",
            with("RuleName", json!("_rule")),
        ),
        (
            "rule name has a space",
            "RuleName",
            with("RuleName", json!("my rule")),
        ),
        (
            "rule name too long",
            "RuleName",
            with("RuleName", json!("r".repeat(256))),
        ),
        (
            "rule name not a string",
            "RuleName",
            with("RuleName", json!(["r"])),
        ),
        ("no filter", "Filter", without("Filter")),
        (
            "filter is a string",
            "Filter",
            with("Filter", json!("resourceType=AWS::IAM::Role")),
        ),
        ("empty filter map", "Filter", with("Filter", json!({}))),
        ("empty filter list", "Filter", with("Filter", json!([]))),
        (
            "empty key",
            "Filter",
            with("Filter", json!({"": {"Eq": ["x"]}})),
        ),
        (
            "duplicate key",
            "Filter[1]",
            with(
                "Filter",
                json!([{"Property": "resource", "Eq": ["a"]}, {"Property": "resource", "Neq": ["b"]}]),
            ),
        ),
        (
            "list item without Property",
            "Filter[0].Property",
            with("Filter", json!([{"Eq": ["a"]}])),
        ),
        (
            "status key",
            "Filter.status",
            with("Filter", json!({"status": {"Eq": ["ACTIVE"]}})),
        ),
        (
            "id key",
            "Filter[0]",
            with("Filter", json!([{"Property": "id", "Eq": ["abc"]}])),
        ),
        (
            "criterion without operator",
            "Filter.resource",
            with("Filter", json!({"resource": {}})),
        ),
        (
            "unknown operator",
            "Filter.resource.Equals",
            with("Filter", json!({"resource": {"Equals": ["a"]}})),
        ),
        (
            "same operator twice",
            "Filter.resource.Eq",
            with("Filter", json!({"resource": {"Eq": ["a"], "eq": ["b"]}})),
        ),
        (
            "empty value list",
            "Filter.resource.Eq",
            with("Filter", json!({"resource": {"Eq": []}})),
        ),
        (
            "21 values",
            "Filter.resource.Neq",
            with("Filter", json!({"resource": {"Neq": twenty_one}})),
        ),
        (
            "empty value",
            "Filter.resource.Contains[0]",
            with("Filter", json!({"resource": {"Contains": [""]}})),
        ),
        (
            "values not a list",
            "Filter.resource.Eq",
            with("Filter", json!({"resource": {"Eq": "a"}})),
        ),
        (
            "Exists not a boolean",
            "Filter.error.Exists",
            with("Filter", json!({"error": {"Exists": "yes"}})),
        ),
        (
            "ApplyToExistingFindings not a boolean",
            "ApplyToExistingFindings",
            with("ApplyToExistingFindings", json!("sometimes")),
        ),
        (
            "AdoptExisting not a boolean",
            "AdoptExisting",
            with("AdoptExisting", json!("1")),
        ),
        (
            "ArchiveTimeoutSeconds above 900",
            "ArchiveTimeoutSeconds",
            with("ArchiveTimeoutSeconds", json!("901")),
        ),
        (
            "ArchiveTimeoutSeconds negative",
            "ArchiveTimeoutSeconds",
            with("ArchiveTimeoutSeconds", json!(-5)),
        ),
        (
            "ArchiveTimeoutSeconds not a number",
            "ArchiveTimeoutSeconds",
            with("ArchiveTimeoutSeconds", json!("sixty")),
        ),
        (
            "MaxFindingsToArchive negative",
            "MaxFindingsToArchive",
            with("MaxFindingsToArchive", json!("-1")),
        ),
        (
            "MaxFindingsToArchive fractional",
            "MaxFindingsToArchive",
            with("MaxFindingsToArchive", json!(2.5)),
        ),
        (
            "Revision not a scalar",
            "Revision",
            with("Revision", json!({"v": 1})),
        ),
        (
            "ServiceTimeout not a number",
            "ServiceTimeout",
            with("ServiceTimeout", json!("soon")),
        ),
        ("unknown property", "Filters", with("Filters", json!({}))),
        (
            "camelCase property name",
            "ruleName",
            with("ruleName", json!("r")),
        ),
    ]
}

#[tokio::test]
async fn every_bad_input_is_failed_on_create_naming_the_property_with_nothing_changed() {
    let h = Harness::start().await;
    h.seed_findings();
    for (case, property, props) in bad_inputs() {
        let response = h.send(&h.create_event("R", props)).await;
        response.assert_failed();
        assert!(
            response.reason.contains(&format!("property {property}")),
            "{case}: reason should name {property}: {}",
            response.reason
        );
        assert!(!response.physical_id.is_empty(), "{case}");
        assert!(
            !response.physical_id.starts_with("arn:"),
            "{case}: a marker, not an ARN"
        );
    }
    assert!(h.mutating_calls().is_empty(), "{:?}", h.mutating_calls());
    assert!(h.emulator.archive_rules(ANALYZER).is_empty());
    assert_eq!(h.active_ids().len(), 8);
}

#[tokio::test]
async fn every_bad_input_is_failed_on_update_keeping_the_physical_id() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    h.emulator.clear_requests();
    for (case, property, props) in bad_inputs() {
        let event = h.update_event("R", &created.physical_id, props, rule("r", roles_filter()));
        let response = h.send(&event).await;
        response.assert_failed();
        assert!(
            response.reason.contains(&format!("property {property}")),
            "{case}: reason should name {property}: {}",
            response.reason
        );
        assert_eq!(response.physical_id, created.physical_id, "{case}");
    }
    assert!(h.mutating_calls().is_empty(), "{:?}", h.mutating_calls());
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
}

#[tokio::test]
async fn old_resource_properties_are_never_validated() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    let garbage = json!({"Filter": "not a filter", "Unknown": 1});

    let event = h.update_event(
        "R",
        &created.physical_id,
        rule("r", buckets_filter()),
        garbage,
    );
    h.send(&event).await.assert_success();
}

#[tokio::test]
async fn both_filter_shapes_and_operator_cases_create_the_same_rule() {
    let h = Harness::start().await;
    let shapes = [
        json!({"resourceType": {"Eq": ["AWS::IAM::Role"]}, "isPublic": {"eq": ["false"]}}),
        json!([{"Property": "isPublic", "Eq": ["false"]}, {"Property": "resourceType", "eq": ["AWS::IAM::Role"]}]),
    ];
    for (i, filter) in shapes.into_iter().enumerate() {
        let name = format!("shape{i}");
        h.send(&h.create_event(&name, rule(&name, filter)))
            .await
            .assert_success();
    }
    assert_eq!(h.rule_filter("shape0"), h.rule_filter("shape1"));
    assert_eq!(
        h.rule_filter("shape0"),
        Some(json!({"resourceType": {"eq": ["AWS::IAM::Role"]}, "isPublic": {"eq": ["false"]}}))
    );
}
