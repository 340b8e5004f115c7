//! SPEC §3, branch by branch: the real SDK over HTTP to the emulator, asserting the response
//! CloudFormation receives, the calls the emulator recorded and the state it ends in.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use testkit::access_analyzer::{FindingSeed, FindingStatus};

#[tokio::test]
async fn create_archives_exactly_the_matching_active_findings_and_the_rule_catches_new_ones() {
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();

    let response = h
        .create_rule("IgnoreVendorRoles", "vendor-roles", roles_filter())
        .await;

    response.assert_success();
    assert_eq!(response.physical_id, h.rule_arn("vendor-roles"));
    assert_eq!(response.data("Arn"), h.rule_arn("vendor-roles"));
    assert_eq!(
        response.data("AnalyzerArn"),
        h.emulator.analyzer_arn(ANALYZER)
    );
    assert_eq!(response.data("AnalyzerName"), ANALYZER);
    assert_eq!(response.data("RuleName"), "vendor-roles");
    assert_eq!(response.data("MatchedFindings"), "4");
    assert_eq!(response.data("ArchivedFindings"), "4");
    assert_eq!(response.data("PendingFindings"), "0");
    assert_eq!(response.data("Verified"), "true");
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    let later_role = h.emulator.add_finding(
        ANALYZER,
        FindingSeed::new("AWS::IAM::Role", "arn:aws:iam::123456789012:role/late"),
    );
    assert_eq!(
        later_role.status,
        FindingStatus::Archived,
        "the rule itself archives new findings"
    );
    let later_bucket = h.emulator.add_finding(
        ANALYZER,
        FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::late"),
    );
    assert_eq!(later_bucket.status, FindingStatus::Active);
}

#[tokio::test]
async fn a_plain_create_archive_rule_leaves_existing_findings_active() {
    // The problem the product solves, pinned against the emulator: CreateArchiveRule alone
    // (what the CLI and the native CloudFormation types do) never touches existing findings.
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    let client = sdk_client(&h.emulator.endpoint_url());
    let filter = aws_sdk_accessanalyzer::types::Criterion::builder()
        .eq("AWS::IAM::Role")
        .build();
    client
        .create_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("native")
        .filter("resourceType", filter)
        .send()
        .await
        .unwrap();
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }
}

#[tokio::test]
async fn count_and_create_run_and_the_apply_follows() {
    let h = Harness::start().await;
    h.seed_findings();
    h.create_rule("R", "r", roles_filter())
        .await
        .assert_success();
    let ops = h.operations();
    // Create and count overlap (either order), then apply, then one verifying read.
    assert_eq!(ops.len(), 4, "{ops:?}");
    let mut first_two = ops[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["CreateArchiveRule", "ListFindingsV2"]);
    assert_eq!(ops[2..], ["ApplyArchiveRule", "ListFindingsV2"]);
    let requests = h.emulator.requests_for("ApplyArchiveRule");
    assert_eq!(
        requests[0].params["analyzerArn"],
        json!(h.emulator.analyzer_arn(ANALYZER)),
        "ApplyArchiveRule takes the analyzer ARN"
    );
    let counts = h.emulator.requests_for("ListFindingsV2");
    assert_eq!(
        counts[0].params["filter"]["status"]["eq"],
        json!(["ACTIVE"])
    );
    assert_eq!(
        counts[0].params["filter"]["resourceType"]["eq"],
        json!(["AWS::IAM::Role"])
    );
}

#[tokio::test]
async fn apply_to_existing_findings_false_counts_but_archives_nothing() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    let mut props = rule("r", roles_filter());
    props["ApplyToExistingFindings"] = json!("false");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "4");
    assert_eq!(response.data("ArchivedFindings"), "0");
    assert_eq!(response.data("PendingFindings"), "4");
    assert_eq!(response.data("Verified"), "false");
    assert!(h.emulator.requests_for("ApplyArchiveRule").is_empty());
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }
}

#[tokio::test]
async fn archive_timeout_zero_applies_without_reading_back() {
    let h = Harness::start().await;
    h.seed_findings();
    h.emulator.set_apply_delay(Duration::from_millis(300));
    let mut props = rule("r", roles_filter());
    props["ArchiveTimeoutSeconds"] = json!("0");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "4");
    assert_eq!(response.data("ArchivedFindings"), "0");
    assert_eq!(response.data("PendingFindings"), "4");
    assert_eq!(response.data("Verified"), "false");
    assert_eq!(h.emulator.requests_for("ApplyArchiveRule").len(), 1);
    assert_eq!(
        h.emulator.requests_for("ListFindingsV2").len(),
        1,
        "only the count"
    );
}

