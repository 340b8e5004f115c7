//! One invocation, end to end: read the event, check where the answer goes, decide which work the
//! request is (resource type, request type) and whether it may run here at all, run it under the
//! deadline guard ([`crate::guard`]), and deliver exactly one final response to CloudFormation.
//! The Access Analyzer calls are the resource types'; this module makes none itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::access_analyzer::AccessAnalyzer;
use crate::apply_rules;
use crate::arn::{function_location, parse_archive_rule_arn, stack_location, Location};
use crate::auto_apply::{self, settings::AutoApplySettings};
use crate::cfn::{self, DeliveryPolicy, Envelope, Response, ResponseUrlPolicy, Status};
use crate::error::{InvocationError, ProviderError};
use crate::guard;
use crate::lifecycle;
use crate::progress::Progress;
use crate::properties;
use crate::request::{marker_id, parse_request, EventContext, Request, Success};

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
    /// Auto-apply (SPEC §9): off unless this function was deployed for it.
    pub auto_apply: AutoApplySettings,
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
            auto_apply: AutoApplySettings::default(),
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
            auto_apply: AutoApplySettings::from_env(),
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
/// Lambda's own retry a chance. EventBridge events (auto-apply, SPEC §9) have no response URL: their
/// result is the invocation's own.
pub async fn handle<A>(
    provider: &Provider<A>,
    payload: Value,
    invocation: &Invocation,
) -> Result<Value, InvocationError>
where
    A: AccessAnalyzer + Clone + 'static,
{
    if auto_apply::is_eventbridge_event(&payload) {
        return auto_apply::handle(provider, payload, invocation).await;
    }
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
    let answer = answer(provider, event, envelope, invocation, work_deadline).await;
    Response {
        status: if answer.result.is_ok() {
            Status::Success
        } else {
            Status::Failed
        },
        reason: match &answer.result {
            Ok(success) => success.reason.clone(),
            Err(reason) => reason.clone(),
        },
        physical_resource_id: answer.physical_resource_id,
        stack_id: envelope.stack_id.clone().unwrap_or_default(),
        request_id: envelope.request_id.clone().unwrap_or_default(),
        logical_resource_id: envelope.logical_resource_id.clone().unwrap_or_default(),
        no_echo: false,
        data: answer.result.map(|s| s.data).unwrap_or_default(),
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
    let lambda_budget = lambda_budget(settings, invocation);
    let service_timeout = envelope
        .resource_properties
        .as_ref()
        .and_then(properties::service_timeout);
    let budget = service_timeout.map_or(lambda_budget, |s| s.min(lambda_budget));
    arrived + budget
}

/// What is left of the invocation: until Lambda's deadline, or the default budget when that
/// deadline is in the past or beyond Lambda's 15-minute maximum (local emulators send such values).
pub(crate) fn lambda_budget(settings: &Settings, invocation: &Invocation) -> Duration {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let remaining = Duration::from_millis(invocation.deadline_epoch_ms.saturating_sub(now_ms));
    if remaining.is_zero() || remaining > MAX_LAMBDA_BUDGET {
        tracing::warn!(
            deadline_epoch_ms = invocation.deadline_epoch_ms,
            default_budget_ms = settings.default_budget.as_millis() as u64,
            "the invocation deadline is not plausible; using the default budget"
        );
        settings.default_budget
    } else {
        remaining
    }
}

/// The answer to a request, and the PhysicalResourceId it carries.
pub(crate) struct Answer {
    /// The SUCCESS, or the FAILED reason.
    pub result: Result<Success, String>,
    pub physical_resource_id: String,
}

impl Answer {
    pub(crate) fn succeeded(success: Success) -> Answer {
        Answer {
            physical_resource_id: success.physical_resource_id.clone(),
            result: Ok(success),
        }
    }
}

/// Decides the answer: parse the request, check where it comes from, then run the work of its
/// resource type under the deadline guard.
async fn answer<A>(
    provider: &Provider<A>,
    event: Value,
    envelope: &Envelope,
    invocation: &Invocation,
    work_deadline: Instant,
) -> Answer
where
    A: AccessAnalyzer + Clone + 'static,
{
    let request = match parse_request(event) {
        Ok(request) => request,
        Err(reason) => return fail_before_work(envelope, reason),
    };
    // Before the location checks: the rollback Delete of a refused Create (foreign stack, bad
    // StackId) carries its marker, and must complete rather than leave the stack in
    // ROLLBACK_FAILED.
    if let Request::Delete { physical_id } = &request {
        if parse_archive_rule_arn(physical_id).is_none() {
            return Answer::succeeded(lifecycle::nothing_to_delete(physical_id));
        }
    }
    let stack = match check_location(envelope, invocation) {
        Ok(stack) => stack,
        Err(reason) => return fail_before_work(envelope, reason),
    };
    let ctx = EventContext {
        stack_id: envelope.stack_id.clone().unwrap_or_default(),
        request_id: envelope.request_id.clone().unwrap_or_default(),
        logical_resource_id: envelope.logical_resource_id.clone().unwrap_or_default(),
        stack,
        deadline: work_deadline,
    };
    let progress = progress_for(&request, &ctx);
    let resource_type = ResourceType::of(envelope);
    let work = {
        let (aa, ctx, progress) = (
            provider.access_analyzer.clone(),
            ctx.clone(),
            progress.clone(),
        );
        #[cfg(feature = "test-hooks")]
        let panic_on = provider.settings.panic_on_logical_id.clone();
        async move {
            #[cfg(feature = "test-hooks")]
            if panic_on.as_deref() == Some(ctx.logical_resource_id.as_str()) {
                panic!(
                    "test hook APPLIED_ARCHIVE_RULE_TEST_PANIC_ON_LOGICAL_ID matched {}",
                    ctx.logical_resource_id
                );
            }
            dispatch(&aa, &ctx, request, resource_type, &progress).await
        }
    };
    guard::run_guarded(provider, &ctx, &progress, work).await
}

/// A failure before any work: the incoming PhysicalResourceId if there is one, otherwise a marker
/// that names nothing, so that the rollback Delete does nothing.
fn fail_before_work(envelope: &Envelope, reason: String) -> Answer {
    let physical_resource_id = envelope
        .physical_resource_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            marker_id(
                envelope.logical_resource_id.as_deref().unwrap_or_default(),
                envelope.request_id.as_deref().unwrap_or_default(),
            )
        });
    Answer {
        result: Err(reason),
        physical_resource_id,
    }
}

