//! `preview`, `apply` and `invoke`: the commands that work in the caller's own account and region.
//! Applying is the library's apply engine; these only select, call it and print.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use applied_archive_rule::access_analyzer::{to_sdk_filter, SdkAccessAnalyzer};
use applied_archive_rule::apply::ApplySettings;
use applied_archive_rule::apply_rules::{apply_existing_rules, ApplyOptions};
use applied_archive_rule::arn::Analyzer;
use applied_archive_rule::auto_apply;
use applied_archive_rule::cfn::{self, DeliveryPolicy};
use applied_archive_rule::filter::Filter;
use applied_archive_rule::handler::{self, Invocation, Provider, Settings};
use applied_archive_rule::token::stable_token;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{self, describe_error, AccountCredentials, Session};
use crate::output;
use crate::{ApplyArgs, AwsArgs, CliError, InvokeArgs, OutputFormat, PreviewArgs, RuleSelection};

/// Analyzer types whose findings `ListFindings` serves, with the principal they grant access to.
const EXTERNAL_ACCESS_TYPES: [&str; 2] = ["ACCOUNT", "ORGANIZATION"];

/// An analyzer given by name (in the session's account and region) or by ARN (whose region its
/// calls go to).
fn resolve_analyzer(session: &Session, given: &str) -> Result<Analyzer, CliError> {
    if !given.starts_with("arn:") {
        return Ok(Analyzer::new(
            session.location(&session.account, &session.region),
            given,
        ));
    }
    let parsed = Analyzer::from_arn(given).ok_or_else(|| {
        CliError::Usage(format!(
            "--analyzer {given:?} is not an analyzer ARN (arn:<partition>:access-analyzer:<region>:<account>:analyzer/<name>)"
        ))
    })?;
    if parsed.location.account != session.account {
        return Err(CliError::Usage(format!(
            "--analyzer {given} is in account {}, but the credentials are for account {}",
            parsed.location.account, session.account
        )));
    }
    Ok(parsed)
}

fn read_filter(argument: &str) -> Result<Filter, CliError> {
    let text = match argument.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("--filter: cannot read {path}: {e}")))?,
        None => argument.to_owned(),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("--filter is not JSON: {e}")))?;
    Filter::parse(&value).map_err(|e| CliError::Usage(format!("--filter: {e}")))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreviewedFinding {
    id: String,
    resource_type: String,
    resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<String>,
}

pub async fn preview(aws_args: &AwsArgs, args: PreviewArgs) -> Result<u8, CliError> {
    let filter = read_filter(&args.filter)?;
    let session = aws::session(aws_args).await?;
    let analyzer = resolve_analyzer(&session, &args.analyzer)?;
    let client = aws::access_analyzer(
        &session,
        &AccountCredentials::Caller,
        &analyzer.location.region,
    );
    let failed = |what: &str, (_, message): (Option<String>, String)| {
        CliError::Failed(format!("{what} for analyzer {}: {message}", analyzer.name))
    };
    let summary = client
        .get_analyzer()
        .analyzer_name(&analyzer.name)
        .send()
        .await
        .map_err(|e| failed("GetAnalyzer", describe_error(&e)))?;
    let analyzer_type = summary
        .analyzer()
        .map(|a| a.r#type().as_str().to_owned())
        .unwrap_or_default();
    let query = filter.with_active_status();
    let sdk_filter = to_sdk_filter(query.iter().map(|(k, c)| (k.as_str(), c)));
    let mut findings = Vec::new();
    // ListFindings reports the principal, but serves external-access analyzers only.
    let external = EXTERNAL_ACCESS_TYPES.contains(&analyzer_type.as_str());
    if external {
        let mut pages = client
            .list_findings()
            .analyzer_arn(&analyzer.arn)
            .set_filter(Some(sdk_filter))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("ListFindings", describe_error(&e)))?;
            findings.extend(page.findings().iter().map(|f| PreviewedFinding {
                id: f.id().to_owned(),
                resource_type: f.resource_type().as_str().to_owned(),
                resource: f.resource().map(str::to_owned),
                principal: f.principal().map(|p| {
                    let mut pairs: Vec<_> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    pairs.sort();
                    pairs.join(" ")
                }),
            }));
        }
    } else {
        let mut pages = client
            .list_findings_v2()
            .analyzer_arn(&analyzer.arn)
            .set_filter(Some(sdk_filter))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("ListFindingsV2", describe_error(&e)))?;
            findings.extend(page.findings().iter().map(|f| PreviewedFinding {
                id: f.id().to_owned(),
                resource_type: f.resource_type().as_str().to_owned(),
                resource: f.resource().map(str::to_owned),
                principal: None,
            }));
        }
    }
    match args.output {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "analyzer": analyzer.arn,
            "analyzerType": analyzer_type,
            "filter": filter.to_json(),
            "activeFindings": findings.len(),
            "findings": findings,
        })),
        OutputFormat::Table => {
            let mut header = vec!["ID", "RESOURCE TYPE", "RESOURCE"];
            if external {
                header.push("PRINCIPAL");
            }
            let rows = findings.iter().map(|f| {
                let mut row = vec![
                    f.id.clone(),
                    f.resource_type.clone(),
                    f.resource.clone().unwrap_or_default(),
                ];
                if external {
                    row.push(f.principal.clone().unwrap_or_default());
                }
                row
            });
            output::print_table(&header, rows);
            println!(
                "{} ACTIVE findings of analyzer {} match the filter; none was changed.",
                findings.len(),
                analyzer.name
            );
        }
    }
    Ok(0)
}