#[tokio::test]
async fn an_asynchronous_apply_is_waited_for() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    h.emulator.set_apply_delay(Duration::from_millis(400));

    let response = h.create_rule("R", "r", roles_filter()).await;

    response.assert_success();
    assert_eq!(response.data("ArchivedFindings"), "4");
    assert_eq!(response.data("PendingFindings"), "0");
    assert_eq!(response.data("Verified"), "true");
    assert!(
        h.emulator.requests_for("ListFindingsV2").len() > 2,
        "polled until archived"
    );
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn findings_still_active_when_the_wait_ends_are_reported_not_failed() {
    let h = Harness::start().await;
    h.seed_findings();
    h.emulator.set_apply_delay(Duration::from_secs(30));
    let mut props = rule("r", roles_filter());
    props["ArchiveTimeoutSeconds"] = json!(1);

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "4");
    assert_eq!(response.data("ArchivedFindings"), "0");
    assert_eq!(response.data("PendingFindings"), "4");
    assert_eq!(response.data("Verified"), "true");
    response.assert_reason_contains("4 still ACTIVE");
}

#[tokio::test]
async fn a_finding_resolved_meanwhile_counts_as_archived() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    h.emulator.set_apply_delay(Duration::from_secs(30));
    // One matched finding is resolved by the service before the apply takes effect.
    let resolved = roles[0].clone();
    let emulator = h.emulator.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emulator.set_finding_status(ANALYZER, &resolved, FindingStatus::Resolved);
    });
    let mut props = rule("r", roles_filter());
    props["ArchiveTimeoutSeconds"] = json!("1");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "4");
    assert_eq!(response.data("ArchivedFindings"), "1");
    assert_eq!(response.data("PendingFindings"), "3");
}

#[tokio::test]
async fn an_identical_existing_rule_is_adopted_without_changing_it() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    h.emulator.put_archive_rule(
        ANALYZER,
        "r",
        json!({"resourceType": {"eq": ["AWS::IAM::Role", "AWS::IAM::Role"]}}),
    );
    let declared = json!([{"Property": "resourceType", "Eq": ["AWS::IAM::Role"]}]);

    let response = h.send(&h.create_event("R", rule("r", declared))).await;

    response.assert_success();
    assert_eq!(response.physical_id, h.rule_arn("r"));
    assert!(h.emulator.requests_for("UpdateArchiveRule").is_empty());
    assert_eq!(h.emulator.requests_for("GetArchiveRule").len(), 1);
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn a_different_existing_rule_fails_the_create_and_is_left_exactly_as_it_was() {
    let h = Harness::start().await;
    let (_, others) = h.seed_findings();
    let existing = json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}});
    h.emulator.put_archive_rule(ANALYZER, "r", existing.clone());

    let response = h.create_rule("R", "r", roles_filter()).await;

    response.assert_failed();
    response.assert_reason_contains("archive rule r already exists on analyzer main");
    response.assert_reason_contains("AdoptExisting");
    assert_ne!(
        response.physical_id,
        h.rule_arn("r"),
        "never an id naming someone else's rule"
    );
    assert!(!response.physical_id.is_empty());
    assert_eq!(h.rule_filter("r"), Some(existing));
    assert_eq!(
        h.mutating_calls()
            .into_iter()
            .map(|(op, _)| op)
            .collect::<Vec<_>>(),
        ["CreateArchiveRule"],
        "nothing but the refused create"
    );
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    // CloudFormation's rollback Delete of the marker touches nothing.
    h.emulator.clear_requests();
    h.send(&h.delete_event("R", &response.physical_id, rule("r", roles_filter())))
        .await
        .assert_success();
    assert!(h.emulator.requests().is_empty());
    assert!(h.rule_filter("r").is_some());
}

