//! Spawning the contestants and timing their invocations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::access_analyzer::{Emulator, FindingSeed};
use testkit::receiver::ResponseReceiver;
use testkit::runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome};

use crate::stats::{millis, sequential_round_trips};
use crate::Options;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCOUNT: &str = "123456789012";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/bench/5b6e1e10-8a1b-11ef-b864-0242ac120002";
const ANALYZER: &str = "main";
/// Far enough away that no deadline guard (ours, crhelper's timer) ever fires.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long any one step may take before the bench gives up on it.
const WAIT: Duration = Duration::from_secs(60);
/// ACTIVE findings seeded for each Create: enough for the count and the apply to have work.
const FINDINGS_PER_CREATE: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contestant {
    /// The provider: `bootstrap`, release build.
    Bootstrap,
    /// Client at init, CreateArchiveRule + ApplyArchiveRule + one PUT per event.
    CreateFloor,
    /// `lambda_runtime` answering `{}`.
    Hello,
    /// crhelper + boto3 under awslambdaric.
    Python,
}

impl Contestant {
    pub fn label(self) -> &'static str {
        match self {
            Contestant::Bootstrap => "bootstrap (ours)",
            Contestant::CreateFloor => "Rust create floor",
            Contestant::Hello => "Rust hello-world",
            Contestant::Python => "Python crhelper",
        }
    }

    fn function_name(self) -> &'static str {
        match self {
            Contestant::Bootstrap => "applied-archive-rule-provider",
            Contestant::CreateFloor => "create-floor",
            Contestant::Hello => "hello-lambda",
            Contestant::Python => "python-crhelper",
        }
    }

    /// Whether it answers CloudFormation at all (the hello-world does not).
    pub fn creates(self) -> bool {
        self != Contestant::Hello
    }

    /// Whether it handles Delete and the provider's own properties (only ours).
    pub fn is_provider(self) -> bool {
        self == Contestant::Bootstrap
    }
}

