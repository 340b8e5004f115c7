//! The fault matrix (issue 5): every Access Analyzer operation the provider calls × every way it can
//! fail × every request type it occurs in, and the response PUT × every way delivery can go wrong.
//!
//! Each case runs in its own [`Harness`] (the real SDK over HTTP to the emulator, a real receiver),
//! and asserts what SPEC §3/§4 promise: exactly one final response (or, when the PUT can never
//! succeed, an invocation error), the right Status, the right PhysicalResourceId, and the end state
//! once CloudFormation has played its next step (rollback Delete, rollback Update, cleanup Delete,
//! a retried Delete): no rule left behind, no rule the stack does not own changed or deleted,
//! findings archived only by a rule that exists.
//!
//! The test then renders what it ran and observed as the markdown between the markers in
//! `docs/reliability.md` and fails if the document says anything else;
//! `UPDATE_RELIABILITY_DOC=1 cargo test --test fault_matrix` rewrites that section.
//!
//! Every log line of every case is captured: the ResponseURL's presigned query string must never
//! appear in any of them, whatever path the case took.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use applied_archive_rule::error::InvocationError;
use applied_archive_rule::guard::panic_message;
use applied_archive_rule::handler::Settings;
use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingStatus};
use testkit::receiver::ResponseReceiver;
use tokio::sync::Semaphore;

/// The read of `ListFindingsV2` after `ApplyArchiveRule` (the first call of the operation is the
/// count before the apply): a call site of its own in the matrix.
const READ_AFTER_APPLY: &str = "ListFindingsV2 after the apply";
/// Cases that run at once; each has its own emulator and receiver.
const PARALLEL_CASES: usize = 16;
/// A rule of someone else's on the same analyzer: no case may change or delete it.
const FOREIGN_RULE: &str = "someone-elses";
const DOC_PATH: &str = "docs/reliability.md";
const START_MARKER: &str = "<!-- matrix:start -->";
const END_MARKER: &str = "<!-- matrix:end -->";

// ---------------------------------------------------------------------------------------------
// The cases

/// A request type, with the state of the world it meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Create,
    CreateIdenticalExists,
    CreateTakeOver,
    UpdateInPlace,
    UpdateInPlaceVanished,
    Replacement,
    ReplacementIdenticalExists,
    ReplacementCleanup,
    Delete,
}

const SCENARIOS: [Scenario; 9] = [
    Scenario::Create,
    Scenario::CreateIdenticalExists,
    Scenario::CreateTakeOver,
    Scenario::UpdateInPlace,
    Scenario::UpdateInPlaceVanished,
    Scenario::Replacement,
    Scenario::ReplacementIdenticalExists,
    Scenario::ReplacementCleanup,
    Scenario::Delete,
];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::Create => "Create",
            Scenario::CreateIdenticalExists => "Create, identical rule exists (adopted)",
            Scenario::CreateTakeOver => "Create, other rule exists, `AdoptExisting`",
            Scenario::UpdateInPlace => "Update in place",
            Scenario::UpdateInPlaceVanished => "Update in place, rule vanished (re-created)",
            Scenario::Replacement => "Update with replacement",
            Scenario::ReplacementIdenticalExists => {
                "Update with replacement, identical rule exists"
            }
            Scenario::ReplacementCleanup => {
                "Update with replacement, removing the new rule after `ApplyArchiveRule` AccessDenied"
            }
            Scenario::Delete => "Delete",
        }
    }

    /// The operations this request calls, in the order the matrix lists them.
    fn operations(self) -> &'static [&'static str] {
        match self {
            Scenario::Create | Scenario::Replacement => &[
                "CreateArchiveRule",
                "ListFindingsV2",
                "ApplyArchiveRule",
                READ_AFTER_APPLY,
            ],
            Scenario::CreateIdenticalExists => {
                &["GetArchiveRule", "ApplyArchiveRule", READ_AFTER_APPLY]
            }
            Scenario::CreateTakeOver => &[
                "GetArchiveRule",
                "UpdateArchiveRule",
                "ApplyArchiveRule",
                READ_AFTER_APPLY,
            ],
            Scenario::UpdateInPlace => &[
                "UpdateArchiveRule",
                "ListFindingsV2",
                "ApplyArchiveRule",
                READ_AFTER_APPLY,
            ],
            Scenario::UpdateInPlaceVanished => &["CreateArchiveRule"],
            Scenario::ReplacementIdenticalExists => &["GetArchiveRule"],
            Scenario::ReplacementCleanup | Scenario::Delete => &["DeleteArchiveRule"],
        }
    }

    fn is_create(self) -> bool {
        matches!(
            self,
            Scenario::Create | Scenario::CreateIdenticalExists | Scenario::CreateTakeOver
        )
    }

    fn is_replacement(self) -> bool {
        matches!(
            self,
            Scenario::Replacement
                | Scenario::ReplacementIdenticalExists
                | Scenario::ReplacementCleanup
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    ThrottleRecovers,
    ThrottlePersists,
    Internal,
    AccessDenied,
    Validation,
    NotFound,
    Conflict,
    Hang,
}

const FAULTS: [FaultKind; 8] = [
    FaultKind::ThrottleRecovers,
    FaultKind::ThrottlePersists,
    FaultKind::Internal,
    FaultKind::AccessDenied,
    FaultKind::Validation,
    FaultKind::NotFound,
    FaultKind::Conflict,
    FaultKind::Hang,
];

impl FaultKind {
    fn label(self) -> &'static str {
        match self {
            FaultKind::ThrottleRecovers => "throttled, recovers",
            FaultKind::ThrottlePersists => "throttled, persists",
            FaultKind::Internal => "500 on every attempt",
            FaultKind::AccessDenied => "AccessDenied",
            FaultKind::Validation => "Validation",
            FaultKind::NotFound => "ResourceNotFound",
            FaultKind::Conflict => "Conflict",
            FaultKind::Hang => "hangs past the deadline",
        }
    }

    /// What is queued on the emulator for `operation`: how many answers of which fault. Reads
    /// retry more patiently than writes (SPEC §3 step 4), so "every attempt" is more answers.
    fn injected(self, operation: &str) -> (usize, Fault) {
        let throttling = Fault::Throttling {
            retry_after_seconds: 0,
        };
        let attempts = attempts_of(operation);
        match self {
            FaultKind::ThrottleRecovers => (attempts - 1, throttling),
            FaultKind::ThrottlePersists => (attempts, throttling),
            FaultKind::Internal => (attempts, Fault::Internal),
            FaultKind::AccessDenied => (1, Fault::AccessDenied),
            FaultKind::Validation => (1, Fault::Validation),
            FaultKind::NotFound => (1, Fault::ResourceNotFound),
            FaultKind::Conflict => (1, Fault::Conflict),
            FaultKind::Hang => (1, Fault::Hang),
        }
    }

    /// ConflictException only ever comes from CreateArchiveRule.
    fn applies_to(self, operation: &str) -> bool {
        self != FaultKind::Conflict || operation == "CreateArchiveRule"
    }
}

