//! SPEC §8.1: `Custom::ApplyArchiveRules` applies rules declared natively, without owning them.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingSeed, FindingStatus};

const TYPE: &str = "Custom::ApplyArchiveRules";

fn props(extra: Value) -> Value {
    let mut props = json!({"ServiceToken": FUNCTION_ARN, "AnalyzerName": ANALYZER});
    for (k, v) in extra.as_object().unwrap() {
        props[k] = v.clone();
    }
    props
}

fn typed(mut event: Value) -> Value {
    event["ResourceType"] = json!(TYPE);
    event
}

/// Two rules declared natively (no apply), and a third the stack does not name.
fn native_rules(h: &Harness) {
    h.emulator.put_archive_rule(
        ANALYZER,
        "roles",
        json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );
    h.emulator.put_archive_rule(
        ANALYZER,
        "public-buckets",
        json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}, "isPublic": {"eq": ["true"]}}),
    );
}

#[tokio::test]
async fn every_rule_of_the_analyzer_is_applied_when_no_names_are_given() {
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    native_rules(&h);

    let response = h
        .send(&typed(h.create_event("Apply", props(json!({})))))
        .await;

    response.assert_success();
    let analyzer_arn = h.emulator.analyzer_arn(ANALYZER);
    assert_eq!(
        response.physical_id,
        format!("apply-archive-rules:{analyzer_arn}")
    );
    assert_eq!(response.data("RulesApplied"), "2");
    assert_eq!(
        response.data("MatchedFindings"),
        "6",
        "4 roles + 2 public buckets"
    );
    assert_eq!(response.data("ArchivedFindings"), "6");
    assert_eq!(response.data("PendingFindings"), "0");
    assert_eq!(response.data("Verified"), "true");
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    assert_eq!(
        h.status_of(&others[1]),
        FindingStatus::Active,
        "the KMS key matches no rule"
    );
    let ops: Vec<String> = h.mutating_calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        ["ApplyArchiveRule", "ApplyArchiveRule"],
        "applied, never written"
    );
    let tokens: Vec<_> = h.mutating_calls().into_iter().map(|(_, t)| t).collect();
    assert_ne!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn only_the_named_rules_are_applied() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    native_rules(&h);

    let event = typed(h.create_event("Apply", props(json!({"RuleNames": ["roles"]}))));
    let response = h.send(&event).await;

    response.assert_success();
    assert_eq!(response.data("RulesApplied"), "1");
    assert_eq!(response.data("RuleNames"), "roles");
    assert_eq!(response.data("ArchivedFindings"), "4");
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    assert_eq!(h.active_ids().len(), 4);
}

#[tokio::test]
async fn a_named_rule_that_does_not_exist_fails_naming_it_with_nothing_applied() {
    let h = Harness::start().await;
    h.seed_findings();
    native_rules(&h);

    let event = typed(h.create_event("Apply", props(json!({"RuleNames": ["roles", "typo"]}))));
    let response = h.send(&event).await;

    response.assert_failed();
    response.assert_reason_contains("archive rule typo does not exist on analyzer main");
    assert!(h.mutating_calls().is_empty());
}

#[tokio::test]
async fn the_limit_counts_all_rules_together() {
    let h = Harness::start().await;
    h.seed_findings();
    native_rules(&h);

    let event = typed(h.create_event("Apply", props(json!({"MaxFindingsToArchive": "5"}))));
    let response = h.send(&event).await;

    response.assert_failed();
    response.assert_reason_contains("6 ACTIVE findings match the 2 archive rules");
    assert!(h.mutating_calls().is_empty());
    assert_eq!(h.active_ids().len(), 8);
}

#[tokio::test]
async fn an_update_re_applies_and_delete_leaves_the_rules_alone() {
    let h = Harness::start().await;
    h.seed_findings();
    native_rules(&h);
    let created = h
        .send(&typed(
            h.create_event("Apply", props(json!({"Revision": "1"}))),
        ))
        .await;
    created.assert_success();
    let late = h.emulator.add_finding(
        ANALYZER,
        FindingSeed::new("AWS::IAM::Role", "arn:aws:iam::123456789012:role/reopened"),
    );
    h.emulator
        .set_finding_status(ANALYZER, &late.id, FindingStatus::Active);

    let update = typed(h.update_event(
        "Apply",
        &created.physical_id,
        props(json!({"Revision": "2"})),
        props(json!({"Revision": "1"})),
    ));
    let updated = h.send(&update).await;
    updated.assert_success();
    assert_eq!(updated.physical_id, created.physical_id);
    assert_eq!(updated.data("ArchivedFindings"), "1");
    assert_eq!(h.status_of(&late.id), FindingStatus::Archived);

    h.emulator.clear_requests();
    let deleted = h
        .send(&typed(h.delete_event(
            "Apply",
            &created.physical_id,
            json!({}),
        )))
        .await;
    deleted.assert_success();
    assert!(h.emulator.requests().is_empty(), "Delete makes no call");
    assert_eq!(h.emulator.archive_rules(ANALYZER).len(), 2);
}

