//! The restJson1 side: routing by method and URI as the service model's `http` traits say,
//! error responses as the SDK parses them, the request record, latency and injected faults.

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::{Query, State as AxumState},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

use super::{service, Fault, RecordedRequest, State};
use crate::util::percent_decode;

/// The operations the emulator serves, named as in the service model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    GetAnalyzer,
    ListAnalyzers,
    CreateArchiveRule,
    UpdateArchiveRule,
    DeleteArchiveRule,
    GetArchiveRule,
    ListArchiveRules,
    ApplyArchiveRule,
    ListFindings,
    ListFindingsV2,
    UpdateFindings,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::GetAnalyzer => "GetAnalyzer",
            Operation::ListAnalyzers => "ListAnalyzers",
            Operation::CreateArchiveRule => "CreateArchiveRule",
            Operation::UpdateArchiveRule => "UpdateArchiveRule",
            Operation::DeleteArchiveRule => "DeleteArchiveRule",
            Operation::GetArchiveRule => "GetArchiveRule",
            Operation::ListArchiveRules => "ListArchiveRules",
            Operation::ApplyArchiveRule => "ApplyArchiveRule",
            Operation::ListFindings => "ListFindings",
            Operation::ListFindingsV2 => "ListFindingsV2",
            Operation::UpdateFindings => "UpdateFindings",
        }
    }
}

/// Matches method and path against the `requestUri`s of the model; returns the operation and
/// its URI labels.
fn route(method: &Method, segments: &[String]) -> Option<(Operation, Vec<(&'static str, String)>)> {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let analyzer = |name: &str| ("analyzerName", name.to_owned());
    let rule = |name: &str| ("ruleName", name.to_owned());
    let routed = match (method.as_str(), segments.as_slice()) {
        ("GET", ["analyzer"]) => (Operation::ListAnalyzers, vec![]),
        ("GET", ["analyzer", name]) => (Operation::GetAnalyzer, vec![analyzer(name)]),
        ("PUT", ["analyzer", name, "archive-rule"]) => {
            (Operation::CreateArchiveRule, vec![analyzer(name)])
        }
        ("GET", ["analyzer", name, "archive-rule"]) => {
            (Operation::ListArchiveRules, vec![analyzer(name)])
        }
        ("PUT", ["analyzer", name, "archive-rule", rule_name]) => (
            Operation::UpdateArchiveRule,
            vec![analyzer(name), rule(rule_name)],
        ),
        ("GET", ["analyzer", name, "archive-rule", rule_name]) => (
            Operation::GetArchiveRule,
            vec![analyzer(name), rule(rule_name)],
        ),
        ("DELETE", ["analyzer", name, "archive-rule", rule_name]) => (
            Operation::DeleteArchiveRule,
            vec![analyzer(name), rule(rule_name)],
        ),
        ("PUT", ["archive-rule"]) => (Operation::ApplyArchiveRule, vec![]),
        ("POST", ["finding"]) => (Operation::ListFindings, vec![]),
        ("PUT", ["finding"]) => (Operation::UpdateFindings, vec![]),
        ("POST", ["findingv2"]) => (Operation::ListFindingsV2, vec![]),
        _ => return None,
    };
    Some(routed)
}

/// A routed request: its operation and every input member, wherever on the wire it came from.
pub(crate) struct Call {
    pub(crate) operation: Operation,
    pub(crate) params: Map<String, Value>,
}

impl Call {
    /// A string member, `None` when absent; ValidationException when it is not a string.
    pub(crate) fn string(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(ApiError::field(name, "must be a string")),
        }
    }

    pub(crate) fn required_string(&self, name: &str) -> Result<&str, ApiError> {
        self.string(name)?
            .ok_or_else(|| ApiError::field(name, "is required"))
    }

    /// An integer member; query parameters arrive as strings, body members as numbers.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::field(name, "must be an integer")),
            Some(Value::String(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| ApiError::field(name, "must be an integer")),
            Some(_) => Err(ApiError::field(name, "must be an integer")),
        }
    }

    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.params.get(name).filter(|value| !value.is_null())
    }
}

