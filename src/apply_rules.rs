//! Applying archive rules that already exist — declared with the native
//! `AWS::AccessAnalyzer::ArchiveRule` or `Analyzer.ArchiveRules`, or made by hand — without owning
//! them. Two callers share [`apply_existing_rules`]: the `Custom::ApplyArchiveRules` resource type
//! (SPEC §8.1, [`apply`] and [`delete`]) and the command line's `apply` and `sweep`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::try_join_all;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::access_analyzer::AccessAnalyzer;
use crate::error::{AwsError, ProviderError};
use crate::filter::Filter;
use crate::lifecycle::{
    log_apply_evidence, wait_for_archived, EventContext, Outcome, Progress, Verification, CUT_SHORT,
};
use crate::properties::{Analyzer, ApplyRulesProperties};

pub const RESOURCE_TYPE: &str = "Custom::ApplyArchiveRules";

/// How [`apply_existing_rules`] runs.
pub struct ApplyOptions<'a> {
    /// `None`: every rule of the analyzer.
    pub rule_names: Option<&'a [String]>,
    pub archive_timeout: Duration,
    /// When the work must be over (the wait stops shortly before).
    pub deadline: Instant,
    /// Distinct findings matched by all rules together; above it nothing is applied.
    pub max_findings_to_archive: Option<u64>,
    /// Count only: report what would be archived, apply nothing.
    pub dry_run: bool,
    /// The client token of each rule's `ApplyArchiveRule`.
    pub client_token: &'a (dyn Fn(&str) -> String + Sync),
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

/// The outcome of applying an analyzer's rules. Totals count distinct findings: one matched by two
/// rules is one finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub rules: Vec<RuleReport>,
    pub matched: usize,
    pub archived: usize,
    pub pending: usize,
    /// A read after the apply produced the counts.
    pub verified: bool,
    pub applied: bool,
    /// Why the verification ended before it could finish, once the rules were applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

/// Reads the rules, counts what they match, applies them all concurrently and waits until the
/// matched findings no longer read ACTIVE (SPEC §8.1).
pub async fn apply_existing_rules<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
    options: &ApplyOptions<'_>,
    progress: Option<&Progress>,
) -> Result<ApplyReport, ProviderError> {
    let step = |s| {
        if let Some(p) = progress {
            p.set_step(s)
        }
    };
    step("reading the archive rules");
    let rules = read_rules(aa, analyzer, options.rule_names).await?;
    let named: Vec<(&str, &Filter)> = rules.iter().map(|(n, f)| (n.as_str(), f)).collect();

    step("counting matching findings");
    let counts = named.iter().map(|(rule, filter)| async move {
        aa.list_active_finding_ids(&analyzer.arn, filter)
            .await
            .map(|ids| ids.into_iter().collect::<BTreeSet<String>>())
            .map_err(|source| aws(analyzer, rule, "counting the findings matched by", source))
    });
    let matched_by_rule = try_join_all(counts).await?;
    let matched: BTreeSet<String> = matched_by_rule.iter().flatten().cloned().collect();
    if let Some(limit) = options.max_findings_to_archive {
        if matched.len() as u64 > limit {
            return Err(ProviderError::TooManyFindingsAcrossRules {
                analyzer: analyzer.name.clone(),
                rules: rules.len(),
                count: matched.len() as u64,
                limit,
            });
        }
    }
    let report = |verification: &Verification, applied: bool| {
        let archived_of = |ids: &BTreeSet<String>| ids.len() - verification.pending_of(ids);
        ApplyReport {
            rules: named
                .iter()
                .zip(&matched_by_rule)
                .map(|((rule, _), ids)| RuleReport {
                    rule: (*rule).to_owned(),
                    matched: ids.len(),
                    archived: archived_of(ids),
                    pending: ids.len() - archived_of(ids),
                })
                .collect(),
            matched: matched.len(),
            archived: archived_of(&matched),
            pending: matched.len() - archived_of(&matched),
            verified: applied && verification.is_complete(),
            applied,
            interrupted: verification.interrupted.clone(),
        }
    };
    if options.dry_run {
        // Nothing was applied, so nothing is pending either: `matched` is what would be archived.
        let mut counted = report(&Verification::default(), false);
        counted.pending = 0;
        counted.rules.iter_mut().for_each(|r| r.pending = 0);
        return Ok(counted);
    }

    step("applying the archive rules");
    let applies = named.iter().map(|(rule, _)| async move {
        aa.apply_archive_rule(&analyzer.arn, rule, &(options.client_token)(rule))
            .await
            .map_err(|source| aws(analyzer, rule, "applying", source))
    });
    try_join_all(applies).await?;
    // From here on nothing fails the operation (SPEC §3 step 4): the guard answers with this.
    let so_far = |verification: &Verification| {
        if let Some(p) = progress {
            let mut cut_short = report(verification, true);
            cut_short.verified = false;
            cut_short
                .interrupted
                .get_or_insert_with(|| CUT_SHORT.to_owned());
            p.applied(outcome(analyzer, &cut_short));
        }
    };
    so_far(&Verification::default());
    if options.archive_timeout.is_zero() {
        return Ok(report(&Verification::default(), true));
    }

    step("waiting for matched findings to read ARCHIVED");
    let verification = wait_for_archived(
        aa,
        &analyzer.arn,
        &named,
        &matched,
        options.archive_timeout,
        options.deadline,
        &so_far,
    )
    .await;
    let names = rules.iter().map(|(name, _)| name.as_str());
    log_apply_evidence(
        &format!("{} (rules: {})", analyzer.arn, join_names(names)),
        &matched,
        &verification,
    );
    Ok(report(&verification, true))
}