#[tokio::test]
async fn adopt_existing_takes_over_a_different_rule() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    h.emulator.put_archive_rule(
        ANALYZER,
        "r",
        json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}}),
    );
    let mut props = rule("r", roles_filter());
    props["AdoptExisting"] = json!("true");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
    assert_eq!(h.emulator.requests_for("UpdateArchiveRule").len(), 1);
    assert_eq!(response.data("ArchivedFindings"), "4");
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn a_create_that_fails_after_creating_the_rule_answers_its_arn_so_rollback_removes_it() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    h.deny_next("ApplyArchiveRule");

    let response = h.create_rule("R", "r", roles_filter()).await;

    response.assert_failed();
    assert_eq!(response.physical_id, h.rule_arn("r"));
    response.assert_reason_contains("applying archive rule r on analyzer main");
    response.assert_reason_contains("AccessDeniedException");
    response.assert_reason_contains("AWS request id");
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    h.send(&h.delete_event("R", &response.physical_id, rule("r", roles_filter())))
        .await
        .assert_success();
    assert_eq!(
        h.rule_filter("r"),
        None,
        "rollback removed the rule this request created"
    );
}

#[tokio::test]
async fn a_create_that_fails_after_adopting_an_identical_rule_answers_a_marker() {
    let h = Harness::start().await;
    h.seed_findings();
    h.emulator.put_archive_rule(
        ANALYZER,
        "r",
        json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );
    h.deny_next("ApplyArchiveRule");

    let response = h.create_rule("R", "r", roles_filter()).await;

    response.assert_failed();
    assert_ne!(response.physical_id, h.rule_arn("r"));
    h.emulator.clear_requests();
    h.send(&h.delete_event("R", &response.physical_id, rule("r", roles_filter())))
        .await
        .assert_success();
    assert!(
        h.emulator.requests().is_empty(),
        "the marker makes Delete do nothing"
    );
    assert!(
        h.rule_filter("r").is_some(),
        "the rule that was there before stays"
    );
}

#[tokio::test]
async fn a_missing_analyzer_is_reported_by_name_with_nothing_created() {
    let h = Harness::start().await;
    let mut props = rule("r", roles_filter());
    props["AnalyzerName"] = json!("not-there");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_failed();
    response.assert_reason_contains("analyzer not-there was not found");
    response.assert_reason_contains("ResourceNotFoundException");
    assert!(!response.physical_id.starts_with("arn:"));
    assert!(h.emulator.requests_for("ApplyArchiveRule").is_empty());
}

#[tokio::test]
async fn more_matches_than_max_findings_to_archive_fails_with_nothing_written() {
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();
    let mut props = rule("r", roles_filter());
    props["MaxFindingsToArchive"] = json!("3");

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_failed();
    response.assert_reason_contains("4 ACTIVE findings");
    response.assert_reason_contains("MaxFindingsToArchive (3)");
    assert!(h.mutating_calls().is_empty(), "{:?}", h.mutating_calls());
    assert_eq!(h.rule_filter("r"), None);
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }
}

#[tokio::test]
async fn with_max_findings_to_archive_the_count_comes_before_the_create() {
    let h = Harness::start().await;
    h.seed_findings();
    let mut props = rule("r", roles_filter());
    props["MaxFindingsToArchive"] = json!(4);

    let response = h.send(&h.create_event("R", props)).await;

    response.assert_success();
    assert_eq!(response.data("ArchivedFindings"), "4");
    assert_eq!(h.operations()[..2], ["ListFindingsV2", "CreateArchiveRule"]);
}

#[tokio::test]
async fn update_in_place_sets_the_new_filter_applies_it_and_keeps_the_id() {
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    let created = h.create_rule("R", "r", roles_filter()).await;
    h.emulator.clear_requests();

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("r", roles_filter()),
        ("r", buckets_filter()),
    );
    let response = h.send(&update).await;

    response.assert_success();
    assert_eq!(response.physical_id, created.physical_id);
    assert_eq!(h.rule_filter("r"), Some(buckets_rule_json()));
    assert_eq!(response.data("MatchedFindings"), "2");
    assert_eq!(response.data("ArchivedFindings"), "2");
    assert!(h.emulator.requests_for("CreateArchiveRule").is_empty());
    assert_eq!(h.emulator.requests_for("UpdateArchiveRule").len(), 1);
    // Findings stay archived; the buckets are now archived too.
    for id in roles.iter().chain(&others[..1]) {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn changing_only_the_revision_re_applies_the_rule() {
    let h = Harness::start().await;
    h.seed_findings();
    let props = rule("r", roles_filter());
    let created = h.send(&h.create_event("R", props.clone())).await;
    let late = h.emulator.add_finding(
        ANALYZER,
        FindingSeed::new(
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/before-rule-fix",
        )
        .status(FindingStatus::Active),
    );
    // Put the late finding back to ACTIVE as if someone unarchived it by hand.
    h.emulator
        .set_finding_status(ANALYZER, &late.id, FindingStatus::Active);
    let mut revised = props.clone();
    revised["Revision"] = json!("2");

    let response = h
        .send(&h.update_event("R", &created.physical_id, revised, props))
        .await;

    response.assert_success();
    assert_eq!(response.data("MatchedFindings"), "1");
    assert_eq!(h.status_of(&late.id), FindingStatus::Archived);
}

#[tokio::test]
async fn update_in_place_re_creates_a_rule_that_vanished() {
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "r", roles_filter()).await;
    h.delete_out_of_band("r").await;
    h.emulator.clear_requests();

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("r", roles_filter()),
        ("r", buckets_filter()),
    );
    let response = h.send(&update).await;

    response.assert_success();
    assert_eq!(response.physical_id, created.physical_id);
    response.assert_reason_contains("re-created");
    assert_eq!(h.rule_filter("r"), Some(buckets_rule_json()));
    let ops: Vec<_> = h.mutating_calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        ["UpdateArchiveRule", "CreateArchiveRule", "ApplyArchiveRule"]
    );
}

