//! The JSON control plane under `/_emulator/`, for the Python benchmark baseline and for trying the
//! command line by hand: the request record with its timings, the findings of one (account,
//! region), faults, latency, and analyzers that are not ACTIVE or are service-linked.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Query, State as AxumState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{AccountRegion, AnalyzerStatus, Org};
use crate::access_analyzer::{control::parse_fault, service};

pub(crate) fn router() -> Router<Arc<Org>> {
    Router::new()
        .route(
            "/_emulator/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/_emulator/findings", get(list_findings))
        .route("/_emulator/assume-role-calls", get(assume_role_calls))
        .route("/_emulator/faults", post(add_fault))
        .route("/_emulator/latency", post(set_latency))
        .route("/_emulator/analyzers", post(add_analyzer))
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
}

async fn list_requests(AxumState(org): AxumState<Arc<Org>>) -> Json<Value> {
    let inner = org.lock();
    let requests: Vec<Value> = inner
        .requests
        .iter()
        .map(|(_, request)| {
            let mut value = json!(request);
            if let Some(map) = value.as_object_mut() {
                map.insert(
                    "receivedMicros".to_owned(),
                    org.micros_since_start(request.received_at).into(),
                );
                map.insert(
                    "answeredMicros".to_owned(),
                    json!(request.answered_at.map(|at| org.micros_since_start(at))),
                );
            }
            value
        })
        .collect();
    Json(json!({ "requests": requests }))
}

async fn clear_requests(AxumState(org): AxumState<Arc<Org>>) -> Json<Value> {
    org.lock().requests.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
struct FindingsQuery {
    account: String,
    region: String,
    analyzer: String,
}

async fn list_findings(
    AxumState(org): AxumState<Arc<Org>>,
    Query(query): Query<FindingsQuery>,
) -> Json<Value> {
    let state = org.analyzer_state(&query.account, &query.region);
    let findings: Vec<Value> = state
        .findings(&query.analyzer)
        .iter()
        .map(service::finding_document)
        .collect();
    Json(json!({ "findings": findings }))
}

async fn assume_role_calls(AxumState(org): AxumState<Arc<Org>>) -> Json<Value> {
    Json(json!(org.lock().assume_role_calls))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    account: String,
    region: String,
    operation: String,
    #[serde(default = "one")]
    count: usize,
    fault: String,
    #[serde(default)]
    retry_after_seconds: u32,
}

fn one() -> usize {
    1
}

async fn add_fault(AxumState(org): AxumState<Arc<Org>>, body: Bytes) -> Response {
    let request: FaultRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid request: {error}")),
    };
    let Some(fault) = parse_fault(&request.fault, request.retry_after_seconds) else {
        return bad_request(format!("unknown fault {}", request.fault));
    };
    org.fail_next(
        &request.account,
        &request.region,
        &request.operation,
        request.count,
        fault,
    );
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct LatencyRequest {
    millis: u64,
    service: Option<String>,
}

async fn set_latency(AxumState(org): AxumState<Arc<Org>>, body: Bytes) -> Response {
    let request: LatencyRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid request: {error}")),
    };
    let latency = Duration::from_millis(request.millis);
    let mut inner = org.lock();
    match request.service {
        Some(service) => {
            inner.service_latency.insert(service, latency);
        }
        None => inner.latency = latency,
    }
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnalyzerRequest {
    account: String,
    region: String,
    #[serde(rename = "type")]
    analyzer_type: String,
    name: Option<String>,
    status: Option<String>,
    status_reason: Option<String>,
    service_name: Option<String>,
    managed_by: Option<String>,
}

fn parse_status(status: &str) -> Option<AnalyzerStatus> {
    [
        AnalyzerStatus::Active,
        AnalyzerStatus::Creating,
        AnalyzerStatus::Disabled,
        AnalyzerStatus::Failed,
    ]
    .into_iter()
    .find(|candidate| candidate.as_str() == status)
}

async fn add_analyzer(AxumState(org): AxumState<Arc<Org>>, body: Bytes) -> Response {
    let request: AnalyzerRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid request: {error}")),
    };
    let status = match request.status.as_deref().map(parse_status) {
        None => None,
        Some(Some(status)) => Some(status),
        Some(None) => return bad_request("status is ACTIVE, CREATING, DISABLED or FAILED".into()),
    };
    let target = AccountRegion::new(&org, &request.account, &request.region);
    let name = match (request.managed_by, request.service_name, request.name) {
        (Some(managed_by), Some(service_name), None) => {
            target.add_service_linked_analyzer(&service_name, &managed_by, &request.analyzer_type)
        }
        (None, None, Some(name)) => {
            target.add_analyzer(&name, &request.analyzer_type);
            name
        }
        _ => {
            return bad_request(
                "give a name, or managedBy and serviceName for a service-linked analyzer".into(),
            )
        }
    };
    if status.is_some() || request.status_reason.is_some() {
        target.set_analyzer_status(
            &name,
            status.unwrap_or(AnalyzerStatus::Active),
            request.status_reason.as_deref(),
        );
    }
    let arn = target.analyzer_arn(&name);
    Json(json!({ "name": name, "arn": arn })).into_response()
}