/// The rules to apply with their filters: the named ones (each must exist), or every rule.
async fn read_rules<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
    names: Option<&[String]>,
) -> Result<Vec<(String, Filter)>, ProviderError> {
    let criteria = match names {
        Some(names) => {
            let reads = names.iter().map(|rule| async move {
                match aa.get_archive_rule(&analyzer.name, rule).await {
                    Ok(criteria) => Ok((rule.clone(), criteria)),
                    Err(source) if source.is_not_found() => Err(ProviderError::RuleNotFound {
                        rule: rule.clone(),
                        analyzer: analyzer.name.clone(),
                        source,
                    }),
                    Err(source) => Err(aws(analyzer, rule, "reading", source)),
                }
            });
            try_join_all(reads).await?
        }
        None => {
            let missing = |source: AwsError| ProviderError::AnalyzerMissing {
                analyzer: analyzer.name.clone(),
                source,
            };
            let rules = aa
                .list_archive_rules(&analyzer.name)
                .await
                .map_err(|source| {
                    if source.is_not_found() {
                        missing(source)
                    } else {
                        aws(analyzer, "(all)", "listing", source)
                    }
                })?;
            // The service model lists no ResourceNotFoundException for ListArchiveRules, so an
            // empty answer is only "no rules" once the analyzer is known to exist.
            if rules.is_empty() {
                aa.get_analyzer(&analyzer.name).await.map_err(|source| {
                    if source.is_not_found() {
                        missing(source)
                    } else {
                        aws(analyzer, "(all)", "checking the analyzer of", source)
                    }
                })?;
            }
            rules
        }
    };
    criteria
        .into_iter()
        .map(|(rule, criteria)| match Filter::from_criteria(&criteria) {
            Ok(filter) => Ok((rule, filter)),
            Err(problem) => Err(ProviderError::UnusableRule {
                rule,
                analyzer: analyzer.name.clone(),
                problem,
            }),
        })
        .collect()
}

fn aws(analyzer: &Analyzer, rule: &str, action: &'static str, source: AwsError) -> ProviderError {
    ProviderError::Aws {
        action,
        rule: rule.to_owned(),
        analyzer: analyzer.name.clone(),
        source,
    }
}

