//! The three servers over plain HTTP/1.1, as non-SDK clients (the provider's reqwest PUT, the
//! `lambda_runtime` client, a Python or shell control-plane user) see them.

use std::{
    os::unix::fs::PermissionsExt,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use testkit::{
    access_analyzer::{Emulator, FindingStatus},
    receiver::ResponseReceiver,
    runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// One request on a fresh connection; `address` is `host:port`.
async fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test]
async fn emulator_answers_json_with_request_ids_and_aws_error_headers() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let address = emulator.endpoint_url();
    let address = host(&address);

    let unknown = http(address, "GET", "/policy/generation", &[], "").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.header("x-amzn-errortype"),
        Some("UnknownOperationException")
    );
    assert_eq!(unknown.header("content-type"), Some("application/json"));
    assert!(unknown.json()["message"].is_string());

    emulator.add_analyzer("a", "ACCOUNT");
    let ok = http(address, "GET", "/analyzer/a", &[], "").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let request_id = ok.header("x-amzn-requestid").expect("a request id");
    assert_eq!(request_id.len(), 36);
    let created_at = ok.json()["analyzer"]["createdAt"]
        .as_str()
        .expect("a timestamp string")
        .to_owned();
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "{created_at}"
    );

    emulator.fail_next(
        "GetAnalyzer",
        1,
        testkit::access_analyzer::Fault::Throttling {
            retry_after_seconds: 3,
        },
    );
    let throttled = http(address, "GET", "/analyzer/a", &[], "").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("3"));
    assert_eq!(
        throttled.header("x-amzn-errortype"),
        Some("ThrottlingException")
    );
    assert_ne!(throttled.header("x-amzn-requestid"), Some(request_id));

    let bad_json = http(address, "PUT", "/analyzer/a/archive-rule", &[], "{").await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["reason"], "cannotParse");

    let recorded: Vec<(String, u16)> = emulator
        .requests()
        .iter()
        .map(|request| (request.operation.clone(), request.status))
        .collect();
    assert_eq!(
        recorded,
        [
            ("Unknown".to_owned(), 404),
            ("GetAnalyzer".to_owned(), 200),
            ("GetAnalyzer".to_owned(), 429),
            ("CreateArchiveRule".to_owned(), 400),
        ]
    );
}

#[tokio::test]
async fn control_plane_drives_the_emulator() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let address = emulator.endpoint_url();
    let address = host(&address);
    let post = |path: &'static str, body: Value| async move {
        http(address, "POST", path, &[], &body.to_string()).await
    };

    let added = post(
        "/_emulator/analyzers",
        json!({"name": "demo", "type": "ACCOUNT"}),
    )
    .await;
    assert_eq!(
        added.json()["arn"],
        "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/demo"
    );
    let rule = post(
        "/_emulator/archive-rules",
        json!({"analyzer": "demo", "ruleName": "partners",
               "filter": {"principal.AWS": {"contains": ["111111111111"]}}}),
    )
    .await;
    assert_eq!(rule.status, 200);
    let finding = post(
        "/_emulator/findings",
        json!({"analyzer": "demo", "resourceType": "AWS::IAM::Role",
               "resource": "arn:aws:iam::123456789012:role/x",
               "principal": {"AWS": "arn:aws:iam::111111111111:root"}}),
    )
    .await;
    assert_eq!(
        finding.json()["status"],
        "ARCHIVED",
        "rule applied on arrival"
    );
    assert_eq!(finding.json()["archivedBy"], "partners");
    let missing = post(
        "/_emulator/findings",
        json!({"analyzer": "nope", "resourceType": "AWS::IAM::Role", "resource": "r"}),
    )
    .await;
    assert_eq!(missing.status, 404);

    let listed = http(address, "GET", "/_emulator/findings?analyzer=demo", &[], "").await;
    assert_eq!(listed.json()["findings"].as_array().map(Vec::len), Some(1));
    let rules = http(
        address,
        "GET",
        "/_emulator/archive-rules?analyzer=demo",
        &[],
        "",
    )
    .await;
    assert_eq!(rules.json()["archiveRules"][0]["ruleName"], "partners");

    let fault = post(
        "/_emulator/faults",
        json!({"operation": "GetAnalyzer", "count": 1, "fault": "Throttling", "retryAfterSeconds": 2}),
    )
    .await;
    assert_eq!(fault.status, 200);
    assert_eq!(
        http(address, "GET", "/analyzer/demo", &[], "").await.status,
        429
    );
    assert_eq!(
        http(address, "GET", "/analyzer/demo", &[], "").await.status,
        200
    );
    let unknown_fault = post(
        "/_emulator/faults",
        json!({"operation": "GetAnalyzer", "fault": "Meteor"}),
    )
    .await;
    assert_eq!(unknown_fault.status, 400);

    post(
        "/_emulator/latency",
        json!({"millis": 120, "operation": "GetAnalyzer"}),
    )
    .await;
    let started = Instant::now();
    http(address, "GET", "/analyzer/demo", &[], "").await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    post("/_emulator/apply-delay", json!({"millis": 5})).await;

    let requests = http(address, "GET", "/_emulator/requests", &[], "").await;
    let requests = requests.json();
    let requests = requests["requests"].as_array().expect("a list");
    assert_eq!(requests.len(), 3, "control-plane calls are not recorded");
    assert_eq!(requests[0]["operation"], "GetAnalyzer");
    assert_eq!(requests[0]["status"], 429);
    assert_eq!(requests[0]["analyzer"], "demo");
    http(address, "DELETE", "/_emulator/requests", &[], "").await;
    assert!(emulator.requests().is_empty());
    assert_eq!(emulator.findings("demo")[0].status, FindingStatus::Archived);
}