/// One event, timed from its start (spawn for a cold Create, queueing for a warm one) to the
/// answer of its response PUT: when CloudFormation would have the response.
#[derive(Clone, Debug)]
pub struct EventSample {
    pub millis: f64,
    /// Access Analyzer requests the event made.
    pub calls: usize,
    /// The longest chain of calls (the PUT included) each waiting for the one before.
    pub round_trips: usize,
    /// Each call as (operation, sent, answered) in ms from the event's start, in order sent:
    /// where the time between the round trips goes.
    pub timeline: Vec<(String, f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct ColdSample {
    /// Spawn → first `/next` poll.
    pub init_millis: f64,
    /// Spawn → the Create's response answered; `None` for the hello-world.
    pub create: Option<EventSample>,
    pub peak_rss_kib: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct WarmSamples {
    pub create: Vec<EventSample>,
    /// Ours only: `ArchiveTimeoutSeconds: 0`, no verification read.
    pub create_no_wait: Vec<EventSample>,
    /// Ours only.
    pub delete: Vec<EventSample>,
    /// After every event: the process's peak over its whole life.
    pub peak_rss_kib: Option<u64>,
}

#[derive(Debug, Default)]
pub struct ContestantResults {
    pub cold: Vec<ColdSample>,
    pub warm: WarmSamples,
}

#[derive(Debug)]
pub struct LatencyResults {
    pub latency: Duration,
    pub by_contestant: BTreeMap<Contestant, ContestantResults>,
}

/// The fakes for one latency, shared by every contestant's processes in turn.
pub struct Bench<'a> {
    options: &'a Options,
    latency: Duration,
    emulator: Emulator,
    receiver: ResponseReceiver,
    events: AtomicU64,
}

impl<'a> Bench<'a> {
    pub async fn start(options: &'a Options, latency: Duration) -> Result<Bench<'a>, Error> {
        let emulator = Emulator::start().await?;
        emulator.add_analyzer(ANALYZER, "ACCOUNT");
        emulator.set_latency(latency);
        // Findings no rule of the bench matches, so every count and apply filters something out.
        for (kind, arn) in [
            ("AWS::S3::Bucket", "arn:aws:s3:::shared-reports"),
            (
                "AWS::KMS::Key",
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
            ),
            (
                "AWS::SQS::Queue",
                "arn:aws:sqs:us-east-1:123456789012:partner-inbox",
            ),
            ("AWS::S3::Bucket", "arn:aws:s3:::public-assets"),
        ] {
            emulator.add_finding(ANALYZER, FindingSeed::new(kind, arn).public(true));
        }
        let receiver = ResponseReceiver::start().await?;
        // The PUT to S3 is a round trip like any other: the same latency for every contestant.
        receiver.set_delay(latency);
        Ok(Bench {
            options,
            latency,
            emulator,
            receiver,
            events: AtomicU64::new(0),
        })
    }

    pub async fn measure(&self, contestants: &[Contestant]) -> Result<LatencyResults, Error> {
        let mut by_contestant: BTreeMap<Contestant, ContestantResults> = BTreeMap::new();
        // One discarded start each, so no contestant pays for a cold page cache in the samples.
        for &contestant in contestants {
            self.cold_start(contestant).await?;
        }
        // Round robin: a disturbance on the machine spreads over all contestants alike.
        for run in 0..self.options.cold_runs {
            for &contestant in contestants {
                let sample = self.cold_start(contestant).await?;
                by_contestant
                    .entry(contestant)
                    .or_default()
                    .cold
                    .push(sample);
            }
            eprintln!(
                "bench:   cold starts {}/{}",
                run + 1,
                self.options.cold_runs
            );
        }
        for &contestant in contestants.iter().filter(|c| c.creates()) {
            let warm = self.warm_events(contestant).await?;
            by_contestant.entry(contestant).or_default().warm = warm;
            eprintln!("bench:   warm events of {} done", contestant.label());
        }
        Ok(LatencyResults {
            latency: self.latency,
            by_contestant,
        })
    }

    /// The event queued before the spawn, as Lambda has it waiting for a cold start.
    async fn cold_start(&self, contestant: Contestant) -> Result<ColdSample, Error> {
        let runtime = FakeRuntime::start().await?;
        let event = self.next_create(contestant, true);
        let request_id = runtime.queue_event(event.payload.clone(), Deadline::In(DEADLINE));
        self.emulator.clear_requests();
        let spawned = Instant::now();
        let mut process = self.spawn(contestant, &runtime)?;
        let create = self
            .finish(contestant, &runtime, &process, &request_id, &event, spawned)
            .await?;
        let init_millis = runtime
            .next_polls()
            .first()
            .map(|poll| millis(poll.duration_since(spawned)))
            .ok_or("no /next poll")?;
        let peak_rss_kib = process.peak_rss_kib();
        process.kill().await?;
        runtime.shutdown();
        Ok(ColdSample {
            init_millis,
            create,
            peak_rss_kib,
        })
    }

    /// One process, a first event to open its connections, then the events that are measured.
    async fn warm_events(&self, contestant: Contestant) -> Result<WarmSamples, Error> {
        let runtime = FakeRuntime::start().await?;
        let mut process = self.spawn(contestant, &runtime)?;
        let mut warm = WarmSamples::default();
        let first = self.next_create(contestant, true);
        self.invoke(contestant, &runtime, &process, &first).await?;
        for _ in 0..self.options.warm_events {
            let create = self.next_create(contestant, true);
            let sample = self.invoke(contestant, &runtime, &process, &create).await?;
            warm.create.extend(sample);
            if contestant.is_provider() {
                let delete = self.delete_of(&create)?;
                warm.delete
                    .extend(self.invoke(contestant, &runtime, &process, &delete).await?);
                let no_wait = self.next_create(contestant, false);
                warm.create_no_wait.extend(
                    self.invoke(contestant, &runtime, &process, &no_wait)
                        .await?,
                );
                let delete = self.delete_of(&no_wait)?;
                warm.delete
                    .extend(self.invoke(contestant, &runtime, &process, &delete).await?);
            }
        }
        warm.peak_rss_kib = process.peak_rss_kib();
        process.kill().await?;
        runtime.shutdown();
        Ok(warm)
    }

    async fn invoke(
        &self,
        contestant: Contestant,
        runtime: &FakeRuntime,
        process: &BootstrapProcess,
        event: &Event,
    ) -> Result<Option<EventSample>, Error> {
        self.emulator.clear_requests();
        let queued = Instant::now();
        let request_id = runtime.queue_event(event.payload.clone(), Deadline::In(DEADLINE));
        self.finish(contestant, runtime, process, &request_id, event, queued)
            .await
    }

    /// Waits for the invocation to end and times it from `start` to its response's answer.
    async fn finish(
        &self,
        contestant: Contestant,
        runtime: &FakeRuntime,
        process: &BootstrapProcess,
        request_id: &str,
        event: &Event,
        start: Instant,
    ) -> Result<Option<EventSample>, Error> {
        let logs = || process.logs().join("\n");
        match runtime.wait_for_outcome(request_id, WAIT).await {
            Some(InvocationOutcome::Response(_)) => {}
            other => {
                return Err(format!(
                    "{}: invocation ended with {other:?}; logs:\n{}",
                    contestant.label(),
                    logs()
                )
                .into())
            }
        }
        if !contestant.creates() {
            return Ok(None);
        }
        let response = self
            .receiver
            .responses_for(&event.name)
            .into_iter()
            .next()
            .ok_or_else(|| format!("{}: no response PUT; logs:\n{}", contestant.label(), logs()))?;
        let status = response
            .json
            .as_ref()
            .and_then(|body| body["Status"].as_str())
            .unwrap_or_default();
        if status != "SUCCESS" {
            return Err(format!(
                "{}: {} answered {}; logs:\n{}",
                contestant.label(),
                event.name,
                String::from_utf8_lossy(&response.body),
                logs()
            )
            .into());
        }
        let answered = response.answered_at.ok_or("response without answer time")?;
        let mut calls: Vec<(String, Instant, Instant)> = self
            .emulator
            .requests()
            .into_iter()
            .map(|request| {
                let answered = request.answered_at.unwrap_or(answered);
                (request.operation, request.received_at, answered)
            })
            .collect();
        let call_count = calls.len();
        calls.push(("response PUT".to_owned(), response.received_at, answered));
        calls.sort_by_key(|(_, sent, _)| *sent);
        let intervals: Vec<(Instant, Instant)> =
            calls.iter().map(|(_, sent, done)| (*sent, *done)).collect();
        let since_start = |at: Instant| millis(at.saturating_duration_since(start));
        Ok(Some(EventSample {
            millis: millis(answered.duration_since(start)),
            calls: call_count,
            round_trips: sequential_round_trips(&intervals),
            timeline: calls
                .into_iter()
                .map(|(operation, sent, done)| (operation, since_start(sent), since_start(done)))
                .collect(),
        }))
    }

    fn spawn(
        &self,
        contestant: Contestant,
        runtime: &FakeRuntime,
    ) -> Result<BootstrapProcess, Error> {
        // Lambda has no AWS config files; a developer's must not change what the SDKs do.
        let mut env: Vec<(String, String)> = vec![
            (
                "AWS_ENDPOINT_URL_ACCESSANALYZER".into(),
                self.emulator.endpoint_url(),
            ),
            ("AWS_CONFIG_FILE".into(), "/nonexistent/aws/config".into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                "/nonexistent/aws/credentials".into(),
            ),
        ];
        let binary: PathBuf = match contestant {
            Contestant::Bootstrap => {
                env.push((
                    "APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL".into(),
                    "true".into(),
                ));
                self.options.bootstrap.clone()
            }
            Contestant::CreateFloor => self.options.create_floor.clone(),
            Contestant::Hello => self.options.hello.clone(),
            Contestant::Python => {
                let python = self.options.python.as_ref().ok_or("no python")?;
                env.push(("BENCH_PYTHON".into(), python.display().to_string()));
                env.push(("AWS_EXECUTION_ENV".into(), "AWS_Lambda_python3.11".into()));
                self.options.python_dir.join("run-handler.sh")
            }
        };
        Ok(BootstrapProcess::spawn(
            binary,
            runtime,
            contestant.function_name(),
            env,
        )?)
    }

    /// A Create of a rule of its own, over findings of its own, seeded ACTIVE now: every Create
    /// has the same work (4 findings to count, archive and verify), whatever ran before.
    fn next_create(&self, contestant: Contestant, wait: bool) -> Event {
        let n = self.events.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("bench-{n}-");
        for k in 0..FINDINGS_PER_CREATE {
            self.emulator.add_finding(
                ANALYZER,
                FindingSeed::new(
                    "AWS::IAM::Role",
                    format!("arn:aws:iam::{ACCOUNT}:role/{prefix}{k}"),
                )
                .principal("AWS", "arn:aws:iam::444455556666:root")
                .action("sts:AssumeRole"),
            );
        }
        let mut properties = json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
            "AnalyzerName": ANALYZER,
            "RuleName": format!("bench-rule-{n}"),
            "Filter": {
                "resourceType": {"Eq": ["AWS::IAM::Role"]},
                "resource": {"Contains": [format!("/{prefix}")]},
            },
        });
        if !wait && contestant.is_provider() {
            properties["ArchiveTimeoutSeconds"] = json!("0");
        }
        self.event("Create", n, properties, None)
    }

    fn delete_of(&self, create: &Event) -> Result<Event, Error> {
        let response = self
            .receiver
            .responses_for(&create.name)
            .into_iter()
            .next()
            .ok_or("the Create has no response")?;
        let physical_id = response
            .json
            .as_ref()
            .and_then(|body| body["PhysicalResourceId"].as_str())
            .ok_or("the Create's response has no PhysicalResourceId")?
            .to_owned();
        let n = self.events.fetch_add(1, Ordering::SeqCst);
        Ok(self.event(
            "Delete",
            n,
            create.payload["ResourceProperties"].clone(),
            Some(physical_id),
        ))
    }

    fn event(
        &self,
        request_type: &str,
        n: u64,
        properties: Value,
        physical: Option<String>,
    ) -> Event {
        let name = format!("event-{n}");
        let mut payload = json!({
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": self.receiver.response_url(&name),
            "StackId": STACK_ID,
            "RequestId": format!("5f1c0000-8d2e-4b7a-9c3f-{n:012}"),
            "LogicalResourceId": "BenchRule",
            "ResourceType": "Custom::AppliedArchiveRule",
            "ResourceProperties": properties,
        });
        if let Some(physical) = physical {
            payload["PhysicalResourceId"] = json!(physical);
        }
        Event { name, payload }
    }
}

pub struct Event {
    /// The last segment of its ResponseURL.
    name: String,
    payload: Value,
}