/// Rule names as the logs and `Fn::GetAtt RuleNames` show them: comma-separated.
fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(",")
}

/// `apply-archive-rules:<analyzer ARN>`: one such resource per analyzer is all a stack needs.
pub fn physical_id(analyzer: &Analyzer) -> String {
    format!("apply-archive-rules:{}", analyzer.arn)
}

/// Create and Update of `Custom::ApplyArchiveRules`: the same work, since nothing is owned and
/// nothing is replaced.
pub async fn apply<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    properties: &Value,
    progress: &Progress,
) -> Result<Outcome, ProviderError> {
    let props = ApplyRulesProperties::parse(properties)?;
    let analyzer = props.analyzer.resolve(&ctx.stack)?;
    let token = |rule: &str| ctx.client_token("ApplyArchiveRule", &analyzer.name, rule);
    let options = ApplyOptions {
        rule_names: props.rule_names.as_deref(),
        archive_timeout: props.archive_timeout,
        deadline: ctx.deadline,
        max_findings_to_archive: props.max_findings_to_archive,
        dry_run: false,
        client_token: &token,
    };
    let report = apply_existing_rules(aa, &analyzer, &options, Some(progress))
        .await
        .map_err(|e| match e {
            ProviderError::AnalyzerMissing { analyzer, source } => {
                ProviderError::AnalyzerNotFound {
                    analyzer,
                    location: ctx.stack.clone(),
                    source,
                }
            }
            other => other,
        })?;
    Ok(outcome(&analyzer, &report))
}

fn outcome(analyzer: &Analyzer, report: &ApplyReport) -> Outcome {
    let names = join_names(report.rules.iter().map(|r| r.rule.as_str()));
    let reason = if report.rules.is_empty() {
        format!(
            "analyzer {} has no archive rules; nothing to apply",
            analyzer.name
        )
    } else if let Some(why) = &report.interrupted {
        format!(
            "applied {} archive rules of analyzer {} ({names}) to {} matching ACTIVE findings, not verified ({why}); {} of them known to read ARCHIVED",
            report.rules.len(),
            analyzer.name,
            report.matched,
            report.archived
        )
    } else if !report.verified {
        format!(
            "applied {} archive rules of analyzer {} ({names}) to {} matching ACTIVE findings, not verified (ArchiveTimeoutSeconds is 0)",
            report.rules.len(),
            analyzer.name,
            report.matched
        )
    } else {
        let pending = if report.pending > 0 {
            format!(", {} still ACTIVE when the wait ended", report.pending)
        } else {
            String::new()
        };
        format!(
            "applied {} archive rules of analyzer {} ({names}); {} of {} matching ACTIVE findings archived{pending}",
            report.rules.len(),
            analyzer.name,
            report.archived,
            report.matched
        )
    };
    let data = BTreeMap::from([
        ("AnalyzerArn".to_owned(), analyzer.arn.clone()),
        ("AnalyzerName".to_owned(), analyzer.name.clone()),
        ("RulesApplied".to_owned(), report.rules.len().to_string()),
        ("RuleNames".to_owned(), names),
        ("MatchedFindings".to_owned(), report.matched.to_string()),
        ("ArchivedFindings".to_owned(), report.archived.to_string()),
        ("PendingFindings".to_owned(), report.pending.to_string()),
        ("Verified".to_owned(), report.verified.to_string()),
    ]);
    Outcome {
        physical_resource_id: physical_id(analyzer),
        reason,
        data,
    }
}

/// Delete of `Custom::ApplyArchiveRules`: the rules are not this resource's, so nothing is changed.
pub fn delete(physical_resource_id: &str) -> Outcome {
    Outcome {
        physical_resource_id: physical_resource_id.to_owned(),
        reason: "nothing to delete: Custom::ApplyArchiveRules applies rules it does not own; the rules and the findings they archived stay as they are".to_owned(),
        data: BTreeMap::new(),
    }
}
