//! The apply engine: count the ACTIVE findings that archive rules match, enforce
//! `MaxFindingsToArchive`, call `ApplyArchiveRule`, wait until the matched findings read ARCHIVED,
//! and log the evidence (SPEC §3 steps 2 and 4–5). Every caller — both resource types, the command
//! line — applies through here; none repeats a step. It never creates, changes or deletes a rule.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::try_join_all;
use serde::Serialize;
use tokio::time::Instant;

use crate::access_analyzer::AccessAnalyzer;
use crate::arn::Analyzer;
use crate::error::ProviderError;
use crate::filter::Filter;
use crate::metrics::{self, Trigger};

/// How many finding ids one log line carries: CloudWatch Logs events stay readable, and a
/// reviewer can still grep a single id.
const IDS_PER_LOG_LINE: usize = 100;
/// The wait for findings to read ARCHIVED stops this long before the deadline guard would fire,
/// so a slow apply ends in SUCCESS with `PendingFindings`, not in a timeout.
const WAIT_RESERVE: Duration = Duration::from_secs(1);
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Why a report is unverified when the deadline guard, not the wait, ended it.
const CUT_SHORT: &str = "the wait for the findings to read ARCHIVED did not end";

/// An archive rule to apply: its name and its filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub filter: Filter,
}

/// What one rule matched and archived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleReport {
    pub rule: String,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
}

/// The outcome of applying rules, as `Fn::GetAtt` and the command line report it. Totals count
/// distinct findings: one matched by two rules is one finding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub rules: Vec<RuleReport>,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
    /// A read after the apply produced the counts, and no read failed.
    pub verified: bool,
    pub applied: bool,
    /// Why the verification ended before it could finish, once the rules were applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

/// The ACTIVE findings the rules matched just before the apply.
#[derive(Clone, Debug)]
pub struct Counted {
    analyzer: Analyzer,
    rules: Vec<Rule>,
    by_rule: Vec<BTreeSet<String>>,
    matched: BTreeSet<String>,
}

/// How the rules are applied.
pub struct ApplySettings<'a> {
    /// How long to wait for the matched findings to read ARCHIVED (zero: do not read back).
    pub archive_timeout: Duration,
    /// When the work must be over (the wait stops shortly before).
    pub deadline: Instant,
    /// The client token of each rule's `ApplyArchiveRule`.
    pub client_token: &'a (dyn Fn(&str) -> String + Sync),
    /// Writes the apply's metrics under this trigger (SPEC §9.4); `None` for the command line.
    pub metrics: Option<Trigger>,
}

/// Counts, concurrently per rule, the ACTIVE findings each rule matches (`ListFindingsV2`, every page).
pub async fn count<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
    rules: Vec<Rule>,
) -> Result<Counted, ProviderError> {
    let counts = rules.iter().map(|rule| async move {
        aa.list_active_finding_ids(&analyzer.arn, &rule.filter)
            .await
            .map(|ids| ids.into_iter().collect::<BTreeSet<String>>())
            .map_err(|source| {
                analyzer_call_failed(
                    analyzer,
                    &rule.name,
                    "counting the findings matched by",
                    source,
                )
            })
    });
    let by_rule = try_join_all(counts).await?;
    let matched = by_rule.iter().flatten().cloned().collect();
    Ok(Counted {
        analyzer: analyzer.clone(),
        rules,
        by_rule,
        matched,
    })
}

impl Counted {
    pub fn matched(&self) -> usize {
        self.matched.len()
    }

    /// `MaxFindingsToArchive`: more matching findings than the limit fail the operation before
    /// anything is applied, a guard against a filter far broader than meant.
    pub fn enforce_limit(&self, limit: Option<u64>) -> Result<(), ProviderError> {
        let Some(limit) = limit else { return Ok(()) };
        let count = self.matched.len() as u64;
        if count <= limit {
            return Ok(());
        }
        let analyzer = self.analyzer.name.clone();
        Err(match self.rules.as_slice() {
            [rule] => ProviderError::TooManyFindings {
                rule: rule.name.clone(),
                analyzer,
                count,
                limit,
            },
            rules => ProviderError::TooManyFindingsAcrossRules {
                analyzer,
                rules: rules.len(),
                count,
                limit,
            },
        })
    }

