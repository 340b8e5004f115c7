//! SPEC §9.2–9.3, auto-apply: the CloudTrail events of `CreateArchiveRule` / `UpdateArchiveRule`
//! made by any tool, and a schedule, apply the rules to their existing findings — through the real
//! SDK against the emulator, with the events as EventBridge delivers them.

mod common;

use std::time::Duration;

use applied_archive_rule::auto_apply::settings::AutoApplySettings;
use applied_archive_rule::error::InvocationError;
use applied_archive_rule::handler::Settings;
use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingStatus};
use testkit::events::{scheduled_event, Caller, RuleChange};

const PIPELINE_ROLE: &str = "arn:aws:iam::123456789012:role/pipelines/terraform";
const PROVIDER_ROLE: &str =
    "arn:aws:iam::123456789012:role/applied-archive-rule-ProviderRole-1A2B3C";
const SCHEDULE_RULE: &str =
    "arn:aws:events:us-east-1:123456789012:rule/applied-archive-rule-reconcile";

fn auto_apply(configure: impl FnOnce(&mut AutoApplySettings)) -> Settings {
    let mut settings = test_settings();
    settings.auto_apply = AutoApplySettings {
        enabled: true,
        provider_role_arn: Some(PROVIDER_ROLE.to_owned()),
        wait: Duration::from_secs(10),
        ..AutoApplySettings::default()
    };
    configure(&mut settings.auto_apply);
    settings
}

/// A harness whose analyzer has 4 ACTIVE role findings and 4 others, and a rule `vendor-roles`
/// made the way Terraform and `AWS::AccessAnalyzer::ArchiveRule` make it: a plain
/// `CreateArchiveRule` after the findings, which leaves them ACTIVE.
async fn native_rule(settings: Settings) -> (Harness, Vec<String>, Vec<String>) {
    let h = Harness::start_with(settings).await;
    let (roles, others) = h.seed_findings();
    h.emulator
        .put_archive_rule(ANALYZER, "vendor-roles", roles_rule_json());
    (h, roles, others)
}

fn created(caller: Caller) -> RuleChange {
    RuleChange::create(ACCOUNT, REGION, ANALYZER, "vendor-roles", roles_rule_json()).by(caller)
}

async fn run(h: &Harness, event: &Value) -> Result<Value, InvocationError> {
    h.invoke_with(event, Duration::from_secs(60)).await
}

/// The one rule outcome of a CloudTrail event's summary.
fn only_outcome(summary: &Value) -> &Value {
    let outcomes = summary["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 1, "{summary}");
    &outcomes[0]
}

#[tokio::test]
async fn a_create_archive_rule_event_applies_the_rule_to_its_existing_findings() {
    let (h, roles, others) = native_rule(auto_apply(|a| {
        a.principals = vec!["arn:aws:iam::123456789012:role/pipelines/*".to_owned()]
    }))
    .await;
    let event = created(Caller::role(PIPELINE_ROLE)).event();

    let summary = run(&h, &event).await.expect("a normal return");

    let outcome = only_outcome(&summary);
    assert_eq!(summary["trigger"], "CreateArchiveRule");
    assert_eq!(summary["eventId"], event["id"]);
    assert_eq!(outcome["outcome"], "applied", "{outcome}");
    assert_eq!(outcome["caller"], PIPELINE_ROLE, "the role, path included");
    assert_eq!(outcome["rule"], "vendor-roles");
    assert_eq!(outcome["matched"], 4);
    assert_eq!(outcome["archived"], 4);
    assert_eq!(outcome["pending"], 0);
    assert_eq!(outcome["verified"], true);
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    for id in &others {
        assert_eq!(h.status_of(id), FindingStatus::Active);
    }
    let mut operations = h.operations();
    // GetAnalyzer and GetArchiveRule go out together; either may arrive first.
    operations[..2].sort();
    assert_eq!(
        operations,
        [
            "GetAnalyzer",
            "GetArchiveRule",
            "ListFindingsV2",
            "ApplyArchiveRule",
            "ListFindingsV2"
        ],
        "reads and one apply; no rule is ever written"
    );
}

#[tokio::test]
async fn the_apply_token_comes_from_the_event_so_a_redelivery_is_idempotent() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    let event = created(Caller::role(PIPELINE_ROLE)).event();

    run(&h, &event).await.expect("first delivery");
    run(&h, &event)
        .await
        .expect("Lambda's retry of the same event");
    let other = created(Caller::role(PIPELINE_ROLE)).event();
    run(&h, &other).await.expect("another event");

    let tokens: Vec<Option<String>> = h
        .mutating_calls()
        .into_iter()
        .map(|(op, token)| {
            assert_eq!(op, "ApplyArchiveRule");
            token
        })
        .collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens[0].is_some());
    assert_eq!(tokens[0], tokens[1], "the same event, the same token");
    assert_ne!(tokens[0], tokens[2], "another event, another token");
}

