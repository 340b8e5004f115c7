//! Spawning the contestants and timing their invocations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::access_analyzer::{Emulator, FindingSeed};
use testkit::events::RuleChange;
use testkit::receiver::ResponseReceiver;
use testkit::runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome};

use crate::stats::{millis, sequential_round_trips};
use crate::Options;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCOUNT: &str = "123456789012";
/// The fake runtime's function ARNs name this region: the auto-apply function acts only there.
const REGION: &str = "us-east-1";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/bench/5b6e1e10-8a1b-11ef-b864-0242ac120002";
const ANALYZER: &str = "main";
/// The CloudFormation provider's role, whose own rule changes the auto-apply function skips.
const PROVIDER_ROLE_ARN: &str =
    "arn:aws:iam::123456789012:role/applied-archive-rule-ProviderRole-1A2B3C";
/// Far enough away that no deadline guard (ours, crhelper's timer) ever fires.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long any one step may take before the bench gives up on it.
const WAIT: Duration = Duration::from_secs(60);
/// ACTIVE findings seeded for each Create (and each auto-apply event): enough for the count and
/// the apply to have work.
const FINDINGS_PER_CREATE: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contestant {
    /// The provider: `bootstrap`, release build.
    Bootstrap,
    /// The same `bootstrap` deployed as the auto-apply function, given CloudTrail events.
    AutoApply,
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
            Contestant::AutoApply => "auto-apply (ours)",
            Contestant::CreateFloor => "Rust create floor",
            Contestant::Hello => "Rust hello-world",
            Contestant::Python => "Python crhelper",
        }
    }

    fn function_name(self) -> &'static str {
        match self {
            Contestant::Bootstrap => "applied-archive-rule-provider",
            Contestant::AutoApply => "applied-archive-rule-auto-apply",
            Contestant::CreateFloor => "create-floor",
            Contestant::Hello => "hello-lambda",
            Contestant::Python => "python-crhelper",
        }
    }

    /// Whether it answers CloudFormation (the hello-world and the auto-apply function do not).
    pub fn creates(self) -> bool {
        !matches!(self, Contestant::Hello | Contestant::AutoApply)
    }

    /// Whether its invocations do any work to time (the hello-world's do not).
    fn has_events(self) -> bool {
        self != Contestant::Hello
    }

    /// Whether it handles Delete and the provider's own properties (only ours).
    pub fn is_provider(self) -> bool {
        self == Contestant::Bootstrap
    }
}

