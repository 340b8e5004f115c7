//! `sweep`: apply archive rules in every (account, region) of an Organization, concurrently, with one
//! outcome per target. A target that fails never stops the others.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use applied_archive_rule::access_analyzer::SdkAccessAnalyzer;
use applied_archive_rule::apply_rules::{apply_existing_rules, RuleReport};
use applied_archive_rule::error::ProviderError;
use applied_archive_rule::lifecycle::stable_token;
use applied_archive_rule::properties::Analyzer;
use aws_sdk_accessanalyzer::types::{AnalyzerStatus, AnalyzerSummary};
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::aws::{self, describe_error, AccountCredentials, AssumedRole, Session};
use crate::commands::{run_id, terminal_options};
use crate::{output, regions, AwsArgs, CliError, OutputFormat, SweepArgs};

/// One target's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Applied,
    /// `--dry-run`: counted, nothing applied.
    DryRun,
    NoAnalyzer,
    NoRule,
    /// A service-linked analyzer: an AWS service manages it, and its rules are not ours to apply.
    Skipped,
    RegionNotEnabled,
    AccessDenied,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "would apply",
            Outcome::NoAnalyzer => "no analyzer",
            Outcome::NoRule => "no rule",
            Outcome::Skipped => "skipped (service-linked)",
            Outcome::RegionNotEnabled => "region not enabled",
            Outcome::AccessDenied => "access denied",
            Outcome::Error => "error",
        }
    }

    /// The JSON spelling (serde's kebab-case), for the summary's keys.
    fn key(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "dry-run",
            Outcome::NoAnalyzer => "no-analyzer",
            Outcome::NoRule => "no-rule",
            Outcome::Skipped => "skipped",
            Outcome::RegionNotEnabled => "region-not-enabled",
            Outcome::AccessDenied => "access-denied",
            Outcome::Error => "error",
        }
    }

    /// Denied and error targets need a person; the rest had nothing left to do.
    fn is_failure(self) -> bool {
        matches!(self, Outcome::AccessDenied | Outcome::Error)
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    pub account: String,
    pub region: String,
    pub analyzer: Option<String>,
    pub outcome: Outcome,
    pub rules: Vec<RuleReport>,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
    pub verified: bool,
    pub detail: String,
}

impl TargetReport {
    fn without_work(account: &str, region: &str, outcome: Outcome, detail: String) -> Self {
        TargetReport {
            account: account.to_owned(),
            region: region.to_owned(),
            analyzer: None,
            outcome,
            rules: Vec::new(),
            matched: 0,
            archived: 0,
            pending: 0,
            verified: false,
            detail,
        }
    }
}

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
    let accounts = select_accounts(&session, &args).await?;
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

