//! SPEC §5: the provider works with every analyzer type — here unused access
//! (`ACCOUNT_UNUSED_ACCESS`) and internal access (`ACCOUNT_INTERNAL_ACCESS`) beside the external
//! access analyzer the other tests use. Which filter keys a type accepts is the service's call:
//! the provider passes the filter through, and a key the type does not take comes back as the
//! service's ValidationException, in a FAILED response that names it, with nothing created.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::FindingStatus;

const APPLY_RULES: &str = "Custom::ApplyArchiveRules";

/// The break-glass role is kept on purpose: its `UnusedIAMRole` finding is expected.
fn break_glass_filter() -> Value {
    json!({
        "findingType": {"Eq": ["UnusedIAMRole"]},
        "resource": {"Eq": [BREAK_GLASS_ROLE]}
    })
}

/// The backup role reading the backups bucket is the access the bucket exists for.
fn backup_access_filter() -> Value {
    json!([
        {"Property": "resource", "Eq": [BACKUPS_BUCKET]},
        {"Property": "principal.AWS", "Eq": [BACKUP_ROLE]}
    ])
}

fn operations_of(calls: Vec<(String, Option<String>)>) -> Vec<String> {
    calls.into_iter().map(|(operation, _)| operation).collect()
}

/// What ListFindingsV2 was asked, call by call: the provider adds `status` = ACTIVE to the
/// rule's filter.
fn listed_filters(h: &Harness) -> Vec<Value> {
    h.emulator
        .requests_for("ListFindingsV2")
        .into_iter()
        .map(|request| request.params["filter"].clone())
        .collect()
}

#[tokio::test]
async fn a_rule_on_an_unused_access_analyzer_is_created_applied_updated_and_deleted() {
    let h = Harness::start().await;
    let found = h.seed_unused_access();
    let arn = h.rule_arn_on(UNUSED_ANALYZER, "break-glass");

    let created = h
        .send(&h.create_event(
            "BreakGlass",
            rule_on(UNUSED_ANALYZER, "break-glass", break_glass_filter()),
        ))
        .await;

    created.assert_success();
    assert_eq!(created.physical_id, arn);
    assert_eq!(created.data("AnalyzerName"), UNUSED_ANALYZER);
    assert_eq!(
        created.data("AnalyzerArn"),
        h.emulator.analyzer_arn(UNUSED_ANALYZER)
    );
    assert_eq!(created.data("MatchedFindings"), "1");
    assert_eq!(created.data("ArchivedFindings"), "1");
    assert_eq!(created.data("PendingFindings"), "0");
    assert_eq!(created.data("Verified"), "true");
    assert_eq!(
        h.rule_filter_on(UNUSED_ANALYZER, "break-glass"),
        Some(json!({
            "findingType": {"eq": ["UnusedIAMRole"]},
            "resource": {"eq": [BREAK_GLASS_ROLE]}
        }))
    );
    assert_eq!(
        h.status_on(UNUSED_ANALYZER, &found.break_glass_role),
        FindingStatus::Archived
    );
    assert_eq!(
        h.active_ids_on(UNUSED_ANALYZER),
        [
            found.break_glass_permission.clone(),
            found.old_ci_role.clone(),
            found.access_key.clone(),
            found.password.clone()
        ],
        "the role's UnusedPermission finding and the other roles' and users' stay ACTIVE"
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["CreateArchiveRule", "ApplyArchiveRule"]
    );
    assert_eq!(
        listed_filters(&h)[0],
        json!({
            "findingType": {"eq": ["UnusedIAMRole"]},
            "resource": {"eq": [BREAK_GLASS_ROLE]},
            "status": {"eq": ["ACTIVE"]}
        })
    );

    // In place: the old CI role is kept for the same reason.
    h.emulator.clear_requests();
    let widened = rule_on(
        UNUSED_ANALYZER,
        "break-glass",
        json!({
            "findingType": {"Eq": ["UnusedIAMRole"]},
            "resource": {"Eq": [BREAK_GLASS_ROLE, OLD_CI_ROLE]}
        }),
    );
    let before = rule_on(UNUSED_ANALYZER, "break-glass", break_glass_filter());
    let updated = h
        .send(&h.update_event("BreakGlass", &arn, widened, before))
        .await;

    updated.assert_success();
    assert_eq!(updated.physical_id, arn);
    assert_eq!(updated.data("MatchedFindings"), "1");
    assert_eq!(updated.data("ArchivedFindings"), "1");
    assert_eq!(
        h.status_on(UNUSED_ANALYZER, &found.old_ci_role),
        FindingStatus::Archived
    );
    assert_eq!(
        h.rule_filter_on(UNUSED_ANALYZER, "break-glass"),
        Some(json!({
            "findingType": {"eq": ["UnusedIAMRole"]},
            "resource": {"eq": [BREAK_GLASS_ROLE, OLD_CI_ROLE]}
        }))
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["UpdateArchiveRule", "ApplyArchiveRule"]
    );

    h.emulator.clear_requests();
    let deleted = h
        .send(&h.delete_event(
            "BreakGlass",
            &arn,
            rule_on(UNUSED_ANALYZER, "break-glass", break_glass_filter()),
        ))
        .await;

    deleted.assert_success();
    assert!(h.emulator.archive_rules(UNUSED_ANALYZER).is_empty());
    assert_eq!(operations_of(h.mutating_calls()), ["DeleteArchiveRule"]);
    assert_eq!(
        h.status_on(UNUSED_ANALYZER, &found.break_glass_role),
        FindingStatus::Archived,
        "findings stay archived after the rule is deleted"
    );
}