/// The emulator's name for a call site, and how many calls of it are answered before the faults.
fn emulator_operation(operation: &str) -> (&str, usize) {
    if operation == READ_AFTER_APPLY {
        ("ListFindingsV2", 1)
    } else {
        (operation, 0)
    }
}

/// Attempts the harness' provider makes per call: the SDK's standard 3 for writes, the provider's
/// own more patient read retry for read-only calls.
fn attempts_of(operation: &str) -> usize {
    match emulator_operation(operation).0 {
        "GetArchiveRule" | "ListArchiveRules" | "GetAnalyzer" | "ListFindingsV2" => READ_ATTEMPTS,
        _ => WRITE_ATTEMPTS,
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    scenario: Scenario,
    operation: &'static str,
    fault: FaultKind,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{} / {} / {}",
            self.scenario.label(),
            self.operation,
            self.fault.label()
        )
    }
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for scenario in SCENARIOS {
        for &operation in scenario.operations() {
            for fault in FAULTS {
                if fault.applies_to(operation) {
                    cases.push(Case {
                        scenario,
                        operation,
                        fault,
                    });
                }
            }
        }
    }
    cases
}

/// Which PhysicalResourceId a response carries, in SPEC §3's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdKind {
    /// `applied-archive-rule:none:...`: nothing of the stack's exists.
    Marker,
    /// The declared rule's ARN (Create, or the replacement's new rule).
    RuleArn,
    /// The event's own PhysicalResourceId (Update in place, Delete).
    SameId,
    /// The event's PhysicalResourceId on a replacement: the old rule's ARN.
    IncomingId,
}

impl IdKind {
    fn label(self) -> &'static str {
        match self {
            IdKind::Marker => "marker",
            IdKind::RuleArn => "rule ARN",
            IdKind::SameId => "same id",
            IdKind::IncomingId => "incoming id",
        }
    }
}

/// What SPEC §3 says the response must be.
fn expected(case: &Case) -> (&'static str, IdKind) {
    let Case {
        scenario,
        operation,
        fault,
    } = *case;
    let failed_id = if scenario.is_create() {
        // The rule is ours once this request created it (CreateArchiveRule, which runs beside the
        // count, has answered) or took it over with AdoptExisting (UpdateArchiveRule has answered).
        let owned = match scenario {
            Scenario::Create => operation != "CreateArchiveRule",
            Scenario::CreateTakeOver => operation == "ApplyArchiveRule",
            _ => false,
        };
        if owned {
            IdKind::RuleArn
        } else {
            IdKind::Marker
        }
    } else if scenario.is_replacement() {
        IdKind::IncomingId
    } else {
        IdKind::SameId
    };
    let succeeds = match scenario {
        // The primary fault (ApplyArchiveRule AccessDenied) fails it whatever the cleanup meets.
        Scenario::ReplacementCleanup => false,
        // A rule (or analyzer) already gone is what Delete wants.
        Scenario::Delete => matches!(fault, FaultKind::ThrottleRecovers | FaultKind::NotFound),
        // Once the apply has succeeded, nothing that happens while verifying fails the operation.
        _ if operation == READ_AFTER_APPLY => true,
        _ => fault == FaultKind::ThrottleRecovers,
    };
    if !succeeds {
        return ("FAILED", failed_id);
    }
    let id = match scenario {
        Scenario::Create
        | Scenario::CreateIdenticalExists
        | Scenario::CreateTakeOver
        | Scenario::Replacement
        | Scenario::ReplacementIdenticalExists => IdKind::RuleArn,
        _ => IdKind::SameId,
    };
    ("SUCCESS", id)
}

