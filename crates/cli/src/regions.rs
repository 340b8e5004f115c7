//! The regions enabled in an account, from EC2 `DescribeRegions` — the one EC2 call the command line
//! makes, and it only reads.
//!
//! One read-only call does not justify `aws-sdk-ec2`, one of the SDK's largest crates (minutes of
//! compile time on a small machine), so the request is signed with `aws-sigv4` — the SDK's own
//! signer — and sent with `reqwest`. The EC2 query protocol is a form POST answered with XML; only
//! `regionName` and `optInStatus` are read.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

const BODY: &str = "Action=DescribeRegions&Version=2016-11-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Where EC2 is reached: the standard endpoint settings first (as the SDK clients follow them),
/// then the partition's public endpoint.
pub fn endpoint(region: &str, partition: &str) -> String {
    for name in ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"] {
        if let Ok(url) = std::env::var(name) {
            if !url.is_empty() {
                return url;
            }
        }
    }
    let suffix =
        applied_archive_rule::arn::partition_dns_suffix(partition).unwrap_or("amazonaws.com");
    format!("https://ec2.{region}.{suffix}")
}

/// Throttling and server errors are retried this many times, with exponential backoff, as the SDK
/// clients would.
const ATTEMPTS: u32 = 4;

/// The regions enabled in the account the credentials belong to (those that need no opt-in, and
/// those opted in).
pub async fn enabled_regions(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    credentials: Credentials,
) -> Result<Vec<String>, (Option<String>, String)> {
    let mut backoff = std::time::Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match describe_regions(http, endpoint, region, credentials.clone()).await {
            Err(e) if e.retryable && attempt < ATTEMPTS => {
                tracing::debug!(attempt, error = %e.message, "retrying ec2:DescribeRegions");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            result => return result.map_err(|e| (e.code, e.message)),
        }
    }
}

struct CallError {
    /// EC2's error code, when it answered one.
    code: Option<String>,
    message: String,
    retryable: bool,
}

impl From<String> for CallError {
    fn from(message: String) -> Self {
        CallError {
            code: None,
            message,
            retryable: false,
        }
    }
}

async fn describe_regions(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    credentials: Credentials,
) -> Result<Vec<String>, CallError> {
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ec2")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign ec2:DescribeRegions: {e}"))?
        .into();
    let headers = [("content-type", CONTENT_TYPE)];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| format!("cannot sign ec2:DescribeRegions: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign ec2:DescribeRegions: {e}"))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(&url)
        .header("content-type", CONTENT_TYPE)
        .body(BODY)
        .map_err(|e| format!("cannot build ec2:DescribeRegions: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    let mut call = http.post(&url).body(BODY);
    for (name, value) in request.headers() {
        call = call.header(name, value);
    }
    let response = call.send().await.map_err(|e| CallError {
        code: None,
        retryable: e.is_connect() || e.is_timeout(),
        message: if e.is_timeout() {
            format!("ec2:DescribeRegions: no answer within the request timeout (--call-timeout), {ATTEMPTS} attempts")
        } else {
            format!("ec2:DescribeRegions: {}", e.without_url())
        },
    })?;
    let status = response.status();
    // The request timeout covers the body too: a response that stalls half-way is a timeout.
    let text = response.text().await.map_err(|e| CallError {
        code: None,
        retryable: e.is_timeout(),
        message: format!("ec2:DescribeRegions: {}", e.without_url()),
    })?;
    if !status.is_success() {
        let code = element(&text, "Code").unwrap_or("error");
        let message = element(&text, "Message").unwrap_or("");
        return Err(CallError {
            code: Some(code.to_owned()),
            retryable: status.is_server_error()
                || matches!(code, "RequestLimitExceeded" | "Throttling"),
            message: format!("ec2:DescribeRegions: {code}: {message} (HTTP {status})"),
        });
    }
    Ok(parse_enabled_regions(&text))
}

/// `regionName` of every `item` whose `optInStatus` says the region is usable.
pub fn parse_enabled_regions(xml: &str) -> Vec<String> {
    let region_info = element(xml, "regionInfo").unwrap_or("");
    region_info
        .split("<item>")
        .skip(1)
        .filter_map(|item| {
            let name = element(item, "regionName")?;
            let enabled = element(item, "optInStatus")
                .is_none_or(|status| status == "opt-in-not-required" || status == "opted-in");
            enabled.then(|| name.to_owned())
        })
        .collect()
}

/// The text between the first `<name>` and the next `</name>`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_enabled_regions_and_skips_those_not_opted_in() {
        let xml = r#"<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>1</requestId>
            <regionInfo>
              <item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
              <item><regionName>eu-south-1</regionName><optInStatus>opted-in</optInStatus></item>
              <item><regionName>af-south-1</regionName><optInStatus>not-opted-in</optInStatus></item>
            </regionInfo></DescribeRegionsResponse>"#;
        assert_eq!(parse_enabled_regions(xml), ["us-east-1", "eu-south-1"]);
        assert!(parse_enabled_regions("<x/>").is_empty());
    }
}
