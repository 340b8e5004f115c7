//! `sweep`: apply archive rules in every (account, region) of an Organization, concurrently, with one
//! outcome per target. A target that fails never stops the others; no rule is ever written.

use std::io::IsTerminal;
use std::sync::Arc;

use applied_archive_rule::access_analyzer::SdkAccessAnalyzer;
use applied_archive_rule::apply_rules::apply_existing_rules;
use applied_archive_rule::arn::Analyzer;
use applied_archive_rule::error::ProviderError;
use applied_archive_rule::token::stable_token;
use aws_sdk_accessanalyzer::types::{AnalyzerStatus, AnalyzerSummary};
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Semaphore;

use crate::accounts;
use crate::aws::{self, describe_error, AccountCredentials, AssumedRole, Session};
use crate::commands::{run_id, terminal_options};
use crate::report::{outcome_of, print_reports, RegionCheck, TargetOutcome, TargetReport};
use crate::{regions, AwsArgs, CliError, OutputFormat, SweepArgs};

/// What every target shares.
struct Sweep {
    session: Session,
    args: SweepArgs,
    http: reqwest::Client,
    permits: Semaphore,
    progress: ProgressBar,
    run: String,
}

pub async fn run(aws_args: &AwsArgs, args: SweepArgs) -> Result<u8, CliError> {
    let session = aws::session(aws_args).await?;
    let accounts = accounts::select(&session, &args).await?;
    let progress = if std::io::stderr().is_terminal() && args.output == OutputFormat::Table {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} targets {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let sweep = Arc::new(Sweep {
        http: reqwest::Client::builder()
            .connect_timeout(session.timeouts.connect)
            .timeout(session.timeouts.attempt)
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build the HTTP client: {e}")))?,
        permits: Semaphore::new(args.concurrency as usize),
        progress,
        run: run_id(),
        session,
        args,
    });
    let per_account = accounts
        .iter()
        .map(|account| sweep_account(&sweep, account));
    let mut reports: Vec<TargetReport> =
        join_all(per_account).await.into_iter().flatten().collect();
    sweep.progress.finish_and_clear();
    reports.sort_by(|a, b| {
        (&a.account, &a.region, &a.analyzer).cmp(&(&b.account, &b.region, &b.analyzer))
    });
    print_reports(&sweep.args, &reports);
    Ok(if reports.iter().any(|r| r.outcome.is_failure()) {
        1
    } else {
        0
    })
}

/// One account: its credentials (assumed once), its enabled regions, then every target.
async fn sweep_account(sweep: &Sweep, account: &str) -> Vec<TargetReport> {
    let args = &sweep.args;
    let session = &sweep.session;
    let requested: Vec<String> = if args.regions.regions.is_empty() {
        vec![session.region.clone()]
    } else {
        args.regions.regions.clone()
    };
    let credentials = if account == session.account {
        AccountCredentials::Caller
    } else {
        AccountCredentials::Role(AssumedRole::new(session, account, &args.role_name))
    };
    let setup = {
        let _permit = sweep.permits.acquire().await;
        match credentials.resolve(session).await {
            Ok(resolved) => {
                let endpoint = regions::endpoint(&session.region, &session.partition);
                Ok(
                    regions::enabled_regions(&sweep.http, &endpoint, &session.region, resolved)
                        .await,
                )
            }
            Err(e) => Err(e),
        }
    };
    let enabled = match setup {
        Ok(enabled) => enabled,
        Err(e) => {
            let regions = if args.regions.all_regions {
                vec!["*".to_owned()]
            } else {
                requested
            };
            let (outcome, detail) = outcome_of(e.code.as_deref(), e.message, None);
            sweep.progress.inc_length(regions.len() as u64);
            sweep.progress.inc(regions.len() as u64);
            return regions
                .iter()
                .map(|region| TargetReport::without_work(account, region, outcome, detail.clone()))
                .collect();
        }
    };
    let (targets, check, mut reports) = match (&enabled, args.regions.all_regions) {
        (Ok(enabled), true) => (enabled.clone(), RegionCheck::Listed, Vec::new()),
        (Ok(enabled), false) => {
            let (on, off): (Vec<String>, Vec<String>) =
                requested.into_iter().partition(|r| enabled.contains(r));
            let skipped = off
                .iter()
                .map(|region| {
                    TargetReport::without_work(
                        account,
                        region,
                        TargetOutcome::RegionNotEnabled,
                        "the region is not enabled in this account".to_owned(),
                    )
                })
                .collect();
            (on, RegionCheck::Listed, skipped)
        }
        // Without the region list, the requested regions are tried; --all-regions cannot be honoured.
        (Err((_, message)), false) => {
            tracing::warn!(account, error = %message, "cannot list the enabled regions; trying the requested ones");
            (
                requested,
                RegionCheck::Unverified(message.clone()),
                Vec::new(),
            )
        }
        (Err((code, message)), true) => {
            sweep.progress.inc_length(1);
            sweep.progress.inc(1);
            let (outcome, detail) = outcome_of(code.as_deref(), message.clone(), None);
            return vec![TargetReport::without_work(account, "*", outcome, detail)];
        }
    };
    sweep
        .progress
        .inc_length((targets.len() + reports.len()) as u64);
    sweep.progress.inc(reports.len() as u64);
    let work = targets.iter().map(|region| async {
        let _permit = sweep.permits.acquire().await;
        let result = sweep_target(sweep, &credentials, account, region, &check).await;
        sweep.progress.inc(1);
        result
    });
    reports.extend(join_all(work).await.into_iter().flatten());
    reports
}

/// One (account, region): find the analyzers, apply the rules, classify the outcome.
async fn sweep_target(
    sweep: &Sweep,
    credentials: &AccountCredentials,
    account: &str,
    region: &str,
    check: &RegionCheck,
) -> Vec<TargetReport> {
    let session = &sweep.session;
    let args = &sweep.args;
    let client = aws::access_analyzer(session, credentials, region);
    let mut reports = Vec::new();
    let analyzers: Vec<Analyzer> = match (&args.analyzers.analyzer, &args.analyzers.analyzer_type) {
        (Some(name), _) => vec![Analyzer::new(session.location(account, region), name)],
        (None, Some(kind)) => {
            let listed = match list_analyzers(&client, kind).await {
                Ok(summaries) => sort_analyzers(&summaries),
                Err((code, message)) => {
                    let (outcome, detail) = outcome_of(
                        code.as_deref(),
                        format!("ListAnalyzers: {message}"),
                        Some(check),
                    );
                    return vec![TargetReport::without_work(account, region, outcome, detail)];
                }
            };
            reports.extend(listed.service_linked.iter().map(|(name, service)| {
                let mut report = TargetReport::without_work(
                    account,
                    region,
                    TargetOutcome::Skipped,
                    format!("service-linked analyzer managed by {service}: its archive rules are that service's to apply"),
                );
                report.analyzer = Some(name.clone());
                report
            }));
            if listed.active.is_empty() && reports.is_empty() {
                let mut detail = format!("no ACTIVE analyzer of type {kind} in this region");
                if !listed.inactive.is_empty() {
                    let others: Vec<String> = listed
                        .inactive
                        .iter()
                        .map(|(name, status)| format!("{name} is {status}"))
                        .collect();
                    detail = format!("{detail} ({})", others.join(", "));
                }
                reports.push(TargetReport::without_work(
                    account,
                    region,
                    TargetOutcome::NoAnalyzer,
                    detail,
                ));
            }
            listed.active
        }
        (None, None) => Vec::new(),
    };
    let aa = SdkAccessAnalyzer::new(client.clone());
    for analyzer in analyzers {
        let token = |rule: &str| stable_token(&["sweep", &sweep.run, &analyzer.arn, rule]);
        let options = terminal_options(&args.rules, args.archive_timeout, args.dry_run, &token);
        let mut report =
            TargetReport::without_work(account, region, TargetOutcome::Applied, String::new());
        report.analyzer = Some(analyzer.name.clone());
        match apply_existing_rules(&aa, &analyzer, &options, None).await {
            Ok(applied) if applied.rules.is_empty() => {
                report.outcome = TargetOutcome::NoRule;
                report.detail = "the analyzer has no archive rules".to_owned();
            }
            Ok(applied) => {
                if args.dry_run {
                    report.outcome = TargetOutcome::DryRun;
                    report.detail = "dry run: counted, nothing applied".to_owned();
                }
                report.rules = applied.rules;
                report.matched = applied.matched;
                report.archived = applied.archived;
                report.pending = applied.pending;
                report.verified = applied.verified;
            }
            Err(error) => {
                let (outcome, detail) = classify(&client, &analyzer, error, check).await;
                report.outcome = outcome;
                report.detail = detail;
            }
        }
        reports.push(report);
    }
    reports
}

/// Every analyzer of `kind` in the client's region, all pages.
async fn list_analyzers(
    client: &aws_sdk_accessanalyzer::Client,
    kind: &str,
) -> Result<Vec<AnalyzerSummary>, (Option<String>, String)> {
    let mut found = Vec::new();
    let mut pages = client
        .list_analyzers()
        .r#type(kind.into())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe_error(&e))?;
        found.extend(page.analyzers().iter().cloned());
    }
    Ok(found)
}