#[tokio::test]
async fn control_plane_seeds_every_analyzer_type_and_refuses_what_it_cannot_have() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let address = emulator.endpoint_url();
    let address = host(&address);
    let post = |path: &'static str, body: Value| async move {
        http(address, "POST", path, &[], &body.to_string()).await
    };

    for (name, analyzer_type) in [
        ("unused", "ORGANIZATION_UNUSED_ACCESS"),
        ("internal", "ACCOUNT_INTERNAL_ACCESS"),
    ] {
        let added = post(
            "/_emulator/analyzers",
            json!({"name": name, "type": analyzer_type}),
        )
        .await;
        assert_eq!(added.status, 200, "{}", added.body);
    }
    let bad_type = post(
        "/_emulator/analyzers",
        json!({"name": "x", "type": "UNUSED"}),
    )
    .await;
    assert_eq!(bad_type.status, 400);
    assert_eq!(bad_type.json()["message"], "UNUSED is not an analyzer type");

    let role = "arn:aws:iam::123456789012:role/break-glass";
    let untyped = post(
        "/_emulator/findings",
        json!({"analyzer": "unused", "resourceType": "AWS::IAM::Role", "resource": role}),
    )
    .await;
    assert_eq!(untyped.status, 400);
    assert!(
        untyped.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("findingType of UnusedIAMRole")),
        "{}",
        untyped.body
    );
    let unused = post(
        "/_emulator/findings",
        json!({"analyzer": "unused", "resourceType": "AWS::IAM::Role", "resource": role,
               "findingType": "UnusedIAMRole"}),
    )
    .await;
    assert_eq!(unused.json()["findingType"], "UnusedIAMRole");
    let internal = post(
        "/_emulator/findings",
        json!({"analyzer": "internal", "resourceType": "AWS::S3::Bucket",
               "resource": "arn:aws:s3:::backups", "principal": {"AWS": role},
               "principalType": "IAM_ROLE", "principalOwnerAccount": "123456789012",
               "accessType": "INTRA_ACCOUNT", "serviceControlPolicyRestriction": "NOT_APPLICABLE"}),
    )
    .await;
    let internal = internal.json();
    assert_eq!(internal["findingType"], "InternalAccess");
    assert_eq!(internal["principalType"], "IAM_ROLE");
    assert_eq!(internal["principalOwnerAccount"], "123456789012");
    assert_eq!(internal["accessType"], "INTRA_ACCOUNT");
    assert_eq!(
        internal["serviceControlPolicyRestriction"],
        "NOT_APPLICABLE"
    );

    for (analyzer, filter, message) in [
        (
            "unused",
            json!({"status": {"eq": ["ACTIVE"]}}),
            "invalid filter: filter key 'status' is not supported in archive rules",
        ),
        (
            "internal",
            json!({"isPublic": {"eq": ["false"]}}),
            "invalid filter: filter key 'isPublic' is not supported for analyzers of type \
             ACCOUNT_INTERNAL_ACCESS",
        ),
    ] {
        let refused = post(
            "/_emulator/archive-rules",
            json!({"analyzer": analyzer, "ruleName": "r", "filter": filter}),
        )
        .await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["message"], message);
        assert!(emulator.archive_rules(analyzer).is_empty());
    }
    assert!(
        emulator.requests().is_empty(),
        "the control plane is not recorded"
    );
}

