//! One invocation, end to end: read the event, check where the answer goes, run the lifecycle under a
//! deadline guard, and deliver exactly one final response to CloudFormation.
//!
//! Whatever happens inside the lifecycle — an AWS error, a hang, a panic — the stack gets a FAILED
//! response with an actionable reason before Lambda's deadline, never an hour-long wait.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::access_analyzer::AccessAnalyzer;
use crate::apply_rules;
use crate::arn::{function_location, parse_archive_rule_arn, stack_location};
use crate::cfn::{self, DeliveryPolicy, Envelope, Response, ResponseUrlPolicy, Status};
use crate::error::{InvocationError, ProviderError};
use crate::lifecycle::{self, EventContext, Outcome, Progress};
use crate::properties;

/// Lambda's longest timeout. A deadline further away than this is not a real Lambda deadline.
const MAX_LAMBDA_BUDGET: Duration = Duration::from_secs(15 * 60);

/// Tunables read once at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long before the deadline a FAILED response is sent if the work has not finished.
    pub timeout_margin: Duration,
    /// The budget used when the invocation's deadline is unknown or bogus (`cargo lambda watch`
    /// sends a constant deadline in 1970).
    pub default_budget: Duration,
    pub response_urls: ResponseUrlPolicy,
    pub delivery: DeliveryPolicy,
    /// Test hook: panic while handling this LogicalResourceId, to prove a panic still ends in FAILED.
    /// Compiled only with the `test-hooks` feature, which release builds never enable (SPEC §5).
    #[cfg(feature = "test-hooks")]
    pub panic_on_logical_id: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout_margin: Duration::from_secs(3),
            default_budget: Duration::from_secs(120),
            response_urls: ResponseUrlPolicy::default(),
            delivery: DeliveryPolicy::default(),
            #[cfg(feature = "test-hooks")]
            panic_on_logical_id: None,
        }
    }
}

