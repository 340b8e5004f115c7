//! One endpoint, four services: the service from the SigV4 credential scope, then for every
//! request the same steps — record, latency, authentication, region, injected fault, the
//! operation — and an answer in the service's own protocol.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::State as AxumState,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

use super::{ec2, organizations, sts, Org, OrgRequest, Principal};
use crate::access_analyzer::{
    service,
    wire::{self, ApiError, Call, Operation},
    Fault,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Sts,
    Organizations,
    Ec2,
    AccessAnalyzer,
}

impl Service {
    /// The SigV4 signing name, as it appears in the credential scope.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Organizations => "organizations",
            Service::Ec2 => "ec2",
            Service::AccessAnalyzer => "access-analyzer",
        }
    }

    fn from_signing_name(name: &str) -> Option<Service> {
        [
            Service::Sts,
            Service::Organizations,
            Service::Ec2,
            Service::AccessAnalyzer,
        ]
        .into_iter()
        .find(|service| service.name() == name)
    }

    /// An unsigned request has no scope: tell the service from the request's shape, only to
    /// refuse it in that service's protocol.
    fn infer(headers: &HeaderMap, body: &Bytes) -> Service {
        if headers.contains_key("x-amz-target") {
            return Service::Organizations;
        }
        match form(body).get("Action").and_then(Value::as_str) {
            Some("DescribeRegions") => Service::Ec2,
            Some(_) => Service::Sts,
            None => Service::AccessAnalyzer,
        }
    }
}

/// `AKID/date/region/service/aws4_request`, split.
struct Scope {
    access_key_id: String,
    region: String,
    service: String,
}

impl Scope {
    fn parse(headers: &HeaderMap) -> Option<Scope> {
        let credential = wire::credential_scope(headers)?;
        let parts: Vec<&str> = credential.split('/').collect();
        match parts.as_slice() {
            [access_key_id, _date, region, service, "aws4_request"] => Some(Scope {
                access_key_id: (*access_key_id).to_owned(),
                region: (*region).to_owned(),
                service: (*service).to_owned(),
            }),
            _ => None,
        }
    }
}

/// A request read in its service's protocol: the operation and its input members, or the error
/// to answer (after the request is recorded and authenticated, as AWS does).
pub(crate) struct Parsed {
    pub(crate) operation: String,
    pub(crate) params: Map<String, Value>,
    pub(crate) error: Option<ApiError>,
    analyzer_operation: Option<Operation>,
}

impl Parsed {
    pub(crate) fn new(operation: &str, params: Map<String, Value>) -> Parsed {
        Parsed {
            operation: operation.to_owned(),
            params,
            error: None,
            analyzer_operation: None,
        }
    }

    pub(crate) fn invalid(operation: &str, params: Map<String, Value>, error: ApiError) -> Parsed {
        Parsed {
            error: Some(error),
            ..Parsed::new(operation, params)
        }
    }
}

/// The fields of an `application/x-www-form-urlencoded` body (awsQuery and ec2Query), as strings.
pub(crate) fn form(body: &Bytes) -> Map<String, Value> {
    form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
        .collect()
}

fn parse_access_analyzer(method: &Method, uri: &Uri, body: &Bytes) -> Parsed {
    let Some(routed) = wire::route_request(method, uri, body) else {
        return Parsed::invalid(
            "Unknown",
            Map::new(),
            ApiError::unknown_operation(method, uri.path()),
        );
    };
    let name = routed.operation.name();
    let mut parsed = match routed.params {
        Ok(params) => Parsed::new(name, params),
        Err(error) => Parsed::invalid(name, Map::new(), error),
    };
    parsed.analyzer_operation = Some(routed.operation);
    parsed
}

