//! The real `bootstrap` binary, end to end: spawned as Lambda would spawn it, fed events by a fake
//! Lambda Runtime API, calling the Access Analyzer emulator through the real SDK, answering the
//! response receiver.
//!
//! The binary under test is `$APPLIED_ARCHIVE_RULE_BOOTSTRAP` when set (`make test` points it at the
//! release build), otherwise the debug build Cargo made for this test.

mod common;

use std::time::Duration;

use common::{
    buckets_filter, roles_filter, roles_rule_json, rule, CfnResponse, Harness, ANALYZER,
    RESOURCE_TYPE, STACK_ID,
};
use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingSeed, FindingStatus};
use testkit::receiver::ResponseReceiver;
use testkit::runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome};

const FUNCTION_NAME: &str = "applied-archive-rule-provider";
const WAIT: Duration = Duration::from_secs(60);

fn bootstrap_binary() -> String {
    std::env::var("APPLIED_ARCHIVE_RULE_BOOTSTRAP")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned())
}

struct Lambda {
    h: Harness,
    runtime: FakeRuntime,
    process: BootstrapProcess,
}

impl Lambda {
    async fn start(extra_env: &[(&str, &str)]) -> Lambda {
        let h = Harness::start().await;
        let runtime = FakeRuntime::start().await.expect("fake runtime starts");
        let mut env = vec![
            (
                "AWS_ENDPOINT_URL_ACCESSANALYZER".to_owned(),
                h.emulator.endpoint_url(),
            ),
            (
                "APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL".to_owned(),
                "true".to_owned(),
            ),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let process = BootstrapProcess::spawn(bootstrap_binary(), &runtime, FUNCTION_NAME, env)
            .expect("bootstrap spawns");
        Lambda {
            h,
            runtime,
            process,
        }
    }

    /// Queues `payload`, waits for the invocation to end, and returns how it ended.
    async fn invoke(&self, payload: Value, deadline: Deadline) -> InvocationOutcome {
        let id = self.runtime.queue_event(payload, deadline);
        match self.runtime.wait_for_outcome(&id, WAIT).await {
            Some(outcome) => outcome,
            None => panic!(
                "no outcome for {id}; logs:\n{}",
                self.process.logs().join("\n")
            ),
        }
    }

    async fn invoke_ok(&self, event: &Value) -> CfnResponse {
        let outcome = self
            .invoke(event.clone(), Deadline::In(Duration::from_secs(30)))
            .await;
        assert!(
            matches!(outcome, InvocationOutcome::Response(_)),
            "{outcome:?}; logs:\n{}",
            self.process.logs().join("\n")
        );
        self.h.response_for(event)
    }

    fn logs(&self) -> String {
        self.process.logs().join("\n")
    }
}

#[tokio::test]
async fn the_release_scenario_archives_the_four_role_findings_and_nothing_else() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;
    let (roles, others) = h.seed_findings();
    let event = h.create_event("IgnoreVendorRoles", rule("vendor-roles", roles_filter()));

    let response = lambda.invoke_ok(&event).await;

    response.assert_success();
    assert_eq!(response.raw.content_type.as_deref(), Some(""));
    assert_eq!(response.physical_id, h.rule_arn("vendor-roles"));
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
    let late = h.emulator.add_finding(
        ANALYZER,
        FindingSeed::new(
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/added-later",
        ),
    );
    assert_eq!(late.status, FindingStatus::Archived);

    // The log is the evidence: every archived id, structured lines with the event's identity,
    // and each AWS call with its duration. The presigned signature never appears.
    let logs = lambda.logs();
    for id in &roles {
        assert!(logs.contains(id.as_str()), "finding {id} not logged");
    }
    let json_lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!json_lines.is_empty(), "logs are JSON on Lambda:\n{logs}");
    let apply_line = json_lines
        .iter()
        .find(|l| l["operation"] == json!("ApplyArchiveRule"))
        .expect("ApplyArchiveRule is logged");
    assert!(apply_line["duration_ms"].is_u64());
    let span = &apply_line["span"];
    assert_eq!(span["request_id"], event["RequestId"]);
    assert_eq!(span["logical_resource_id"], json!("IgnoreVendorRoles"));
    assert_eq!(span["stack_id"], json!(STACK_ID));
    assert_eq!(span["request_type"], json!("Create"));
    let signature = ResponseReceiver::signature(event["RequestId"].as_str().unwrap());
    assert!(
        !logs.contains(&signature),
        "the ResponseURL query string leaked into the logs"
    );
}