// ---------------------------------------------------------------------------------------------
// Running one Access Analyzer case

/// What a case observed, for the document.
#[derive(Clone, Debug)]
struct Observed {
    case: Case,
    status: String,
    id: IdKind,
    /// Answers of the faulted operation that were faults (the provider's attempts that met them).
    faulted_answers: usize,
    next_step: &'static str,
    end_state: &'static str,
    caveat: Option<&'static str>,
}

fn foreign_rule_json() -> Value {
    json!({"resourceType": {"eq": ["AWS::KMS::Key"]}})
}

fn hang_settings() -> Settings {
    let mut settings = test_settings();
    settings.timeout_margin = Duration::from_millis(1500);
    settings
}

fn finding_states(h: &Harness) -> BTreeMap<String, FindingStatus> {
    h.emulator
        .findings(ANALYZER)
        .into_iter()
        .map(|f| (f.id, f.status))
        .collect()
}

/// Sets the world up for `scenario` and returns the event under test and the id of the stack's
/// rule before it (if any).
async fn prepare(h: &Harness, scenario: Scenario) -> (Value, Option<String>) {
    h.seed_findings();
    // After the findings, so that it archives none of them.
    h.emulator
        .put_archive_rule(ANALYZER, FOREIGN_RULE, foreign_rule_json());
    let setup_create = |name: &'static str| async move {
        let created = h
            .send(&h.create_event("R", rule(name, roles_filter())))
            .await;
        created.assert_success();
        created.physical_id
    };
    let (event, before) = match scenario {
        Scenario::Create => (h.create_event("R", rule("r", roles_filter())), None),
        Scenario::CreateIdenticalExists => {
            h.emulator
                .put_archive_rule(ANALYZER, "r", roles_rule_json());
            (h.create_event("R", rule("r", roles_filter())), None)
        }
        Scenario::CreateTakeOver => {
            h.emulator
                .put_archive_rule(ANALYZER, "r", buckets_rule_json());
            let mut props = rule("r", roles_filter());
            props["AdoptExisting"] = json!("true");
            (h.create_event("R", props), None)
        }
        Scenario::UpdateInPlace => {
            let id = setup_create("r").await;
            let event = h.change_event("R", &id, ("r", roles_filter()), ("r", buckets_filter()));
            (event, Some(id))
        }
        Scenario::UpdateInPlaceVanished => {
            let id = setup_create("r").await;
            h.delete_out_of_band("r").await;
            let event = h.change_event("R", &id, ("r", roles_filter()), ("r", buckets_filter()));
            (event, Some(id))
        }
        Scenario::Replacement | Scenario::ReplacementCleanup => {
            let id = setup_create("old").await;
            let event =
                h.change_event("R", &id, ("old", roles_filter()), ("new", buckets_filter()));
            (event, Some(id))
        }
        Scenario::ReplacementIdenticalExists => {
            let id = setup_create("old").await;
            h.emulator
                .put_archive_rule(ANALYZER, "new", buckets_rule_json());
            let event =
                h.change_event("R", &id, ("old", roles_filter()), ("new", buckets_filter()));
            (event, Some(id))
        }
        Scenario::Delete => {
            let id = setup_create("r").await;
            (
                h.delete_event("R", &id, rule("r", roles_filter())),
                Some(id),
            )
        }
    };
    h.emulator.clear_requests();
    (event, before)
}

/// What a `Reason` says of a fault: the AWS error code, or the time budget.
fn failure_named(fault: FaultKind) -> &'static str {
    match fault {
        FaultKind::ThrottleRecovers | FaultKind::ThrottlePersists => "ThrottlingException",
        FaultKind::Internal => "InternalServerException",
        FaultKind::AccessDenied => "AccessDeniedException",
        FaultKind::Validation => "ValidationException",
        FaultKind::NotFound | FaultKind::Conflict => "Exception",
        FaultKind::Hang => "time budget",
    }
}

fn classify(id: &str, event: &Value, declared_arn: &str) -> IdKind {
    let marker = format!(
        "applied-archive-rule:none:{}:{}",
        event["LogicalResourceId"].as_str().unwrap(),
        event["RequestId"].as_str().unwrap()
    );
    let incoming = event["PhysicalResourceId"].as_str();
    if id == marker {
        IdKind::Marker
    } else if Some(id) == incoming {
        if event["RequestType"] == "Update" && incoming != Some(declared_arn) {
            IdKind::IncomingId
        } else {
            IdKind::SameId
        }
    } else if id == declared_arn {
        IdKind::RuleArn
    } else {
        panic!("PhysicalResourceId {id:?} is none of marker, incoming id or declared rule ARN")
    }
}