#[tokio::test]
async fn a_missing_analyzer_and_bad_properties_fail_with_actionable_reasons() {
    let h = Harness::start().await;
    let missing = typed(h.create_event("Apply", json!({"AnalyzerName": "nope"})));
    let response = h.send(&missing).await;
    response.assert_failed();
    response.assert_reason_contains("analyzer nope was not found");

    let wrong_property = typed(h.create_event("Apply", props(json!({"RuleName": "roles"}))));
    let response = h.send(&wrong_property).await;
    response.assert_failed();
    response.assert_reason_contains("property RuleName");
    assert!(h.mutating_calls().is_empty());
}

#[tokio::test]
async fn an_analyzer_without_rules_is_nothing_to_apply() {
    let h = Harness::start().await;
    h.seed_findings();
    let response = h
        .send(&typed(h.create_event("Apply", props(json!({})))))
        .await;
    response.assert_success();
    assert_eq!(response.data("RulesApplied"), "0");
    assert_eq!(response.data("MatchedFindings"), "0");
    assert!(h.mutating_calls().is_empty());
}

/// The service model lists no ResourceNotFoundException for ListArchiveRules: an empty list for an
/// analyzer that does not exist must not read as "no rules" (issue 9, item 9).
#[tokio::test]
async fn an_empty_rule_list_of_a_missing_analyzer_is_checked_with_get_analyzer() {
    let h = Harness::start().await;
    h.emulator.answer_empty_rule_lists_for_missing_analyzers();

    let missing = typed(h.create_event("Apply", json!({"AnalyzerName": "nope"})));
    let response = h.send(&missing).await;

    response.assert_failed();
    assert!(
        response.reason.contains("analyzer nope was not found")
            && response.reason.contains("ResourceNotFoundException"),
        "{}",
        response.reason
    );
    assert_eq!(h.operations(), ["ListArchiveRules", "GetAnalyzer"]);

    // An analyzer that exists and has no rules is still nothing to apply.
    h.emulator.clear_requests();
    let empty = h
        .send(&typed(h.create_event("Apply", props(json!({})))))
        .await;
    empty.assert_success();
    assert_eq!(empty.data("RulesApplied"), "0");
    assert_eq!(h.operations(), ["ListArchiveRules", "GetAnalyzer"]);
}

/// Once the rules are applied, a read that fails after its retries ends the wait with SUCCESS,
/// `Verified` "false" and a reason naming the error (issue 9, item 1).
#[tokio::test]
async fn a_read_that_fails_after_the_apply_answers_success_unverified() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    native_rules(&h);
    // Two counts (one per rule) answer; every attempt of the reads after the apply is refused.
    h.emulator
        .fail_after("ListFindingsV2", 2, 2 * READ_ATTEMPTS, Fault::Internal);

    let response = h
        .send(&typed(h.create_event("Apply", props(json!({})))))
        .await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "6");
    assert_eq!(response.data("ArchivedFindings"), "0");
    assert_eq!(response.data("PendingFindings"), "6");
    assert_eq!(response.data("Verified"), "false");
    assert!(
        response.reason.contains("not verified")
            && response.reason.contains("InternalServerException"),
        "{}",
        response.reason
    );
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived, "the apply stands");
    }
}

/// A read after the apply that hangs until the time budget runs out: the deadline guard knows the
/// rules were applied and answers SUCCESS, not FAILED (issue 9, item 1; SPEC §4).
#[tokio::test]
async fn a_read_that_hangs_after_the_apply_is_answered_success_by_the_deadline_guard() {
    let mut settings = test_settings();
    settings.timeout_margin = Duration::from_millis(1500);
    let h = Harness::start_with(settings).await;
    h.seed_findings();
    native_rules(&h);
    h.emulator.fail_after("ListFindingsV2", 2, 1, Fault::Hang);

    let event = typed(h.create_event("Apply", props(json!({}))));
    let result = h.invoke_with(&event, Duration::from_secs(3)).await;

    assert!(result.is_ok(), "{result:?}");
    let response = h.response_for(&event);
    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "6");
    assert_eq!(response.data("ArchivedFindings"), "0");
    assert_eq!(response.data("PendingFindings"), "6");
    assert_eq!(response.data("Verified"), "false");
    response.assert_reason_contains("time budget");
}