impl Settings {
    pub fn from_env() -> Self {
        let defaults = Settings::default();
        let millis = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(default)
        };
        Settings {
            timeout_margin: millis(
                "APPLIED_ARCHIVE_RULE_TIMEOUT_MARGIN_MS",
                defaults.timeout_margin,
            ),
            default_budget: millis(
                "APPLIED_ARCHIVE_RULE_DEFAULT_BUDGET_MS",
                defaults.default_budget,
            ),
            response_urls: ResponseUrlPolicy::from_env(),
            delivery: defaults.delivery,
            #[cfg(feature = "test-hooks")]
            panic_on_logical_id: std::env::var("APPLIED_ARCHIVE_RULE_TEST_PANIC_ON_LOGICAL_ID")
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

/// What the process holds across invocations: clients built once, and the settings.
#[derive(Clone, Debug)]
pub struct Provider<A> {
    pub access_analyzer: A,
    pub http: reqwest::Client,
    pub settings: Settings,
}

/// What Lambda says about this invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Deadline-Ms`: epoch milliseconds.
    pub deadline_epoch_ms: u64,
    pub invoked_function_arn: String,
}

/// The HTTP client for responses. Built once; connection reuse matters little (one PUT per
/// event), but TLS set-up and root store loading are not repeated.
pub fn response_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        // The response URL is on S3: a redirect would be unexpected, and must not carry the body elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Handles one event. Returns `Ok` once a response — SUCCESS or FAILED — reached CloudFormation, so
/// Lambda does not run the event again; `Err` only when no response could be delivered, leaving
/// Lambda's own retry a chance.
pub async fn handle<A>(
    provider: &Provider<A>,
    payload: Value,
    invocation: &Invocation,
) -> Result<Value, InvocationError>
where
    A: AccessAnalyzer + Clone + 'static,
{
    let arrived = Instant::now();
    let event = cfn::unwrap_sns(payload);
    let envelope = Envelope::read(&event);
    let span = tracing::info_span!(
        "cfn_event",
        request_type = envelope.request_type.as_deref().unwrap_or(""),
        logical_resource_id = envelope.logical_resource_id.as_deref().unwrap_or(""),
        stack_id = envelope.stack_id.as_deref().unwrap_or(""),
        request_id = envelope.request_id.as_deref().unwrap_or(""),
    );
    handle_event(provider, event, envelope, invocation, arrived)
        .instrument(span)
        .await
}

async fn handle_event<A>(
    provider: &Provider<A>,
    event: Value,
    envelope: Envelope,
    invocation: &Invocation,
    arrived: Instant,
) -> Result<Value, InvocationError>
where
    A: AccessAnalyzer + Clone + 'static,
{
    let settings = &provider.settings;
    // The URL is checked before anything else: an event that may not be answered causes no call at all.
    let Some(raw_url) = envelope.response_url.as_deref() else {
        tracing::error!("event has no ResponseURL; nothing can be answered");
        return Err(InvocationError::NoResponseUrl);
    };
    let stack = envelope.stack_id.as_deref().and_then(stack_location);
    let url = match settings
        .response_urls
        .check(raw_url, stack.as_ref().map(|s| s.partition.as_str()))
    {
        Ok(url) => url,
        Err(reason) => {
            tracing::error!(url = %cfn::redact_str(raw_url), %reason, "refusing the ResponseURL; no response sent");
            return Err(InvocationError::ResponseUrlRefused(reason));
        }
    };
    tracing::info!(url = %cfn::redact(&url), "received CloudFormation event");

    let end = end_of_budget(settings, invocation, &envelope, arrived);
    let response = build_response(provider, event, &envelope, invocation, arrived, end).await;
    match response.status {
        Status::Success => {
            tracing::info!(physical_resource_id = %response.physical_resource_id, reason = %response.reason, "SUCCESS")
        }
        Status::Failed => {
            tracing::error!(physical_resource_id = %response.physical_resource_id, reason = %response.reason, "FAILED")
        }
    }
    cfn::deliver(
        &provider.http,
        &url,
        response.to_body(),
        &settings.delivery,
        end,
    )
    .await
    .map_err(InvocationError::NotDelivered)?;
    Ok(serde_json::json!({
        "Status": response.status,
        "PhysicalResourceId": response.physical_resource_id,
        "Reason": response.reason,
    }))
}

/// Runs an event and returns the response CloudFormation would receive, without checking or using
/// its ResponseURL: for `applied-archive-rule invoke`, which tries a template's properties before
/// deploying them.
pub async fn respond<A>(provider: &Provider<A>, payload: Value, invocation: &Invocation) -> Response
where
    A: AccessAnalyzer + Clone + 'static,
{
    let arrived = Instant::now();
    let event = cfn::unwrap_sns(payload);
    let envelope = Envelope::read(&event);
    let end = end_of_budget(&provider.settings, invocation, &envelope, arrived);
    build_response(provider, event, &envelope, invocation, arrived, end).await
}

async fn build_response<A>(
    provider: &Provider<A>,
    event: Value,
    envelope: &Envelope,
    invocation: &Invocation,
    arrived: Instant,
    end: Instant,
) -> Response
where
    A: AccessAnalyzer + Clone + 'static,
{
    let work_deadline = end
        .checked_sub(provider.settings.timeout_margin)
        .unwrap_or(arrived)
        .max(arrived);
    let stack = envelope.stack_id.as_deref().and_then(stack_location);
    let (outcome, physical_id) =
        run_guarded(provider, event, envelope, invocation, stack, work_deadline).await;
    Response {
        status: if outcome.is_ok() {
            Status::Success
        } else {
            Status::Failed
        },
        reason: match &outcome {
            Ok(o) => o.reason.clone(),
            Err(reason) => reason.clone(),
        },
        physical_resource_id: physical_id,
        stack_id: envelope.stack_id.clone().unwrap_or_default(),
        request_id: envelope.request_id.clone().unwrap_or_default(),
        logical_resource_id: envelope.logical_resource_id.clone().unwrap_or_default(),
        no_echo: false,
        data: outcome.map(|o| o.data).unwrap_or_default(),
    }
}

/// When the response must be sent at the latest: Lambda's deadline, or `ServiceTimeout` seconds
/// after arrival when that is sooner. A deadline in the past or beyond Lambda's 15-minute maximum
/// is not real (local emulators send such values), and the default budget applies.
fn end_of_budget(
    settings: &Settings,
    invocation: &Invocation,
    envelope: &Envelope,
    arrived: Instant,
) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let remaining = Duration::from_millis(invocation.deadline_epoch_ms.saturating_sub(now_ms));
    let lambda_budget = if remaining.is_zero() || remaining > MAX_LAMBDA_BUDGET {
        tracing::warn!(
            deadline_epoch_ms = invocation.deadline_epoch_ms,
            default_budget_ms = settings.default_budget.as_millis() as u64,
            "the invocation deadline is not plausible; using the default budget"
        );
        settings.default_budget
    } else {
        remaining
    };
    let service_timeout = envelope
        .resource_properties
        .as_ref()
        .and_then(properties::service_timeout);
    let budget = service_timeout.map_or(lambda_budget, |s| s.min(lambda_budget));
    arrived + budget
}