/// The provider acts in its own account and region only (SPEC §4): the stack's, read from its
/// `StackId`, must be the invoked function's.
fn check_location(envelope: &Envelope, invocation: &Invocation) -> Result<Location, String> {
    let stack = envelope
        .stack_id
        .as_deref()
        .and_then(stack_location)
        .ok_or_else(|| {
            ProviderError::BadStackId(envelope.stack_id.clone().unwrap_or_default()).to_string()
        })?;
    // A function shared with other accounts must not act for them, and through an SNS
    // ServiceToken a function in another region can receive the event: it would write rules in its
    // own region under ARNs of the stack's.
    match function_location(&invocation.invoked_function_arn) {
        Some(provider) if provider != stack => {
            Err(ProviderError::ForeignStack { stack, provider }.to_string())
        }
        _ => Ok(stack),
    }
}

/// Until the work says otherwise, a failure carries the marker (Create) or the incoming id.
fn progress_for(request: &Request, ctx: &EventContext) -> Progress {
    match request {
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
    }
}

/// The two resource types the provider serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResourceType {
    AppliedArchiveRule,
    ApplyArchiveRules,
}

impl ResourceType {
    /// Anything but `Custom::ApplyArchiveRules` is a `Custom::AppliedArchiveRule` (SPEC §8.1).
    fn of(envelope: &Envelope) -> ResourceType {
        if envelope.resource_type.as_deref() == Some(apply_rules::RESOURCE_TYPE) {
            ResourceType::ApplyArchiveRules
        } else {
            ResourceType::AppliedArchiveRule
        }
    }
}

async fn dispatch<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    request: Request,
    resource_type: ResourceType,
    progress: &Progress,
) -> Result<Success, ProviderError> {
    match (resource_type, request) {
        (
            ResourceType::ApplyArchiveRules,
            Request::Create { properties } | Request::Update { properties, .. },
        ) => apply_rules::apply(aa, ctx, &properties, progress).await,
        (ResourceType::ApplyArchiveRules, Request::Delete { physical_id }) => {
            Ok(apply_rules::delete(&physical_id))
        }
        (ResourceType::AppliedArchiveRule, Request::Create { properties }) => {
            lifecycle::create(aa, ctx, &properties, progress).await
        }
        (
            ResourceType::AppliedArchiveRule,
            Request::Update {
                physical_id,
                properties,
            },
        ) => lifecycle::update(aa, ctx, &physical_id, &properties, progress).await,
        (ResourceType::AppliedArchiveRule, Request::Delete { physical_id }) => {
            lifecycle::delete(aa, ctx, &physical_id).await
        }
    }
}