#[tokio::test]
async fn an_update_archive_rule_event_re_archives_findings_set_back_to_active() {
    let (h, roles, _) = native_rule(auto_apply(|_| {})).await;
    run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .expect("applied");
    // An analyst sets one back to ACTIVE by hand; the rule still matches it.
    h.emulator
        .set_finding_status(ANALYZER, &roles[0], FindingStatus::Active);

    let update =
        RuleChange::update(ACCOUNT, REGION, ANALYZER, "vendor-roles", roles_rule_json()).event();
    let summary = run(&h, &update).await.expect("a normal return");

    assert_eq!(summary["trigger"], "UpdateArchiveRule");
    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "applied");
    assert_eq!(outcome["matched"], 1);
    assert_eq!(h.status_of(&roles[0]), FindingStatus::Archived);
}

#[tokio::test]
async fn events_that_are_not_ours_to_apply_are_skipped_without_any_call() {
    let (h, _, _) = native_rule(auto_apply(|a| {
        a.analyzers = Some(vec![ANALYZER.to_owned(), "other".to_owned()])
    }))
    .await;
    let base = created(Caller::role(PIPELINE_ROLE));
    let mut cases: Vec<(&str, Value)> = vec![
        (
            "the call failed",
            base.clone()
                .failed("AccessDeniedException", "not allowed")
                .event(),
        ),
        (
            "account 999988887777",
            RuleChange {
                account: "999988887777".to_owned(),
                ..base.clone()
            }
            .event(),
        ),
        (
            "eu-west-1",
            RuleChange {
                region: "eu-west-1".to_owned(),
                ..base.clone()
            }
            .event(),
        ),
        (
            "CloudFormation provider",
            base.clone().by(Caller::role(PROVIDER_ROLE)).event(),
        ),
        (
            "outside the analyzers",
            RuleChange {
                analyzer: "unlisted".to_owned(),
                ..base.clone()
            }
            .event(),
        ),
        (
            "not an archive rule change",
            RuleChange {
                event_name: "DeleteArchiveRule".to_owned(),
                ..base.clone()
            }
            .event(),
        ),
    ];
    // The envelope and the record must both be the function's: a record of another account in
    // this account's envelope is skipped too.
    let mut mixed = base.event();
    mixed["detail"]["recipientAccountId"] = json!("999988887777");
    cases.push(("account 999988887777", mixed));

    for (why, event) in cases {
        let summary = run(&h, &event).await.expect("a normal return");
        let outcome = only_outcome(&summary);
        assert_eq!(outcome["outcome"], "skipped", "{why}: {outcome}");
        let reason = outcome["why"].as_str().unwrap();
        assert!(reason.contains(why), "{why} not in {reason:?}");
    }
    assert!(h.emulator.requests().is_empty(), "no Access Analyzer call");
}

#[tokio::test]
async fn a_caller_outside_the_patterns_is_refused_with_nothing_applied() {
    let (h, roles, _) = native_rule(auto_apply(|a| {
        a.principals = vec![
            "arn:aws:iam::123456789012:role/pipelines/*".to_owned(),
            "arn:aws:iam::123456789012:user/security-*".to_owned(),
        ]
    }))
    .await;
    let refused = [
        Caller::role("arn:aws:iam::123456789012:role/developer"),
        Caller::user("arn:aws:iam::123456789012:user/mallory"),
        Caller::Root {
            account: ACCOUNT.to_owned(),
        },
        Caller::AwsService {
            service: "cloudformation.amazonaws.com".to_owned(),
        },
    ];
    for caller in refused {
        let summary = run(&h, &created(caller.clone()).event())
            .await
            .expect("a refusal is a normal return");
        let outcome = only_outcome(&summary);
        assert_eq!(outcome["outcome"], "refused", "{caller:?}: {outcome}");
        assert!(outcome["why"]
            .as_str()
            .unwrap()
            .contains("APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS"));
    }
    assert!(h.emulator.requests().is_empty(), "refused before any call");
    assert_eq!(h.active_ids().len(), 8);

    let allowed = Caller::user("arn:aws:iam::123456789012:user/security-alice");
    let summary = run(&h, &created(allowed).event()).await.unwrap();
    assert_eq!(only_outcome(&summary)["outcome"], "applied");
    assert_eq!(h.status_of(&roles[0]), FindingStatus::Archived);
}