async fn run_case(case: Case) -> Observed {
    let hangs = case.fault == FaultKind::Hang;
    let h = Harness::start_with(if hangs {
        hang_settings()
    } else {
        test_settings()
    })
    .await;
    let (event, before_id) = prepare(&h, case.scenario).await;
    if case.scenario == Scenario::ReplacementCleanup {
        h.deny_next("ApplyArchiveRule");
    }
    let (count, fault) = case.fault.injected(case.operation);
    let (operation, answered_first) = emulator_operation(case.operation);
    h.emulator
        .fail_after(operation, answered_first, count, fault);
    let findings_before = finding_states(&h);
    let declared_rule = match case.scenario {
        s if s.is_replacement() => "new",
        _ => "r",
    };
    let declared_arn = h.rule_arn(declared_rule);

    let budget = if hangs {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(60)
    };
    let started = Instant::now();
    let result = h.invoke_with(&event, budget).await;
    assert!(result.is_ok(), "the response was delivered: {result:?}");
    assert!(
        started.elapsed() < budget,
        "answered within the budget: {:?}",
        started.elapsed()
    );
    // Exactly one final response.
    let response = h.response_for(&event);
    let request_id = event["RequestId"].as_str().unwrap();
    assert_eq!(
        h.receiver
            .all_attempts()
            .iter()
            .filter(|a| a.name() == request_id)
            .count(),
        1,
        "one PUT, no second answer"
    );

    let (want_status, want_id) = expected(&case);
    assert_eq!(response.status, want_status, "reason: {}", response.reason);
    assert!(!response.physical_id.is_empty(), "never an empty id");
    let id = classify(&response.physical_id, &event, &declared_arn);
    assert_eq!(id, want_id, "PhysicalResourceId {}", response.physical_id);
    if response.status == "FAILED" {
        // Reason names what failed: the AWS error code, or the timeout.
        let code = if case.scenario == Scenario::ReplacementCleanup {
            "AccessDeniedException"
        } else {
            failure_named(case.fault)
        };
        assert!(response.reason.contains(code), "{}", response.reason);
    }

    // How many answers of the faulted operation were faults: the retries the SDK made.
    let faulted_answers = h
        .emulator
        .requests_for(operation)
        .iter()
        .filter(|r| r.status == 0 || r.status >= 400)
        .count();
    assert_eq!(
        faulted_answers, count,
        "every injected fault was met, none is left for the next step"
    );

    // Findings: a FAILED operation archived nothing; whatever this event archived was archived
    // by a rule that exists when the response goes out.
    let rules_now: BTreeSet<String> = h
        .emulator
        .archive_rules(ANALYZER)
        .into_iter()
        .map(|r| r.name)
        .collect();
    let changed: Vec<_> = h
        .emulator
        .findings(ANALYZER)
        .into_iter()
        .filter(|f| findings_before.get(&f.id) != Some(&f.status))
        .collect();
    if response.status == "FAILED" {
        assert!(
            changed.is_empty(),
            "a failed operation archived {changed:?}"
        );
    }
    for finding in &changed {
        assert_eq!(finding.status, FindingStatus::Archived);
        let by = finding.archived_by.as_deref().expect("archived by a rule");
        assert!(
            rules_now.contains(by),
            "{} archived by {by}, which does not exist",
            finding.id
        );
    }
    if response.status == "SUCCESS" && case.scenario != Scenario::Delete {
        let matched = if case.scenario.is_create() { 4 } else { 2 };
        assert_eq!(response.data("MatchedFindings"), matched.to_string());
        assert_eq!(changed.len(), matched, "the apply archived what matched");
        if case.operation == READ_AFTER_APPLY && case.fault != FaultKind::ThrottleRecovers {
            // No read after the apply succeeded: nothing is known to be archived.
            assert_eq!(response.data("ArchivedFindings"), "0");
            assert_eq!(response.data("PendingFindings"), matched.to_string());
            assert_eq!(response.data("Verified"), "false");
            assert!(
                response.reason.contains(failure_named(case.fault))
                    && response.reason.contains("not verified"),
                "the reason names what cut the verification short: {}",
                response.reason
            );
        } else {
            assert_eq!(response.data("ArchivedFindings"), matched.to_string());
            assert_eq!(response.data("PendingFindings"), "0");
            assert_eq!(response.data("Verified"), "true");
        }
    }

    let (next_step, end_state, caveat) =
        follow_up(&h, &case, &event, &response, before_id.as_deref()).await;

    // Whatever happened, the rule the stack does not own is exactly as it was.
    assert_eq!(
        h.rule_filter(FOREIGN_RULE),
        Some(foreign_rule_json()),
        "someone else's rule untouched"
    );
    Observed {
        case,
        status: response.status.clone(),
        id,
        faulted_answers,
        next_step,
        end_state,
        caveat,
    }
}

