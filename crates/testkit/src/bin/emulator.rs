//! Runs the test doubles as a standalone process, for the shell demo and the Python benchmark
//! baseline: prints one JSON line with the endpoints, then serves until SIGTERM or Ctrl-C.
//!
//! ```text
//! emulator [--port N] [--account ID] [--region R] [--partition P] [--latency-ms N]
//!          [--apply-delay-ms N] [--page-size N] [--seed demo]
//!          [--receiver [--receiver-port N]] [--runtime [--runtime-port N]]
//! ```
//!
//! `emulator --organization N [--port N] [--latency-ms N] [--page-size N]` plays a whole
//! organization instead ([`testkit::organization`]): the management account and N members, every
//! (account, region) seeded with the `account-analyzer` of [`seed_organization`], `--latency-ms`
//! on Access Analyzer calls; the JSON line gives the endpoint and the management credentials.
//!
//! Every flag can also come from the environment as `TESTKIT_<FLAG>` (e.g. `TESTKIT_PORT`,
//! `TESTKIT_SEED`, `TESTKIT_RECEIVER=true`); flags win.

use std::{process::ExitCode, str::FromStr, time::Duration};

use serde_json::json;
use testkit::{
    access_analyzer::{Emulator, EmulatorConfig, FindingSeed},
    organization::{OrgEmulator, OrgSpec},
    receiver::ResponseReceiver,
    runtime_api::FakeRuntime,
};

const USAGE: &str = "usage: emulator [--port N] [--account ID] [--region R] [--partition P] \
[--latency-ms N] [--apply-delay-ms N] [--page-size N] [--seed demo] \
[--receiver] [--receiver-port N] [--runtime] [--runtime-port N] | \
emulator --organization N [--port N] [--latency-ms N] [--page-size N]";

/// Flags that take no value.
const SWITCHES: &[&str] = &["receiver", "runtime"];
const OPTIONS: &[&str] = &[
    "port",
    "account",
    "region",
    "partition",
    "latency-ms",
    "apply-delay-ms",
    "page-size",
    "seed",
    "receiver-port",
    "runtime-port",
    "organization",
];