/// An error response in the shape the SDK's restJson1 deserializer reads: the code in
/// `X-Amzn-ErrorType`, the members in the JSON body, `retryAfterSeconds` in `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: &'static str,
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) members: Map<String, Value>,
    pub(crate) retry_after_seconds: Option<u32>,
}

pub(crate) const ANALYZER_RESOURCE: &str = "AWS::AccessAnalyzer::Analyzer";
pub(crate) const ARCHIVE_RULE_RESOURCE: &str = "AWS::AccessAnalyzer::ArchiveRule";
pub(crate) const FINDING_RESOURCE: &str = "AWS::AccessAnalyzer::Finding";

impl ApiError {
    pub(crate) fn new(
        code: &'static str,
        status: StatusCode,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            code,
            status,
            message: message.into(),
            members: Map::new(),
            retry_after_seconds: None,
        }
    }

    fn with_resource(mut self, resource_type: &str, resource_id: &str) -> ApiError {
        self.members
            .insert("resourceId".to_owned(), resource_id.into());
        self.members
            .insert("resourceType".to_owned(), resource_type.into());
        self
    }

    /// `reason` is the model's `ValidationExceptionReason`.
    pub(crate) fn validation(reason: &str, message: impl Into<String>) -> ApiError {
        let mut error = ApiError::new("ValidationException", StatusCode::BAD_REQUEST, message);
        error.members.insert("reason".to_owned(), reason.into());
        error
    }

    /// A ValidationException naming the member at fault, as the service's `fieldList` does.
    pub(crate) fn field(name: &str, problem: &str) -> ApiError {
        let mut error = ApiError::validation("fieldValidationFailed", format!("{name} {problem}"));
        error.members.insert(
            "fieldList".to_owned(),
            json!([{ "name": name, "message": problem }]),
        );
        error
    }

    pub(crate) fn not_found(resource_type: &str, resource_id: &str) -> ApiError {
        ApiError::new(
            "ResourceNotFoundException",
            StatusCode::NOT_FOUND,
            format!("{resource_type} {resource_id} not found"),
        )
        .with_resource(resource_type, resource_id)
    }

    pub(crate) fn conflict(resource_type: &str, resource_id: &str) -> ApiError {
        ApiError::new(
            "ConflictException",
            StatusCode::CONFLICT,
            format!("{resource_type} {resource_id} already exists"),
        )
        .with_resource(resource_type, resource_id)
    }

    fn quota_exceeded(resource_type: &str, resource_id: &str) -> ApiError {
        ApiError::new(
            "ServiceQuotaExceededException",
            StatusCode::PAYMENT_REQUIRED,
            format!("quota exceeded for {resource_type} {resource_id}"),
        )
        .with_resource(resource_type, resource_id)
    }

    fn injected_access_denied() -> ApiError {
        ApiError::access_denied("User is not authorized to perform this action (injected fault)")
    }

    pub(crate) fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::new("AccessDeniedException", StatusCode::FORBIDDEN, message)
    }

    fn internal() -> ApiError {
        ApiError::new(
            "InternalServerException",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error (injected fault)",
        )
    }

    fn throttling(retry_after_seconds: u32) -> ApiError {
        let mut error = ApiError::new(
            "ThrottlingException",
            StatusCode::TOO_MANY_REQUESTS,
            "Rate exceeded (injected fault)",
        );
        error.retry_after_seconds = Some(retry_after_seconds);
        error
    }

    pub(crate) fn unknown_operation(method: &Method, path: &str) -> ApiError {
        ApiError::new(
            "UnknownOperationException",
            StatusCode::NOT_FOUND,
            format!("no operation for {method} {path}"),
        )
    }

    /// The error an injected fault answers; `None` for [`Fault::Hang`].
    pub(crate) fn from_fault(fault: &Fault, call: &Call) -> Option<ApiError> {
        let (resource_type, resource_id) = call_resource(call);
        Some(match fault {
            Fault::Throttling {
                retry_after_seconds,
            } => ApiError::throttling(*retry_after_seconds),
            Fault::Internal => ApiError::internal(),
            Fault::AccessDenied => ApiError::injected_access_denied(),
            Fault::Validation => ApiError::validation("other", "Invalid request (injected fault)"),
            Fault::ResourceNotFound => ApiError::not_found(resource_type, &resource_id),
            Fault::Conflict => ApiError::conflict(resource_type, &resource_id),
            Fault::ServiceQuotaExceeded => ApiError::quota_exceeded(resource_type, &resource_id),
            Fault::Hang => return None,
        })
    }

    pub(crate) fn into_response(self, request_id: &str) -> Response {
        let mut body = self.members;
        body.insert("message".to_owned(), self.message.into());
        let mut response = json_response(self.status, &Value::Object(body), request_id);
        if let Ok(code) = HeaderValue::from_str(self.code) {
            response.headers_mut().insert("x-amzn-errortype", code);
        }
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The resource an injected resource error names: the rule if the call has one, else the
/// analyzer.
fn call_resource(call: &Call) -> (&'static str, String) {
    let text = |name: &str| call.params.get(name).and_then(Value::as_str);
    if let Some(rule) = text("ruleName") {
        (ARCHIVE_RULE_RESOURCE, rule.to_owned())
    } else {
        let analyzer = text("analyzerName").or_else(|| text("analyzerArn"));
        (ANALYZER_RESOURCE, analyzer.unwrap_or("unknown").to_owned())
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

/// The fallback handler: every request that is not for the control plane.
pub(crate) async fn handle(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = state.lock().next_request_id();
    let credential_scope = credential_scope(&headers);
    let Some(routed) = route_request(&method, &uri, &body) else {
        let error = ApiError::unknown_operation(&method, uri.path());
        record(
            &state,
            "Unknown",
            Map::new(),
            error.status,
            credential_scope,
        );
        return error.into_response(&request_id);
    };

    let operation = routed.operation;
    let (params, parse_error) = match routed.params {
        Ok(params) => (params, None),
        Err(error) => (Map::new(), Some(error)),
    };
    let sequence = record_arrival(&state, operation.name(), &params, credential_scope);
    let call = Call { operation, params };

    let latency = state.lock().latency_for(operation.name());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = state.lock().take_fault(operation.name());
    let result = match (parse_error, fault) {
        (Some(error), _) => Err(error),
        (None, Some(fault)) => match ApiError::from_fault(&fault, &call) {
            Some(error) => Err(error),
            // Held open until the server's connection task is aborted at shutdown.
            None => std::future::pending().await,
        },
        (None, None) => service::execute(&state, &call),
    };
    let response = match result {
        Ok(body) => json_response(StatusCode::OK, &body, &request_id),
        Err(error) => error.into_response(&request_id),
    };
    set_status(&state, sequence, response.status());
    response
}

/// A request matched to its operation, with its input members or the error reading them.
pub(crate) struct Routed {
    pub(crate) operation: Operation,
    pub(crate) params: Result<Map<String, Value>, ApiError>,
}

/// Routes a request by method and path; `None` when no operation matches. Shared with the
/// organization emulator, which serves the same operations for many accounts and regions.
pub(crate) fn route_request(method: &Method, uri: &Uri, body: &Bytes) -> Option<Routed> {
    let segments: Option<Vec<String>> = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let (operation, labels) = route(method, &segments?)?;
    Some(Routed {
        operation,
        params: request_params(uri, body, labels),
    })
}

/// Body members, URI labels and query parameters in one map, as the operation's input shape.
fn request_params(
    uri: &Uri,
    body: &Bytes,
    labels: Vec<(&'static str, String)>,
) -> Result<Map<String, Value>, ApiError> {
    let mut params = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ApiError::validation(
                    "cannotParse",
                    "request body must be a JSON object",
                ))
            }
            Err(error) => {
                return Err(ApiError::validation(
                    "cannotParse",
                    format!("request body is not valid JSON: {error}"),
                ))
            }
        }
    };
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|error| ApiError::validation("cannotParse", error.body_text()))?;
    for (name, value) in query {
        params.insert(name, value.into());
    }
    for (name, value) in labels {
        params.insert(name.to_owned(), value.into());
    }
    Ok(params)
}