#[tokio::test]
async fn a_rule_on_an_internal_access_analyzer_is_created_applied_updated_and_deleted() {
    let h = Harness::start().await;
    let found = h.seed_internal_access();
    let arn = h.rule_arn_on(INTERNAL_ANALYZER, "backup-role");

    let created = h
        .send(&h.create_event(
            "BackupRole",
            rule_on(INTERNAL_ANALYZER, "backup-role", backup_access_filter()),
        ))
        .await;

    created.assert_success();
    assert_eq!(created.physical_id, arn);
    assert_eq!(created.data("MatchedFindings"), "1");
    assert_eq!(created.data("ArchivedFindings"), "1");
    assert_eq!(created.data("Verified"), "true");
    assert_eq!(
        h.status_on(INTERNAL_ANALYZER, &found.backup_role_on_backups),
        FindingStatus::Archived
    );
    assert_eq!(
        h.active_ids_on(INTERNAL_ANALYZER),
        [
            found.analytics_role_on_backups.clone(),
            found.backup_role_on_reports.clone()
        ]
    );
    assert_eq!(
        h.rule_filter_on(INTERNAL_ANALYZER, "backup-role"),
        Some(json!({
            "principal.AWS": {"eq": [BACKUP_ROLE]},
            "resource": {"eq": [BACKUPS_BUCKET]}
        })),
        "the list shape arrives as the API's map"
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["CreateArchiveRule", "ApplyArchiveRule"]
    );

    // In place: every in-account access of the backup role, on any bucket.
    h.emulator.clear_requests();
    let widened = rule_on(
        INTERNAL_ANALYZER,
        "backup-role",
        json!({
            "principal.AWS": {"Eq": [BACKUP_ROLE]},
            "principalType": {"Eq": ["IAM_ROLE"]},
            "accessType": {"Eq": ["INTRA_ACCOUNT"]}
        }),
    );
    let before = rule_on(INTERNAL_ANALYZER, "backup-role", backup_access_filter());
    let updated = h
        .send(&h.update_event("BackupRole", &arn, widened, before))
        .await;

    updated.assert_success();
    assert_eq!(updated.physical_id, arn);
    assert_eq!(updated.data("MatchedFindings"), "1");
    assert_eq!(
        h.status_on(INTERNAL_ANALYZER, &found.backup_role_on_reports),
        FindingStatus::Archived
    );
    assert_eq!(
        h.active_ids_on(INTERNAL_ANALYZER),
        [found.analytics_role_on_backups]
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["UpdateArchiveRule", "ApplyArchiveRule"]
    );

    h.emulator.clear_requests();
    h.send(&h.delete_event(
        "BackupRole",
        &arn,
        rule_on(INTERNAL_ANALYZER, "backup-role", backup_access_filter()),
    ))
    .await
    .assert_success();
    assert!(h.emulator.archive_rules(INTERNAL_ANALYZER).is_empty());
    assert_eq!(operations_of(h.mutating_calls()), ["DeleteArchiveRule"]);
}

