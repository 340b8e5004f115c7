//! A fake Lambda Runtime API (`2018-06-01`), so the real `bootstrap` binary, built with
//! `lambda_runtime` 1.x, can run end to end: events are queued here, the binary long-polls
//! `/next`, and its responses and errors are recorded.
//!
//! Checked against `lambda_runtime` 1.5: it reads `lambda-runtime-aws-request-id` and
//! `lambda-runtime-deadline-ms` (both required; it panics without them),
//! `lambda-runtime-invoked-function-arn` and `lambda-runtime-trace-id`; it posts errors with
//! `lambda-runtime-function-error-type: unhandled` (`Runtime.InitError` for init errors) and a
//! JSON body `{errorType, errorMessage}`; any 2xx answer is success.

use std::{
    collections::{HashMap, VecDeque},
    fmt, io,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::{watch, Notify},
};

use crate::{
    server::{self, ServerGuard},
    util::{epoch_millis, uuid_like},
};

/// The `Lambda-Runtime-Deadline-Ms` an event is delivered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Now plus this, at delivery.
    In(Duration),
    /// This raw value, e.g. `600000` as `cargo lambda watch` sends (a date in 1970).
    EpochMillis(u64),
}

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum InvocationOutcome {
    /// The body posted to `/response` (a JSON string if it was not JSON).
    Response(Value),
    /// The body posted to `/error` and its `Lambda-Runtime-Function-Error-Type`.
    Error {
        error_type: Option<String>,
        body: Value,
    },
}

struct QueuedEvent {
    request_id: String,
    payload: Value,
    deadline: Deadline,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<QueuedEvent>,
    outcomes: Vec<(String, InvocationOutcome)>,
    /// When each outcome's body had arrived in full, by request id (the first one of an id).
    outcome_received: HashMap<String, Instant>,
    next_polls: Vec<Instant>,
    init_errors: Vec<Value>,
    function_arn: String,
    events_queued: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    event_queued: Notify,
    /// Bumped on every recorded outcome and every `/next` poll, to wake waiters.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake runtime state lock poisoned")
    }

    fn notify_change(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Waits until `done` holds for the state, or `timeout` passes; returns whether it held.
    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Inner) -> bool) -> bool {
        let mut changed = self.changed.subscribe();
        let waited = tokio::time::timeout(timeout, changed.wait_for(|_| done(&self.lock()))).await;
        waited.is_ok_and(|result| result.is_ok())
    }
}

/// A running fake Runtime API. Clones share it; it stops when the last clone is dropped or on
/// [`FakeRuntime::shutdown`].
#[derive(Clone)]
pub struct FakeRuntime {
    shared: Arc<Shared>,
    server: Arc<ServerGuard>,
    address: String,
}

impl fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRuntime")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_ACCOUNT: &str = "123456789012";

impl FakeRuntime {
    /// Starts on an ephemeral 127.0.0.1 port of the current tokio runtime.
    pub async fn start() -> io::Result<FakeRuntime> {
        FakeRuntime::start_on(0).await
    }

    /// Starts on 127.0.0.1:`port` (0 for an ephemeral port).
    pub async fn start_on(port: u16) -> io::Result<FakeRuntime> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                function_arn: function_arn_for("function"),
                ..Inner::default()
            }),
            event_queued: Notify::new(),
            changed: watch::Sender::new(0),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let (address, server) = server::serve(router, port).await?;
        Ok(FakeRuntime {
            shared,
            server: Arc::new(server),
            address: address.to_string(),
        })
    }

    /// `127.0.0.1:PORT`: the value for `AWS_LAMBDA_RUNTIME_API` (no scheme).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// The environment Lambda gives a `provided.al2023` function, with this runtime's address
    /// and dummy credentials. Also sets the function ARN to match `function_name`.
    pub fn lambda_env(&self, function_name: &str) -> Vec<(String, String)> {
        self.shared.lock().function_arn = function_arn_for(function_name);
        let log_group = format!("/aws/lambda/{function_name}");
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            ),
            ("AWS_LAMBDA_LOG_GROUP_NAME", log_group.as_str()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("AWS_REGION", DEFAULT_REGION),
            ("AWS_DEFAULT_REGION", DEFAULT_REGION),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_SESSION_TOKEN", "fake-session-token"),
            ("TZ", ":UTC"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// `arn:aws:lambda:us-east-1:123456789012:function:<name>` unless set otherwise.
    pub fn function_arn(&self) -> String {
        self.shared.lock().function_arn.clone()
    }

    /// The `Lambda-Runtime-Invoked-Function-Arn` of events delivered from now on.
    pub fn set_function_arn(&self, arn: &str) {
        self.shared.lock().function_arn = arn.to_owned();
    }

    /// Queues an event for the next `/next` poll; returns its request id.
    pub fn queue_event(&self, payload: Value, deadline: Deadline) -> String {
        let request_id = {
            let mut inner = self.shared.lock();
            inner.events_queued += 1;
            let request_id = uuid_like(0x1a3b_da00, inner.events_queued);
            inner.queue.push_back(QueuedEvent {
                request_id: request_id.clone(),
                payload,
                deadline,
            });
            request_id
        };
        self.shared.event_queued.notify_one();
        request_id
    }

    /// Waits for the invocation's response or error, up to `timeout`.
    pub async fn wait_for_outcome(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Option<InvocationOutcome> {
        let find = |inner: &Inner| {
            inner
                .outcomes
                .iter()
                .find(|(id, _)| id == request_id)
                .map(|(_, outcome)| outcome.clone())
        };
        self.shared
            .wait_until(timeout, |inner| find(inner).is_some())
            .await;
        find(&self.shared.lock())
    }

    /// When the invocation's response or error had arrived in full: the end of an invocation
    /// whose result is its own response (an EventBridge one has no response URL).
    pub fn outcome_received_at(&self, request_id: &str) -> Option<Instant> {
        self.shared.lock().outcome_received.get(request_id).copied()
    }

    /// Every outcome so far, by request id, in arrival order.
    pub fn outcomes(&self) -> Vec<(String, InvocationOutcome)> {
        self.shared.lock().outcomes.clone()
    }

    /// When each `/next` request arrived; the first one marks the end of the function's init.
    pub fn next_polls(&self) -> Vec<Instant> {
        self.shared.lock().next_polls.clone()
    }

    /// Waits until at least `count` `/next` requests arrived; false on timeout.
    pub async fn wait_for_next_poll(&self, count: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |inner| inner.next_polls.len() >= count)
            .await
    }

    /// The bodies posted to `/init/error`.
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.lock().init_errors.clone()
    }

    pub fn shutdown(&self) {
        self.server.stop();
    }
}