/// Runs the request's work in its own task so that a panic or a hang cannot take the response with it.
/// Returns the outcome (or the FAILED reason) and the PhysicalResourceId to answer with.
async fn run_guarded<A>(
    provider: &Provider<A>,
    event: Value,
    envelope: &Envelope,
    invocation: &Invocation,
    stack: Option<crate::arn::Location>,
    work_deadline: Instant,
) -> (Result<Outcome, String>, String)
where
    A: AccessAnalyzer + Clone + 'static,
{
    let incoming_id = envelope
        .physical_resource_id
        .clone()
        .filter(|id| !id.is_empty());
    let marker = || {
        format!(
            "applied-archive-rule:none:{}:{}",
            envelope
                .logical_resource_id
                .as_deref()
                .unwrap_or("resource"),
            envelope.request_id.as_deref().unwrap_or("request")
        )
    };
    let early_failure = |error: String| (Err(error), incoming_id.clone().unwrap_or_else(marker));

    let request = match parse_request(event) {
        Ok(request) => request,
        Err(reason) => return early_failure(reason),
    };
    // Before the location checks: the rollback Delete of a refused Create (foreign stack, bad
    // StackId) carries its marker, and must complete rather than leave the stack in
    // ROLLBACK_FAILED.
    if let Request::Delete { physical_id } = &request {
        if parse_archive_rule_arn(physical_id).is_none() {
            let outcome = lifecycle::nothing_to_delete(physical_id);
            let id = outcome.physical_resource_id.clone();
            return (Ok(outcome), id);
        }
    }
    let Some(stack) = stack else {
        return early_failure(
            ProviderError::BadStackId(envelope.stack_id.clone().unwrap_or_default()).to_string(),
        );
    };
    if let Some(provider_location) = function_location(&invocation.invoked_function_arn) {
        // A function shared with other accounts must not act for them, and through an SNS
        // ServiceToken a function in another region can receive the event: it would write rules
        // in its own region under ARNs of the stack's.
        if provider_location != stack {
            return early_failure(
                ProviderError::ForeignStack {
                    stack,
                    provider: provider_location,
                }
                .to_string(),
            );
        }
    }

    let ctx = EventContext {
        stack_id: envelope.stack_id.clone().unwrap_or_default(),
        request_id: envelope.request_id.clone().unwrap_or_default(),
        logical_resource_id: envelope.logical_resource_id.clone().unwrap_or_default(),
        stack,
        deadline: work_deadline,
    };
    let progress = match &request {
        Request::Create { .. } => Progress::for_create(ctx.marker_id()),
        // A PhysicalResourceId is never empty, even when a hand-made event sends one.
        Request::Update { physical_id, .. } | Request::Delete { physical_id }
            if physical_id.is_empty() =>
        {
            Progress::keeping(ctx.marker_id())
        }
        Request::Update { physical_id, .. } | Request::Delete { physical_id } => {
            Progress::keeping(physical_id.clone())
        }
    };
    let work = {
        let aa = provider.access_analyzer.clone();
        let ctx = ctx.clone();
        let progress = progress.clone();
        #[cfg(feature = "test-hooks")]
        let panic_on = provider.settings.panic_on_logical_id.clone();
        // The provider serves two types; anything but Custom::ApplyArchiveRules is an AppliedArchiveRule.
        let applies_existing_rules =
            envelope.resource_type.as_deref() == Some(apply_rules::RESOURCE_TYPE);
        async move {
            #[cfg(feature = "test-hooks")]
            if panic_on.as_deref() == Some(ctx.logical_resource_id.as_str()) {
                panic!(
                    "test hook APPLIED_ARCHIVE_RULE_TEST_PANIC_ON_LOGICAL_ID matched {}",
                    ctx.logical_resource_id
                );
            }
            match request {
                Request::Create { properties } | Request::Update { properties, .. }
                    if applies_existing_rules =>
                {
                    apply_rules::apply(&aa, &ctx, &properties, &progress).await
                }
                Request::Delete { physical_id } if applies_existing_rules => {
                    Ok(apply_rules::delete(&physical_id))
                }
                Request::Create { properties } => {
                    lifecycle::create(&aa, &ctx, &properties, &progress).await
                }
                Request::Update {
                    physical_id,
                    properties,
                } => lifecycle::update(&aa, &ctx, &physical_id, &properties, &progress).await,
                Request::Delete { physical_id } => lifecycle::delete(&aa, &ctx, &physical_id).await,
            }
        }
    };
    let mut task = tokio::spawn(work.instrument(tracing::Span::current()));
    let (result, cut_short) = tokio::select! {
        joined = &mut task => match joined {
            Ok(Ok(outcome)) => return (Ok(outcome.clone()), outcome.physical_resource_id),
            Ok(Err(error)) => (error.to_string(), None),
            Err(join_error) => {
                let panic = panic_message(join_error);
                (
                    format!(
                        "internal error: the provider panicked while {} ({panic}); nothing further was done",
                        progress.step()
                    ),
                    Some(format!("the provider panicked while {} ({panic})", progress.step())),
                )
            }
        },
        _ = tokio::time::sleep_until(work_deadline) => {
            task.abort();
            (
                format!(
                    "timed out while {} on rule of {}: the time budget (Lambda timeout or ServiceTimeout, less a {} ms safety margin) ran out; the operation was abandoned",
                    progress.step(),
                    ctx.logical_resource_id,
                    provider.settings.timeout_margin.as_millis()
                ),
                Some(format!(
                    "the time budget (Lambda timeout or ServiceTimeout, less a {} ms safety margin) ran out while {}",
                    provider.settings.timeout_margin.as_millis(),
                    progress.step()
                )),
            )
        }
    };
    // An error returned by the work itself comes before any apply: after it, nothing fails.
    if let (Some(why), Some(outcome)) = (cut_short, progress.outcome_after_apply()) {
        return succeed_unverified(outcome, &why);
    }
    let reason = remove_abandoned_rule(provider, &ctx, &progress, result).await;
    (Err(reason), progress.failure_physical_id())
}