/// The analyzers `--analyzer-type` found, by what the sweep does with them.
#[derive(Debug, Default, PartialEq, Eq)]
struct SortedAnalyzers {
    /// ACTIVE and managed by the customer: their rules are applied.
    active: Vec<Analyzer>,
    /// (name, managing service): skipped. `managedBy` is the service model's mark of a
    /// service-linked analyzer ("only present for service-linked analyzers"); an AWS service
    /// owns it, and callers are refused.
    service_linked: Vec<(String, String)>,
    /// (name, status): CREATING, DISABLED or FAILED, so not counted.
    inactive: Vec<(String, String)>,
}

fn sort_analyzers(summaries: &[AnalyzerSummary]) -> SortedAnalyzers {
    let mut sorted = SortedAnalyzers::default();
    for summary in summaries {
        let name = summary.name().to_owned();
        if let Some(service) = summary.managed_by() {
            sorted.service_linked.push((name, service.to_owned()));
        } else if *summary.status() == AnalyzerStatus::Active {
            match Analyzer::from_arn(summary.arn()) {
                Some(analyzer) => sorted.active.push(analyzer),
                None => sorted
                    .inactive
                    .push((name, format!("unreadable ARN {}", summary.arn()))),
            }
        } else {
            sorted
                .inactive
                .push((name, summary.status().as_str().to_owned()));
        }
    }
    sorted
}

