//! The standalone `emulator` binary, as the shell demo and the Python baseline start it.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::Command,
};

#[tokio::test]
async fn prints_its_endpoints_and_serves_the_demo_seed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args([
            "--seed",
            "demo",
            "--receiver",
            "--runtime",
            "--region=eu-west-1",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line within 10 s")
        .expect("readable")
        .expect("one line");
    let endpoints: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(endpoints["region"], "eu-west-1");
    assert!(endpoints["runtimeApi"].is_string());
    assert!(endpoints["receiver"].is_string());

    let base = endpoints["accessAnalyzer"].as_str().expect("a URL");
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connects");
    let request = format!(
        "GET /_emulator/findings?analyzer=demo-analyzer HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("reads");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .expect("a body");
    let findings: Value = serde_json::from_str(body).expect("JSON");
    let findings = findings["findings"].as_array().expect("a list");
    assert_eq!(findings.len(), 8);
    let roles = findings
        .iter()
        .filter(|finding| finding["resourceType"] == "AWS::IAM::Role")
        .count();
    assert_eq!(roles, 4);
    assert!(findings.iter().all(|finding| finding["status"] == "ACTIVE"));

    let pid = child.id().expect("running");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("waitable");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn rejects_unknown_flags_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .arg("--colour")
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown flag --colour") && stderr.contains("usage:"));
}