fn record_arrival(
    state: &State,
    operation: &str,
    params: &Map<String, Value>,
    credential_scope: Option<String>,
) -> u64 {
    let text = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_owned);
    let request = RecordedRequest {
        operation: operation.to_owned(),
        analyzer: text("analyzerName").or_else(|| text("analyzerArn")),
        rule_name: text("ruleName"),
        client_token: text("clientToken"),
        params: Value::Object(params.clone()),
        status: 0,
        credential_scope,
        received_at: Instant::now(),
        answered_at: None,
    };
    let mut inner = state.lock();
    inner.requests_recorded += 1;
    let sequence = inner.requests_recorded;
    inner.requests.push((sequence, request));
    sequence
}

fn record(
    state: &State,
    operation: &str,
    params: Map<String, Value>,
    status: StatusCode,
    credential_scope: Option<String>,
) {
    let sequence = record_arrival(state, operation, &params, credential_scope);
    set_status(state, sequence, status);
}

fn set_status(state: &State, sequence: u64, status: StatusCode) {
    let mut inner = state.lock();
    // Searched from the end: the request is recent, unless `clear_requests` removed it.
    if let Some((_, request)) = inner
        .requests
        .iter_mut()
        .rev()
        .find(|(recorded, _)| *recorded == sequence)
    {
        request.status = status.as_u16();
        request.answered_at = Some(Instant::now());
    }
}