/// One event, timed from its start (spawn for a cold start, queueing for a warm event) to its
/// end: a Create's response PUT answered (when CloudFormation would have the response), an
/// auto-apply event's invocation response received by the Runtime API (it has no response URL).
#[derive(Clone, Debug)]
pub struct EventSample {
    pub millis: f64,
    /// Access Analyzer requests the event made.
    pub calls: usize,
    /// The longest chain of calls (a Create's PUT included) each waiting for the one before.
    pub round_trips: usize,
    /// Each call as (operation, sent, answered) in ms from the event's start, in order sent:
    /// where the time between the round trips goes.
    pub timeline: Vec<(String, f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct ColdSample {
    /// Spawn → first `/next` poll.
    pub init_millis: f64,
    /// Spawn → the end of its one event (a Create, or the auto-apply function's CloudTrail
    /// event); `None` for the hello-world.
    pub event: Option<EventSample>,
    pub peak_rss_kib: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct WarmSamples {
    pub create: Vec<EventSample>,
    /// Ours only: `ArchiveTimeoutSeconds: 0`, no verification read.
    pub create_no_wait: Vec<EventSample>,
    /// Ours only.
    pub delete: Vec<EventSample>,
    /// The auto-apply function's CloudTrail events.
    pub auto_apply: Vec<EventSample>,
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
        for &contestant in contestants.iter().filter(|c| c.has_events()) {
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
        let event = self.next_event(contestant);
        let request_id = runtime.queue_event(event.payload.clone(), Deadline::In(DEADLINE));
        self.emulator.clear_requests();
        let spawned = Instant::now();
        let mut process = self.spawn(contestant, &runtime)?;
        let sample = self
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
            event: sample,
            peak_rss_kib,
        })
    }

    /// One process, a first event to open its connections, then the events that are measured.
    async fn warm_events(&self, contestant: Contestant) -> Result<WarmSamples, Error> {
        let runtime = FakeRuntime::start().await?;
        let mut process = self.spawn(contestant, &runtime)?;
        let mut warm = WarmSamples::default();
        let first = self.next_event(contestant);
        self.invoke(contestant, &runtime, &process, &first).await?;
        for _ in 0..self.options.warm_events {
            if contestant == Contestant::AutoApply {
                let event = self.next_event(contestant);
                let sample = self.invoke(contestant, &runtime, &process, &event).await?;
                warm.auto_apply.extend(sample);
                continue;
            }
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

    /// Waits for the invocation to end and times it from `start` to its end.
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
        let result = match runtime.wait_for_outcome(request_id, WAIT).await {
            Some(InvocationOutcome::Response(result)) => result,
            other => {
                return Err(format!(
                    "{}: invocation ended with {other:?}; logs:\n{}",
                    contestant.label(),
                    logs()
                )
                .into())
            }
        };
        if contestant == Contestant::AutoApply {
            let outcome = &result["outcomes"][0];
            if outcome["outcome"] != "applied" || outcome["archived"] != FINDINGS_PER_CREATE {
                return Err(format!(
                    "auto-apply: rule {} was not applied to its {FINDINGS_PER_CREATE} findings: \
                     {result}; logs:\n{}",
                    event.name,
                    logs()
                )
                .into());
            }
            let received = runtime
                .outcome_received_at(request_id)
                .ok_or("the invocation's response has no arrival time")?;
            // Lambda's Runtime API is local to the execution environment: no round trip to add.
            return Ok(Some(self.sample(start, received, None)));
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
        Ok(Some(self.sample(
            start,
            answered,
            Some(("response PUT", response.received_at)),
        )))
    }

    /// The event from `start` to `end`, with the Access Analyzer calls the emulator recorded
    /// since its requests were cleared, and `last` (a PUT sent at that instant and answered at
    /// `end`) on its critical path.
    fn sample(&self, start: Instant, end: Instant, last: Option<(&str, Instant)>) -> EventSample {
        let mut calls: Vec<(String, Instant, Instant)> = self
            .emulator
            .requests()
            .into_iter()
            .map(|request| {
                let answered = request.answered_at.unwrap_or(end);
                (request.operation, request.received_at, answered)
            })
            .collect();
        let call_count = calls.len();
        if let Some((name, sent)) = last {
            calls.push((name.to_owned(), sent, end));
        }
        calls.sort_by_key(|(_, sent, _)| *sent);
        let intervals: Vec<(Instant, Instant)> =
            calls.iter().map(|(_, sent, done)| (*sent, *done)).collect();
        let since_start = |at: Instant| millis(at.saturating_duration_since(start));
        EventSample {
            millis: millis(end.saturating_duration_since(start)),
            calls: call_count,
            round_trips: sequential_round_trips(&intervals),
            timeline: calls
                .into_iter()
                .map(|(operation, sent, done)| (operation, since_start(sent), since_start(done)))
                .collect(),
        }
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
            Contestant::AutoApply => {
                // As the templates deploy it (SPEC §9.1), with a count guard.
                env.extend(
                    [
                        ("APPLIED_ARCHIVE_RULE_AUTO_APPLY", "true"),
                        ("APPLIED_ARCHIVE_RULE_ROLE_ARN", PROVIDER_ROLE_ARN),
                        ("APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS", "1000"),
                    ]
                    .map(|(name, value)| (name.to_owned(), value.to_owned())),
                );
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

    /// The contestant's event: a CloudTrail one for the auto-apply function, else a Create.
    fn next_event(&self, contestant: Contestant) -> Event {
        if contestant == Contestant::AutoApply {
            self.next_auto_apply()
        } else {
            self.next_create(contestant, true)
        }
    }

    /// A Create of a rule of its own, over findings of its own, seeded ACTIVE now: every Create
    /// has the same work (4 findings to count, archive and verify), whatever ran before.
    fn next_create(&self, contestant: Contestant, wait: bool) -> Event {
        let n = self.events.fetch_add(1, Ordering::SeqCst);
        let prefix = self.seed_findings(n);
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

    /// The CloudTrail event of a plain `CreateArchiveRule` (as Terraform or
    /// `AWS::AccessAnalyzer::ArchiveRule` make), with the same work as a Create. The rule is put
    /// after its findings: a rule archives only findings that arrive later, so these stay ACTIVE
    /// until the auto-apply function applies it.
    fn next_auto_apply(&self) -> Event {
        let n = self.events.fetch_add(1, Ordering::SeqCst);
        let prefix = self.seed_findings(n);
        let rule = format!("bench-rule-{n}");
        let filter = json!({
            "resourceType": {"eq": ["AWS::IAM::Role"]},
            "resource": {"contains": [format!("/{prefix}")]},
        });
        self.emulator
            .put_archive_rule(ANALYZER, &rule, filter.clone());
        Event {
            payload: RuleChange::create(ACCOUNT, REGION, ANALYZER, &rule, filter).event(),
            name: rule,
        }
    }

    /// Findings only the rule of event `n` matches, ACTIVE; returns their name prefix.
    fn seed_findings(&self, n: u64) -> String {
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
        prefix
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
    /// The last segment of its ResponseURL; an auto-apply event's rule.
    name: String,
    payload: Value,
}

#[cfg(test)]
mod tests {
    use testkit::access_analyzer::FindingStatus;

    use super::*;

    #[tokio::test]
    async fn an_auto_apply_event_finds_its_rule_and_its_findings_still_active() {
        let options = Options::for_tests(vec![0]);
        let bench = Bench::start(&options, Duration::ZERO)
            .await
            .expect("fakes start");

        let event = bench.next_auto_apply();

        let detail = &event.payload["detail"];
        assert_eq!(detail["eventName"], "CreateArchiveRule");
        assert_eq!(detail["recipientAccountId"], ACCOUNT);
        assert_eq!(detail["awsRegion"], REGION);
        let parameters = &detail["requestParameters"];
        assert_eq!(parameters["ruleName"], event.name.as_str());
        let rules = bench.emulator.archive_rules(ANALYZER);
        let rule = rules
            .iter()
            .find(|rule| rule.name == event.name)
            .expect("the event's rule exists");
        assert_eq!(rule.filter, parameters["filter"]);
        // The rule came after its findings, so they wait ACTIVE for the apply: the same work as
        // a Create's.
        let prefix = rule.filter["resource"]["contains"][0]
            .as_str()
            .expect("a resource filter");
        let own: Vec<_> = bench
            .emulator
            .findings(ANALYZER)
            .into_iter()
            .filter(|finding| finding.resource.contains(prefix))
            .collect();
        assert_eq!(own.len(), FINDINGS_PER_CREATE);
        assert!(own.iter().all(|f| f.status == FindingStatus::Active));
        bench.emulator.shutdown();
        bench.receiver.shutdown();
    }
}