#[tokio::test]
async fn the_analyzer_name_and_its_arn_are_the_same_identity() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    let mut by_arn = rule("r", buckets_filter());
    by_arn.as_object_mut().unwrap().remove("AnalyzerName");
    by_arn["AnalyzerArn"] = json!(h.emulator.analyzer_arn(ANALYZER));
    h.emulator.clear_requests();

    let response = h
        .send(&h.update_event("R", &created.physical_id, by_arn, rule("r", roles_filter())))
        .await;

    response.assert_success();
    assert_eq!(
        response.physical_id, created.physical_id,
        "in place, not a replacement"
    );
    assert!(h.emulator.requests_for("CreateArchiveRule").is_empty());
}

#[tokio::test]
async fn a_new_rule_name_replaces_the_rule_and_leaves_the_old_one_to_cleanup() {
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "old", roles_filter()).await;
    h.emulator.clear_requests();

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("old", roles_filter()),
        ("new", buckets_filter()),
    );
    let response = h.send(&update).await;

    response.assert_success();
    assert_eq!(response.physical_id, h.rule_arn("new"));
    assert!(
        h.rule_filter("old").is_some(),
        "the old rule is not touched by the update"
    );
    assert!(h.emulator.requests_for("DeleteArchiveRule").is_empty());
    assert_eq!(response.data("ArchivedFindings"), "2");

    // CloudFormation's cleanup deletes the old physical id.
    h.send(&h.delete_event("R", &created.physical_id, rule("old", roles_filter())))
        .await
        .assert_success();
    assert_eq!(h.rule_filter("old"), None);
    assert!(h.rule_filter("new").is_some());
}

#[tokio::test]
async fn a_replacement_that_fails_after_creating_the_new_rule_removes_it() {
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "old", roles_filter()).await;
    h.deny_next("ApplyArchiveRule");

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("old", roles_filter()),
        ("new", buckets_filter()),
    );
    let response = h.send(&update).await;

    response.assert_failed();
    assert_eq!(
        response.physical_id, created.physical_id,
        "FAILED with the incoming id"
    );
    response.assert_reason_contains("AccessDeniedException");
    response.assert_reason_contains("deleted again");
    assert_eq!(
        h.rule_filter("new"),
        None,
        "the half-made replacement is gone"
    );
    assert_eq!(h.rule_filter("old"), Some(roles_rule_json()));
}

#[tokio::test]
async fn a_replacement_onto_a_foreign_rule_fails_and_touches_neither_rule() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "old", roles_filter()).await;
    let foreign = json!({"resourceType": {"eq": ["AWS::KMS::Key"]}});
    h.emulator
        .put_archive_rule(ANALYZER, "taken", foreign.clone());

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("old", roles_filter()),
        ("taken", buckets_filter()),
    );
    let response = h.send(&update).await;

    response.assert_failed();
    assert_eq!(response.physical_id, created.physical_id);
    assert_eq!(h.rule_filter("taken"), Some(foreign));
    assert!(h.rule_filter("old").is_some());
}