/// Every request that is not for the control plane.
pub(crate) async fn handle(
    AxumState(org): AxumState<Arc<Org>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    let request_id = org.next_request_id();
    let scope = Scope::parse(&headers);
    let service = match &scope {
        Some(scope) => Service::from_signing_name(&scope.service),
        None => Some(Service::infer(&headers, &body)),
    };
    let Some(service) = service else {
        let name = scope.map(|scope| scope.service).unwrap_or_default();
        return unknown_service(&name, &request_id);
    };
    let parsed = match service {
        Service::Sts => sts::parse(&body),
        Service::Organizations => organizations::parse(&headers, &body),
        Service::Ec2 => ec2::parse(&body),
        Service::AccessAnalyzer => parse_access_analyzer(&method, &uri, &body),
    };
    let access_key_id = scope.as_ref().map(|scope| scope.access_key_id.clone());
    let region = scope.as_ref().map(|scope| scope.region.clone());
    let caller = org.caller(access_key_id.as_deref());
    // AssumeRole acts on the role's account: its faults, count and record go there.
    let account = match (service, parsed.operation.as_str()) {
        (Service::Sts, "AssumeRole") => sts::role_account(&parsed.params),
        _ => None,
    }
    .or_else(|| caller.as_ref().map(|principal| principal.account.clone()));
    if parsed.operation == "AssumeRole" {
        if let Some(account) = &account {
            *org.lock()
                .assume_role_calls
                .entry(account.clone())
                .or_default() += 1;
        }
    }
    let sequence = org.record_arrival(OrgRequest {
        service: service.name().to_owned(),
        operation: parsed.operation.clone(),
        account: account.clone(),
        region: region.clone(),
        access_key_id: access_key_id.clone(),
        params: Value::Object(parsed.params.clone()),
        status: 0,
        received_at,
        answered_at: None,
    });

    let latency = org.latency_for(service.name());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let target = Target {
        account: account.as_deref(),
        region: region.as_deref(),
        request_id: &request_id,
    };
    let response = match answer(&org, service, parsed, access_key_id.as_deref(), &target).await {
        Ok(response) => response,
        Err(error) => error_response(service, error, &request_id),
    };
    org.set_status(sequence, response.status());
    response
}

/// Where a request acts, for its fault and its answer.
struct Target<'a> {
    account: Option<&'a str>,
    region: Option<&'a str>,
    request_id: &'a str,
}

async fn answer(
    org: &Arc<Org>,
    service: Service,
    parsed: Parsed,
    access_key_id: Option<&str>,
    target: &Target<'_>,
) -> Result<Response, ApiError> {
    let principal = authenticate(org, service, access_key_id)?;
    let region = target.region.unwrap_or_default();
    let region_matters = matches!(service, Service::AccessAnalyzer | Service::Ec2);
    if region_matters && !org.region_enabled(&principal.account, region) {
        return Err(region_not_enabled(service));
    }
    if let Some(error) = parsed.error {
        return Err(error);
    }
    let call = parsed.analyzer_operation.map(|operation| Call {
        operation,
        params: parsed.params.clone(),
    });
    if let Some(fault) = org.take_fault(target.account, target.region, &parsed.operation) {
        let error = match &call {
            Some(call) => ApiError::from_fault(&fault, call),
            None => fault_error(service, &fault),
        };
        match error {
            Some(error) => return Err(error),
            // Held open until the server's connection task is aborted at shutdown.
            None => std::future::pending().await,
        }
    }
    let request_id = target.request_id;
    match service {
        Service::Sts => {
            let body = sts::execute(
                org,
                &principal,
                &parsed.operation,
                &parsed.params,
                request_id,
            )?;
            Ok(xml_response(StatusCode::OK, body, request_id))
        }
        Service::Organizations => {
            let body = organizations::execute(org, &principal, &parsed.operation, &parsed.params)?;
            Ok(json_1_1_response(StatusCode::OK, &body, request_id))
        }
        Service::Ec2 => {
            let body = ec2::describe_regions(org, &principal.account, &parsed.params, request_id)?;
            Ok(xml_response(StatusCode::OK, body, request_id))
        }
        Service::AccessAnalyzer => {
            let call = call.expect("an Access Analyzer request has its operation");
            let state = org.analyzer_state(&principal.account, region);
            let body = service::execute(&state, &call)?;
            Ok(wire::json_response(StatusCode::OK, &body, request_id))
        }
    }
}