/// Plays CloudFormation's next step after the response and checks the end state.
/// Returns (the step, the end state, what the provider could not guarantee, if anything).
async fn follow_up(
    h: &Harness,
    case: &Case,
    event: &Value,
    response: &CfnResponse,
    before_id: Option<&str>,
) -> (&'static str, &'static str, Option<&'static str>) {
    let failed = response.status == "FAILED";
    let unverified = response.data.get("Verified").map(String::as_str) == Some("false");
    let roles = Some(roles_rule_json());
    let buckets = Some(buckets_rule_json());
    match case.scenario {
        Scenario::Create | Scenario::CreateIdenticalExists | Scenario::CreateTakeOver
            if !failed =>
        {
            assert_eq!(h.rule_filter("r"), roles);
            let state = if unverified {
                "rule has the declared filter; its findings are archived, answered unverified"
            } else {
                "rule has the declared filter"
            };
            ("none", state, None)
        }
        Scenario::Create | Scenario::CreateIdenticalExists | Scenario::CreateTakeOver => {
            h.emulator.clear_requests();
            let rollback = h.delete_event("R", &response.physical_id, rule("r", roles_filter()));
            h.send(&rollback).await.assert_success();
            let step = "rollback Delete";
            match (
                case.scenario,
                classify(&response.physical_id, event, &h.rule_arn("r")),
            ) {
                (_, IdKind::Marker) => {
                    assert!(
                        h.mutating_calls().is_empty(),
                        "a marker makes the rollback Delete do nothing"
                    );
                    let state = match case.scenario {
                        Scenario::Create => {
                            assert_eq!(h.rule_filter("r"), None);
                            "nothing was created; the Delete makes no call"
                        }
                        Scenario::CreateIdenticalExists => {
                            assert_eq!(h.rule_filter("r"), roles);
                            "the existing rule is left exactly as it was"
                        }
                        _ => {
                            assert_eq!(h.rule_filter("r"), buckets);
                            "the existing rule is left exactly as it was"
                        }
                    };
                    (step, state, None)
                }
                _ => {
                    assert_eq!(h.rule_filter("r"), None);
                    let state = if case.scenario == Scenario::CreateTakeOver {
                        "the rule taken over is removed by the Delete"
                    } else {
                        "the rule this request created is removed by the Delete"
                    };
                    (step, state, None)
                }
            }
        }
        Scenario::UpdateInPlace | Scenario::UpdateInPlaceVanished => {
            let id = before_id.unwrap();
            if !failed {
                assert_eq!(h.rule_filter("r"), buckets);
                let state = if unverified {
                    "rule has the new filter; its findings are archived, answered unverified"
                } else {
                    "rule has the new filter"
                };
                return ("none", state, None);
            }
            let rollback = h.change_event("R", id, ("r", buckets_filter()), ("r", roles_filter()));
            let restored = h.send(&rollback).await;
            restored.assert_success();
            assert_eq!(restored.physical_id, id);
            assert_eq!(h.rule_filter("r"), roles);
            (
                "rollback Update (old properties)",
                "the old filter is restored",
                None,
            )
        }
        Scenario::Replacement
        | Scenario::ReplacementIdenticalExists
        | Scenario::ReplacementCleanup => {
            let old_id = before_id.unwrap();
            assert_eq!(h.rule_filter("old"), roles, "the old rule is not touched");
            if !failed {
                let cleanup = h.delete_event("R", old_id, rule("old", roles_filter()));
                h.send(&cleanup).await.assert_success();
                assert_eq!(h.rule_filter("old"), None);
                assert_eq!(h.rule_filter("new"), buckets);
                let state = if unverified {
                    "only the new rule remains; its findings are archived, answered unverified"
                } else {
                    "only the new rule remains"
                };
                return ("cleanup Delete of the old id", state, None);
            }
            let (state, caveat) = match case.scenario {
                Scenario::ReplacementIdenticalExists => {
                    assert_eq!(h.rule_filter("new"), buckets);
                    (
                        "the pre-existing rule of the new name is left as it was",
                        None,
                    )
                }
                Scenario::ReplacementCleanup if h.rule_filter("new").is_some() => {
                    if case.fault == FaultKind::NotFound {
                        response.assert_reason_contains("deleted again");
                        (
                            "the service said the new rule was gone (injected 404); it is left",
                            Some("a ResourceNotFoundException is believed: the rule it names is taken as gone"),
                        )
                    } else {
                        assert!(
                            response.reason.contains("by hand"),
                            "the reason tells to delete it: {}",
                            response.reason
                        );
                        (
                            "the new rule is LEFT BEHIND; the reason says to delete it by hand",
                            Some("a failed replacement whose own cleanup Delete fails leaves the new rule behind"),
                        )
                    }
                }
                _ => {
                    assert_eq!(h.rule_filter("new"), None, "{}", response.reason);
                    ("no new rule is left; the old rule is kept", None)
                }
            };
            let rollback = h.change_event(
                "R",
                old_id,
                ("new", buckets_filter()),
                ("old", roles_filter()),
            );
            let restored = h.send(&rollback).await;
            restored.assert_success();
            assert_eq!(restored.physical_id, old_id);
            assert_eq!(h.rule_filter("old"), roles);
            ("rollback Update (old properties)", state, caveat)
        }
        Scenario::Delete => {
            let id = before_id.unwrap();
            if failed {
                assert_eq!(h.rule_filter("r"), roles, "a failed Delete keeps the rule");
                let retry = h.delete_event("R", id, rule("r", roles_filter()));
                h.send(&retry).await.assert_success();
                assert_eq!(h.rule_filter("r"), None);
                return (
                    "the stack's Delete is retried",
                    "the rule is kept, then removed by the retry",
                    None,
                );
            }
            if case.fault == FaultKind::NotFound {
                assert_eq!(h.rule_filter("r"), roles);
                return (
                    "none",
                    "the service said the rule was gone (injected 404); it is left",
                    Some("a ResourceNotFoundException is believed: the rule it names is taken as gone"),
                );
            }
            assert_eq!(h.rule_filter("r"), None);
            ("none", "the rule is removed", None)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The response PUT

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PutFault {
    TwoFailuresThenOk,
    AlwaysFails,
    ConnectionRefused,
    Slow,
}

const PUT_FAULTS: [PutFault; 4] = [
    PutFault::TwoFailuresThenOk,
    PutFault::AlwaysFails,
    PutFault::ConnectionRefused,
    PutFault::Slow,
];

impl PutFault {
    fn label(self) -> &'static str {
        match self {
            PutFault::TwoFailuresThenOk => "503 twice, then OK",
            PutFault::AlwaysFails => "503 forever",
            PutFault::ConnectionRefused => "connection refused",
            PutFault::Slow => "slow (each answer held 1 s)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PutRequest {
    Create,
    Update,
    Delete,
}

impl PutRequest {
    fn label(self) -> &'static str {
        match self {
            PutRequest::Create => "Create",
            PutRequest::Update => "Update in place",
            PutRequest::Delete => "Delete",
        }
    }
}

#[derive(Clone, Debug)]
struct PutObserved {
    fault: PutFault,
    request: PutRequest,
    attempts: usize,
    responses: usize,
    invocation: &'static str,
    then: &'static str,
    caveat: Option<&'static str>,
}

async fn run_put_case(fault: PutFault, request: PutRequest) -> PutObserved {
    let h = Harness::start().await;
    h.seed_findings();
    let event = match request {
        PutRequest::Create => h.create_event("R", rule("r", roles_filter())),
        PutRequest::Update | PutRequest::Delete => {
            let created = h.create_rule("R", "r", roles_filter()).await;
            created.assert_success();
            if request == PutRequest::Update {
                h.change_event(
                    "R",
                    &created.physical_id,
                    ("r", roles_filter()),
                    ("r", buckets_filter()),
                )
            } else {
                h.delete_event("R", &created.physical_id, rule("r", roles_filter()))
            }
        }
    };
    let mut event = event;
    let attempts_before = h.receiver.attempts();
    h.emulator.clear_requests();
    match fault {
        PutFault::TwoFailuresThenOk => h.receiver.fail_first(2),
        PutFault::AlwaysFails => h.receiver.fail_first(usize::MAX),
        PutFault::ConnectionRefused => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = closed.local_addr().unwrap().port();
            drop(closed);
            let name = event["RequestId"].as_str().unwrap().to_owned();
            event["ResponseURL"] = json!(format!(
                "http://127.0.0.1:{port}/cfn-response/{name}?X-Amz-Signature={}",
                ResponseReceiver::signature(&name)
            ));
        }
        PutFault::Slow => h.receiver.set_delay(Duration::from_secs(1)),
    }
    let request_id = event["RequestId"].as_str().unwrap().to_owned();
    let configured_attempts = h.provider.settings.delivery.attempts as usize;

    let result = h.invoke_with(&event, Duration::from_secs(60)).await;

    let attempts = h.receiver.attempts() - attempts_before;
    let responses = h.receiver.responses_for(&request_id).len();
    let end_rule = |h: &Harness| match request {
        PutRequest::Create => assert_eq!(h.rule_filter("r"), Some(roles_rule_json())),
        PutRequest::Update => assert_eq!(h.rule_filter("r"), Some(buckets_rule_json())),
        PutRequest::Delete => assert_eq!(h.rule_filter("r"), None),
    };
    let (invocation, then, caveat) = match fault {
        PutFault::TwoFailuresThenOk | PutFault::Slow => {
            assert!(result.is_ok(), "{result:?}");
            let want = if fault == PutFault::Slow { 1 } else { 3 };
            assert_eq!(attempts, want);
            assert_eq!(responses, 1, "exactly one final response");
            h.response_for(&event).assert_success();
            end_rule(&h);
            ("Ok", "CloudFormation has its answer", None)
        }
        PutFault::AlwaysFails => {
            assert!(
                matches!(result, Err(InvocationError::NotDelivered(_))),
                "{result:?}"
            );
            assert_eq!(attempts, configured_attempts);
            assert_eq!(responses, 0);
            // The work was done once; Lambda retries the event (same RequestId, same tokens).
            end_rule(&h);
            let first_calls = h.mutating_calls();
            h.emulator.clear_requests();
            h.receiver.fail_first(0);
            let retried = h.invoke_with(&event, Duration::from_secs(60)).await;
            assert!(retried.is_ok(), "{retried:?}");
            let response = h.response_for(&event);
            response.assert_success();
            end_rule(&h);
            let retry_calls = h.mutating_calls();
            if request != PutRequest::Delete {
                assert_eq!(
                    first_calls, retry_calls,
                    "the retry repeats the same calls with the same client tokens"
                );
            }
            assert!(h.emulator.archive_rules(ANALYZER).len() <= 1);
            (
                "error (NotDelivered)",
                "Lambda's retry of the event delivers SUCCESS; the work is repeated idempotently",
                None,
            )
        }
        PutFault::ConnectionRefused => {
            assert!(
                matches!(result, Err(InvocationError::NotDelivered(_))),
                "{result:?}"
            );
            assert_eq!(attempts, 0);
            assert_eq!(responses, 0);
            end_rule(&h);
            (
                "error (NotDelivered)",
                "the work is done but CloudFormation hears nothing until its own timeout",
                Some("a ResponseURL that refuses every connection leaves the stack waiting for CloudFormation's timeout (ServiceTimeout)"),
            )
        }
    };
    PutObserved {
        fault,
        request,
        attempts,
        responses,
        invocation,
        then,
        caveat,
    }
}

// ---------------------------------------------------------------------------------------------
// Log capture

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
}

// ---------------------------------------------------------------------------------------------
// The document

fn render(cases: &[Observed], puts: &[PutObserved]) -> String {
    let mut out = String::new();
    let w = &mut out;
    let total = cases.len() + puts.len();
    let count = |status: &str| cases.iter().filter(|c| c.status == status).count();
    let put_ok = puts.iter().filter(|p| p.invocation == "Ok").count();
    w.push_str(
        "_Generated by `tests/fault_matrix.rs` from the cases it ran and what it observed; ",
    );
    w.push_str("`make test` fails if this section differs from the run. ");
    w.push_str("Rewrite it with `UPDATE_RELIABILITY_DOC=1 cargo test --test fault_matrix`._\n\n");
    w.push_str(&format!(
        "**{total} cases**: {} Access Analyzer fault cases ({} SUCCESS, {} FAILED) and {} response-delivery cases \
         ({} delivered, {} not delivered). Every Access Analyzer case got exactly one response, within its time budget, \
         and left someone else's rule on the analyzer untouched.\n\n",
        cases.len(),
        count("SUCCESS"),
        count("FAILED"),
        puts.len(),
        put_ok,
        puts.len() - put_ok
    ));

    w.push_str("### Access Analyzer faults: Status and PhysicalResourceId\n\n");
    w.push_str("`marker`: `applied-archive-rule:none:<LogicalResourceId>:<RequestId>`, which names no rule; ");
    w.push_str("`rule ARN`: the declared rule's ARN; `same id` / `incoming id`: the event's PhysicalResourceId. ");
    w.push_str("`—`: the fault cannot occur there (only `CreateArchiveRule` answers ConflictException).\n\n");
    w.push_str("| request | operation |");
    for fault in FAULTS {
        w.push_str(&format!(" {} |", fault.label()));
    }
    w.push_str("\n|---|---|");
    for _ in FAULTS {
        w.push_str("---|");
    }
    w.push('\n');
    for scenario in SCENARIOS {
        for &operation in scenario.operations() {
            w.push_str(&format!("| {} | `{operation}` |", scenario.label()));
            for fault in FAULTS {
                let cell = cases
                    .iter()
                    .find(|c| {
                        c.case.scenario == scenario
                            && c.case.operation == operation
                            && c.case.fault == fault
                    })
                    .map(|c| format!("{} · {}", c.status, c.id.label()))
                    .unwrap_or_else(|| "—".to_owned());
                w.push_str(&format!(" {cell} |"));
            }
            w.push('\n');
        }
    }

    w.push_str("\n### How each fault was injected, and the attempts it met\n\n");
    w.push_str("| fault | answers queued on the emulator | faulted answers the provider met | cases |\n|---|---|---|---|\n");
    for fault in FAULTS {
        let of: Vec<_> = cases.iter().filter(|c| c.case.fault == fault).collect();
        let counts = |pick: &dyn Fn(&Observed) -> usize| {
            let distinct: BTreeSet<usize> = of.iter().map(|c| pick(c)).collect();
            distinct
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let queued = counts(&|c| fault.injected(c.case.operation).0);
        let met = counts(&|c| c.faulted_answers);
        let (_, injected) = fault.injected("");
        w.push_str(&format!(
            "| {} | {queued} × {} | {met} | {} |\n",
            fault.label(),
            fault_name(&injected),
            of.len()
        ));
    }

    w.push_str("\n### End state once CloudFormation played its next step\n\n");
    w.push_str("| request | response | CloudFormation's next step | end state | cases |\n|---|---|---|---|---|\n");
    let mut groups: BTreeMap<(Scenario, String, &str, &str), usize> = BTreeMap::new();
    for c in cases {
        *groups
            .entry((
                c.case.scenario,
                format!("{} · {}", c.status, c.id.label()),
                c.next_step,
                c.end_state,
            ))
            .or_default() += 1;
    }
    for ((scenario, response, step, state), n) in &groups {
        w.push_str(&format!(
            "| {} | {response} | {step} | {state} | {n} |\n",
            scenario.label()
        ));
    }

    w.push_str("\n### The response PUT\n\n");
    w.push_str("| PUT fault | request | PUT attempts | responses received | invocation | then |\n|---|---|---|---|---|---|\n");
    for p in puts {
        w.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            p.fault.label(),
            p.request.label(),
            p.attempts,
            p.responses,
            p.invocation,
            p.then
        ));
    }

    w.push_str("\n### What the provider cannot guarantee (seen in this run)\n\n");
    let mut caveats: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in cases {
        if let Some(caveat) = c.caveat {
            caveats.entry(caveat).or_default().push(format!(
                "{} / `{}` / {}",
                c.case.scenario.label(),
                c.case.operation,
                c.case.fault.label()
            ));
        }
    }
    for p in puts {
        if let Some(caveat) = p.caveat {
            caveats.entry(caveat).or_default().push(format!(
                "{} / PUT {}",
                p.request.label(),
                p.fault.label()
            ));
        }
    }
    w.push_str("| what | cases | where |\n|---|---|---|\n");
    for (caveat, wheres) in &caveats {
        w.push_str(&format!(
            "| {caveat} | {} | {} |\n",
            wheres.len(),
            wheres.join("; ")
        ));
    }
    out
}

