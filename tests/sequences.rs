//! CloudFormation's own event sequences, played the way CloudFormation plays them (issue 5 §2):
//! the events of one stack operation in their order, with the PhysicalResourceId CloudFormation
//! carries from one to the next, asserting the responses, the recorded calls and the end state.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::json;
use testkit::access_analyzer::{Fault, FindingStatus};

fn ops(calls: &[(String, Option<String>)]) -> Vec<&str> {
    calls.iter().map(|(op, _)| op.as_str()).collect()
}

fn rule_names(h: &Harness) -> BTreeSet<String> {
    h.emulator
        .archive_rules(ANALYZER)
        .into_iter()
        .map(|r| r.name)
        .collect()
}

fn archived_by(h: &Harness, rule: &str) -> usize {
    h.emulator
        .findings(ANALYZER)
        .into_iter()
        .filter(|f| f.status == FindingStatus::Archived && f.archived_by.as_deref() == Some(rule))
        .count()
}

#[tokio::test]
async fn create_then_update_with_replacement_then_cleanup_delete_of_the_old_id_then_stack_delete() {
    // Pins: a replacement returns the new ARN and leaves the old rule to the cleanup Delete
    // CloudFormation sends for the old id once the update is complete.
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();

    let created = h.create_rule("R", "old", roles_filter()).await;
    created.assert_success();
    assert_eq!(created.physical_id, h.rule_arn("old"));

    h.emulator.clear_requests();
    let replaced = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("old", roles_filter()),
            ("new", buckets_filter()),
        ))
        .await;
    replaced.assert_success();
    assert_eq!(replaced.physical_id, h.rule_arn("new"));
    assert_eq!(replaced.data("ArchivedFindings"), "2");
    assert_eq!(
        ops(&h.mutating_calls()),
        ["CreateArchiveRule", "ApplyArchiveRule"],
        "the update only creates and applies the new rule"
    );
    assert_eq!(rule_names(&h), BTreeSet::from(["old".into(), "new".into()]));

    // UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: the old id is deleted.
    h.emulator.clear_requests();
    let cleanup = h
        .send(&h.delete_event("R", &created.physical_id, rule("old", roles_filter())))
        .await;
    cleanup.assert_success();
    assert_eq!(cleanup.physical_id, created.physical_id);
    assert_eq!(ops(&h.mutating_calls()), ["DeleteArchiveRule"]);
    assert_eq!(rule_names(&h), BTreeSet::from(["new".into()]));
    assert_eq!(h.rule_filter("new"), Some(buckets_rule_json()));

    // Stack delete.
    h.send(&h.delete_event("R", &replaced.physical_id, rule("new", buckets_filter())))
        .await
        .assert_success();
    assert!(rule_names(&h).is_empty());
    // Findings stay archived after their rules are gone (the service's behaviour).
    for id in roles.iter().chain(&others[..1]) {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn a_failed_create_is_rolled_back_by_a_delete_of_what_it_answered() {
    // Pins: CREATE_FAILED → ROLLBACK: the rollback Delete carries the id the FAILED response gave.
    // A rule the Create made is removed; a Create that made nothing leaves a marker that makes
    // the Delete a no-op.
    let h = Harness::start().await;
    let (roles, _) = h.seed_findings();

    // 1. The rule was created, then the apply was denied: the ARN comes back, rollback removes it.
    h.deny_next("ApplyArchiveRule");
    let failed = h.create_rule("Made", "made", roles_filter()).await;
    failed.assert_failed();
    assert_eq!(failed.physical_id, h.rule_arn("made"));
    h.emulator.clear_requests();
    let rollback = h
        .send(&h.delete_event("Made", &failed.physical_id, rule("made", roles_filter())))
        .await;
    rollback.assert_success();
    assert_eq!(ops(&h.mutating_calls()), ["DeleteArchiveRule"]);
    assert_eq!(h.rule_filter("made"), None);

    // 2. Invalid properties: nothing is called, a marker comes back, the rollback calls nothing.
    h.emulator.clear_requests();
    let mut bad = rule("bad", roles_filter());
    bad["Filter"] = json!({"status": {"Eq": ["ACTIVE"]}});
    let refused = h.send(&h.create_event("Bad", bad.clone())).await;
    refused.assert_failed();
    assert!(refused
        .physical_id
        .starts_with("applied-archive-rule:none:Bad:"));
    h.send(&h.delete_event("Bad", &refused.physical_id, bad))
        .await
        .assert_success();
    assert!(h.emulator.requests().is_empty(), "no call at all");

    assert!(rule_names(&h).is_empty());
    for id in &roles {
        assert_eq!(
            h.status_of(id),
            FindingStatus::Active,
            "nothing was archived"
        );
    }
}

#[tokio::test]
async fn a_failed_update_is_rolled_back_with_the_old_properties_and_needs_no_cleanup() {
    // Pins: UPDATE_FAILED (in place) → UPDATE_ROLLBACK: an Update with the old properties, the
    // same PhysicalResourceId; nothing to clean up afterwards because the id never changed.
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "r", roles_filter()).await;

    h.deny_next("ApplyArchiveRule");
    let failed = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("r", roles_filter()),
            ("r", buckets_filter()),
        ))
        .await;
    failed.assert_failed();
    assert_eq!(failed.physical_id, created.physical_id);
    assert_eq!(
        h.rule_filter("r"),
        Some(buckets_rule_json()),
        "the filter was written before the apply failed"
    );

    h.emulator.clear_requests();
    let rollback = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("r", buckets_filter()),
            ("r", roles_filter()),
        ))
        .await;
    rollback.assert_success();
    assert_eq!(rollback.physical_id, created.physical_id);
    assert_eq!(
        ops(&h.mutating_calls()),
        ["UpdateArchiveRule", "ApplyArchiveRule"]
    );
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
    assert_eq!(rule_names(&h), BTreeSet::from(["r".into()]));
}