    /// The report when nothing is applied: nothing archived, everything matched still pending.
    pub fn not_applied(&self) -> ApplyReport {
        self.report(&Verification::default(), false)
    }

    /// The report of a dry run: what would be archived, and nothing pending since nothing was applied.
    pub fn dry_run(&self) -> ApplyReport {
        let mut report = self.not_applied();
        report.pending = 0;
        report.rules.iter_mut().for_each(|r| r.pending = 0);
        report
    }

    fn report(&self, verification: &Verification, applied: bool) -> ApplyReport {
        let archived_of = |ids: &BTreeSet<String>| ids.len() - verification.pending_of(ids);
        ApplyReport {
            rules: self
                .rules
                .iter()
                .zip(&self.by_rule)
                .map(|(rule, ids)| RuleReport {
                    rule: rule.name.clone(),
                    matched: ids.len(),
                    archived: archived_of(ids),
                    pending: ids.len() - archived_of(ids),
                })
                .collect(),
            matched: self.matched.len(),
            archived: archived_of(&self.matched),
            pending: self.matched.len() - archived_of(&self.matched),
            verified: applied && verification.is_complete(),
            applied,
            interrupted: verification.interrupted.clone(),
        }
    }

    /// What the answer is if the verification never ends: what is known now, unverified.
    fn so_far(&self, verification: &Verification) -> ApplyReport {
        let mut report = self.report(verification, true);
        report.verified = false;
        report
            .interrupted
            .get_or_insert_with(|| CUT_SHORT.to_owned());
        report
    }

    /// The log's name for what was applied: the rule's ARN, or the analyzer's and the rules' names.
    fn label(&self) -> String {
        match self.rules.as_slice() {
            [rule] => format!("{}/archive-rule/{}", self.analyzer.arn, rule.name),
            rules => {
                let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
                format!("{} (rules: {})", self.analyzer.arn, names.join(","))
            }
        }
    }
}

/// `ApplyArchiveRule` for every counted rule (concurrently), then polls until the matched findings
/// no longer read ACTIVE or the wait ends. Once the rules are applied nothing fails the operation
/// (SPEC §3 step 4): a read that fails ends the wait with the counts known so far, and `so_far` sees
/// the answer to give after the apply and after every read, so that a deadline guard knows how far
/// the work got.
pub async fn apply<A: AccessAnalyzer>(
    aa: &A,
    counted: &Counted,
    settings: &ApplySettings<'_>,
    so_far: &(dyn Fn(&ApplyReport) + Sync),
) -> Result<ApplyReport, ProviderError> {
    let analyzer = &counted.analyzer;
    let applies = counted.rules.iter().map(|rule| async move {
        aa.apply_archive_rule(
            &analyzer.arn,
            &rule.name,
            &(settings.client_token)(&rule.name),
        )
        .await
        .map_err(|source| {
            if source.is_not_found() {
                ProviderError::RuleVanished {
                    rule: rule.name.clone(),
                    analyzer: analyzer.name.clone(),
                    source,
                }
            } else {
                ProviderError::aws("applying", &rule.name, &analyzer.name, source)
            }
        })
    });
    try_join_all(applies).await?;
    so_far(&counted.so_far(&Verification::default()));
    if settings.archive_timeout.is_zero() {
        let report = counted.report(&Verification::default(), true);
        if let Some(trigger) = settings.metrics {
            metrics::emit(trigger, &analyzer.name, &report, false);
        }
        return Ok(report);
    }
    let verification =
        wait_for_archived(aa, counted, settings, &|v| so_far(&counted.so_far(v))).await;
    log_evidence(&counted.label(), &counted.matched, &verification);
    let report = counted.report(&verification, true);
    if let Some(trigger) = settings.metrics {
        metrics::emit(trigger, &analyzer.name, &report, false);
    }
    Ok(report)
}

/// A failed call that needs no existing rule: a `ResourceNotFoundException` can only mean the
/// analyzer is missing.
pub(crate) fn analyzer_call_failed(
    analyzer: &Analyzer,
    rule: &str,
    action: &'static str,
    source: crate::error::AwsError,
) -> ProviderError {
    if source.is_not_found() {
        ProviderError::AnalyzerNotFound {
            analyzer: analyzer.name.clone(),
            location: analyzer.location.clone(),
            source,
        }
    } else {
        ProviderError::aws(action, rule, &analyzer.name, source)
    }
}