#[tokio::test]
async fn without_patterns_any_caller_is_applied() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    let service = Caller::AwsService {
        service: "cloudformation.amazonaws.com".to_owned(),
    };
    let summary = run(&h, &created(service).event()).await.unwrap();
    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "applied");
    assert_eq!(outcome["caller"], Value::Null);
}

#[tokio::test]
async fn changes_on_service_linked_or_inactive_analyzers_are_skipped() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    for (status, managed_by) in [
        ("ACTIVE", Some("securityhubv2.amazonaws.com")),
        ("DISABLED", None),
    ] {
        h.emulator.describe_analyzer(ANALYZER, status, managed_by);
        let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
            .await
            .unwrap();
        let outcome = only_outcome(&summary);
        assert_eq!(outcome["outcome"], "skipped", "{outcome}");
    }
    assert!(h
        .operations()
        .iter()
        .all(|op| op == "GetAnalyzer" || op == "GetArchiveRule"));
    assert!(h.mutating_calls().is_empty(), "nothing applied");
    assert_eq!(h.active_ids().len(), 8);
}

#[tokio::test]
async fn a_rule_or_analyzer_gone_since_the_event_is_gone() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    let event = RuleChange::create(
        ACCOUNT,
        REGION,
        ANALYZER,
        "deleted-since",
        roles_rule_json(),
    )
    .event();
    let summary = run(&h, &event).await.unwrap();
    assert_eq!(only_outcome(&summary)["outcome"], "gone");

    h.emulator.remove_analyzer(ANALYZER);
    let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .unwrap();
    assert_eq!(only_outcome(&summary)["outcome"], "gone");
    assert!(h.mutating_calls().is_empty());
}

#[tokio::test]
async fn an_event_whose_filter_was_changed_since_is_superseded_and_nothing_is_applied() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    // The event says buckets; the rule has been changed to roles since (by its own later event).
    let stale = RuleChange::create(
        ACCOUNT,
        REGION,
        ANALYZER,
        "vendor-roles",
        buckets_rule_json(),
    )
    .event();

    let summary = run(&h, &stale).await.unwrap();

    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "superseded", "{outcome}");
    let mut operations = h.operations();
    operations.sort();
    assert_eq!(operations, ["GetAnalyzer", "GetArchiveRule"]);
    assert_eq!(h.active_ids().len(), 8);
    // The same filter in another order and operator spelling is the same rule.
    let same = RuleChange::create(
        ACCOUNT,
        REGION,
        ANALYZER,
        "vendor-roles",
        json!({"resourceType": {"Eq": ["AWS::IAM::Role", "AWS::IAM::Role"]}}),
    )
    .event();
    assert_eq!(
        only_outcome(&run(&h, &same).await.unwrap())["outcome"],
        "applied"
    );
}

#[tokio::test]
async fn more_matching_findings_than_the_guard_allows_are_refused_with_nothing_written() {
    let (h, _, _) = native_rule(auto_apply(|a| a.max_findings = Ok(Some(3)))).await;

    let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .unwrap();

    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "refused");
    assert_eq!(outcome["matched"], 4);
    let why = outcome["why"].as_str().unwrap();
    assert!(
        why.contains("APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS (3)"),
        "{why}"
    );
    assert!(h.mutating_calls().is_empty());
    assert_eq!(h.active_ids().len(), 8);
}

#[tokio::test]
async fn an_unreadable_guard_refuses_every_apply() {
    let (h, _, _) = native_rule(auto_apply(|a| {
        a.max_findings = Err("APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS is \"ten\"".to_owned())
    }))
    .await;
    let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .unwrap();
    assert_eq!(only_outcome(&summary)["outcome"], "refused");
    assert!(h.mutating_calls().is_empty());
}

#[tokio::test]
async fn throttling_and_server_errors_before_the_apply_stands_are_returned_for_lambda_to_retry() {
    for (operation, count, fault) in [
        (
            "ApplyArchiveRule",
            WRITE_ATTEMPTS,
            Fault::Throttling {
                retry_after_seconds: 0,
            },
        ),
        ("ApplyArchiveRule", WRITE_ATTEMPTS, Fault::Internal),
        ("GetArchiveRule", READ_ATTEMPTS, Fault::Internal),
        (
            "ListFindingsV2",
            READ_ATTEMPTS,
            Fault::Throttling {
                retry_after_seconds: 0,
            },
        ),
    ] {
        let (h, _, _) = native_rule(auto_apply(|_| {})).await;
        h.emulator.fail_next(operation, count, fault.clone());
        let event = created(Caller::role(PIPELINE_ROLE)).event();

        let result = run(&h, &event).await;

        assert!(
            matches!(&result, Err(InvocationError::RetryLater(why)) if why.contains(operation)),
            "{operation} {fault:?}: {result:?}"
        );
        assert_eq!(h.active_ids().len(), 8, "nothing archived yet");
        // Lambda's retry of the same event, once the service recovers, applies it.
        let retried = run(&h, &event).await.expect("the retry succeeds");
        assert_eq!(only_outcome(&retried)["outcome"], "applied");
    }
}