/// `Credential=AKID/20260101/us-east-1/access-analyzer/aws4_request` from a SigV4
/// `Authorization` header; the signature is not checked.
pub(crate) fn credential_scope(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization
        .split([' ', ','])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    Some(credential.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        path.trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn routes_follow_the_service_model() {
        let cases = [
            ("GET", "/analyzer", Some(Operation::ListAnalyzers)),
            ("GET", "/analyzer/a", Some(Operation::GetAnalyzer)),
            (
                "PUT",
                "/analyzer/a/archive-rule",
                Some(Operation::CreateArchiveRule),
            ),
            (
                "GET",
                "/analyzer/a/archive-rule",
                Some(Operation::ListArchiveRules),
            ),
            (
                "PUT",
                "/analyzer/a/archive-rule/r",
                Some(Operation::UpdateArchiveRule),
            ),
            (
                "GET",
                "/analyzer/a/archive-rule/r",
                Some(Operation::GetArchiveRule),
            ),
            (
                "DELETE",
                "/analyzer/a/archive-rule/r",
                Some(Operation::DeleteArchiveRule),
            ),
            ("PUT", "/archive-rule", Some(Operation::ApplyArchiveRule)),
            ("POST", "/finding", Some(Operation::ListFindings)),
            ("PUT", "/finding", Some(Operation::UpdateFindings)),
            ("POST", "/findingv2", Some(Operation::ListFindingsV2)),
            ("POST", "/analyzer", None),
            ("GET", "/policy/generation", None),
        ];
        for (method, path, expected) in cases {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let routed = route(&method, &segments(path)).map(|(operation, _)| operation);
            assert_eq!(routed, expected, "{method} {path}");
        }
    }

    #[test]
    fn reads_the_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/access-analyzer/aws4_request, SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(
            credential_scope(&headers).as_deref(),
            Some("AKID/20260101/us-east-1/access-analyzer/aws4_request")
        );
    }
}