/// The accounts to sweep: the listed ones, the active accounts under the OUs (child OUs included),
/// every active account, or the caller's own.
async fn select_accounts(session: &Session, args: &SweepArgs) -> Result<Vec<String>, CliError> {
    let selection = &args.accounts;
    if !selection.accounts.is_empty() {
        for id in &selection.accounts {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::Usage(format!(
                    "--accounts: {id:?} is not a 12-digit account id"
                )));
            }
        }
        return Ok(selection.accounts.clone());
    }
    if selection.ou.is_empty() && !selection.all_accounts {
        return Ok(vec![session.account.clone()]);
    }
    let org = aws_sdk_organizations::Client::new(&session.config);
    let failed = |what: &str, (_, message): (Option<String>, String)| {
        CliError::Failed(format!("organizations:{what}: {message} (run sweep from the management or delegated-administrator account)"))
    };
    let mut accounts = Vec::new();
    if selection.all_accounts {
        let mut pages = org.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("ListAccounts", describe_error(&e)))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|a| is_active(a))
                    .filter_map(|a| a.id().map(str::to_owned)),
            );
        }
    } else {
        let mut parents = selection.ou.clone();
        while let Some(parent) = parents.pop() {
            let mut pages = org
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| failed("ListAccountsForParent", describe_error(&e)))?;
                accounts.extend(
                    page.accounts()
                        .iter()
                        .filter(|a| is_active(a))
                        .filter_map(|a| a.id().map(str::to_owned)),
                );
            }
            let mut pages = org
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map_err(|e| failed("ListOrganizationalUnitsForParent", describe_error(&e)))?;
                parents.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|ou| ou.id().map(str::to_owned)),
                );
            }
        }
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// `State` is the current field; older responses carry only the deprecated `Status`.
#[allow(deprecated)]
fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
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
            let outcome = if e.denied {
                Outcome::AccessDenied
            } else {
                Outcome::Error
            };
            sweep.progress.inc_length(regions.len() as u64);
            sweep.progress.inc(regions.len() as u64);
            return regions
                .iter()
                .map(|region| {
                    TargetReport::without_work(account, region, outcome, e.message.clone())
                })
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
                        Outcome::RegionNotEnabled,
                        "the region is not enabled in this account".to_owned(),
                    )
                })
                .collect();
            (on, RegionCheck::Listed, skipped)
        }
        // Without the region list, the requested regions are tried; --all-regions cannot be honoured.
        (Err(e), false) => {
            tracing::warn!(account, error = %e, "cannot list the enabled regions; trying the requested ones");
            (requested, RegionCheck::Unverified(e.clone()), Vec::new())
        }
        (Err(e), true) => {
            sweep.progress.inc_length(1);
            sweep.progress.inc(1);
            let outcome = if e.contains("AccessDenied") || e.contains("UnauthorizedOperation") {
                Outcome::AccessDenied
            } else {
                Outcome::Error
            };
            return vec![TargetReport::without_work(account, "*", outcome, e.clone())];
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

/// Whether a target's region is known to be enabled in its account.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RegionCheck {
    /// `DescribeRegions` listed it as enabled.
    Listed,
    /// `DescribeRegions` could not be read (why), so the region is tried.
    Unverified(String),
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
        (Some(name), _) => vec![Analyzer {
            name: name.clone(),
            arn: format!(
                "arn:{}:access-analyzer:{region}:{account}:analyzer/{name}",
                session.partition
            ),
        }],
        (None, Some(kind)) => {
            let listed = match list_analyzers(&client, kind).await {
                Ok(summaries) => sort_analyzers(&summaries),
                Err((code, message)) => {
                    let (outcome, detail) =
                        outcome_of(code.as_deref(), format!("ListAnalyzers: {message}"), check);
                    return vec![TargetReport::without_work(account, region, outcome, detail)];
                }
            };
            reports.extend(listed.service_linked.iter().map(|(name, service)| {
                let mut report = TargetReport::without_work(
                    account,
                    region,
                    Outcome::Skipped,
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
                    Outcome::NoAnalyzer,
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
            TargetReport::without_work(account, region, Outcome::Applied, String::new());
        report.analyzer = Some(analyzer.name.clone());
        match apply_existing_rules(&aa, &analyzer, &options, None).await {
            Ok(applied) if applied.rules.is_empty() => {
                report.outcome = Outcome::NoRule;
                report.detail = "the analyzer has no archive rules".to_owned();
            }
            Ok(applied) => {
                if args.dry_run {
                    report.outcome = Outcome::DryRun;
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
            sorted.active.push(Analyzer {
                name,
                arn: summary.arn().to_owned(),
            });
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
) -> (Outcome, String) {
    let missing = || {
        (
            Outcome::NoAnalyzer,
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
                    Outcome::NoRule,
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
                        check,
                    ),
                },
            }
        }
        ProviderError::Aws { ref source, .. } => {
            outcome_of(source.code.as_deref(), error.to_string(), check)
        }
        other => (Outcome::Error, other.to_string()),
    }
}

/// What an AWS error code means for a target, and the detail that says so.
///
/// A region the account has not enabled answers every call as if the credentials did not exist —
/// `UnrecognizedClientException` "The security token included in the request is invalid." (JSON
/// services such as Access Analyzer), `AuthFailure` (EC2), `InvalidClientTokenId` (STS) — with
/// nothing that names the region. The credentials were accepted already (by STS, which issued
/// them or answered `GetCallerIdentity`), so where `DescribeRegions` could not say whether the
/// region is enabled, that answer is taken as "region not enabled", never as "access denied".
/// Where it listed the region as enabled, the answer is an error of its own.
fn outcome_of(code: Option<&str>, message: String, check: &RegionCheck) -> (Outcome, String) {
    match code {
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            (Outcome::AccessDenied, message)
        }
        Some("UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure") => {
            match check {
                RegionCheck::Unverified(why) => (
                    Outcome::RegionNotEnabled,
                    format!(
                        "the region did not recognize the account's credentials, which is how AWS answers in a region the account has not enabled (the enabled regions could not be read: {why}): {message}"
                    ),
                ),
                RegionCheck::Listed => (
                    Outcome::Error,
                    format!(
                        "{message} (the region is enabled in this account, yet does not recognize its credentials; a session token from the global STS endpoint is valid only in the regions enabled by default)"
                    ),
                ),
            }
        }
        _ => (Outcome::Error, message),
    }
}

fn print_reports(args: &SweepArgs, reports: &[TargetReport]) {
    let mut summary: BTreeMap<Outcome, usize> = BTreeMap::new();
    for report in reports {
        *summary.entry(report.outcome).or_default() += 1;
    }
    let totals = (
        reports.iter().map(|r| r.matched).sum::<usize>(),
        reports.iter().map(|r| r.archived).sum::<usize>(),
        reports.iter().map(|r| r.pending).sum::<usize>(),
    );
    match args.output {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "dryRun": args.dry_run,
            "targets": reports,
            "summary": {
                "targets": reports.len(),
                "outcomes": summary.iter().map(|(o, n)| (o.key(), *n)).collect::<BTreeMap<_, _>>(),
                "matched": totals.0,
                "archived": totals.1,
                "pending": totals.2,
            },
        })),
        OutputFormat::Table => {
            let rows = reports.iter().map(|r| {
                vec![
                    r.account.clone(),
                    r.region.clone(),
                    r.analyzer.clone().unwrap_or_else(|| "-".to_owned()),
                    r.outcome.label().to_owned(),
                    r.rules.len().to_string(),
                    r.matched.to_string(),
                    r.archived.to_string(),
                    r.pending.to_string(),
                    r.detail.clone(),
                ]
            });
            output::print_table(
                &[
                    "ACCOUNT", "REGION", "ANALYZER", "OUTCOME", "RULES", "MATCHED", "ARCHIVED",
                    "PENDING", "DETAIL",
                ],
                rows,
            );
            let outcomes: Vec<String> = summary
                .iter()
                .map(|(o, n)| format!("{n} {}", o.label()))
                .collect();
            println!(
                "{} target{}: {}. Findings matched {}, archived {}, pending {}{}.",
                reports.len(),
                if reports.len() == 1 { "" } else { "s" },
                outcomes.join(", "),
                totals.0,
                totals.1,
                totals.2,
                if args.dry_run {
                    " (dry run: nothing applied)"
                } else {
                    ""
                }
            );
        }
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

    #[test]
    fn an_unrecognized_token_is_a_region_not_enabled_only_where_the_region_list_was_unknown() {
        let unknown = RegionCheck::Unverified("ec2:DescribeRegions: UnauthorizedOperation".into());
        for code in [
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "AuthFailure",
        ] {
            let (outcome, detail) = outcome_of(Some(code), "m".into(), &unknown);
            assert_eq!(outcome, Outcome::RegionNotEnabled, "{code}");
            assert!(detail.contains("UnauthorizedOperation"), "{detail}");
            let (outcome, _) = outcome_of(Some(code), "m".into(), &RegionCheck::Listed);
            assert_eq!(outcome, Outcome::Error, "{code}");
        }
        for code in [
            "AccessDeniedException",
            "AccessDenied",
            "UnauthorizedOperation",
        ] {
            assert_eq!(
                outcome_of(Some(code), "m".into(), &unknown).0,
                Outcome::AccessDenied
            );
        }
        assert_eq!(
            outcome_of(Some("ThrottlingException"), "m".into(), &unknown).0,
            Outcome::Error
        );
        assert_eq!(
            outcome_of(None, "timeout".into(), &unknown).0,
            Outcome::Error
        );
    }

    #[test]
    fn skipped_is_nothing_to_apply_and_has_one_spelling() {
        assert!(!Outcome::Skipped.is_failure());
        assert_eq!(Outcome::Skipped.key(), "skipped");
        assert_eq!(
            serde_json::to_value(Outcome::Skipped).unwrap(),
            serde_json::json!("skipped")
        );
        assert_eq!(Outcome::Skipped.label(), "skipped (service-linked)");
    }
}