#[tokio::test]
async fn denied_and_invalid_calls_are_logged_outcomes_that_return_normally() {
    for fault in [Fault::AccessDenied, Fault::Validation] {
        let (h, _, _) = native_rule(auto_apply(|_| {})).await;
        h.emulator.fail_next("ApplyArchiveRule", 1, fault.clone());
        let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
            .await
            .expect("a normal return: a retry would meet the same answer");
        let outcome = only_outcome(&summary);
        assert_eq!(outcome["outcome"], "refused", "{fault:?}");
        assert!(outcome["why"].as_str().unwrap().contains("Exception"));
    }
}

#[tokio::test]
async fn the_wait_is_bounded_and_a_failing_read_after_the_apply_still_counts_as_applied() {
    let (h, roles, _) = native_rule(auto_apply(|a| a.wait = Duration::from_secs(1))).await;
    h.emulator.set_apply_delay(Duration::from_secs(600));

    let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .unwrap();

    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "applied");
    assert_eq!(outcome["matched"], 4);
    assert_eq!(
        outcome["pending"], 4,
        "still ACTIVE when the 1 s wait ended"
    );
    assert_eq!(h.status_of(&roles[0]), FindingStatus::Active);

    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    h.emulator
        .fail_after("ListFindingsV2", 1, READ_ATTEMPTS, Fault::Internal);
    let summary = run(&h, &created(Caller::role(PIPELINE_ROLE)).event())
        .await
        .expect("the apply stood: a normal return");
    let outcome = only_outcome(&summary);
    assert_eq!(outcome["outcome"], "applied");
    assert_eq!(outcome["verified"], false);
    assert_eq!(h.active_ids().len(), 4);
}

#[tokio::test]
async fn eventbridge_events_are_ignored_unless_auto_apply_is_enabled() {
    let (h, _, _) = native_rule(test_settings()).await;
    for event in [
        created(Caller::role(PIPELINE_ROLE)).event(),
        scheduled_event(ACCOUNT, REGION, SCHEDULE_RULE),
    ] {
        let summary = run(&h, &event).await.expect("a normal return");
        assert!(summary["ignored"]
            .as_str()
            .unwrap()
            .contains("APPLIED_ARCHIVE_RULE_AUTO_APPLY"));
    }
    assert!(h.emulator.requests().is_empty());
    assert_eq!(h.active_ids().len(), 8);
}

#[tokio::test]
async fn malformed_and_unrelated_events_are_logged_and_do_nothing() {
    let (h, _, _) = native_rule(auto_apply(|_| {})).await;
    let mut no_rule = created(Caller::role(PIPELINE_ROLE)).event();
    no_rule["detail"]["requestParameters"]
        .as_object_mut()
        .unwrap()
        .remove("ruleName");
    let mut unrelated = created(Caller::role(PIPELINE_ROLE)).event();
    unrelated["detail-type"] = json!("EC2 Instance State-change Notification");
    for event in [no_rule, unrelated, json!({"detail-type": "x"})] {
        let summary = run(&h, &event).await.expect("a normal return");
        assert!(summary["ignored"].is_string(), "{summary}");
    }
    assert!(h.emulator.requests().is_empty());
}