#[tokio::test]
async fn a_replacement_rolled_back_because_another_resource_failed_ends_with_the_old_rule_only() {
    // Pins SPEC §3's reason for comparing with the PhysicalResourceId, not OldResourceProperties:
    // the replacement succeeded, another resource failed, and the rollback Update carries the NEW
    // id with the OLD properties. The provider replaces back (adopting the old rule, which is
    // still there and identical), and CloudFormation's cleanup deletes the new id.
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "old", roles_filter()).await;
    let replaced = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("old", roles_filter()),
            ("new", buckets_filter()),
        ))
        .await;
    replaced.assert_success();

    // UPDATE_ROLLBACK_IN_PROGRESS.
    h.emulator.clear_requests();
    let rollback = h
        .send(&h.change_event(
            "R",
            &replaced.physical_id,
            ("new", buckets_filter()),
            ("old", roles_filter()),
        ))
        .await;
    rollback.assert_success();
    assert_eq!(
        rollback.physical_id, created.physical_id,
        "back to the old id"
    );
    rollback.assert_reason_contains("adopted the identical existing");
    assert_eq!(
        ops(&h.mutating_calls()),
        ["CreateArchiveRule", "ApplyArchiveRule"],
        "the old rule is adopted, not rewritten; the new one is left to the cleanup"
    );
    assert_eq!(h.emulator.requests_for("GetArchiveRule").len(), 1);

    // UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS: the new id is deleted.
    h.send(&h.delete_event("R", &replaced.physical_id, rule("new", buckets_filter())))
        .await
        .assert_success();
    assert_eq!(rule_names(&h), BTreeSet::from(["old".into()]));
    assert_eq!(h.rule_filter("old"), Some(roles_rule_json()));
}