/// Sorts a failure into an outcome. `GetArchiveRule` answers ResourceNotFound both for a missing
/// rule and a missing analyzer; only then is the analyzer looked up, so the happy path makes no
/// extra call. Only an answer of "not found" makes "no analyzer" or "no rule": a lookup that is
/// denied or fails otherwise is reported as that.
async fn classify(
    client: &aws_sdk_accessanalyzer::Client,
    analyzer: &Analyzer,
    error: ProviderError,
    check: &RegionCheck,
) -> (TargetOutcome, String) {
    let missing = || {
        (
            TargetOutcome::NoAnalyzer,
            format!("analyzer {} does not exist in this region", analyzer.name),
        )
    };
    match error {
        ProviderError::AnalyzerMissing { .. } | ProviderError::AnalyzerNotFound { .. } => missing(),
        ProviderError::RuleNotFound { rule, .. } => {
            match client
                .get_analyzer()
                .analyzer_name(&analyzer.name)
                .send()
                .await
            {
                Ok(_) => (
                    TargetOutcome::NoRule,
                    format!(
                        "archive rule {rule} does not exist on analyzer {}",
                        analyzer.name
                    ),
                ),
                Err(e) => match describe_error(&e) {
                    (Some(code), _) if code == "ResourceNotFoundException" => missing(),
                    (code, message) => outcome_of(
                        code.as_deref(),
                        format!(
                            "archive rule {rule} was not found, and GetAnalyzer could not tell whether analyzer {} exists: {message}",
                            analyzer.name
                        ),
                        Some(check),
                    ),
                },
            }
        }
        ProviderError::Aws { ref source, .. } => {
            outcome_of(source.code.as_deref(), error.to_string(), Some(check))
        }
        other => (TargetOutcome::Error, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_accessanalyzer::primitives::DateTime;
    use aws_sdk_accessanalyzer::types::Type;

    use super::*;

    fn summary(name: &str, status: AnalyzerStatus, managed_by: Option<&str>) -> AnalyzerSummary {
        AnalyzerSummary::builder()
            .arn(format!(
                "arn:aws:access-analyzer:us-east-1:200000000001:analyzer/{name}"
            ))
            .name(name)
            .r#type(Type::AccountUnusedAccess)
            .created_at(DateTime::from_secs(0))
            .status(status)
            .set_managed_by(managed_by.map(str::to_owned))
            .build()
            .expect("every required member")
    }

    #[test]
    fn only_active_customer_analyzers_count_and_service_linked_ones_are_set_apart() {
        let sorted = sort_analyzers(&[
            summary("mine", AnalyzerStatus::Active, None),
            summary("new", AnalyzerStatus::Creating, None),
            summary("off", AnalyzerStatus::Disabled, None),
            summary("broken", AnalyzerStatus::Failed, None),
            summary(
                "_AccessAnalyzerForSecurityHubV2-1",
                AnalyzerStatus::Active,
                Some("securityhubv2.amazonaws.com"),
            ),
        ]);
        assert_eq!(
            sorted
                .active
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            ["mine"]
        );
        assert_eq!(
            sorted.service_linked,
            [(
                "_AccessAnalyzerForSecurityHubV2-1".to_owned(),
                "securityhubv2.amazonaws.com".to_owned()
            )]
        );
        let inactive: Vec<&str> = sorted.inactive.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(inactive, ["CREATING", "DISABLED", "FAILED"]);
    }
}