/// The principal an access key stands for, or the error each service answers for a request
/// that is unsigned, signed with a key nobody issued, or with one that expired.
fn authenticate(
    org: &Org,
    service: Service,
    access_key_id: Option<&str>,
) -> Result<Principal, ApiError> {
    let Some(access_key_id) = access_key_id else {
        let (status, code) = match service {
            Service::Sts => (StatusCode::FORBIDDEN, "MissingAuthenticationToken"),
            Service::Ec2 => (StatusCode::UNAUTHORIZED, "AuthFailure"),
            Service::Organizations => (
                StatusCode::BAD_REQUEST,
                "MissingAuthenticationTokenException",
            ),
            Service::AccessAnalyzer => {
                (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException")
            }
        };
        return Err(api_error(
            status,
            code,
            "Request is missing Authentication Token",
        ));
    };
    let Some(principal) = org.caller(Some(access_key_id)) else {
        return Err(invalid_token(service));
    };
    let expired = principal
        .expires_at
        .is_some_and(|expires_at| expires_at <= std::time::SystemTime::now());
    if expired {
        // EC2's error code list: RequestExpired "can also occur if the credentials have expired".
        let (status, code) = match service {
            Service::Sts => (StatusCode::BAD_REQUEST, "ExpiredToken"),
            Service::Ec2 => (StatusCode::BAD_REQUEST, "RequestExpired"),
            Service::Organizations => (StatusCode::BAD_REQUEST, "ExpiredTokenException"),
            Service::AccessAnalyzer => (StatusCode::FORBIDDEN, "ExpiredTokenException"),
        };
        return Err(api_error(
            status,
            code,
            "The security token included in the request is expired",
        ));
    }
    Ok(principal)
}

fn invalid_token(service: Service) -> ApiError {
    match service {
        Service::Sts => api_error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        Service::Ec2 => api_error(
            StatusCode::UNAUTHORIZED,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        Service::Organizations => api_error(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        Service::AccessAnalyzer => api_error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    }
}

/// A region the account has not enabled does not know the account's credentials: AWS answers
/// exactly as for a key it never issued, with nothing that names the region, so a client cannot
/// tell the two apart from the answer alone. Reported answers from regions not enabled:
/// JSON services `UnrecognizedClientException` "The security token included in the request is
/// invalid." (epsagon/clear-lambda-storage#9, Lambda in ap-east-1), EC2 401 `AuthFailure` "AWS
/// was not able to validate the provided access credentials" (turbot/steampipe-plugin-aws#75,
/// fog/fog-aws#585, cloud-custodian/cloud-custodian#4006), STS 403 `InvalidClientTokenId`
/// (remotion-dev/github-unwrapped-2022#34, eu-south-1).
fn region_not_enabled(service: Service) -> ApiError {
    invalid_token(service)
}

/// The error a fault answers in a service other than Access Analyzer; `None` for a hang.
fn fault_error(service: Service, fault: &Fault) -> Option<ApiError> {
    use StatusCode as S;
    let (status, code) = match (service, fault) {
        (_, Fault::Hang) => return None,
        (Service::Sts, Fault::Throttling { .. }) => (S::BAD_REQUEST, "Throttling"),
        (Service::Sts, Fault::Internal) => (S::INTERNAL_SERVER_ERROR, "InternalFailure"),
        (Service::Sts, Fault::AccessDenied) => (S::FORBIDDEN, "AccessDenied"),
        (Service::Sts, _) => (S::BAD_REQUEST, "ValidationError"),
        (Service::Organizations, Fault::Throttling { .. }) => {
            (S::BAD_REQUEST, "TooManyRequestsException")
        }
        (Service::Organizations, Fault::Internal) => (S::INTERNAL_SERVER_ERROR, "ServiceException"),
        (Service::Organizations, Fault::AccessDenied) => (S::BAD_REQUEST, "AccessDeniedException"),
        (Service::Organizations, Fault::ResourceNotFound) => {
            (S::BAD_REQUEST, "ParentNotFoundException")
        }
        (Service::Organizations, Fault::Conflict) => {
            (S::BAD_REQUEST, "ConcurrentModificationException")
        }
        (Service::Organizations, Fault::ServiceQuotaExceeded) => {
            (S::BAD_REQUEST, "ConstraintViolationException")
        }
        (Service::Organizations, _) => (S::BAD_REQUEST, "InvalidInputException"),
        (Service::Ec2, Fault::Throttling { .. }) => {
            (S::SERVICE_UNAVAILABLE, "RequestLimitExceeded")
        }
        (Service::Ec2, Fault::Internal) => (S::INTERNAL_SERVER_ERROR, "InternalError"),
        (Service::Ec2, Fault::AccessDenied) => (S::FORBIDDEN, "UnauthorizedOperation"),
        (Service::Ec2, _) => (S::BAD_REQUEST, "InvalidParameterValue"),
        (Service::AccessAnalyzer, _) => {
            unreachable!("Access Analyzer faults answer as its emulator does")
        }
    };
    let mut error = api_error(status, code, format!("{code} (injected fault)"));
    if let Fault::Throttling {
        retry_after_seconds,
    } = fault
    {
        error.retry_after_seconds = Some(*retry_after_seconds);
    }
    Some(error)
}

fn unknown_service(name: &str, request_id: &str) -> Response {
    let error = api_error(
        StatusCode::BAD_REQUEST,
        "UnknownServiceException",
        format!("the organization emulator does not serve '{name}'"),
    );
    error.into_response(request_id)
}

/// An error in the service's own protocol.
fn error_response(service: Service, error: ApiError, request_id: &str) -> Response {
    let mut response = match service {
        Service::AccessAnalyzer => return error.into_response(request_id),
        Service::Sts => {
            // awsQuery: the SDK reads Error/Code and Error/Message under ErrorResponse.
            let kind = if error.status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            let body = format!(
                "<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code>\
                 <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                sts::XML_NAMESPACE,
                error.code,
                xml_escape(&error.message)
            );
            xml_response(error.status, body, request_id)
        }
        Service::Ec2 => {
            // ec2Query: Response/Errors/Error, and `RequestID` spelled so.
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                 <Code>{}</Code><Message>{}</Message></Error></Errors>\
                 <RequestID>{request_id}</RequestID></Response>",
                error.code,
                xml_escape(&error.message)
            );
            xml_response(error.status, body, request_id)
        }
        Service::Organizations => {
            // awsJson1_1: the code in `__type`, the members beside `Message`.
            let mut body = error.members.clone();
            body.insert("__type".to_owned(), error.code.into());
            body.insert("Message".to_owned(), error.message.clone().into());
            json_1_1_response(error.status, &Value::Object(body), request_id)
        }
    };
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

pub(crate) fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let response = (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response();
    with_request_id(response, request_id)
}

fn json_1_1_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let response = (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response();
    with_request_id(response, request_id)
}

/// Escapes text for an XML element.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

impl Org {
    /// The principal an access key stands for, expired or not.
    fn caller(&self, access_key_id: Option<&str>) -> Option<Principal> {
        self.lock().principals.get(access_key_id?).cloned()
    }

    fn record_arrival(&self, request: OrgRequest) -> u64 {
        let mut inner = self.lock();
        inner.requests_recorded += 1;
        let sequence = inner.requests_recorded;
        inner.requests.push((sequence, request));
        sequence
    }

    fn set_status(&self, sequence: u64, status: StatusCode) {
        let mut inner = self.lock();
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
}

/// An error in any of the four services; the protocol decides how it is written.
pub(crate) fn api_error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::new(code, status, message)
}

/// An `ApiError` with the members a service's error carries (Organizations' `Reason`).
pub(crate) fn with_member(mut error: ApiError, name: &str, value: &str) -> ApiError {
    error.members.insert(name.to_owned(), json!(value));
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_scope_and_tells_services_apart() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAX/20260101/eu-south-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
            ),
        );
        let scope = Scope::parse(&headers).expect("a scope");
        assert_eq!(scope.access_key_id, "ASIAX");
        assert_eq!(scope.region, "eu-south-1");
        assert_eq!(
            Service::from_signing_name(&scope.service),
            Some(Service::Ec2)
        );
        assert_eq!(Service::from_signing_name("s3"), None);

        let unsigned = HeaderMap::new();
        let describe = Bytes::from_static(b"Action=DescribeRegions&Version=2016-11-15");
        assert_eq!(Service::infer(&unsigned, &describe), Service::Ec2);
        let assume = Bytes::from_static(b"Action=AssumeRole&Version=2011-06-15");
        assert_eq!(Service::infer(&unsigned, &assume), Service::Sts);
        assert_eq!(
            Service::infer(&unsigned, &Bytes::new()),
            Service::AccessAnalyzer
        );
    }

    #[test]
    fn escapes_xml_text() {
        assert_eq!(xml_escape("a<b&\"c'>"), "a&lt;b&amp;&quot;c&apos;&gt;");
    }
}