fn function_arn_for(function_name: &str) -> String {
    format!("arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:{function_name}")
}

fn json_or_string(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Long-polls until an event is queued, as the real Runtime API does.
async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().next_polls.push(Instant::now());
    shared.notify_change();
    let event = loop {
        // Registered before the queue is checked, so an event queued in between still wakes us.
        let queued = shared.event_queued.notified();
        if let Some(event) = shared.lock().queue.pop_front() {
            break event;
        }
        queued.await;
    };
    let (deadline_ms, function_arn) = {
        let inner = shared.lock();
        let deadline_ms = match event.deadline {
            Deadline::In(duration) => epoch_millis(SystemTime::now() + duration),
            Deadline::EpochMillis(millis) => millis,
        };
        (deadline_ms, inner.function_arn.clone())
    };
    let trace_id = format!(
        "Root=1-00000000-{:0>24};Parent=0000000000000001;Sampled=0",
        event
            .request_id
            .replace('-', "")
            .get(..24)
            .unwrap_or_default()
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        event.payload.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", event.request_id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", function_arn),
        ("lambda-runtime-trace-id", trace_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let outcome = InvocationOutcome::Response(json_or_string(&body));
    record_outcome(&shared, request_id, outcome);
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let outcome = InvocationOutcome::Error {
        error_type,
        body: json_or_string(&body),
    };
    record_outcome(&shared, request_id, outcome);
    StatusCode::ACCEPTED
}

/// Called once axum has read the whole body, so the instant is when the result had arrived.
fn record_outcome(shared: &Shared, request_id: String, outcome: InvocationOutcome) {
    let received = Instant::now();
    {
        let mut inner = shared.lock();
        inner
            .outcome_received
            .entry(request_id.clone())
            .or_insert(received);
        inner.outcomes.push((request_id, outcome));
    }
    shared.notify_change();
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.lock().init_errors.push(json_or_string(&body));
    shared.notify_change();
    StatusCode::ACCEPTED
}

/// The real `bootstrap` binary (or any Runtime API client) as a child process, with its
/// stdout and stderr lines captured. The child is killed when this is dropped.
pub struct BootstrapProcess {
    child: Child,
    pid: Option<u32>,
    logs: Arc<Mutex<Vec<String>>>,
    log_added: Arc<watch::Sender<usize>>,
}

impl fmt::Debug for BootstrapProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapProcess")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl BootstrapProcess {
    /// Spawns `binary` with [`FakeRuntime::lambda_env`] plus `extra_env` (which wins), e.g.
    /// `AWS_ENDPOINT_URL_ACCESSANALYZER`. The parent's environment is not inherited, except
    /// `PATH`, `RUST_LOG` and `RUST_BACKTRACE`, so a developer's AWS profile cannot leak in.
    pub fn spawn<K, V>(
        binary: impl AsRef<Path>,
        runtime: &FakeRuntime,
        function_name: &str,
        extra_env: impl IntoIterator<Item = (K, V)>,
    ) -> io::Result<BootstrapProcess>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut command = Command::new(binary.as_ref());
        command
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        // The SDK would otherwise probe the EC2 metadata endpoint for region or credentials.
        command.env("AWS_EC2_METADATA_DISABLED", "true");
        command.envs(runtime.lambda_env(function_name));
        let extra_env: HashMap<String, String> = extra_env
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        command.envs(extra_env);

        let mut child = command.spawn()?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let log_added = Arc::new(watch::Sender::new(0));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect_lines(stdout, logs.clone(), log_added.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect_lines(stderr, logs.clone(), log_added.clone()));
        }
        Ok(BootstrapProcess {
            pid: child.id(),
            child,
            logs,
            log_added,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Every line written to stdout or stderr so far, in the order read.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log lock poisoned").clone()
    }

    /// Waits until a line containing `needle` was logged; false on timeout.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let mut added = self.log_added.subscribe();
        let found = |logs: &Arc<Mutex<Vec<String>>>| {
            logs.lock()
                .expect("log lock poisoned")
                .iter()
                .any(|line| line.contains(needle))
        };
        let waited = tokio::time::timeout(timeout, added.wait_for(|_| found(&self.logs))).await;
        waited.is_ok_and(|result| result.is_ok())
    }

    /// The peak resident set size (`VmHWM` in `/proc/<pid>/status`), while the process runs;
    /// `None` once it exited or off Linux.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Kills the process and waits for it to exit.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.child.kill().await
    }
}

async fn collect_lines(
    stream: impl AsyncRead + Unpin,
    logs: Arc<Mutex<Vec<String>>>,
    log_added: Arc<watch::Sender<usize>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let count = {
            let mut logs = logs.lock().expect("log lock poisoned");
            logs.push(line);
            logs.len()
        };
        log_added.send_replace(count);
    }
}