struct Options {
    values: Vec<(String, String)>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut values = Vec::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(String::new());
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg}"));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (flag, None),
            };
            if SWITCHES.contains(&name) {
                values.push((name.to_owned(), inline.unwrap_or_else(|| "true".to_owned())));
            } else if OPTIONS.contains(&name) {
                let value = match inline {
                    Some(value) => value,
                    None => args
                        .next()
                        .ok_or_else(|| format!("--{name} needs a value"))?,
                };
                values.push((name.to_owned(), value));
            } else {
                return Err(format!("unknown flag --{name}"));
            }
        }
        Ok(Options { values })
    }

    /// The flag's value, else `TESTKIT_<NAME>` from the environment.
    fn get(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(flag, _)| flag == name)
            .map(|(_, value)| value.clone())
            .or_else(|| {
                let variable = format!("TESTKIT_{}", name.to_uppercase().replace('-', "_"));
                std::env::var(variable).ok()
            })
    }

    fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| format!("--{name} must be a number, not {value}"))
            })
            .transpose()
    }

    fn switch(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|value| matches!(value.as_str(), "true" | "1" | "yes"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<(), String> {
    if let Some(members) = options.number::<usize>("organization")? {
        return run_organization(options, members).await;
    }
    let defaults = EmulatorConfig::default();
    let config = EmulatorConfig {
        account: options.get("account").unwrap_or(defaults.account),
        region: options.get("region").unwrap_or(defaults.region),
        partition: options.get("partition").unwrap_or(defaults.partition),
        page_size: options.number("page-size")?.unwrap_or(defaults.page_size),
        port: options.number("port")?.unwrap_or(0),
        apply_delay: Duration::from_millis(options.number("apply-delay-ms")?.unwrap_or(0)),
    };
    let emulator = Emulator::start_with(config)
        .await
        .map_err(|error| format!("cannot start the Access Analyzer emulator: {error}"))?;
    if let Some(latency) = options.number::<u64>("latency-ms")? {
        emulator.set_latency(Duration::from_millis(latency));
    }
    match options.get("seed").as_deref() {
        None => {}
        Some("demo") => seed_demo(&emulator),
        Some(other) => return Err(format!("unknown seed {other} (known: demo)")),
    }

    let receiver_port = options.number::<u16>("receiver-port")?;
    let receiver = if options.switch("receiver") || receiver_port.is_some() {
        let receiver = ResponseReceiver::start_on(receiver_port.unwrap_or(0))
            .await
            .map_err(|error| format!("cannot start the response receiver: {error}"))?;
        Some(receiver)
    } else {
        None
    };
    let runtime_port = options.number::<u16>("runtime-port")?;
    let runtime = if options.switch("runtime") || runtime_port.is_some() {
        let runtime = FakeRuntime::start_on(runtime_port.unwrap_or(0))
            .await
            .map_err(|error| format!("cannot start the fake Runtime API: {error}"))?;
        Some(runtime)
    } else {
        None
    };

    let endpoints = json!({
        "accessAnalyzer": emulator.endpoint_url(),
        "receiver": receiver.as_ref().map(ResponseReceiver::base_url),
        "responseUrl": receiver.as_ref().map(|receiver| receiver.response_url("demo")),
        "runtimeApi": runtime.as_ref().map(FakeRuntime::address),
        "account": emulator.account(),
        "region": emulator.region(),
        "partition": emulator.partition(),
    });
    println!("{endpoints}");

    wait_for_termination().await
}

async fn run_organization(options: &Options, members: usize) -> Result<(), String> {
    let mut spec = OrgSpec::generated(members);
    if let Some(page_size) = options.number("page-size")? {
        spec.page_size = page_size;
    }
    let port = options.number("port")?.unwrap_or(0);
    let emulator = OrgEmulator::start_on(spec, port)
        .await
        .map_err(|error| format!("cannot start the organization emulator: {error}"))?;
    if let Some(latency) = options.number::<u64>("latency-ms")? {
        emulator.set_service_latency("access-analyzer", Duration::from_millis(latency));
    }
    let targets = seed_organization(&emulator);
    let (access_key_id, secret_access_key) = emulator.management_credentials();
    let endpoints = json!({
        "endpoint": emulator.endpoint_url(),
        "managementAccount": emulator.management_account(),
        "accessKeyId": access_key_id,
        "secretAccessKey": secret_access_key,
        "accounts": emulator.spec().accounts.len(),
        "targets": targets,
        "analyzer": ORGANIZATION_ANALYZER,
        "rule": ORGANIZATION_RULE,
    });
    println!("{endpoints}");
    wait_for_termination().await
}

const ORGANIZATION_ANALYZER: &str = "account-analyzer";
const ORGANIZATION_RULE: &str = "vendor-roles";

/// In every enabled (account, region): `account-analyzer` (ACCOUNT) with two ACTIVE findings on
/// IAM roles and one on a bucket, then the rule `vendor-roles` (resourceType eq AWS::IAM::Role),
/// which — made after them — archives none until it is applied. Returns the number of targets.
fn seed_organization(emulator: &OrgEmulator) -> usize {
    let mut targets = 0;
    for account in &emulator.spec().accounts {
        for region in emulator.enabled_regions(&account.id) {
            let analyzer = emulator.access_analyzer(&account.id, &region);
            analyzer.add_analyzer(ORGANIZATION_ANALYZER, "ACCOUNT");
            for role in ["vendor-audit", "vendor-deploy"] {
                analyzer.add_finding(
                    ORGANIZATION_ANALYZER,
                    FindingSeed::new(
                        "AWS::IAM::Role",
                        format!("arn:aws:iam::{}:role/{role}", account.id),
                    )
                    .principal("AWS", "arn:aws:iam::444455556666:root")
                    .action("sts:AssumeRole"),
                );
            }
            analyzer.add_finding(
                ORGANIZATION_ANALYZER,
                FindingSeed::new(
                    "AWS::S3::Bucket",
                    format!("arn:aws:s3:::shared-{}-{region}", account.id),
                )
                .principal("AWS", "arn:aws:iam::444455556666:root")
                .action("s3:GetObject"),
            );
            analyzer.put_archive_rule(
                ORGANIZATION_ANALYZER,
                ORGANIZATION_RULE,
                json!({ "resourceType": { "eq": ["AWS::IAM::Role"] } }),
            );
            targets += 1;
        }
    }
    targets
}

async fn wait_for_termination() -> Result<(), String> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|error| format!("cannot listen for SIGTERM: {error}"))?;
    tokio::select! {
        _ = terminate.recv() => {}
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.map_err(|error| format!("cannot listen for Ctrl-C: {error}"))?;
        }
    }
    Ok(())
}

/// `demo-analyzer` (ACCOUNT) with four IAM roles trusted by other accounts — what a rule for
/// known partners would archive — and four findings on other resource types.
fn seed_demo(emulator: &Emulator) {
    let analyzer = "demo-analyzer";
    let account = emulator.account();
    emulator.add_analyzer(analyzer, "ACCOUNT");
    let role_trusts = [
        ("deploy", "111111111111"),
        ("audit", "222222222222"),
        ("ci", "111111111111"),
        ("vendor-readonly", "333333333333"),
    ];
    for (role, trusted) in role_trusts {
        emulator.add_finding(
            analyzer,
            FindingSeed::new(
                "AWS::IAM::Role",
                format!("arn:aws:iam::{account}:role/{role}"),
            )
            .principal("AWS", format!("arn:aws:iam::{trusted}:root"))
            .action("sts:AssumeRole"),
        );
    }
    emulator.add_finding(
        analyzer,
        FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::demo-public-assets")
            .principal("AWS", "*")
            .action("s3:GetObject")
            .public(true),
    );
    emulator.add_finding(
        analyzer,
        FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::demo-shared-logs")
            .principal("AWS", "arn:aws:iam::444444444444:root")
            .action("s3:PutObject")
            .condition("aws:SourceAccount", "444444444444"),
    );
    emulator.add_finding(
        analyzer,
        FindingSeed::new(
            "AWS::KMS::Key",
            format!(
                "arn:aws:kms:{}:{account}:key/0b6f2d4e-demo",
                emulator.region()
            ),
        )
        .principal("AWS", "arn:aws:iam::222222222222:root")
        .action("kms:Decrypt"),
    );
    emulator.add_finding(
        analyzer,
        FindingSeed::new(
            "AWS::SQS::Queue",
            format!("arn:aws:sqs:{}:{account}:demo-events", emulator.region()),
        )
        .principal("Service", "sns.amazonaws.com")
        .action("sqs:SendMessage"),
    );
}
