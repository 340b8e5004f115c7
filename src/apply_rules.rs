//! `Custom::ApplyArchiveRules` (SPEC §8.1): applies archive rules that already exist — declared with
//! the native `AWS::AccessAnalyzer::ArchiveRule` or `Analyzer.ArchiveRules`, say — without owning them.
//! Create and Update apply every named rule concurrently and wait as `Custom::AppliedArchiveRule`
//! does; Delete changes nothing, because the rules belong to someone else.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::try_join_all;
use serde_json::Value;

use crate::access_analyzer::AccessAnalyzer;
use crate::error::ProviderError;
use crate::filter::Filter;
use crate::lifecycle::{log_ids, wait_for_archived, EventContext, Outcome, Progress};
use crate::properties::{Analyzer, ApplyRulesProperties};

pub const RESOURCE_TYPE: &str = "Custom::ApplyArchiveRules";

/// `apply-archive-rules:<analyzer ARN>`: one such resource per analyzer is all a stack needs.
pub fn physical_id(analyzer: &Analyzer) -> String {
    format!("apply-archive-rules:{}", analyzer.arn)
}

/// Create and Update: the same work, since nothing is owned and nothing is replaced.
pub async fn apply<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    properties: &Value,
    progress: &Progress,
) -> Result<Outcome, ProviderError> {
    let props = ApplyRulesProperties::parse(properties)?;
    let resolved = props.analyzer.resolve(&ctx.stack)?;
    // Borrowed by the concurrent futures below.
    let analyzer = &resolved;
    progress.set_step("reading the archive rules");
    let rules = read_rules(aa, ctx, analyzer, props.rule_names.as_deref()).await?;
    let named: Vec<(&str, &Filter)> = rules.iter().map(|(n, f)| (n.as_str(), f)).collect();

    progress.set_step("counting matching findings");
    let counts = named.iter().map(|(rule, filter)| async move {
        aa.list_active_finding_ids(&analyzer.arn, filter)
            .await
            .map_err(|source| aws(analyzer, rule, "counting the findings matched by", source))
    });
    let matched: BTreeSet<String> = try_join_all(counts).await?.into_iter().flatten().collect();
    if let Some(limit) = props.max_findings_to_archive {
        if matched.len() as u64 > limit {
            return Err(ProviderError::TooManyFindingsAcrossRules {
                analyzer: analyzer.name.clone(),
                rules: rules.len(),
                count: matched.len() as u64,
                limit,
            });
        }
    }

    progress.set_step("applying the archive rules");
    let applies = named.iter().map(|(rule, _)| async move {
        let token = ctx.client_token("ApplyArchiveRule", &analyzer.name, rule);
        aa.apply_archive_rule(&analyzer.arn, rule, &token)
            .await
            .map_err(|source| aws(analyzer, rule, "applying", source))
    });
    try_join_all(applies).await?;

    let verified = !props.archive_timeout.is_zero();
    let pending = if verified {
        progress.set_step("waiting for matched findings to read ARCHIVED");
        wait_for_archived(
            aa,
            &analyzer.arn,
            &named,
            &matched,
            props.archive_timeout,
            ctx.deadline,
        )
        .await
        .map_err(|(rule, source)| {
            aws(
                analyzer,
                rule,
                "verifying the findings archived by",
                source,
            )
        })?
    } else {
        matched.clone()
    };
    let archived: Vec<&str> = if verified {
        matched
            .iter()
            .filter(|id| !pending.contains(*id))
            .map(String::as_str)
            .collect()
    } else {
        Vec::new()
    };
    let label = format!("{} (rules: {})", analyzer.arn, rule_list(&rules));
    if verified {
        log_ids("archived by the apply", &label, &archived);
    }
    Ok(outcome(
        analyzer,
        &rules,
        matched.len(),
        archived.len(),
        pending.len(),
        verified,
    ))
}

/// The rules to apply with their filters: the named ones (each must exist), or every rule.
async fn read_rules<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
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
        None => aa
            .list_archive_rules(&analyzer.name)
            .await
            .map_err(|source| {
                if source.is_not_found() {
                    ProviderError::AnalyzerNotFound {
                        analyzer: analyzer.name.clone(),
                        location: ctx.stack.clone(),
                        source,
                    }
                } else {
                    aws(analyzer, "(all)", "listing", source)
                }
            })?,
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

fn aws(
    analyzer: &Analyzer,
    rule: &str,
    action: &'static str,
    source: crate::error::AwsError,
) -> ProviderError {
    ProviderError::Aws {
        action,
        rule: rule.to_owned(),
        analyzer: analyzer.name.clone(),
        source,
    }
}

fn rule_list(rules: &[(String, Filter)]) -> String {
    rules
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn outcome(
    analyzer: &Analyzer,
    rules: &[(String, Filter)],
    matched: usize,
    archived: usize,
    pending: usize,
    verified: bool,
) -> Outcome {
    let reason = if rules.is_empty() {
        format!(
            "analyzer {} has no archive rules; nothing to apply",
            analyzer.name
        )
    } else if !verified {
        format!(
            "applied {} archive rules of analyzer {} to {matched} matching ACTIVE findings, not verified (ArchiveTimeoutSeconds is 0)",
            rules.len(),
            analyzer.name
        )
    } else {
        format!(
            "applied {} archive rules of analyzer {} ({}); {archived} of {matched} matching ACTIVE findings archived{}",
            rules.len(),
            analyzer.name,
            rule_list(rules),
            if pending > 0 { format!(", {pending} still ACTIVE when the wait ended") } else { String::new() }
        )
    };
    let data = BTreeMap::from([
        ("AnalyzerArn".to_owned(), analyzer.arn.clone()),
        ("AnalyzerName".to_owned(), analyzer.name.clone()),
        ("RulesApplied".to_owned(), rules.len().to_string()),
        ("RuleNames".to_owned(), rule_list(rules)),
        ("MatchedFindings".to_owned(), matched.to_string()),
        ("ArchivedFindings".to_owned(), archived.to_string()),
        ("PendingFindings".to_owned(), pending.to_string()),
        ("Verified".to_owned(), verified.to_string()),
    ]);
    Outcome {
        physical_resource_id: physical_id(analyzer),
        reason,
        data,
    }
}

/// Delete: the rules are not this resource's, so nothing is changed.
pub fn delete(physical_resource_id: &str) -> Outcome {
    Outcome {
        physical_resource_id: physical_resource_id.to_owned(),
        reason: "nothing to delete: Custom::ApplyArchiveRules applies rules it does not own; the rules and the findings they archived stay as they are".to_owned(),
        data: BTreeMap::new(),
    }
}