pub async fn apply(aws_args: &AwsArgs, args: ApplyArgs) -> Result<u8, CliError> {
    let session = aws::session(aws_args).await?;
    let analyzer = resolve_analyzer(&session, &args.analyzer)?;
    let client = aws::access_analyzer(
        &session,
        &AccountCredentials::Caller,
        &analyzer.location.region,
    );
    let aa = SdkAccessAnalyzer::new(client);
    let run = run_id();
    let token = |rule: &str| stable_token(&["apply", &run, &analyzer.arn, rule]);
    let options = terminal_options(&args.rules, args.archive_timeout, args.dry_run, &token);
    let report = apply_existing_rules(&aa, &analyzer, &options, None)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    match args.output {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "analyzer": analyzer.arn,
            "dryRun": args.dry_run,
            "report": report,
        })),
        OutputFormat::Table => {
            let rows = report.rules.iter().map(|r| {
                vec![
                    r.rule.clone(),
                    r.matched.to_string(),
                    r.archived.to_string(),
                    r.pending.to_string(),
                ]
            });
            output::print_table(&["RULE", "MATCHED", "ARCHIVED", "PENDING"], rows);
            let what = if args.dry_run {
                format!(
                    "dry run: {} ACTIVE findings would be archived by {} rule{}; nothing was applied",
                    report.matched,
                    report.rules.len(),
                    if report.rules.len() == 1 { "" } else { "s" }
                )
            } else if report.verified {
                format!(
                    "{} of {} matched findings archived, {} still ACTIVE",
                    report.archived, report.matched, report.pending
                )
            } else {
                format!(
                    "applied to {} matched findings (not verified)",
                    report.matched
                )
            };
            println!("analyzer {}: {what}", analyzer.name);
        }
    }
    Ok(0)
}

pub async fn invoke(aws_args: &AwsArgs, args: InvokeArgs) -> Result<u8, CliError> {
    let text = std::fs::read_to_string(&args.event).map_err(|e| {
        CliError::Usage(format!(
            "--event: cannot read {}: {e}",
            args.event.display()
        ))
    })?;
    let event: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!("--event {} is not JSON: {e}", args.event.display()))
    })?;
    let session = aws::session(aws_args).await?;
    let event = in_callers_account(event, &session);
    let provider = Provider {
        access_analyzer: SdkAccessAnalyzer::new(aws_sdk_accessanalyzer::Client::new(
            &session.config,
        )),
        http: handler::response_client()
            .map_err(|e| CliError::Failed(format!("cannot build the HTTP client: {e}")))?,
        settings: Settings::from_env(),
    };
    // The handler acts in the account and region of the invoked function; here, the caller's.
    let invocation = Invocation {
        deadline_epoch_ms: 0,
        invoked_function_arn: format!(
            "arn:{}:lambda:{}:{}:function:applied-archive-rule-cli",
            session.partition, session.region, session.account
        ),
    };
    if auto_apply::is_eventbridge_event(&event) {
        return invoke_auto_apply(provider, event, &invocation).await;
    }
    let response = handler::respond(&provider, event.clone(), &invocation).await;
    output::print_json(&response);
    let body = response.to_body();
    let url = event
        .get("ResponseURL")
        .and_then(Value::as_str)
        .unwrap_or("");
    let partition = event
        .get("StackId")
        .and_then(Value::as_str)
        .and_then(applied_archive_rule::arn::stack_location)
        .map(|l| l.partition);
    match provider
        .settings
        .response_urls
        .check(url, partition.as_deref())
    {
        Ok(parsed) => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            match cfn::deliver(
                &provider.http,
                &parsed,
                body,
                &DeliveryPolicy::default(),
                deadline,
            )
            .await
            {
                Ok(()) => eprintln!("response delivered to {}", cfn::redact(&parsed)),
                Err(e) => {
                    eprintln!(
                        "the response could not be delivered to {}: {e}",
                        cfn::redact(&parsed)
                    );
                    return Ok(1);
                }
            }
        }
        Err(reason) => eprintln!("response not sent ({reason})"),
    }
    Ok(match response.status {
        cfn::Status::Success => 0,
        cfn::Status::Failed => 1,
    })
}

