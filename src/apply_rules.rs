//! Applying archive rules that already exist — declared with the native
//! `AWS::AccessAnalyzer::ArchiveRule` or `Analyzer.ArchiveRules`, or made by hand — without owning
//! them: the `Custom::ApplyArchiveRules` resource type (SPEC §8.1, [`apply`] and [`delete`]) and
//! the command line's `apply` and `sweep` ([`apply_existing_rules`]). It reads rules and hands them
//! to the apply engine; it never writes a rule.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use serde_json::Value;

use crate::access_analyzer::AccessAnalyzer;
use crate::apply::{self, ApplyReport, ApplySettings, Rule};
use crate::arn::Analyzer;
use crate::error::{AwsError, ProviderError};
use crate::filter::Filter;
use crate::metrics::Trigger;
use crate::progress::Progress;
use crate::properties::ApplyRulesProperties;
use crate::request::{EventContext, Success};

pub const RESOURCE_TYPE: &str = "Custom::ApplyArchiveRules";

/// How [`apply_existing_rules`] runs: which rules, the limit, and how the engine applies them.
pub struct ApplyOptions<'a> {
    /// `None`: every rule of the analyzer.
    pub rule_names: Option<&'a [String]>,
    /// Distinct findings matched by all rules together; above it nothing is applied.
    pub max_findings_to_archive: Option<u64>,
    /// Count only: report what would be archived, apply nothing.
    pub dry_run: bool,
    pub apply: ApplySettings<'a>,
}

/// What a deadline guard learns of [`apply_existing_rules`]: each step, and once the rules are
/// applied, the answer to give (built by `success_of`).
pub struct Guarded<'a> {
    pub progress: &'a Progress,
    pub success_of: &'a (dyn Fn(&ApplyReport) -> Success + Sync),
}

/// Reads the rules, counts what they match, applies them all concurrently and waits until the
/// matched findings no longer read ACTIVE (SPEC §8.1).
pub async fn apply_existing_rules<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
    options: &ApplyOptions<'_>,
    guarded: Option<Guarded<'_>>,
) -> Result<ApplyReport, ProviderError> {
    let step = |s| {
        if let Some(g) = &guarded {
            g.progress.set_step(s)
        }
    };
    step("reading the archive rules");
    let rules = read_rules(aa, analyzer, options.rule_names).await?;
    step("counting matching findings");
    let counted = apply::count(aa, analyzer, rules).await?;
    counted.enforce_limit(options.max_findings_to_archive)?;
    if options.dry_run {
        return Ok(counted.dry_run());
    }
    step("applying the archive rules");
    let so_far = |report: &ApplyReport| {
        if let Some(g) = &guarded {
            g.progress.applied((g.success_of)(report));
        }
    };
    apply::apply(aa, &counted, &options.apply, &so_far).await
}

/// The rules to apply with their filters: the named ones (each must exist), or every rule.
async fn read_rules<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
    names: Option<&[String]>,
) -> Result<Vec<Rule>, ProviderError> {
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
                    Err(source) => Err(ProviderError::aws("reading", rule, &analyzer.name, source)),
                }
            });
            try_join_all(reads).await?
        }
        None => list_rules(aa, analyzer).await?,
    };
    criteria
        .into_iter()
        .map(|(name, criteria)| match Filter::from_criteria(&criteria) {
            Ok(filter) => Ok(Rule { name, filter }),
            Err(problem) => Err(ProviderError::UnusableRule {
                rule: name,
                analyzer: analyzer.name.clone(),
                problem,
            }),
        })
        .collect()
}

/// Every rule of the analyzer. The service model lists no ResourceNotFoundException for
/// ListArchiveRules, so an empty answer is only "no rules" once the analyzer is known to exist.
async fn list_rules<A: AccessAnalyzer>(
    aa: &A,
    analyzer: &Analyzer,
) -> Result<Vec<(String, crate::filter::Criteria)>, ProviderError> {
    let classify = |action, source: AwsError| {
        if source.is_not_found() {
            ProviderError::AnalyzerMissing {
                analyzer: analyzer.name.clone(),
                source,
            }
        } else {
            ProviderError::aws(action, "(all)", &analyzer.name, source)
        }
    };
    let rules = aa
        .list_archive_rules(&analyzer.name)
        .await
        .map_err(|source| classify("listing", source))?;
    if rules.is_empty() {
        aa.get_analyzer(&analyzer.name)
            .await
            .map_err(|source| classify("checking the analyzer of", source))?;
    }
    Ok(rules)
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
) -> Result<Success, ProviderError> {
    let props = ApplyRulesProperties::parse(properties)?;
    let analyzer = props.analyzer.resolve(&ctx.stack)?;
    let token = |rule: &str| ctx.client_token("ApplyArchiveRule", &analyzer.name, rule);
    let options = ApplyOptions {
        rule_names: props.rule_names.as_deref(),
        max_findings_to_archive: props.max_findings_to_archive,
        dry_run: false,
        apply: ApplySettings {
            archive_timeout: props.archive_timeout,
            deadline: ctx.deadline,
            client_token: &token,
            metrics: Some(Trigger::ApplyArchiveRules),
        },
    };
    let success_of = |report: &ApplyReport| success(&analyzer, report);
    let guarded = Guarded {
        progress,
        success_of: &success_of,
    };
    let report = apply_existing_rules(aa, &analyzer, &options, Some(guarded))
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
    Ok(success(&analyzer, &report))
}

fn success(analyzer: &Analyzer, report: &ApplyReport) -> Success {
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
    Success {
        physical_resource_id: physical_id(analyzer),
        reason,
        data,
    }
}

/// Delete of `Custom::ApplyArchiveRules`: the rules are not this resource's, so nothing is changed.
pub fn delete(physical_resource_id: &str) -> Success {
    Success::without_data(
        physical_resource_id,
        "nothing to delete: Custom::ApplyArchiveRules applies rules it does not own; the rules and the findings they archived stay as they are".to_owned(),
    )
}
