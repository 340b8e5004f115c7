//! Auto-apply (SPEC §9): the CloudTrail events of `CreateArchiveRule` / `UpdateArchiveRule` made
//! by any tool, and a schedule, apply the rules to their existing findings through the same apply
//! engine as the resource types. It never creates, changes or deletes a rule, and it acts only in
//! a function deployed for it (`APPLIED_ARCHIVE_RULE_AUTO_APPLY=true`).

pub mod caller;
mod cloudtrail;
pub mod event;
mod reconcile;
pub mod settings;

use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::Instrument;

use crate::access_analyzer::AccessAnalyzer;
use crate::apply::{self, ApplyReport, ApplySettings, Rule};
use crate::arn::{function_location, Analyzer, Location};
use crate::error::{AwsError, InvocationError, ProviderError};
use crate::handler::{lambda_budget, Invocation, Provider};
use crate::metrics::{self, Trigger};
use crate::token::stable_token;
pub use event::is_eventbridge_event;
use event::{Event, RuleChange};
use settings::AutoApplySettings;

/// What became of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Applied,
    /// Not ours to apply: a failed call, another account or region, the provider's own change, an
    /// analyzer outside the narrowed list, a malformed event.
    Skipped,
    /// A guard said no (a caller outside the patterns, too many findings), or the service did.
    Refused,
    /// The rule changed again since this event; the later change has its own event.
    Superseded,
    /// The rule or its analyzer no longer exists.
    Gone,
    /// A reconcile did not reach it, or met a transient failure: the next run applies it.
    Pending,
}

/// One rule's outcome: the log line a reviewer reads, and a member of the invocation's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleOutcome {
    pub trigger: &'static str,
    pub caller: Option<String>,
    pub analyzer: String,
    pub rule: String,
    pub outcome: Verdict,
    pub why: String,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
    pub verified: bool,
}

impl RuleOutcome {
    /// An outcome with nothing counted yet.
    fn of(
        trigger: Trigger,
        caller: Option<String>,
        analyzer: &str,
        rule: &str,
        outcome: Verdict,
        why: String,
    ) -> RuleOutcome {
        RuleOutcome {
            trigger: trigger.as_str(),
            caller,
            analyzer: analyzer.to_owned(),
            rule: rule.to_owned(),
            outcome,
            why,
            matched: 0,
            archived: 0,
            pending: 0,
            verified: false,
        }
    }
}

/// What one invocation shares.
struct Context<'a> {
    settings: &'a AutoApplySettings,
    /// The function's own account and region: the only place it acts.
    location: Location,
    /// When the work must be over, the margin before Lambda's deadline taken off.
    deadline: Instant,
    event_id: String,
}

/// A failure the event should be run again for (throttling, 5xx, a timeout before the apply).
struct Transient(String);