/// An EventBridge event (CloudTrail record or schedule) runs as the auto-apply function would run
/// it — auto-apply on, its guards from the environment (`APPLIED_ARCHIVE_RULE_AUTO_APPLY_*`) — and
/// prints the invocation's summary. Exit 1 when Lambda would retry the event.
async fn invoke_auto_apply(
    mut provider: Provider<SdkAccessAnalyzer>,
    event: Value,
    invocation: &Invocation,
) -> Result<u8, CliError> {
    provider.settings.auto_apply.enabled = true;
    match handler::handle(&provider, event, invocation).await {
        Ok(summary) => {
            output::print_json(&summary);
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(1)
        }
    }
}

/// `invoke` runs against the configured account and region: a sample event's `StackId` (which names
/// some other account) is moved there, or the provider would refuse it as another account's stack;
/// an EventBridge sample's account and region likewise.
fn in_callers_account(mut event: Value, session: &Session) -> Value {
    if auto_apply::is_eventbridge_event(&event) {
        for (key, value) in [("account", &session.account), ("region", &session.region)] {
            if event.get(key).and_then(Value::as_str) != Some(value.as_str()) {
                eprintln!("the event's {key} is moved to {value}, where this runs");
                event[key] = Value::String(value.clone());
            }
        }
        if let Some(detail) = event.get_mut("detail").and_then(Value::as_object_mut) {
            if detail.contains_key("recipientAccountId") {
                detail.insert("recipientAccountId".into(), session.account.clone().into());
            }
            if detail.contains_key("awsRegion") {
                detail.insert("awsRegion".into(), session.region.clone().into());
            }
        }
        return event;
    }
    let Some(stack_id) = event.get("StackId").and_then(Value::as_str) else {
        return event;
    };
    let parts: Vec<&str> = stack_id.splitn(6, ':').collect();
    if parts.len() == 6 && (parts[3] != session.region || parts[4] != session.account) {
        let moved = format!(
            "arn:{}:cloudformation:{}:{}:{}",
            session.partition, session.region, session.account, parts[5]
        );
        eprintln!(
            "StackId names {} in {}; running it as {moved}",
            parts[4], parts[3]
        );
        event["StackId"] = Value::String(moved);
    }
    event
}

/// How `apply` and `sweep` apply rules: no limit on the findings, and the wait bounded by
/// `--archive-timeout` plus a minute for the calls themselves.
pub fn terminal_options<'a>(
    rules: &'a RuleSelection,
    archive_timeout_seconds: u64,
    dry_run: bool,
    client_token: &'a (dyn Fn(&str) -> String + Sync),
) -> ApplyOptions<'a> {
    let archive_timeout = Duration::from_secs(archive_timeout_seconds);
    ApplyOptions {
        rule_names: rules.names(),
        max_findings_to_archive: None,
        dry_run,
        apply: ApplySettings {
            archive_timeout,
            deadline: tokio::time::Instant::now() + archive_timeout + Duration::from_secs(60),
            client_token,
            // A terminal has no CloudWatch Logs to turn EMF lines into metrics.
            metrics: None,
        },
    }
}

/// Distinguishes this run's client tokens from any other's.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}-{}", std::process::id())
}