fn fault_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Throttling { .. } => "ThrottlingException (429)",
        Fault::Internal => "InternalServerException (500)",
        Fault::AccessDenied => "AccessDeniedException (403)",
        Fault::Validation => "ValidationException (400)",
        Fault::ResourceNotFound => "ResourceNotFoundException (404)",
        Fault::Conflict => "ConflictException (409)",
        Fault::ServiceQuotaExceeded => "ServiceQuotaExceededException (402)",
        Fault::Hang => "no answer",
    }
}

/// Compares the generated section with the document, or rewrites it with `UPDATE_RELIABILITY_DOC=1`.
fn check_document(section: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC_PATH);
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = doc
        .find(START_MARKER)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no {START_MARKER}"))
        + START_MARKER.len();
    let end = doc
        .find(END_MARKER)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no {END_MARKER}"));
    let current = doc[start..end].trim();
    if current == section.trim() {
        return;
    }
    if std::env::var("UPDATE_RELIABILITY_DOC").as_deref() == Ok("1") {
        let updated = format!("{}\n{}\n{}", &doc[..start], section.trim(), &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        eprintln!("rewrote the matrix in {}", path.display());
        return;
    }
    let diff: Vec<String> = current
        .lines()
        .zip(section.trim().lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .take(5)
        .map(|(i, (a, b))| format!("line {}:\n  doc: {a}\n  run: {b}", i + 1))
        .collect();
    panic!(
        "{DOC_PATH} does not match this run ({} lines in the document, {} from the run); first differences:\n{}\n\
         run `UPDATE_RELIABILITY_DOC=1 cargo test --test fault_matrix` and commit the result",
        current.lines().count(),
        section.trim().lines().count(),
        diff.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fault_matrix_holds_and_matches_docs_reliability_md() {
    let logs = captured_logs();
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(PARALLEL_CASES));

    let cases = all_cases();
    let mut tasks = Vec::new();
    for case in cases.iter().copied() {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            run_case(case).await
        }));
    }
    let mut put_tasks = Vec::new();
    for fault in PUT_FAULTS {
        for request in [PutRequest::Create, PutRequest::Update, PutRequest::Delete] {
            let limit = limit.clone();
            put_tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                run_put_case(fault, request).await
            }));
        }
    }

    let mut observed = Vec::new();
    let mut failures = Vec::new();
    for (case, task) in cases.iter().zip(tasks) {
        match task.await {
            Ok(o) => observed.push(o),
            Err(e) => failures.push(format!("{}: {}", case.name(), panic_message(e))),
        }
    }
    let mut puts = Vec::new();
    for task in put_tasks {
        match task.await {
            Ok(p) => puts.push(p),
            Err(e) => failures.push(format!("response PUT case: {}", panic_message(e))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len() + PUT_FAULTS.len() * 3,
        failures.join("\n")
    );
    eprintln!(
        "{} cases in {:.1} s",
        observed.len() + puts.len(),
        started.elapsed().as_secs_f64()
    );

    // The presigned query string never reaches a log line, on any path the matrix took.
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("/cfn-response/"), "the logs were captured");
    assert!(
        !text.contains("SECRETSIGNATURE") && !text.contains("X-Amz-Signature"),
        "a log line holds the ResponseURL's query string"
    );

    check_document(&render(&observed, &puts));
}