/// Handles one EventBridge event. Returns the summary, or an error when Lambda's asynchronous retry
/// should run the event again.
pub async fn handle<A: AccessAnalyzer>(
    provider: &Provider<A>,
    payload: Value,
    invocation: &Invocation,
) -> Result<Value, InvocationError> {
    let field = |name: &str| {
        payload
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let span = tracing::info_span!(
        "eventbridge_event",
        event_id = %field("id"),
        detail_type = %field("detail-type"),
    );
    handle_event(provider, payload, invocation)
        .instrument(span)
        .await
}

async fn handle_event<A: AccessAnalyzer>(
    provider: &Provider<A>,
    payload: Value,
    invocation: &Invocation,
) -> Result<Value, InvocationError> {
    let settings = &provider.settings;
    if !settings.auto_apply.enabled {
        // The CloudFormation provider never acts on CloudTrail events: anyone who may put an event
        // on a bus that targets it could forge one.
        tracing::warn!(
            "an EventBridge event reached a function not deployed for auto-apply; ignored"
        );
        return Ok(
            json!({"ignored": "auto-apply is not enabled on this function (APPLIED_ARCHIVE_RULE_AUTO_APPLY)"}),
        );
    }
    let event = match Event::read(&payload) {
        Ok(event) => event,
        Err(why) => {
            tracing::warn!(%why, "auto-apply: the event is malformed; nothing done");
            return Ok(json!({"ignored": why}));
        }
    };
    let Some(location) = function_location(&invocation.invoked_function_arn) else {
        let why = format!(
            "the function's own ARN {:?} does not say its account and region; nothing done",
            invocation.invoked_function_arn
        );
        tracing::error!(%why, "auto-apply");
        return Ok(json!({"ignored": why}));
    };
    let budget = lambda_budget(settings, invocation);
    let deadline = Instant::now()
        + budget
            .checked_sub(settings.timeout_margin)
            .unwrap_or_default();
    let aa = &provider.access_analyzer;
    let envelope = match &event {
        Event::Other {
            envelope,
            detail_type,
        } => {
            tracing::info!(%detail_type, "auto-apply: not an event it acts on; ignored");
            return Ok(
                json!({"eventId": envelope.id, "ignored": format!("detail-type {detail_type:?} is neither a CloudTrail record nor a Scheduled Event")}),
            );
        }
        Event::RuleChange(change) => &change.envelope,
        Event::Schedule(envelope) => envelope,
    };
    let ctx = Context {
        settings: &settings.auto_apply,
        location,
        deadline,
        event_id: envelope.id.clone(),
    };
    let (trigger, done) = match &event {
        Event::RuleChange(change) => (
            trigger_of(change),
            cloudtrail::rule_change(aa, &ctx, change)
                .await
                .map(|outcome| vec![outcome]),
        ),
        // A Scheduled Event; any other kind was answered above.
        _ => (Trigger::Schedule, reconcile::reconcile(aa, &ctx).await),
    };
    let outcomes = done.map_err(|Transient(why)| {
        tracing::warn!(%why, "auto-apply: a transient failure; Lambda will run the event again");
        InvocationError::RetryLater(why)
    })?;
    Ok(summary(trigger, &ctx.event_id, &outcomes))
}

fn trigger_of(change: &RuleChange) -> Trigger {
    if change.event_name == "UpdateArchiveRule" {
        Trigger::UpdateArchiveRule
    } else {
        Trigger::CreateArchiveRule
    }
}

/// The invocation's result: every rule's outcome, and how many of each.
fn summary(trigger: Trigger, event_id: &str, outcomes: &[RuleOutcome]) -> Value {
    let mut counts = serde_json::Map::new();
    for outcome in outcomes {
        let key = serde_json::to_value(outcome.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = counts.get(&key).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(key, (n + 1).into());
    }
    json!({
        "trigger": trigger.as_str(),
        "eventId": event_id,
        "outcomes": outcomes,
        "counts": counts,
    })
}

/// Steps 4–5 for one rule: count, the findings guard, `ApplyArchiveRule` with a token derived from
/// the event, and the bounded verification — all through the apply engine.
async fn apply_rule<A: AccessAnalyzer>(
    aa: &A,
    ctx: &Context<'_>,
    trigger: Trigger,
    caller: Option<String>,
    analyzer: &Analyzer,
    rule: Rule,
) -> Result<RuleOutcome, Transient> {
    let base = RuleOutcome::of(
        trigger,
        caller,
        &analyzer.name,
        &rule.name,
        Verdict::Applied,
        String::new(),
    );
    let refused = |why: String, report: &ApplyReport| {
        metrics::emit(trigger, &analyzer.name, report, true);
        let outcome = RuleOutcome {
            outcome: Verdict::Refused,
            why,
            ..base.clone()
        };
        settle(outcome, Some(report))
    };
    let counted = match apply::count(aa, analyzer, vec![rule]).await {
        Ok(counted) => counted,
        Err(e) => return failed(e, trigger, &base, &ApplyReport::default()),
    };
    let limit = match &ctx.settings.max_findings {
        Ok(limit) => *limit,
        Err(why) => return Ok(refused(why.clone(), &counted.not_applied())),
    };
    if let Err(e) = counted.enforce_limit(limit) {
        return Ok(refused(
            e.to_string()
                .replace("MaxFindingsToArchive", settings::MAX_FINDINGS),
            &counted.not_applied(),
        ));
    }
    let token = |rule: &str| stable_token(&["auto-apply", &ctx.event_id, &analyzer.arn, rule]);
    let settings = ApplySettings {
        archive_timeout: ctx.settings.wait,
        deadline: ctx.deadline,
        client_token: &token,
        metrics: Some(trigger),
    };
    // Whether the apply stood when the deadline came: then the outcome is "applied", unverified.
    let applied: Mutex<Option<ApplyReport>> = Mutex::new(None);
    let so_far = |report: &ApplyReport| {
        *applied.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
    };
    let work = apply::apply(aa, &counted, &settings, &so_far);
    let result = tokio::time::timeout_at(ctx.deadline, work).await;
    let stood = applied.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match (result, stood) {
        (Ok(Ok(report)), _) => Ok(settle(applied_outcome(&base, &report, None), Some(&report))),
        (Ok(Err(e)), _) => failed(e, trigger, &base, &counted.not_applied()),
        (Err(_), Some(report)) => Ok(settle(
            applied_outcome(
                &base,
                &report,
                Some(
                    "the invocation's time ran out while waiting for the findings to read ARCHIVED",
                ),
            ),
            Some(&report),
        )),
        (Err(_), None) => Err(Transient(format!(
            "the invocation's time ran out before archive rule {} of analyzer {} was applied",
            base.rule, base.analyzer
        ))),
    }
}

fn applied_outcome(
    base: &RuleOutcome,
    report: &ApplyReport,
    cut_short: Option<&str>,
) -> RuleOutcome {
    let why = match (cut_short.or(report.interrupted.as_deref()), report.verified) {
        (Some(why), _) => format!("applied, not verified: {why}"),
        (None, true) => format!(
            "applied: {} of {} matching ACTIVE findings archived",
            report.archived, report.matched
        ),
        (None, false) => "applied, not verified".to_owned(),
    };
    RuleOutcome {
        outcome: Verdict::Applied,
        why,
        matched: report.matched,
        archived: report.archived,
        pending: report.pending,
        verified: report.verified && cut_short.is_none(),
        ..base.clone()
    }
}

/// A failed count or apply: transient failures are run again (the event by Lambda, a rule by the
/// next reconcile); anything else will not change on a retry, and is refused.
fn failed(
    error: ProviderError,
    trigger: Trigger,
    base: &RuleOutcome,
    report: &ApplyReport,
) -> Result<RuleOutcome, Transient> {
    let transient = error.aws_source().is_some_and(AwsError::is_transient);
    if transient {
        return Err(Transient(error.to_string()));
    }
    let verdict = match &error {
        ProviderError::AnalyzerNotFound { .. } | ProviderError::RuleVanished { .. } => {
            Verdict::Gone
        }
        _ => Verdict::Refused,
    };
    if verdict == Verdict::Refused {
        metrics::emit(trigger, &base.analyzer, report, true);
    }
    Ok(settle(
        RuleOutcome {
            outcome: verdict,
            why: error.to_string(),
            ..base.clone()
        },
        Some(report),
    ))
}

/// Logs the outcome as the one line a reviewer reads (SPEC §9.2), with its counts.
fn settle(mut outcome: RuleOutcome, report: Option<&ApplyReport>) -> RuleOutcome {
    if let Some(report) = report {
        outcome.matched = report.matched;
        outcome.archived = report.archived;
        outcome.pending = report.pending;
    }
    let verdict = serde_json::to_value(outcome.outcome).unwrap_or_default();
    tracing::info!(
        trigger = outcome.trigger,
        caller = outcome.caller.as_deref().unwrap_or(""),
        analyzer = %outcome.analyzer,
        rule = %outcome.rule,
        outcome = verdict.as_str().unwrap_or(""),
        why = %outcome.why,
        matched = outcome.matched,
        archived = outcome.archived,
        pending = outcome.pending,
        verified = outcome.verified,
        "auto-apply outcome"
    );
    outcome
}