#[tokio::test]
async fn create_update_delete_through_the_binary() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;
    h.seed_findings();
    let created = lambda
        .invoke_ok(&h.create_event("R", rule("r", roles_filter())))
        .await;
    created.assert_success();

    let update = h.change_event(
        "R",
        &created.physical_id,
        ("r", roles_filter()),
        ("r", buckets_filter()),
    );
    let updated = lambda.invoke_ok(&update).await;
    updated.assert_success();
    assert_eq!(updated.physical_id, created.physical_id);
    assert_eq!(updated.data("ArchivedFindings"), "2");

    let deleted = lambda
        .invoke_ok(&h.delete_event("R", &created.physical_id, rule("r", buckets_filter())))
        .await;
    deleted.assert_success();
    assert!(h.emulator.archive_rules(ANALYZER).is_empty());
}

#[tokio::test]
async fn a_hung_call_is_answered_failed_before_the_lambda_deadline() {
    let lambda = Lambda::start(&[("APPLIED_ARCHIVE_RULE_TIMEOUT_MARGIN_MS", "2000")]).await;
    let h = &lambda.h;
    h.emulator.fail_next("CreateArchiveRule", 1, Fault::Hang);
    let event = h.create_event("R", rule("r", roles_filter()));

    let outcome = lambda
        .invoke(event.clone(), Deadline::In(Duration::from_secs(5)))
        .await;

    assert!(
        matches!(outcome, InvocationOutcome::Response(_)),
        "{outcome:?}"
    );
    let response = h.response_for(&event);
    response.assert_failed();
    response.assert_reason_contains("timed out");
}

const PANIC_HOOK: &str = "APPLIED_ARCHIVE_RULE_TEST_PANIC_ON_LOGICAL_ID";

/// The panic hook exists only with the `test-hooks` feature (SPEC §5): in the debug build Cargo made
/// for this run when the feature is on (`make test` turns it on), never in the release build that
/// `$APPLIED_ARCHIVE_RULE_BOOTSTRAP` names.
#[cfg(feature = "test-hooks")]
#[tokio::test]
async fn a_panic_is_answered_failed_and_the_process_serves_the_next_event() {
    if std::env::var_os("APPLIED_ARCHIVE_RULE_BOOTSTRAP").is_some() {
        eprintln!("the binary under test is a release build, which has no panic hook");
        return;
    }
    let lambda = Lambda::start(&[(PANIC_HOOK, "Boom")]).await;
    let h = &lambda.h;

    let boom = lambda
        .invoke_ok(&h.create_event("Boom", rule("r", roles_filter())))
        .await;
    boom.assert_failed();
    boom.assert_reason_contains("panicked");

    lambda
        .invoke_ok(&h.create_event("Fine", rule("r", roles_filter())))
        .await
        .assert_success();
}

/// A binary built without the `test-hooks` feature: the release build `make test` names in
/// `$APPLIED_ARCHIVE_RULE_BOOTSTRAP`, or Cargo's own build when this run has the feature off.
fn binary_without_test_hooks() -> Option<String> {
    if let Ok(release) = std::env::var("APPLIED_ARCHIVE_RULE_BOOTSTRAP") {
        return Some(release);
    }
    (!cfg!(feature = "test-hooks")).then(|| env!("CARGO_BIN_EXE_bootstrap").to_owned())
}