#[tokio::test]
async fn a_failed_in_place_update_is_undone_by_the_rollback_update() {
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "r", roles_filter()).await;
    h.deny_next("ApplyArchiveRule");

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("r", roles_filter()),
        ("r", buckets_filter()),
    );
    let failed = h.send(&update).await;
    failed.assert_failed();
    assert_eq!(failed.physical_id, created.physical_id);

    // CloudFormation rolls back with the old properties as the new ones.
    let rollback = h.change_event(
        "R",
        &created.physical_id,
        ("r", buckets_filter()),
        ("r", roles_filter()),
    );
    h.send(&rollback).await.assert_success();
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
}

#[tokio::test]
async fn delete_works_from_the_physical_id_alone() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    // Properties a Create would refuse are not even read.
    let junk = json!({"ServiceToken": FUNCTION_ARN, "Bogus": true, "Filter": "nonsense"});

    let response = h
        .send(&h.delete_event("R", &created.physical_id, junk))
        .await;

    response.assert_success();
    assert_eq!(response.physical_id, created.physical_id);
    assert_eq!(h.rule_filter("r"), None);
    let deletes = h.emulator.requests_for("DeleteArchiveRule");
    assert_eq!(deletes.len(), 1);
    assert!(
        deletes[0].client_token.is_some(),
        "DeleteArchiveRule carries its client token"
    );
}

#[tokio::test]
async fn delete_of_a_rule_or_analyzer_already_gone_succeeds() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    let delete = h.delete_event("R", &created.physical_id, rule("r", roles_filter()));
    h.send(&delete).await.assert_success();

    let again = h.delete_event("R", &created.physical_id, rule("r", roles_filter()));
    h.send(&again).await.assert_success();

    h.emulator.remove_analyzer(ANALYZER);
    let gone = h.delete_event("R", &created.physical_id, rule("r", roles_filter()));
    h.send(&gone).await.assert_success();
}

#[tokio::test]
async fn delete_of_an_id_that_is_not_an_archive_rule_arn_makes_no_call() {
    let h = Harness::start().await;
    for id in [
        "applied-archive-rule:none:R:5f1c",
        "security-baseline-R-1A2B3C4D5E6F",
        "2026/11/28/[$LATEST]0123456789abcdef",
    ] {
        let response = h.send(&h.delete_event("R", id, json!({}))).await;
        response.assert_success();
        assert_eq!(response.physical_id, id);
    }
    assert!(h.emulator.requests().is_empty());
}

#[tokio::test]
async fn a_failed_delete_keeps_the_physical_id_and_names_the_error() {
    let h = Harness::start().await;
    let created = h.create_rule("R", "r", roles_filter()).await;
    h.deny_next("DeleteArchiveRule");

    let response = h
        .send(&h.delete_event("R", &created.physical_id, json!({})))
        .await;

    response.assert_failed();
    assert_eq!(response.physical_id, created.physical_id);
    response.assert_reason_contains("deleting archive rule r on analyzer main");
    assert!(h.rule_filter("r").is_some());
}

#[tokio::test]
async fn client_tokens_are_deterministic_per_event_and_distinct_per_call() {
    let h = Harness::start().await;
    h.seed_findings();
    let event = h.create_event("R", rule("r", roles_filter()));

    h.invoke_with(&event, Duration::from_secs(60))
        .await
        .unwrap();
    let first = h.mutating_calls();
    h.emulator.clear_requests();
    // Lambda delivers the same event again.
    h.invoke_with(&event, Duration::from_secs(60))
        .await
        .unwrap();
    let second = h.mutating_calls();

    let ops: Vec<_> = first.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(ops, ["CreateArchiveRule", "ApplyArchiveRule"]);
    assert_eq!(
        first, second,
        "the redelivered event repeats the same calls with the same tokens"
    );
    assert!(first.iter().all(|(_, token)| token.is_some()));
    assert_ne!(
        first[0].1, first[1].1,
        "two calls of one event never share a token"
    );

    let responses = h
        .receiver
        .responses_for(event["RequestId"].as_str().unwrap());
    assert_eq!(responses.len(), 2);
    for r in responses {
        let r = CfnResponse::from_received(r);
        r.assert_success();
        assert_eq!(r.physical_id, h.rule_arn("r"));
    }
    assert_eq!(h.emulator.archive_rules(ANALYZER).len(), 1);

    let other = h.create_event("R", rule("r2", roles_filter()));
    h.emulator.clear_requests();
    h.invoke_with(&other, Duration::from_secs(60))
        .await
        .unwrap();
    let tokens: Vec<_> = h.mutating_calls().into_iter().map(|(_, t)| t).collect();
    assert!(!tokens.contains(&first[0].1), "another event, other tokens");
}
