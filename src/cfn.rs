//! The CloudFormation custom resource protocol (SPEC §4): the event in, the one response out —
//! body, size limit, response URL policy, delivery. It never calls Access Analyzer.
//!
//! Kept apart from the archive-rule logic so that each can be read and tested alone. See
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::partition_dns_suffix;

/// CloudFormation rejects response bodies over 4096 bytes.
pub const MAX_RESPONSE_BYTES: usize = 4096;
const TRUNCATION_NOTE: &str = " [truncated; see the provider's log]";

/// Lambda delivers SNS-subscribed events wrapped: `Records[0].Sns.Message` holds the CloudFormation
/// event as a JSON string. Anything else is returned unchanged.
pub fn unwrap_sns(payload: Value) -> Value {
    let message = payload
        .get("Records")
        .and_then(|records| records.get(0))
        .and_then(|record| record.get("Sns"))
        .and_then(|sns| sns.get("Message"))
        .and_then(Value::as_str)
        .and_then(|message| serde_json::from_str::<Value>(message).ok());
    message.unwrap_or(payload)
}

/// The fields every CloudFormation request carries, read leniently: even an event that is otherwise
/// unusable (an unknown `RequestType`, a missing field) must get its FAILED response if it says where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    pub request_type: Option<String>,
    pub response_url: Option<String>,
    pub stack_id: Option<String>,
    pub request_id: Option<String>,
    pub logical_resource_id: Option<String>,
    pub physical_resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_properties: Option<Value>,
}