#[tokio::test]
async fn the_release_bootstrap_ignores_the_panic_hook_and_does_not_contain_its_name() {
    let Some(binary) = binary_without_test_hooks() else {
        eprintln!("the binary under test was built with test-hooks; `make test` runs this test against the release build");
        return;
    };
    let bytes = std::fs::read(&binary).expect("the bootstrap binary is readable");
    assert!(
        !bytes
            .windows(PANIC_HOOK.len())
            .any(|w| w == PANIC_HOOK.as_bytes()),
        "{binary} contains the name of the test hook"
    );

    let lambda = Lambda::start(&[(PANIC_HOOK, "Boom")]).await;
    let h = &lambda.h;
    let response = lambda
        .invoke_ok(&h.create_event("Boom", rule("r", roles_filter())))
        .await;
    response.assert_success();
    assert_eq!(h.rule_filter("r"), Some(roles_rule_json()));
}

#[tokio::test]
async fn malformed_events_get_failed_when_they_say_where_and_an_error_otherwise() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;

    let mut no_fields = h.create_event("R", rule("r", roles_filter()));
    for key in ["ResourceType", "LogicalResourceId"] {
        no_fields.as_object_mut().unwrap().remove(key);
    }
    let response = lambda.invoke_ok(&no_fields).await;
    response.assert_failed();
    response.assert_reason_contains("malformed event");

    let unknown = {
        let mut e = h.create_event("R", rule("r", roles_filter()));
        e["RequestType"] = json!("Rollback");
        e
    };
    lambda.invoke_ok(&unknown).await.assert_failed();

    for payload in [
        json!("not an event"),
        json!({"hello": "world"}),
        json!([1, 2]),
    ] {
        let outcome = lambda
            .invoke(payload.clone(), Deadline::In(Duration::from_secs(30)))
            .await;
        assert!(
            matches!(outcome, InvocationOutcome::Error { .. }),
            "{payload}: {outcome:?}"
        );
    }
    assert!(h.emulator.requests().is_empty());
}

#[tokio::test]
async fn an_sns_delivered_event_is_handled() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;
    h.seed_findings();
    let event = h.create_event("R", rule("r", roles_filter()));
    let sns =
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": event.to_string()}}]});

    let outcome = lambda
        .invoke(sns, Deadline::In(Duration::from_secs(30)))
        .await;

    assert!(
        matches!(outcome, InvocationOutcome::Response(_)),
        "{outcome:?}"
    );
    let response = h.response_for(&event);
    response.assert_success();
    assert_eq!(response.data("ArchivedFindings"), "4");
}

#[tokio::test]
async fn a_bogus_deadline_like_cargo_lambda_watch_sends_still_succeeds() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;
    let event = h.create_event("R", rule("r", roles_filter()));

    let outcome = lambda
        .invoke(event.clone(), Deadline::EpochMillis(600_000))
        .await;

    assert!(
        matches!(outcome, InvocationOutcome::Response(_)),
        "{outcome:?}"
    );
    h.response_for(&event).assert_success();
}