/// The apply had succeeded when the verification was cut short (a hang past the time budget, a
/// panic): the findings are archived whatever happens now, so the answer is SUCCESS with the counts
/// known so far and `Verified` "false" (SPEC §3 step 4, §4) — a FAILED Create would make the
/// rollback delete a rule whose findings stay archived.
fn succeed_unverified(mut outcome: Outcome, why: &str) -> (Result<Outcome, String>, String) {
    tracing::warn!(reason = %why, "the verification after the apply was cut short; answering SUCCESS, not verified");
    outcome.reason = format!("{}; the verification was cut short: {why}", outcome.reason);
    let id = outcome.physical_resource_id.clone();
    (Ok(outcome), id)
}

/// A failed replacement removes the rule it created (CloudFormation will never delete it: it only
/// knows the old PhysicalResourceId). Bounded by half the safety margin so the response still goes out.
async fn remove_abandoned_rule<A: AccessAnalyzer>(
    provider: &Provider<A>,
    ctx: &EventContext,
    progress: &Progress,
    reason: String,
) -> String {
    let Some(rule) = progress.rule_to_remove() else {
        return reason;
    };
    let bound = provider.settings.timeout_margin / 2 + Duration::from_millis(500);
    let removal = tokio::time::timeout(
        bound,
        lifecycle::remove_abandoned_rule(&provider.access_analyzer, ctx, &rule),
    )
    .await;
    match removal {
        Ok(Ok(())) => format!(
            "{reason}; the new rule {} created for the replacement was deleted again",
            rule.rule_name
        ),
        Ok(Err(e)) => format!(
            "{reason}; the new rule {} created for the replacement could NOT be deleted ({e}): delete it by hand",
            rule.rule_name
        ),
        Err(_) => format!(
            "{reason}; deleting the new rule {} created for the replacement timed out: delete it by hand",
            rule.rule_name
        ),
    }
}

enum Request {
    Create {
        properties: Value,
    },
    Update {
        physical_id: String,
        properties: Value,
    },
    Delete {
        physical_id: String,
    },
}

/// Reads the request with `aws_lambda_events`' types. CloudFormation always sends
/// `ResourceProperties` (and `OldResourceProperties` on Update); a hand-made event may not, and a
/// Delete must not fail for that, so absent ones are read as null.
fn parse_request(mut event: Value) -> Result<Request, String> {
    let request_type = event
        .get("RequestType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match request_type.as_deref() {
        Some("Create" | "Update" | "Delete") => {}
        Some(other) => {
            return Err(format!(
                "unsupported RequestType {other:?}; expected Create, Update or Delete"
            ))
        }
        None => return Err("malformed event: RequestType is missing".to_owned()),
    }
    if let Some(map) = event.as_object_mut() {
        for key in ["ResourceProperties", "OldResourceProperties"] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    let typed: CloudFormationCustomResourceRequest =
        serde_json::from_value(event).map_err(|e| format!("malformed event: {e}"))?;
    Ok(match typed {
        CloudFormationCustomResourceRequest::Create(c) => Request::Create {
            properties: c.resource_properties,
        },
        CloudFormationCustomResourceRequest::Update(u) => Request::Update {
            physical_id: u.physical_resource_id,
            properties: u.resource_properties,
        },
        CloudFormationCustomResourceRequest::Delete(d) => Request::Delete {
            physical_id: d.physical_resource_id,
        },
        _ => return Err("unsupported RequestType".to_owned()),
    })
}

fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_owned())
}