/// SPEC §9.3: every rule of every ACTIVE, customer-managed analyzer in the narrowed list.
#[tokio::test]
async fn a_scheduled_event_reconciles_every_rule_of_every_applicable_analyzer() {
    let (h, roles, others) = native_rule(auto_apply(|a| {
        a.analyzers = Some(
            ["main", "second", "linked", "starting"]
                .map(str::to_owned)
                .to_vec(),
        )
    }))
    .await;
    h.emulator.put_archive_rule(
        ANALYZER,
        "public-buckets",
        json!({"isPublic": {"eq": ["true"]}}),
    );
    for (name, status, managed_by) in [
        ("second", "ACTIVE", None),
        ("linked", "ACTIVE", Some("securityhubv2.amazonaws.com")),
        ("starting", "CREATING", None),
        ("unlisted", "ACTIVE", None),
    ] {
        h.emulator.add_analyzer(name, "ACCOUNT");
        h.emulator.put_archive_rule(
            name,
            "everything-kms",
            json!({"resourceType": {"eq": ["AWS::KMS::Key"]}}),
        );
        h.emulator.add_finding(
            name,
            testkit::access_analyzer::FindingSeed::new(
                "AWS::KMS::Key",
                "arn:aws:kms:us-east-1:123456789012:key/k",
            ),
        );
        h.emulator.describe_analyzer(name, status, managed_by);
    }
    // The KMS findings were archived on arrival by their rule; set them back to ACTIVE.
    for name in ["second", "linked", "starting", "unlisted"] {
        let id = h.emulator.findings(name)[0].id.clone();
        h.emulator
            .set_finding_status(name, &id, FindingStatus::Active);
    }

    let summary = run(&h, &scheduled_event(ACCOUNT, REGION, SCHEDULE_RULE))
        .await
        .expect("a normal return");

    assert_eq!(summary["trigger"], "Schedule");
    let applied: Vec<(String, String)> = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["outcome"], "applied", "{o}");
            assert_eq!(o["trigger"], "Schedule");
            (
                o["analyzer"].as_str().unwrap().to_owned(),
                o["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        applied,
        [
            ("main".to_owned(), "public-buckets".to_owned()),
            ("main".to_owned(), "vendor-roles".to_owned()),
            ("second".to_owned(), "everything-kms".to_owned()),
        ]
    );
    for id in &roles {
        assert_eq!(h.status_of(id), FindingStatus::Archived);
    }
    assert_eq!(
        h.status_of(&others[3]),
        FindingStatus::Archived,
        "public bucket"
    );
    for name in ["linked", "starting", "unlisted"] {
        assert_eq!(
            h.emulator.findings(name)[0].status,
            FindingStatus::Active,
            "{name}"
        );
        assert!(
            h.emulator
                .requests()
                .iter()
                .all(|r| r.analyzer.as_deref().is_none_or(|a| !a.ends_with(name))),
            "no call names {name}"
        );
    }
}

#[tokio::test]
async fn a_reconcile_leaves_what_it_cannot_reach_in_time_for_the_next_run() {
    let mut settings = auto_apply(|a| {
        a.reconcile_concurrency = 1;
        a.wait = Duration::from_secs(2);
    });
    settings.timeout_margin = Duration::from_millis(500);
    let (h, _, _) = native_rule(settings).await;
    // Every apply waits its full 2 s for findings that never read ARCHIVED.
    for i in 0..6 {
        h.emulator.add_finding(
            ANALYZER,
            testkit::access_analyzer::FindingSeed::new(
                "AWS::S3::Bucket",
                format!("arn:aws:s3:::never-{i}"),
            ),
        );
    }
    // The rules come after their findings, which stay ACTIVE (a rule archives only new arrivals).
    for i in 0..6 {
        h.emulator.put_archive_rule(
            ANALYZER,
            &format!("more-{i}"),
            json!({"resource": {"eq": [format!("arn:aws:s3:::never-{i}")]}}),
        );
    }
    h.emulator.set_apply_delay(Duration::from_secs(600));

    // 7.5 s of work time: two rules of 2 s each start while 5 s or more are left, then no more.
    let summary = h
        .invoke_with(
            &scheduled_event(ACCOUNT, REGION, SCHEDULE_RULE),
            Duration::from_secs(8),
        )
        .await
        .expect("a normal return");

    let verdicts: Vec<&str> = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts.len(), 7, "{summary}");
    assert!(verdicts.contains(&"applied"), "{verdicts:?}");
    assert!(verdicts.contains(&"pending"), "{verdicts:?}");
    assert!(
        verdicts.iter().all(|v| *v == "applied" || *v == "pending"),
        "{verdicts:?}"
    );
    let applies = h.emulator.requests_for("ApplyArchiveRule").len();
    assert_eq!(
        applies,
        verdicts.iter().filter(|v| **v == "applied").count(),
        "a pending rule was not applied"
    );
}

#[tokio::test]
async fn a_schedule_with_caller_patterns_is_refused() {
    let (h, _, _) = native_rule(auto_apply(|a| {
        a.principals = vec![PIPELINE_ROLE.to_owned()]
    }))
    .await;
    let summary = run(&h, &scheduled_event(ACCOUNT, REGION, SCHEDULE_RULE))
        .await
        .unwrap();
    assert_eq!(only_outcome(&summary)["outcome"], "refused");
    assert!(h.emulator.requests().is_empty());
}
