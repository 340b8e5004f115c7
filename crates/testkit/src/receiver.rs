//! A stand-in for the CloudFormation `ResponseURL`, an S3 presigned URL: it accepts `PUT` on any
//! path, records what arrived and answers 200 (or 503 when told to fail).

use std::{
    fmt, io,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::server::{self, ServerGuard};

/// One PUT as it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedResponse {
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw `Content-Type` value: `None` when absent, `Some("")` when present but empty
    /// (what CloudFormation's presigned URLs need).
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// When the PUT arrived, and when it was answered 200 (`None` in [`ResponseReceiver::all_attempts`]
    /// records, which are taken on arrival): the benchmark measures up to the answer.
    pub received_at: Instant,
    pub answered_at: Option<Instant>,
}

impl ReceivedResponse {
    /// The last path segment: the name given to [`ResponseReceiver::response_url`].
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    /// PUTs answered 200.
    responses: Vec<ReceivedResponse>,
    /// Every PUT, the failed ones included.
    attempts: Vec<ReceivedResponse>,
    failures_left: usize,
    delay: Duration,
}

struct Shared {
    inner: Mutex<Inner>,
    /// The number of successful responses, to wake waiters.
    received: watch::Sender<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("receiver state lock poisoned")
    }
}

/// A running receiver. Clones share it; it stops when the last clone is dropped or on
/// [`ResponseReceiver::shutdown`].
#[derive(Clone)]
pub struct ResponseReceiver {
    shared: Arc<Shared>,
    server: Arc<ServerGuard>,
    base_url: String,
}

impl fmt::Debug for ResponseReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseReceiver")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ResponseReceiver {
    /// Starts a receiver on an ephemeral 127.0.0.1 port of the current tokio runtime.
    pub async fn start() -> io::Result<ResponseReceiver> {
        ResponseReceiver::start_on(0).await
    }

    /// Starts a receiver on 127.0.0.1:`port` (0 for an ephemeral port).
    pub async fn start_on(port: u16) -> io::Result<ResponseReceiver> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            received: watch::Sender::new(0),
        });
        let router = Router::new().fallback(receive).with_state(shared.clone());
        let (address, server) = server::serve(router, port).await?;
        Ok(ResponseReceiver {
            shared,
            server: Arc::new(server),
            base_url: format!("http://{address}"),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// A URL shaped like CloudFormation's presigned S3 URL. The query holds a recognisable
    /// fake signature, `SECRETSIGNATURE<name>`, so a test can assert it never reaches a log.
    pub fn response_url(&self, name: &str) -> String {
        format!(
            "{}/cfn-response/{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z\
             &X-Amz-Expires=7200&X-Amz-SignedHeaders=host&X-Amz-Signature=SECRETSIGNATURE{name}",
            self.base_url
        )
    }

    /// The secret part of [`ResponseReceiver::response_url`], for "never logged" assertions.
    pub fn signature(name: &str) -> String {
        format!("SECRETSIGNATURE{name}")
    }

    /// The PUTs answered 200, in arrival order.
    pub fn responses(&self) -> Vec<ReceivedResponse> {
        self.shared.lock().responses.clone()
    }

    /// The PUTs answered 200 on the URL made for `name`.
    pub fn responses_for(&self, name: &str) -> Vec<ReceivedResponse> {
        let inner = self.shared.lock();
        inner
            .responses
            .iter()
            .filter(|response| response.name() == name)
            .cloned()
            .collect()
    }

    /// Waits until at least `count` responses were answered 200, or `timeout` passed; returns
    /// what has arrived either way.
    pub async fn wait_for_responses(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedResponse> {
        let mut received = self.shared.received.subscribe();
        // A timeout is not an error here: the caller asserts on what arrived.
        let _ = tokio::time::timeout(timeout, received.wait_for(|n| *n >= count)).await;
        self.responses()
    }

    /// Answers the next `count` PUTs with 503 (as S3 does when it sheds load).
    pub fn fail_first(&self, count: usize) {
        self.shared.lock().failures_left = count;
    }

    /// How many PUTs arrived, failed ones included.
    pub fn attempts(&self) -> usize {
        self.shared.lock().attempts.len()
    }

    /// Every PUT that arrived, failed ones included.
    pub fn all_attempts(&self) -> Vec<ReceivedResponse> {
        self.shared.lock().attempts.clone()
    }

    /// Holds each answer back by `delay`: a slow receiver.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    pub fn shutdown(&self) {
        self.server.stop();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::PUT {
        return (StatusCode::METHOD_NOT_ALLOWED, "only PUT is accepted").into_response();
    }
    let received = ReceivedResponse {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        json: serde_json::from_slice(&body).ok(),
        body: body.to_vec(),
        received_at: Instant::now(),
        answered_at: None,
    };
    let (fail, delay) = {
        let mut inner = shared.lock();
        inner.attempts.push(received.clone());
        let fail = inner.failures_left > 0;
        if fail {
            inner.failures_left -= 1;
        }
        (fail, inner.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        return (StatusCode::SERVICE_UNAVAILABLE, "Slow Down").into_response();
    }
    let count = {
        let mut inner = shared.lock();
        inner.responses.push(ReceivedResponse {
            answered_at: Some(Instant::now()),
            ..received
        });
        inner.responses.len()
    };
    shared.received.send_replace(count);
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_path_segment() {
        let response = ReceivedResponse {
            path: "/cfn-response/create-1".to_owned(),
            query: String::new(),
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
            json: None,
            received_at: Instant::now(),
            answered_at: None,
        };
        assert_eq!(response.name(), "create-1");
    }
}