impl Envelope {
    pub fn read(event: &Value) -> Envelope {
        // A field of the wrong JSON type counts as absent rather than failing the whole read.
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        Envelope {
            request_type: text("RequestType"),
            response_url: text("ResponseURL"),
            stack_id: text("StackId"),
            request_id: text("RequestId"),
            logical_resource_id: text("LogicalResourceId"),
            physical_resource_id: text("PhysicalResourceId"),
            resource_type: text("ResourceType"),
            resource_properties: event.get("ResourceProperties").cloned(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

/// The response body. `aws_lambda_events`' own response type serialises a missing `Reason` as `null`,
/// which CloudFormation has been seen to drop; here `reason` is always a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub no_echo: bool,
    pub data: BTreeMap<String, String>,
}

impl Response {
    /// The JSON body, made to fit CloudFormation's 4096-byte limit: the `Reason` is shortened first
    /// (it is also logged whole), and only if that is not enough is `Data` dropped.
    pub fn to_body(&self) -> Vec<u8> {
        let mut response = self.clone();
        let body = to_json(&response);
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        let overflow = body.len() - MAX_RESPONSE_BYTES;
        response.reason = shorten(&self.reason, overflow);
        let body = to_json(&response);
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        response.data.clear();
        response.reason = self.reason.clone();
        let overflow = to_json(&response).len().saturating_sub(MAX_RESPONSE_BYTES);
        response.reason = shorten(&self.reason, overflow);
        to_json(&response)
    }
}

fn to_json(response: &Response) -> Vec<u8> {
    // Serialising plain strings, a bool and a string map cannot fail.
    serde_json::to_vec(response).unwrap_or_default()
}

/// `reason` shortened so that its JSON form is at least `overflow` bytes smaller, on a character
/// boundary, with a note saying it was cut.
fn shorten(reason: &str, overflow: usize) -> String {
    if overflow == 0 {
        return reason.to_owned();
    }
    let encoded_len = |s: &str| serde_json::to_string(s).map(|j| j.len()).unwrap_or(s.len());
    let full = encoded_len(reason);
    let budget = full.saturating_sub(overflow + TRUNCATION_NOTE.len());
    let mut cut = String::new();
    for c in reason.chars() {
        cut.push(c);
        if encoded_len(&cut) > budget {
            cut.pop();
            break;
        }
    }
    cut.push_str(TRUNCATION_NOTE);
    cut
}

/// Where the provider may send responses. The ResponseURL is a presigned S3 URL: a credential, and
/// the one thing an event can use to make the provider talk to an arbitrary host.
#[derive(Clone, Debug, Default)]
pub struct ResponseUrlPolicy {
    /// More DNS suffixes to accept (`APPLIED_ARCHIVE_RULE_RESPONSE_HOST_SUFFIXES`).
    pub extra_host_suffixes: Vec<String>,
    /// Accept `http://127.0.0.1`, `http://localhost` and `http://[::1]`
    /// (`APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL=true`), for tests and the local demo.
    pub allow_local: bool,
}

impl ResponseUrlPolicy {
    pub fn from_env() -> Self {
        let extra_host_suffixes = std::env::var("APPLIED_ARCHIVE_RULE_RESPONSE_HOST_SUFFIXES")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let allow_local = std::env::var("APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        ResponseUrlPolicy {
            extra_host_suffixes,
            allow_local,
        }
    }

    /// Checks a ResponseURL against the stack's partition (`None` when the StackId names none).
    pub fn check(&self, url: &str, partition: Option<&str>) -> Result<Url, String> {
        let parsed = Url::parse(url).map_err(|e| format!("ResponseURL is not a URL ({e})"))?;
        let host = parsed
            .host_str()
            .ok_or("ResponseURL has no host")?
            .to_ascii_lowercase();
        let local = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
        if self.allow_local && local && parsed.scheme() == "http" {
            return Ok(parsed);
        }
        if parsed.scheme() != "https" {
            return Err(format!("ResponseURL {} is not https", redact(&parsed)));
        }
        let mut suffixes: Vec<&str> = partition
            .and_then(partition_dns_suffix)
            .into_iter()
            .collect();
        suffixes.extend(self.extra_host_suffixes.iter().map(String::as_str));
        let allowed = suffixes
            .iter()
            .any(|suffix| host == *suffix || host.ends_with(&format!(".{suffix}")));
        if allowed {
            Ok(parsed)
        } else {
            Err(format!(
                "ResponseURL host {host} is not in the allowed DNS suffixes of partition {} ({})",
                partition.unwrap_or("unknown"),
                if suffixes.is_empty() {
                    "none".to_owned()
                } else {
                    suffixes.join(", ")
                }
            ))
        }
    }
}

/// The URL without its query string (the presigned signature) — the only form that is ever logged.
pub fn redact(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}

/// The same for a URL that may not even parse.
pub fn redact_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => redact(&parsed),
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_owned(),
    }
}

/// How the response PUT is retried.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub attempt_timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// PUTs the response with an empty `Content-Type`: the presigned URL was signed without one, and a
/// non-empty type (`reqwest`'s `.json()` sets `application/json`) breaks its signature on some URLs.
/// Connection errors and 5xx are retried with backoff; a 4xx is final. Gives up once `deadline`
/// leaves no time for another attempt.
pub async fn deliver(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    policy: &DeliveryPolicy,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    let mut backoff = policy.first_backoff;
    let mut last_error = String::from("no attempt was made");
    for attempt in 1..=policy.attempts {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            break;
        }
        let result = client
            .put(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "")
            .body(body.clone())
            .timeout(policy.attempt_timeout.min(remaining))
            .send()
            .await;
        let retryable = match result {
            Ok(response) if response.status().is_success() => {
                tracing::info!(url = %redact(url), attempt, status = response.status().as_u16(), "response delivered to CloudFormation");
                return Ok(());
            }
            Ok(response) => {
                last_error = format!("the response URL answered HTTP {}", response.status());
                response.status().is_server_error()
            }
            Err(e) => {
                // reqwest's error text includes the URL; strip it to keep the signature out of logs.
                let retryable = e.is_connect() || e.is_timeout() || e.is_request();
                last_error = format!("request failed: {}", e.without_url());
                retryable
            }
        };
        tracing::warn!(url = %redact(url), attempt, error = %last_error, "delivering the response failed");
        if !retryable || attempt == policy.attempts {
            break;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(backoff.min(remaining)).await;
        backoff *= 2;
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn response(reason: &str, data: usize) -> Response {
        Response {
            status: Status::Failed,
            reason: reason.to_owned(),
            physical_resource_id: "id".into(),
            stack_id: "stack".into(),
            request_id: "req".into(),
            logical_resource_id: "Rule".into(),
            no_echo: false,
            data: (0..data)
                .map(|i| (format!("Key{i}"), "v".repeat(100)))
                .collect(),
        }
    }

    #[test]
    fn body_has_every_field_and_a_string_reason() {
        let body: Value = serde_json::from_slice(&response("", 0).to_body()).unwrap();
        for key in [
            "Status",
            "Reason",
            "PhysicalResourceId",
            "StackId",
            "RequestId",
            "LogicalResourceId",
            "NoEcho",
            "Data",
        ] {
            assert!(body.get(key).is_some(), "{key} missing from {body}");
        }
        assert_eq!(body["Reason"], json!(""));
        assert_eq!(body["Status"], json!("FAILED"));
    }

    #[test]
    fn oversized_reason_is_shortened_first() {
        let long = "é".repeat(5000);
        let body = response(&long, 2).to_body();
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{}", body.len());
        let parsed: Response = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed.data.len(),
            2,
            "Data kept when shortening Reason is enough"
        );
        assert!(parsed.reason.ends_with(TRUNCATION_NOTE));
    }

    #[test]
    fn data_is_dropped_when_the_reason_alone_cannot_make_it_fit() {
        let body = response("short reason", 60).to_body();
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{}", body.len());
        let parsed: Response = serde_json::from_slice(&body).unwrap();
        assert!(parsed.data.is_empty());
        assert_eq!(parsed.reason, "short reason");
    }

    #[test]
    fn sns_envelope_is_unwrapped() {
        let inner = json!({"RequestType": "Create", "RequestId": "r"});
        let wrapped = json!({"Records": [{"Sns": {"Message": inner.to_string()}}]});
        assert_eq!(unwrap_sns(wrapped), inner);
        assert_eq!(unwrap_sns(inner.clone()), inner);
    }

    #[test]
    fn response_urls_must_be_https_in_the_partition_suffix() {
        let policy = ResponseUrlPolicy::default();
        let ok = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1";
        assert!(policy.check(ok, Some("aws")).is_ok());
        assert!(policy.check(ok, Some("aws-cn")).is_err());
        assert!(policy
            .check(
                "https://bucket.s3.cn-north-1.amazonaws.com.cn/x",
                Some("aws-cn")
            )
            .is_ok());
        assert!(policy
            .check("http://s3.amazonaws.com/x", Some("aws"))
            .is_err());
        assert!(policy
            .check("https://evilamazonaws.com/x", Some("aws"))
            .is_err());
        assert!(policy
            .check("https://amazonaws.com.evil.net/x", Some("aws"))
            .is_err());
        assert!(policy.check("http://127.0.0.1:9/x", Some("aws")).is_err());
        assert!(policy.check("not a url", Some("aws")).is_err());
    }

    #[test]
    fn local_urls_and_extra_suffixes_are_opt_in() {
        let policy = ResponseUrlPolicy {
            extra_host_suffixes: vec!["example.internal".into()],
            allow_local: true,
        };
        for url in [
            "http://127.0.0.1:8080/r",
            "http://localhost:1/r",
            "http://[::1]:2/r",
            "https://s3.example.internal/r",
        ] {
            assert!(policy.check(url, Some("aws")).is_ok(), "{url}");
        }
        assert!(policy.check("http://10.0.0.1/r", Some("aws")).is_err());
        assert!(policy.check("ftp://localhost/r", Some("aws")).is_err());
    }

    #[test]
    fn redaction_drops_the_query_string() {
        let url = "https://b.s3.amazonaws.com/path/obj?X-Amz-Signature=secret&X-Amz-Credential=c";
        assert_eq!(redact_str(url), "https://b.s3.amazonaws.com/path/obj");
        assert_eq!(redact_str("not a url?secret"), "not a url");
    }
}
