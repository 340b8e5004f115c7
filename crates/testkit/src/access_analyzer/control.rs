//! The JSON control plane under `/_emulator/`, so a process in another language can seed and
//! inspect the emulator the way the Rust API does.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Query, State as AxumState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{service, Fault, FindingSeed, FindingStatus, State};

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/_emulator/analyzers", post(add_analyzer))
        .route("/_emulator/findings", post(add_finding).get(list_findings))
        .route(
            "/_emulator/archive-rules",
            post(put_archive_rule).get(list_archive_rules),
        )
        .route(
            "/_emulator/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/_emulator/faults", post(add_fault))
        .route("/_emulator/latency", post(set_latency))
        .route("/_emulator/apply-delay", post(set_apply_delay))
}

type ControlResult = Result<Json<Value>, ControlError>;

/// A control-plane error: `{"message"}` with a 4xx status.
struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1 }))).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> ControlError {
    ControlError(StatusCode::BAD_REQUEST, message.into())
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|error| bad_request(format!("invalid request: {error}")))
}

fn analyzer_exists(state: &State, name: &str) -> Result<(), ControlError> {
    if state.lock().analyzer(name).is_some() {
        Ok(())
    } else {
        Err(ControlError(
            StatusCode::NOT_FOUND,
            format!("no analyzer named {name}"),
        ))
    }
}

#[derive(Deserialize)]
struct AnalyzerRequest {
    name: String,
    #[serde(rename = "type", default = "account_type")]
    analyzer_type: String,
}

fn account_type() -> String {
    "ACCOUNT".to_owned()
}

async fn add_analyzer(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: AnalyzerRequest = parse(&body)?;
    let arn = state
        .try_add_analyzer(&request.name, &request.analyzer_type)
        .map_err(bad_request)?;
    Ok(Json(json!({ "arn": arn })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindingRequest {
    analyzer: String,
    resource_type: String,
    resource: String,
    #[serde(default)]
    principal: BTreeMap<String, String>,
    #[serde(default)]
    action: Vec<String>,
    #[serde(default)]
    condition: BTreeMap<String, String>,
    #[serde(default)]
    is_public: bool,
    finding_type: Option<String>,
    error: Option<String>,
    resource_owner_account: Option<String>,
    status: Option<String>,
    principal_type: Option<String>,
    principal_owner_account: Option<String>,
    access_type: Option<String>,
    resource_control_policy_restriction: Option<String>,
    service_control_policy_restriction: Option<String>,
}

async fn add_finding(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: FindingRequest = parse(&body)?;
    analyzer_exists(&state, &request.analyzer)?;
    let status = match request.status.as_deref() {
        None => FindingStatus::Active,
        Some(text) => FindingStatus::parse(text)
            .ok_or_else(|| bad_request(format!("unknown finding status {text}")))?,
    };
    let seed = FindingSeed {
        resource_type: request.resource_type,
        resource: request.resource,
        principal: request.principal,
        action: request.action,
        condition: request.condition,
        is_public: request.is_public,
        finding_type: request.finding_type,
        error: request.error,
        resource_owner_account: request.resource_owner_account,
        status,
        principal_type: request.principal_type,
        principal_owner_account: request.principal_owner_account,
        access_type: request.access_type,
        resource_control_policy_restriction: request.resource_control_policy_restriction,
        service_control_policy_restriction: request.service_control_policy_restriction,
    };
    let finding = state
        .try_add_finding(&request.analyzer, seed)
        .map_err(bad_request)?
        .ok_or_else(|| bad_request(format!("no analyzer named {}", request.analyzer)))?;
    Ok(Json(service::finding_document(&finding)))
}

#[derive(Deserialize)]
struct AnalyzerQuery {
    analyzer: String,
}

async fn list_findings(
    AxumState(state): AxumState<Arc<State>>,
    Query(query): Query<AnalyzerQuery>,
) -> ControlResult {
    analyzer_exists(&state, &query.analyzer)?;
    let findings: Vec<Value> = state
        .lock()
        .analyzer(&query.analyzer)
        .map(|analyzer| {
            analyzer
                .findings
                .iter()
                .map(service::finding_document)
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "findings": findings })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleRequest {
    analyzer: String,
    rule_name: String,
    filter: Value,
}

async fn put_archive_rule(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: RuleRequest = parse(&body)?;
    state
        .try_put_archive_rule(&request.analyzer, &request.rule_name, request.filter)
        .map_err(bad_request)?;
    Ok(Json(json!({})))
}

async fn list_archive_rules(
    AxumState(state): AxumState<Arc<State>>,
    Query(query): Query<AnalyzerQuery>,
) -> ControlResult {
    analyzer_exists(&state, &query.analyzer)?;
    let rules: Vec<Value> = state
        .lock()
        .analyzer(&query.analyzer)
        .map(|analyzer| {
            analyzer
                .rules
                .iter()
                .map(|rule| service::rule_document(&rule.to_public()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "archiveRules": rules })))
}

async fn list_requests(AxumState(state): AxumState<Arc<State>>) -> Json<Value> {
    let requests: Vec<_> = state
        .lock()
        .requests
        .iter()
        .map(|(_, request)| request.clone())
        .collect();
    Json(json!({ "requests": requests }))
}

async fn clear_requests(AxumState(state): AxumState<Arc<State>>) -> Json<Value> {
    state.lock().requests.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    operation: String,
    #[serde(default = "one")]
    count: usize,
    fault: String,
    #[serde(default)]
    retry_after_seconds: u32,
    /// Calls answered normally before the faults start.
    #[serde(default)]
    after: usize,
}

fn one() -> usize {
    1
}

pub(crate) fn parse_fault(name: &str, retry_after_seconds: u32) -> Option<Fault> {
    Some(match name {
        "Throttling" => Fault::Throttling {
            retry_after_seconds,
        },
        "Internal" => Fault::Internal,
        "AccessDenied" => Fault::AccessDenied,
        "Validation" => Fault::Validation,
        "ResourceNotFound" => Fault::ResourceNotFound,
        "Conflict" => Fault::Conflict,
        "ServiceQuotaExceeded" => Fault::ServiceQuotaExceeded,
        "Hang" => Fault::Hang,
        _ => return None,
    })
}

async fn add_fault(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: FaultRequest = parse(&body)?;
    let fault = parse_fault(&request.fault, request.retry_after_seconds)
        .ok_or_else(|| bad_request(format!("unknown fault {}", request.fault)))?;
    state.fail_after(&request.operation, request.after, request.count, fault);
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LatencyRequest {
    millis: u64,
    operation: Option<String>,
}

async fn set_latency(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: LatencyRequest = parse(&body)?;
    let latency = Duration::from_millis(request.millis);
    let mut inner = state.lock();
    match request.operation {
        Some(operation) => {
            inner.operation_latency.insert(operation, latency);
        }
        None => inner.latency = latency,
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ApplyDelayRequest {
    millis: u64,
}

async fn set_apply_delay(AxumState(state): AxumState<Arc<State>>, body: Bytes) -> ControlResult {
    let request: ApplyDelayRequest = parse(&body)?;
    state.lock().apply_delay = Duration::from_millis(request.millis);
    Ok(Json(json!({})))
}