#[tokio::test]
async fn a_refused_response_url_gets_no_put_no_call_and_a_redacted_log_line() {
    let lambda = Lambda::start(&[]).await;
    let h = &lambda.h;
    let mut event = h.create_event("R", rule("r", roles_filter()));
    event["ResponseURL"] =
        json!("https://collector.example.net/cfn/abc?X-Amz-Signature=TOPSECRETSIGNATURE");

    let outcome = lambda
        .invoke(event, Deadline::In(Duration::from_secs(30)))
        .await;

    assert!(
        matches!(outcome, InvocationOutcome::Error { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.receiver.attempts(), 0);
    assert!(h.emulator.requests().is_empty());
    let logs = lambda.logs();
    assert!(
        logs.contains("https://collector.example.net/cfn/abc"),
        "{logs}"
    );
    assert!(!logs.contains("TOPSECRETSIGNATURE"), "{logs}");
}

#[tokio::test]
async fn the_resource_type_in_events_is_the_custom_type() {
    // Guards the test fixtures themselves: events carry the type CloudFormation sends.
    let lambda = Lambda::start(&[]).await;
    let event = lambda.h.create_event("R", rule("r", roles_filter()));
    assert_eq!(event["ResourceType"], json!(RESOURCE_TYPE));
    lambda.invoke_ok(&event).await.assert_success();
}

mod auto_apply {
    //! SPEC §9 through the real `bootstrap`: an EventBridge invocation has no response URL; its
    //! result is the invocation's own response, or an error for Lambda's asynchronous retry.

    use testkit::events::{scheduled_event, Caller, RuleChange};

    use super::*;
    use crate::common::{roles_rule_json, ACCOUNT, REGION};

    const PIPELINE: &str = "arn:aws:iam::123456789012:role/pipelines/terraform";

    fn auto_apply_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut env = vec![
            ("APPLIED_ARCHIVE_RULE_AUTO_APPLY", "true"),
            (
                "APPLIED_ARCHIVE_RULE_ROLE_ARN",
                "arn:aws:iam::123456789012:role/applied-archive-rule-ProviderRole-1A2B3C",
            ),
            ("APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS", "10"),
        ];
        env.extend_from_slice(extra);
        env
    }

    fn change(rule: &str) -> RuleChange {
        RuleChange::create(ACCOUNT, REGION, ANALYZER, rule, roles_rule_json())
    }

    async fn invoke_event(lambda: &Lambda, event: &Value) -> InvocationOutcome {
        lambda
            .invoke(event.clone(), Deadline::In(Duration::from_secs(30)))
            .await
    }

    fn summary_of(outcome: &InvocationOutcome, logs: &str) -> Value {
        match outcome {
            InvocationOutcome::Response(summary) => summary.clone(),
            other => panic!("expected a response, got {other:?}; logs:\n{logs}"),
        }
    }

    #[tokio::test]
    async fn the_bootstrap_applies_a_rule_from_its_cloudtrail_create_archive_rule_event() {
        let lambda = Lambda::start(&auto_apply_env(&[(
            "APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS",
            "arn:aws:iam::123456789012:role/pipelines/*",
        )]))
        .await;
        let h = &lambda.h;
        let (roles, others) = h.seed_findings();
        h.emulator
            .put_archive_rule(ANALYZER, "vendor-roles", roles_rule_json());
        let event = change("vendor-roles").by(Caller::role(PIPELINE)).event();

        let outcome = invoke_event(&lambda, &event).await;

        let summary = summary_of(&outcome, &lambda.logs());
        let rule = &summary["outcomes"][0];
        assert_eq!(rule["outcome"], "applied", "{summary}");
        assert_eq!(rule["caller"], PIPELINE);
        assert_eq!(rule["archived"], 4);
        for id in &roles {
            assert_eq!(h.status_of(id), FindingStatus::Archived);
        }
        for id in &others {
            assert_eq!(h.status_of(id), FindingStatus::Active);
        }
        let logs = lambda.logs();
        let lines: Vec<Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let line = lines
            .iter()
            .find(|l| l["message"] == "auto-apply outcome")
            .unwrap_or_else(|| panic!("the outcome line:\n{logs}"));
        for (field, value) in [
            ("trigger", json!("CreateArchiveRule")),
            ("caller", json!(PIPELINE)),
            ("analyzer", json!(ANALYZER)),
            ("rule", json!("vendor-roles")),
            ("outcome", json!("applied")),
            ("matched", json!(4)),
            ("archived", json!(4)),
            ("pending", json!(0)),
            ("verified", json!(true)),
        ] {
            assert_eq!(line[field], value, "{field} in {line}");
        }
        for id in &roles {
            assert!(logs.contains(id.as_str()), "the evidence names {id}");
        }
        let metrics = lines
            .iter()
            .find(|l| l["_aws"]["CloudWatchMetrics"].is_array())
            .unwrap_or_else(|| panic!("an EMF line:\n{logs}"));
        assert_eq!(metrics["Trigger"], "CreateArchiveRule");
        assert_eq!(metrics["Analyzer"], ANALYZER);
        assert_eq!(metrics["ArchivedFindings"], 4);
        assert_eq!(metrics["AutoApplyRefused"], 0);
    }

    #[tokio::test]
    async fn the_bootstrap_skips_refuses_supersedes_and_asks_for_a_retry_as_spec_9_2_says() {
        let lambda = Lambda::start(&auto_apply_env(&[(
            "APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS",
            "arn:aws:iam::123456789012:role/pipelines/*",
        )]))
        .await;
        let h = &lambda.h;
        h.seed_findings();
        h.emulator
            .put_archive_rule(ANALYZER, "vendor-roles", roles_rule_json());
        let allowed = || change("vendor-roles").by(Caller::role(PIPELINE));
        let verdict = |summary: &Value| summary["outcomes"][0]["outcome"].clone();

        let failed = allowed()
            .failed("ValidationException", "bad filter")
            .event();
        let summary = summary_of(&invoke_event(&lambda, &failed).await, &lambda.logs());
        assert_eq!(verdict(&summary), "skipped");

        let outsider = change("vendor-roles")
            .by(Caller::user("arn:aws:iam::123456789012:user/mallory"))
            .event();
        let summary = summary_of(&invoke_event(&lambda, &outsider).await, &lambda.logs());
        assert_eq!(verdict(&summary), "refused");
        assert!(h.mutating_calls().is_empty(), "nothing applied");

        let stale = RuleChange::create(
            ACCOUNT,
            REGION,
            ANALYZER,
            "vendor-roles",
            json!({"resourceType": {"eq": ["AWS::KMS::Key"]}}),
        )
        .by(Caller::role(PIPELINE))
        .event();
        let summary = summary_of(&invoke_event(&lambda, &stale).await, &lambda.logs());
        assert_eq!(verdict(&summary), "superseded");
        assert!(h.mutating_calls().is_empty());

        // Throttled on every attempt of the apply: the invocation fails, so Lambda retries it.
        h.emulator.fail_next(
            "ApplyArchiveRule",
            3,
            Fault::Throttling {
                retry_after_seconds: 0,
            },
        );
        let event = allowed().event();
        let outcome = invoke_event(&lambda, &event).await;
        assert!(
            matches!(outcome, InvocationOutcome::Error { .. }),
            "{outcome:?}"
        );
        assert_eq!(h.active_ids().len(), 8);
        let retried = summary_of(&invoke_event(&lambda, &event).await, &lambda.logs());
        assert_eq!(verdict(&retried), "applied");
        assert_eq!(h.active_ids().len(), 4);
    }

    #[tokio::test]
    async fn the_bootstrap_reconciles_every_rule_on_a_scheduled_event() {
        let lambda = Lambda::start(&auto_apply_env(&[(
            "APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS",
            "100",
        )]))
        .await;
        let h = &lambda.h;
        h.seed_findings();
        h.emulator
            .put_archive_rule(ANALYZER, "vendor-roles", roles_rule_json());
        h.emulator.put_archive_rule(
            ANALYZER,
            "public-buckets",
            json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}, "isPublic": {"eq": ["true"]}}),
        );
        let event = scheduled_event(
            ACCOUNT,
            REGION,
            "arn:aws:events:us-east-1:123456789012:rule/reconcile",
        );

        let summary = summary_of(&invoke_event(&lambda, &event).await, &lambda.logs());

        assert_eq!(summary["trigger"], "Schedule");
        assert_eq!(summary["counts"]["applied"], 2, "{summary}");
        assert_eq!(
            h.active_ids().len(),
            2,
            "the KMS key and the queue match no rule"
        );
    }

    #[tokio::test]
    async fn the_cloudformation_provider_ignores_eventbridge_events() {
        let lambda = Lambda::start(&[]).await;
        let h = &lambda.h;
        h.seed_findings();
        h.emulator
            .put_archive_rule(ANALYZER, "vendor-roles", roles_rule_json());

        let outcome = invoke_event(&lambda, &change("vendor-roles").event()).await;

        let summary = summary_of(&outcome, &lambda.logs());
        assert!(summary["ignored"].is_string(), "{summary}");
        assert!(h.emulator.requests().is_empty());
        assert_eq!(h.active_ids().len(), 8);
    }
}