#[tokio::test]
async fn apply_archive_rules_applies_native_rules_on_unused_and_internal_analyzers() {
    let h = Harness::start().await;
    let unused = h.seed_unused_access();
    let internal = h.seed_internal_access();
    // Declared natively (AWS::AccessAnalyzer::ArchiveRule): they exist, but archived nothing.
    h.emulator.put_archive_rule(
        UNUSED_ANALYZER,
        "break-glass",
        json!({"findingType": {"eq": ["UnusedIAMRole"]}, "resource": {"eq": [BREAK_GLASS_ROLE]}}),
    );
    h.emulator.put_archive_rule(
        UNUSED_ANALYZER,
        "user-credentials",
        json!({"findingType": {"eq": ["UnusedIAMUserAccessKey", "UnusedIAMUserPassword"]}}),
    );
    h.emulator.put_archive_rule(
        INTERNAL_ANALYZER,
        "backup-role",
        json!({"principal.AWS": {"eq": [BACKUP_ROLE]}, "resource": {"eq": [BACKUPS_BUCKET]}}),
    );

    for (analyzer, rules, matched) in [(UNUSED_ANALYZER, "2", "3"), (INTERNAL_ANALYZER, "1", "1")] {
        let mut event = h.create_event(
            "Apply",
            json!({"ServiceToken": FUNCTION_ARN, "AnalyzerName": analyzer}),
        );
        event["ResourceType"] = json!(APPLY_RULES);
        let response = h.send(&event).await;

        response.assert_success();
        assert_eq!(
            response.physical_id,
            format!("apply-archive-rules:{}", h.emulator.analyzer_arn(analyzer))
        );
        assert_eq!(response.data("RulesApplied"), rules, "{analyzer}");
        assert_eq!(response.data("MatchedFindings"), matched, "{analyzer}");
        assert_eq!(response.data("ArchivedFindings"), matched, "{analyzer}");
        assert_eq!(response.data("PendingFindings"), "0", "{analyzer}");
    }

    assert_eq!(
        h.active_ids_on(UNUSED_ANALYZER),
        [unused.break_glass_permission, unused.old_ci_role]
    );
    for id in [
        &unused.break_glass_role,
        &unused.access_key,
        &unused.password,
    ] {
        assert_eq!(h.status_on(UNUSED_ANALYZER, id), FindingStatus::Archived);
    }
    assert_eq!(
        h.active_ids_on(INTERNAL_ANALYZER),
        [
            internal.analytics_role_on_backups,
            internal.backup_role_on_reports
        ]
    );
    // ApplyArchiveRule names the analyzer by ARN; the rules of one analyzer run concurrently.
    let mut applied: Vec<(Option<String>, Option<String>)> = h
        .emulator
        .requests_for("ApplyArchiveRule")
        .into_iter()
        .map(|request| (request.analyzer, request.rule_name))
        .collect();
    applied.sort();
    let applied_as = |analyzer: &str, rule: &str| {
        (
            Some(h.emulator.analyzer_arn(analyzer)),
            Some(rule.to_owned()),
        )
    };
    assert_eq!(
        applied,
        [
            applied_as(INTERNAL_ANALYZER, "backup-role"),
            applied_as(UNUSED_ANALYZER, "break-glass"),
            applied_as(UNUSED_ANALYZER, "user-credentials"),
        ]
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["ApplyArchiveRule"; 3],
        "applied, never written"
    );
}

/// A Create whose filter the analyzer's type does not take: FAILED with the service's message,
/// no rule, no apply, and a PhysicalResourceId whose rollback Delete touches nothing.
async fn assert_create_refused(
    h: &Harness,
    analyzer: &str,
    analyzer_type: &str,
    filter: Value,
    key: &str,
) {
    h.emulator.clear_requests();
    let response = h
        .send(&h.create_event("Refused", rule_on(analyzer, "refused", filter)))
        .await;

    response.assert_failed();
    let service_message =
        format!("filter key '{key}' is not supported for analyzers of type {analyzer_type}");
    assert!(
        response.reason.contains("ValidationException")
            && response.reason.contains(&service_message),
        "the reason names the key and the service's message: {}",
        response.reason
    );
    assert!(
        response.reason.contains("refused") && response.reason.contains(analyzer),
        "the reason names the rule and the analyzer: {}",
        response.reason
    );
    assert!(
        h.emulator.archive_rules(analyzer).is_empty(),
        "nothing created"
    );
    let writes: Vec<(String, u16)> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|request| MUTATING.contains(&request.operation.as_str()))
        .map(|request| (request.operation, request.status))
        .collect();
    assert_eq!(writes, [("CreateArchiveRule".to_owned(), 400)], "no apply");
    assert_ne!(response.physical_id, h.rule_arn_on(analyzer, "refused"));

    h.emulator.clear_requests();
    h.send(&h.delete_event(
        "Refused",
        &response.physical_id,
        rule_on(analyzer, "refused", json!({})),
    ))
    .await
    .assert_success();
    assert!(
        h.emulator.requests().is_empty(),
        "the rollback Delete calls nothing"
    );
}