/// What the reads after `ApplyArchiveRule` established.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Verification {
    /// The matched ids still ACTIVE at the last successful read; `None` when no read succeeded.
    still_active: Option<BTreeSet<String>>,
    /// The read error that ended the wait early, after the SDK's retries.
    interrupted: Option<String>,
}

impl Verification {
    fn is_complete(&self) -> bool {
        self.interrupted.is_none() && self.still_active.is_some()
    }

    /// How many of `ids` were still ACTIVE at the last successful read (all of them without one).
    fn pending_of(&self, ids: &BTreeSet<String>) -> usize {
        match &self.still_active {
            Some(active) => ids.iter().filter(|id| active.contains(*id)).count(),
            None => ids.len(),
        }
    }
}

/// Polls until none of the matched findings reads ACTIVE under any of the rules' filters, or the
/// wait ends (`archive_timeout`, or shortly before the deadline), or a read fails after the SDK's
/// retries. The rules are read concurrently; `on_read` sees the state after every successful read.
async fn wait_for_archived<A: AccessAnalyzer>(
    aa: &A,
    counted: &Counted,
    settings: &ApplySettings<'_>,
    on_read: &(dyn Fn(&Verification) + Sync),
) -> Verification {
    let latest_useful = settings
        .deadline
        .checked_sub(WAIT_RESERVE)
        .unwrap_or(settings.deadline);
    let wait_until = (Instant::now() + settings.archive_timeout).min(latest_useful);
    let mut interval = FIRST_POLL_INTERVAL;
    let mut verification = Verification::default();
    loop {
        let reads = counted.rules.iter().map(|rule| async move {
            aa.list_active_finding_ids(&counted.analyzer.arn, &rule.filter)
                .await
                .map_err(|e| (rule.name.as_str(), e))
        });
        let still_active = match try_join_all(reads).await {
            Ok(still_active) => still_active,
            Err((rule, error)) => {
                tracing::warn!(
                    rule,
                    %error,
                    "a read after the apply failed; the apply stands, so the operation succeeds unverified"
                );
                verification.interrupted = Some(format!(
                    "reading the findings of archive rule {rule} after the apply failed: {error}"
                ));
                return verification;
            }
        };
        let pending: BTreeSet<String> = still_active
            .into_iter()
            .flatten()
            .filter(|id| counted.matched.contains(id))
            .collect();
        let done = pending.is_empty();
        verification.still_active = Some(pending);
        on_read(&verification);
        if done || Instant::now() + interval >= wait_until {
            return verification;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// Logs the ids the apply archived (the matched ones no longer ACTIVE) and those still ACTIVE when
/// the wait ended; without a read after the apply, the ids it was applied to.
fn log_evidence(label: &str, matched: &BTreeSet<String>, verification: &Verification) {
    let Some(pending) = &verification.still_active else {
        let ids: Vec<&str> = matched.iter().map(String::as_str).collect();
        log_ids("applied to, not verified", label, &ids);
        return;
    };
    let archived: Vec<&str> = matched
        .iter()
        .filter(|id| !pending.contains(*id))
        .map(String::as_str)
        .collect();
    log_ids("archived by the apply", label, &archived);
    if !pending.is_empty() {
        let pending: Vec<&str> = pending.iter().map(String::as_str).collect();
        log_ids("still ACTIVE when the wait ended", label, &pending);
    }
}

/// The evidence a security review asks for: every finding id, at most 100 to a line, and the total.
fn log_ids(what: &str, rule: &str, ids: &[&str]) {
    let chunks = ids.len().div_ceil(IDS_PER_LOG_LINE);
    for (index, chunk) in ids.chunks(IDS_PER_LOG_LINE).enumerate() {
        tracing::info!(
            rule = %rule,
            part = index + 1,
            parts = chunks,
            finding_ids = chunk.join(","),
            "findings {what}"
        );
    }
    tracing::info!(rule = %rule, total = ids.len(), "findings {what}: {} in total", ids.len());
}
