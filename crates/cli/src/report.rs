//! What a sweep reports: one outcome per (account, region, analyzer), the one function that reads
//! an AWS error code as an outcome, and the table or JSON that shows them. It calls no AWS API.

use std::collections::BTreeMap;

use applied_archive_rule::apply::RuleReport;
use serde::Serialize;

use crate::{output, OutputFormat, SweepArgs};

/// One target's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetOutcome {
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

impl TargetOutcome {
    pub fn label(self) -> &'static str {
        match self {
            TargetOutcome::Applied => "applied",
            TargetOutcome::DryRun => "would apply",
            TargetOutcome::NoAnalyzer => "no analyzer",
            TargetOutcome::NoRule => "no rule",
            TargetOutcome::Skipped => "skipped (service-linked)",
            TargetOutcome::RegionNotEnabled => "region not enabled",
            TargetOutcome::AccessDenied => "access denied",
            TargetOutcome::Error => "error",
        }
    }

    /// The JSON spelling (serde's kebab-case), for the summary's keys.
    pub fn key(self) -> &'static str {
        match self {
            TargetOutcome::Applied => "applied",
            TargetOutcome::DryRun => "dry-run",
            TargetOutcome::NoAnalyzer => "no-analyzer",
            TargetOutcome::NoRule => "no-rule",
            TargetOutcome::Skipped => "skipped",
            TargetOutcome::RegionNotEnabled => "region-not-enabled",
            TargetOutcome::AccessDenied => "access-denied",
            TargetOutcome::Error => "error",
        }
    }

    /// Denied and error targets need a person; the rest had nothing left to do.
    pub fn is_failure(self) -> bool {
        matches!(self, TargetOutcome::AccessDenied | TargetOutcome::Error)
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    pub account: String,
    pub region: String,
    pub analyzer: Option<String>,
    pub outcome: TargetOutcome,
    pub rules: Vec<RuleReport>,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
    pub verified: bool,
    pub detail: String,
}

impl TargetReport {
    pub fn without_work(
        account: &str,
        region: &str,
        outcome: TargetOutcome,
        detail: String,
    ) -> Self {
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

/// Whether a target's region is known to be enabled in its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionCheck {
    /// `DescribeRegions` listed it as enabled.
    Listed,
    /// `DescribeRegions` could not be read (why), so the region is tried.
    Unverified(String),
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
///
/// `region` is `None` for a call that is not regional (`sts:AssumeRole`, the credentials).
pub fn outcome_of(
    code: Option<&str>,
    message: String,
    region: Option<&RegionCheck>,
) -> (TargetOutcome, String) {
    match code {
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            (TargetOutcome::AccessDenied, message)
        }
        Some("UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure") => {
            match region {
                None => (TargetOutcome::Error, message),
                Some(RegionCheck::Unverified(why)) => (
                    TargetOutcome::RegionNotEnabled,
                    format!(
                        "the region did not recognize the account's credentials, which is how AWS answers in a region the account has not enabled (the enabled regions could not be read: {why}): {message}"
                    ),
                ),
                Some(RegionCheck::Listed) => (
                    TargetOutcome::Error,
                    format!(
                        "{message} (the region is enabled in this account, yet does not recognize its credentials; a session token from the global STS endpoint is valid only in the regions enabled by default)"
                    ),
                ),
            }
        }
        _ => (TargetOutcome::Error, message),
    }
}

pub fn print_reports(args: &SweepArgs, reports: &[TargetReport]) {
    let mut summary: BTreeMap<TargetOutcome, usize> = BTreeMap::new();
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
    use super::*;

    #[test]
    fn an_unrecognized_token_is_a_region_not_enabled_only_where_the_region_list_was_unknown() {
        let unknown = RegionCheck::Unverified("ec2:DescribeRegions: UnauthorizedOperation".into());
        for code in [
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "AuthFailure",
        ] {
            let (outcome, detail) = outcome_of(Some(code), "m".into(), Some(&unknown));
            assert_eq!(outcome, TargetOutcome::RegionNotEnabled, "{code}");
            assert!(detail.contains("UnauthorizedOperation"), "{detail}");
            let (outcome, _) = outcome_of(Some(code), "m".into(), Some(&RegionCheck::Listed));
            assert_eq!(outcome, TargetOutcome::Error, "{code}");
            let (outcome, _) = outcome_of(Some(code), "m".into(), None);
            assert_eq!(
                outcome,
                TargetOutcome::Error,
                "{code}: credentials, not a region"
            );
        }
        for code in [
            "AccessDeniedException",
            "AccessDenied",
            "UnauthorizedOperation",
        ] {
            assert_eq!(
                outcome_of(Some(code), "m".into(), Some(&unknown)).0,
                TargetOutcome::AccessDenied
            );
        }
        assert_eq!(
            outcome_of(Some("ThrottlingException"), "m".into(), Some(&unknown)).0,
            TargetOutcome::Error
        );
        assert_eq!(
            outcome_of(None, "timeout".into(), Some(&unknown)).0,
            TargetOutcome::Error
        );
    }

    #[test]
    fn skipped_is_nothing_to_apply_and_has_one_spelling() {
        assert!(!TargetOutcome::Skipped.is_failure());
        assert_eq!(TargetOutcome::Skipped.key(), "skipped");
        assert_eq!(
            serde_json::to_value(TargetOutcome::Skipped).unwrap(),
            serde_json::json!("skipped")
        );
        assert_eq!(TargetOutcome::Skipped.label(), "skipped (service-linked)");
    }
}