#[tokio::test]
async fn a_key_the_analyzer_type_does_not_take_fails_naming_it_with_nothing_created() {
    let h = Harness::start().await;
    let unused = h.seed_unused_access();
    let internal = h.seed_internal_access();
    h.seed_findings();

    assert_create_refused(
        &h,
        UNUSED_ANALYZER,
        "ACCOUNT_UNUSED_ACCESS",
        json!({"findingType": {"Eq": ["UnusedIAMRole"]}, "isPublic": {"Eq": ["false"]}}),
        "isPublic",
    )
    .await;
    assert_create_refused(
        &h,
        INTERNAL_ANALYZER,
        "ACCOUNT_INTERNAL_ACCESS",
        json!({"findingType": {"Eq": ["InternalAccess"]}}),
        "findingType",
    )
    .await;
    assert_create_refused(
        &h,
        ANALYZER,
        "ACCOUNT",
        json!({"findingType": {"Eq": ["UnusedIAMRole"]}}),
        "findingType",
    )
    .await;

    let before = h.emulator.findings(UNUSED_ANALYZER);
    assert!(before.iter().all(|f| f.status == FindingStatus::Active));
    assert_eq!(h.active_ids_on(INTERNAL_ANALYZER).len(), 3);
    assert_eq!(h.active_ids().len(), 8, "main's findings are untouched");
    assert_eq!(
        h.status_on(UNUSED_ANALYZER, &unused.password),
        FindingStatus::Active
    );
    assert_eq!(
        h.status_on(INTERNAL_ANALYZER, &internal.backup_role_on_backups),
        FindingStatus::Active
    );
}

#[tokio::test]
async fn an_update_to_a_key_the_analyzer_type_does_not_take_fails_and_keeps_the_rule() {
    let h = Harness::start().await;
    let found = h.seed_unused_access();
    let arn = h.rule_arn_on(UNUSED_ANALYZER, "break-glass");
    let declared = rule_on(UNUSED_ANALYZER, "break-glass", break_glass_filter());
    h.send(&h.create_event("BreakGlass", declared.clone()))
        .await
        .assert_success();
    let stored = h.rule_filter_on(UNUSED_ANALYZER, "break-glass");
    h.emulator.clear_requests();

    let refused = rule_on(
        UNUSED_ANALYZER,
        "break-glass",
        json!({"resource": {"Eq": [OLD_CI_ROLE]}, "principal.AWS": {"Eq": [OLD_CI_ROLE]}}),
    );
    let response = h
        .send(&h.update_event("BreakGlass", &arn, refused, declared))
        .await;

    response.assert_failed();
    assert_eq!(
        response.physical_id, arn,
        "a failed in-place update keeps its id"
    );
    assert!(
        response
            .reason
            .contains("UpdateArchiveRule returned ValidationException")
            && response.reason.contains(
                "filter key 'principal.AWS' is not supported for analyzers of type \
                 ACCOUNT_UNUSED_ACCESS"
            ),
        "{}",
        response.reason
    );
    assert_eq!(
        h.rule_filter_on(UNUSED_ANALYZER, "break-glass"),
        stored,
        "the rule is left as it was"
    );
    assert_eq!(
        operations_of(h.mutating_calls()),
        ["UpdateArchiveRule"],
        "nothing applied"
    );
    assert_eq!(
        h.status_on(UNUSED_ANALYZER, &found.old_ci_role),
        FindingStatus::Active
    );
}

#[tokio::test]
async fn status_and_id_are_refused_before_any_call_on_every_analyzer_type() {
    // The provider's own, generic check (SPEC §2): the service refuses these keys in archive
    // rules whatever the analyzer's type, so no call is made.
    let h = Harness::start().await;
    h.seed_unused_access();
    h.seed_internal_access();
    for analyzer in [ANALYZER, UNUSED_ANALYZER, INTERNAL_ANALYZER] {
        for key in ["status", "id"] {
            h.emulator.clear_requests();
            let filter =
                json!({ key: {"Eq": ["ACTIVE"]}, "resourceType": {"Eq": ["AWS::IAM::Role"]} });
            let response = h
                .send(&h.create_event("Refused", rule_on(analyzer, "refused", filter)))
                .await;
            response.assert_failed();
            assert!(
                response.reason.contains(&format!("`{key}` is not allowed")),
                "{analyzer} {key}: {}",
                response.reason
            );
            assert!(
                h.emulator.requests().is_empty(),
                "{analyzer} {key}: no call"
            );
        }
    }
}