#[tokio::test]
async fn receiver_records_puts_and_can_fail_and_slow_down() {
    let receiver = ResponseReceiver::start().await.expect("receiver starts");
    let url = receiver.response_url("create-1");
    assert!(url.contains("X-Amz-Signature=SECRETSIGNATUREcreate-1"));
    let path_and_query = url.trim_start_matches(&receiver.base_url());
    let address = receiver.base_url();
    let address = host(&address);

    receiver.fail_first(1);
    let body = r#"{"Status":"SUCCESS","Reason":""}"#;
    let failed = http(
        address,
        "PUT",
        path_and_query,
        &[("Content-Type", "")],
        body,
    )
    .await;
    assert_eq!(failed.status, 503);
    assert!(receiver.responses().is_empty());

    let ok = http(
        address,
        "PUT",
        path_and_query,
        &[("Content-Type", "")],
        body,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(receiver.attempts(), 2);
    let received = receiver.wait_for_responses(1, Duration::from_secs(1)).await;
    assert_eq!(received.len(), 1);
    let response = &received[0];
    assert_eq!(response.path, "/cfn-response/create-1");
    assert!(response.query.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"));
    assert_eq!(response.content_type.as_deref(), Some(""));
    assert_eq!(
        response.json.as_ref().map(|j| j["Status"].clone()),
        Some(json!("SUCCESS"))
    );
    assert!(response
        .headers
        .iter()
        .any(|(name, _)| name == "content-length"));
    assert_eq!(receiver.responses_for("create-1").len(), 1);
    assert!(receiver.responses_for("other").is_empty());

    let without_type = http(address, "PUT", "/cfn-response/plain", &[], "not json").await;
    assert_eq!(without_type.status, 200);
    let plain = &receiver.responses_for("plain")[0];
    assert_eq!(plain.content_type, None);
    assert_eq!(plain.json, None);
    assert_eq!(plain.body, b"not json");

    let waited = Instant::now();
    let partial = receiver
        .wait_for_responses(5, Duration::from_millis(100))
        .await;
    assert_eq!(partial.len(), 2, "returns what it has at the timeout");
    assert!(waited.elapsed() >= Duration::from_millis(100));

    receiver.set_delay(Duration::from_millis(150));
    let started = Instant::now();
    http(address, "PUT", "/cfn-response/slow", &[], "{}").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        http(address, "GET", "/cfn-response/slow", &[], "")
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn fake_runtime_serves_events_as_the_lambda_runtime_api() {
    let runtime = FakeRuntime::start().await.expect("runtime starts");
    let address = runtime.address();
    let env = runtime.lambda_env("provider");
    let var = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(var("AWS_LAMBDA_RUNTIME_API"), Some(address.clone()));
    assert_eq!(
        var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").as_deref(),
        Some("128")
    );
    assert_eq!(
        runtime.function_arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:provider"
    );

    // The long poll waits for an event queued after it started.
    let polling = {
        let address = address.clone();
        tokio::spawn(async move {
            http(
                &address,
                "GET",
                "/2018-06-01/runtime/invocation/next",
                &[],
                "",
            )
            .await
        })
    };
    assert!(runtime.wait_for_next_poll(1, Duration::from_secs(1)).await);
    let request_id = runtime.queue_event(
        json!({"RequestType": "Create"}),
        Deadline::In(Duration::from_secs(60)),
    );
    let event = polling.await.expect("poll task");
    assert_eq!(event.status, 200);
    assert_eq!(event.json(), json!({"RequestType": "Create"}));
    assert_eq!(
        event.header("lambda-runtime-aws-request-id"),
        Some(request_id.as_str())
    );
    assert_eq!(event.header("content-type"), Some("application/json"));
    assert!(event.header("lambda-runtime-trace-id").is_some());
    assert_eq!(
        event.header("lambda-runtime-invoked-function-arn"),
        Some(runtime.function_arn().as_str())
    );
    let deadline: u64 = event
        .header("lambda-runtime-deadline-ms")
        .and_then(|value| value.parse().ok())
        .expect("a numeric deadline");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    assert!(deadline > now + 50_000 && deadline <= now + 60_000);

    let response_path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
    assert_eq!(runtime.outcome_received_at(&request_id), None);
    let posting = Instant::now();
    let accepted = http(&address, "POST", &response_path, &[], r#"{"ok":true}"#).await;
    let answered = Instant::now();
    assert_eq!(accepted.status, 202);
    // The instant the response arrived: after the client sent it, before the client had the 202.
    let received = runtime
        .outcome_received_at(&request_id)
        .expect("the response's arrival is recorded");
    assert!(posting <= received && received <= answered);
    assert_eq!(
        runtime
            .wait_for_outcome(&request_id, Duration::from_secs(1))
            .await,
        Some(InvocationOutcome::Response(json!({"ok": true})))
    );

    runtime.set_function_arn("arn:aws:lambda:us-east-1:999999999999:function:other");
    let second = runtime.queue_event(json!({}), Deadline::EpochMillis(600_000));
    let event = http(
        &address,
        "GET",
        "/2018-06-01/runtime/invocation/next",
        &[],
        "",
    )
    .await;
    assert_eq!(event.header("lambda-runtime-deadline-ms"), Some("600000"));
    assert_eq!(
        event.header("lambda-runtime-invoked-function-arn"),
        Some("arn:aws:lambda:us-east-1:999999999999:function:other")
    );
    let error_path = format!("/2018-06-01/runtime/invocation/{second}/error");
    let error_body = r#"{"errorType":"&str","errorMessage":"boom"}"#;
    let headers = [("lambda-runtime-function-error-type", "unhandled")];
    assert_eq!(
        http(&address, "POST", &error_path, &headers, error_body)
            .await
            .status,
        202
    );
    match runtime
        .wait_for_outcome(&second, Duration::from_secs(1))
        .await
    {
        Some(InvocationOutcome::Error { error_type, body }) => {
            assert_eq!(error_type.as_deref(), Some("unhandled"));
            assert_eq!(body["errorMessage"], "boom");
        }
        other => panic!("expected an error outcome, got {other:?}"),
    }
    assert!(runtime.outcome_received_at(&second) >= Some(received));
    assert_eq!(runtime.outcomes().len(), 2);
    assert_eq!(runtime.next_polls().len(), 2);
    assert_eq!(
        runtime
            .wait_for_outcome("unknown", Duration::from_millis(50))
            .await,
        None
    );

    let init_headers = [("lambda-runtime-function-error-type", "Runtime.InitError")];
    let init = http(
        &address,
        "POST",
        "/2018-06-01/runtime/init/error",
        &init_headers,
        r#"{"errorType":"x","errorMessage":"y"}"#,
    )
    .await;
    assert_eq!(init.status, 202);
    assert_eq!(
        runtime.init_errors(),
        [json!({"errorType": "x", "errorMessage": "y"})]
    );
}

#[tokio::test]
async fn bootstrap_process_gets_the_lambda_environment_and_its_logs_are_captured() {
    let runtime = FakeRuntime::start().await.expect("runtime starts");
    let script = std::env::temp_dir().join(format!("testkit-bootstrap-{}.sh", std::process::id()));
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"api=$AWS_LAMBDA_RUNTIME_API fn=$AWS_LAMBDA_FUNCTION_NAME endpoint=$AWS_ENDPOINT_URL_ACCESSANALYZER home=$HOME\"\necho to-stderr >&2\nexec sleep 30\n",
    )
    .expect("script written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let mut process = BootstrapProcess::spawn(
        &script,
        &runtime,
        "provider",
        [("AWS_ENDPOINT_URL_ACCESSANALYZER", "http://127.0.0.1:1")],
    )
    .expect("spawns");
    assert!(
        process
            .wait_for_log("to-stderr", Duration::from_secs(5))
            .await
    );
    assert!(process.wait_for_log("api=", Duration::from_secs(5)).await);
    let logs = process.logs();
    let expected = format!(
        "api={} fn=provider endpoint=http://127.0.0.1:1 home=",
        runtime.address()
    );
    assert!(logs.contains(&expected), "{logs:?}");
    assert!(process.peak_rss_kib().is_some_and(|kib| kib > 0));
    assert!(process.try_wait().expect("status").is_none());
    process.kill().await.expect("killed");
    assert!(process.peak_rss_kib().is_none());
    std::fs::remove_file(&script).ok();
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let receiver = ResponseReceiver::start().await.expect("receiver starts");
    let address = receiver.base_url();
    receiver.shutdown();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(TcpStream::connect(host(&address)).await.is_err());
}