#[tokio::test]
async fn a_replacement_that_fails_half_way_cleans_up_after_itself_and_the_rollback_keeps_the_old_rule(
) {
    // Pins: the new rule exists, then the apply fails. The provider deletes the new rule itself (CloudFormation never learns its id), answers FAILED with the
    // old id, and the rollback Update of the old rule is in place.
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    let created = h.create_rule("R", "old", roles_filter()).await;

    h.emulator.clear_requests();
    h.emulator.fail_next("ApplyArchiveRule", 1, Fault::Internal);
    h.emulator
        .fail_next("ApplyArchiveRule", 1, Fault::ServiceQuotaExceeded);
    let failed = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("old", roles_filter()),
            ("new", buckets_filter()),
        ))
        .await;
    failed.assert_failed();
    assert_eq!(failed.physical_id, created.physical_id);
    failed.assert_reason_contains("deleted again");
    let calls = h.mutating_calls();
    assert_eq!(
        ops(&calls),
        [
            "CreateArchiveRule",
            "ApplyArchiveRule",
            "ApplyArchiveRule",
            "DeleteArchiveRule"
        ],
        "created, the apply failed (retried once on 500, then a quota error), deleted again"
    );
    assert_eq!(h.rule_filter("new"), None);
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    h.emulator.clear_requests();
    let rollback = h
        .send(&h.change_event(
            "R",
            &created.physical_id,
            ("new", buckets_filter()),
            ("old", roles_filter()),
        ))
        .await;
    rollback.assert_success();
    assert_eq!(rollback.physical_id, created.physical_id);
    assert!(h.emulator.requests_for("CreateArchiveRule").is_empty());
    assert_eq!(rule_names(&h), BTreeSet::from(["old".into()]));
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn migration_from_a_native_rule_in_two_deployments_adopts_it_and_archives_existing_findings()
{
    // SPEC §2: step 1 gives AWS::AccessAnalyzer::ArchiveRule `DeletionPolicy: Retain` and removes
    // it (CloudFormation deletes nothing, the custom resource is not involved); step 2 declares
    // Custom::AppliedArchiveRule with identical names, which adopts the rule without rewriting it.
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    // What the native resource type did: a plain CreateArchiveRule.
    sdk_client(&h.emulator.endpoint_url())
        .create_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("vendor-audit-roles")
        .filter(
            "resourceType",
            aws_sdk_accessanalyzer::types::Criterion::builder()
                .eq("AWS::IAM::Role")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for id in &roles {
        assert_eq!(
            h.status_of(id),
            FindingStatus::Active,
            "the native rule left them"
        );
    }
    h.emulator.clear_requests();

    // Step 2, written the way AWS::AccessAnalyzer::Analyzer.ArchiveRules writes filters.
    let declared = json!([{"Property": "resourceType", "eq": ["AWS::IAM::Role"]}]);
    let adopted = h
        .send(&h.create_event("VendorAuditRoles", rule("vendor-audit-roles", declared)))
        .await;

    adopted.assert_success();
    assert_eq!(adopted.physical_id, h.rule_arn("vendor-audit-roles"));
    assert_eq!(adopted.data("ArchivedFindings"), "4");
    assert_eq!(
        ops(&h.mutating_calls()),
        ["CreateArchiveRule", "ApplyArchiveRule"],
        "no UpdateArchiveRule: the identical rule is adopted as it is"
    );
    assert_eq!(h.emulator.requests_for("CreateArchiveRule")[0].status, 409);
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    // The stack owns it now: deleting the stack deletes the rule.
    h.send(&h.delete_event("VendorAuditRoles", &adopted.physical_id, json!({})))
        .await
        .assert_success();
    assert!(rule_names(&h).is_empty());
}

#[tokio::test]
async fn stack_delete_removes_every_rule_of_the_stack_and_nothing_else() {
    // Pins: CloudFormation deletes independent resources in parallel; each Delete removes its own
    // rule, a rule outside the stack stays, and archived findings stay archived.
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    h.emulator.put_archive_rule(
        ANALYZER,
        "not-in-the-stack",
        json!({"resourceType": {"eq": ["AWS::KMS::Key"]}}),
    );
    let a = h.create_rule("Roles", "roles", roles_filter()).await;
    let b = h.create_rule("Buckets", "buckets", buckets_filter()).await;
    a.assert_success();
    b.assert_success();

    let delete_a = h.delete_event("Roles", &a.physical_id, json!({}));
    let delete_b = h.delete_event("Buckets", &b.physical_id, json!({}));
    let (da, db) = tokio::join!(
        h.invoke_with(&delete_a, Duration::from_secs(60)),
        h.invoke_with(&delete_b, Duration::from_secs(60)),
    );
    assert!(da.is_ok() && db.is_ok());
    for event in [&delete_a, &delete_b] {
        let response = h.response_for(event);
        response.assert_success();
        assert_eq!(response.physical_id, event["PhysicalResourceId"]);
    }
    assert_eq!(rule_names(&h), BTreeSet::from(["not-in-the-stack".into()]));
    for id in roles.iter().chain(&others[..1]).chain(&others[3..]) {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
}

#[tokio::test]
async fn the_same_event_delivered_twice_in_turn_repeats_its_calls_without_a_second_effect() {
    // Pins: Lambda may redeliver an event; the second run sends the same client tokens, the
    // service treats them as replays, and CloudFormation gets the same Status and id twice.
    let h = Harness::start().await;
    h.seed_findings();

    let create = h.create_event("R", rule("old", roles_filter()));
    let old_arn = h.rule_arn("old");
    let new_arn = h.rule_arn("new");
    let update = h.change_event(
        "R",
        &old_arn,
        ("old", roles_filter()),
        ("new", buckets_filter()),
    );
    let delete = h.delete_event("R", &old_arn, json!({}));

    for (event, arn) in [
        (&create, &old_arn),
        (&update, &new_arn),
        (&delete, &old_arn),
    ] {
        h.emulator.clear_requests();
        h.invoke_with(event, Duration::from_secs(60)).await.unwrap();
        let first = h.mutating_calls();
        let rules_after_first = rule_names(&h);
        h.emulator.clear_requests();
        h.invoke_with(event, Duration::from_secs(60)).await.unwrap();
        let second = h.mutating_calls();

        let request_id = event["RequestId"].as_str().unwrap();
        let responses: Vec<_> = h
            .receiver
            .responses_for(request_id)
            .into_iter()
            .map(CfnResponse::from_received)
            .collect();
        assert_eq!(responses.len(), 2);
        for r in &responses {
            r.assert_success();
            assert_eq!(&r.physical_id, arn);
        }
        assert_eq!(
            rule_names(&h),
            rules_after_first,
            "no second rule, none lost"
        );
        if event["RequestType"] != "Delete" {
            assert_eq!(first, second, "same calls, same client tokens");
            assert!(
                h.emulator
                    .requests_for("CreateArchiveRule")
                    .iter()
                    .all(|r| r.status == 200),
                "the repeated CreateArchiveRule is a replay, not a conflict"
            );
        } else {
            assert_eq!(ops(&second), ["DeleteArchiveRule"]);
            assert_eq!(
                h.emulator.requests_for("DeleteArchiveRule")[0].status,
                404,
                "already gone: SUCCESS"
            );
        }
    }
    assert_eq!(archived_by(&h, "old"), 4, "each finding archived once");
    assert_eq!(archived_by(&h, "new"), 2);
    assert_eq!(rule_names(&h), BTreeSet::from(["new".into()]));
}

#[tokio::test]
async fn the_same_event_delivered_twice_at_once_has_no_duplicate_side_effect() {
    // Pins: two concurrent runs of one event (Lambda's async retry overlapping a slow first run)
    // send the same client tokens; the service does the work once; both answers agree.
    let h = Harness::start().await;
    let (roles, others) = h.seed_findings();
    h.emulator.set_latency(Duration::from_millis(20));
    let create = h.create_event("R", rule("r", roles_filter()));

    let (a, b) = tokio::join!(
        h.invoke_with(&create, Duration::from_secs(60)),
        h.invoke_with(&create, Duration::from_secs(60)),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");

    let responses: Vec<_> = h
        .receiver
        .responses_for(create["RequestId"].as_str().unwrap())
        .into_iter()
        .map(CfnResponse::from_received)
        .collect();
    assert_eq!(responses.len(), 2, "one answer per run");
    for r in &responses {
        r.assert_success();
        assert_eq!(r.physical_id, h.rule_arn("r"));
    }
    let creates = h.emulator.requests_for("CreateArchiveRule");
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].client_token, creates[1].client_token);
    assert!(
        creates.iter().all(|r| r.status == 200),
        "the second is a replay"
    );
    let applies = h.emulator.requests_for("ApplyArchiveRule");
    assert_eq!(applies[0].client_token, applies[1].client_token);
    assert_eq!(rule_names(&h), BTreeSet::from(["r".into()]));
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }

    // The same for the Delete: both succeed, the rule is gone once.
    let delete = h.delete_event("R", &h.rule_arn("r"), json!({}));
    let (a, b) = tokio::join!(
        h.invoke_with(&delete, Duration::from_secs(60)),
        h.invoke_with(&delete, Duration::from_secs(60)),
    );
    assert!(a.is_ok() && b.is_ok());
    for r in h
        .receiver
        .responses_for(delete["RequestId"].as_str().unwrap())
    {
        CfnResponse::from_received(r).assert_success();
    }
    assert!(rule_names(&h).is_empty());
}

#[tokio::test]
async fn a_delete_that_arrives_while_its_create_still_runs_leaves_the_rule_behind() {
    // The known limitation (SPEC §3), shown rather than papered over: CloudFormation gives up on a
    // Create still running and sends a Delete with an id it made up. The Delete has nothing to go
    // on and succeeds without a call; the Create then makes its rule, which no stack owns.
    // What bounds it: the Lambda timeout within ServiceTimeout. What recovers it: a later deploy
    // with identical properties adopts the rule, and then owns and deletes it.
    let h = Harness::start().await;
    h.seed_findings();
    h.emulator
        .set_operation_latency("CreateArchiveRule", Duration::from_millis(600));
    let create = h.create_event("R", rule("r", roles_filter()));
    let made_up_id = "security-baseline-R-1A2B3C4D5E6F";
    let delete = h.delete_event("R", made_up_id, rule("r", roles_filter()));

    let (created, deleted) = tokio::join!(h.invoke_with(&create, Duration::from_secs(60)), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        h.invoke_with(&delete, Duration::from_secs(60)).await
    });
    assert!(created.is_ok() && deleted.is_ok());

    let deleted = h.response_for(&delete);
    deleted.assert_success();
    assert_eq!(deleted.physical_id, made_up_id);
    assert!(h.emulator.requests_for("DeleteArchiveRule").is_empty());
    let created = h.response_for(&create);
    created.assert_success();
    assert!(
        deleted.raw.received_at < created.raw.received_at,
        "the Delete was answered while the Create still ran"
    );
    assert_eq!(
        h.rule_filter("r"),
        Some(roles_rule_json()),
        "the rule is left behind, owned by no stack"
    );

    // The next deploy of the same template adopts it; its stack delete removes it.
    h.emulator
        .set_operation_latency("CreateArchiveRule", Duration::ZERO);
    let redeploy = h.create_rule("R", "r", roles_filter()).await;
    redeploy.assert_success();
    redeploy.assert_reason_contains("adopted the identical existing");
    h.send(&h.delete_event("R", &redeploy.physical_id, json!({})))
        .await
        .assert_success();
    assert!(rule_names(&h).is_empty());
}
