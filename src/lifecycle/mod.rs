//! Create, Update and Delete of `Custom::AppliedArchiveRule` (SPEC §3), written against the
//! [`AccessAnalyzer`] interface; the decisions of each live in [`create`], [`update`] and
//! [`delete`]. Counting, applying and verifying are the apply engine's ([`crate::apply`]).
//!
//! Ownership decides everything here: the stack owns a rule it created or adopted, and never
//! changes or deletes a rule it does not own. [`Progress`] records which PhysicalResourceId a
//! FAILED response must carry and which rule must be removed if the operation is abandoned.

mod create;
mod delete;
mod update;

use std::collections::BTreeMap;

pub use create::create;
pub use delete::{delete, nothing_to_delete, remove_abandoned_rule};
pub use update::update;

use crate::access_analyzer::AccessAnalyzer;
use crate::apply::{self, ApplyReport, ApplySettings, Counted, Rule};
use crate::arn::{Analyzer, ArchiveRuleArn, Location};
use crate::error::{AwsError, ProviderError};
use crate::metrics::Trigger;
use crate::progress::Progress;
use crate::properties::RuleProperties;
use crate::request::{EventContext, Success};

/// How the declared rule came to be the stack's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Created,
    AdoptedIdentical,
    TookOver,
    Updated,
    Recreated,
}

impl Origin {
    fn verb(self) -> &'static str {
        match self {
            Origin::Created => "created",
            Origin::AdoptedIdentical => "adopted the identical existing",
            Origin::TookOver => "took over and updated the existing",
            Origin::Updated => "updated",
            Origin::Recreated => "re-created the vanished",
        }
    }
}

/// The rule a request declares, resolved to names and ARNs.
struct Target<'a> {
    props: &'a RuleProperties,
    analyzer: Analyzer,
    rule: ArchiveRuleArn,
}

impl<'a> Target<'a> {
    fn resolve(props: &'a RuleProperties, stack: &Location) -> Result<Self, ProviderError> {
        let analyzer = props.analyzer.resolve(stack)?;
        let rule = ArchiveRuleArn {
            location: stack.clone(),
            analyzer_name: analyzer.name.clone(),
            rule_name: props.rule_name.clone(),
        };
        Ok(Target {
            props,
            analyzer,
            rule,
        })
    }

    fn aws(&self, action: &'static str, source: AwsError) -> ProviderError {
        ProviderError::aws(action, &self.rule.rule_name, &self.analyzer.name, source)
    }

    /// A `ResourceNotFoundException` on a call that does not need the rule can only mean the analyzer.
    fn analyzer_error(&self, action: &'static str, source: AwsError) -> ProviderError {
        apply::analyzer_call_failed(&self.analyzer, &self.rule.rule_name, action, source)
    }

    fn token(&self, ctx: &EventContext, operation: &str) -> String {
        ctx.client_token(operation, &self.analyzer.name, &self.rule.rule_name)
    }

    /// `CreateArchiveRule` of the declared rule.
    async fn create_rule<A: AccessAnalyzer>(
        &self,
        aa: &A,
        ctx: &EventContext,
    ) -> Result<(), AwsError> {
        let token = self.token(ctx, "CreateArchiveRule");
        aa.create_archive_rule(
            &self.analyzer.name,
            &self.rule.rule_name,
            &self.props.filter,
            &token,
        )
        .await
    }

    /// `UpdateArchiveRule` to the declared filter.
    async fn update_rule<A: AccessAnalyzer>(
        &self,
        aa: &A,
        ctx: &EventContext,
    ) -> Result<(), AwsError> {
        let token = self.token(ctx, "UpdateArchiveRule");
        aa.update_archive_rule(
            &self.analyzer.name,
            &self.rule.rule_name,
            &self.props.filter,
            &token,
        )
        .await
    }
}

/// How the declared rule is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteMode {
    /// Create, or the replacement side of an Update: the rule may already exist (SPEC §3 step 3).
    NewRule,
    /// An in-place Update of the stack's own rule, re-created if it vanished.
    InPlace,
}

/// Writes the declared rule, then applies it to the findings it matches (SPEC §3 steps 2–5).
async fn write_and_apply<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
    mode: WriteMode,
) -> Result<Success, ProviderError> {
    let (origin, counted) = write_and_count(aa, ctx, target, progress, mode).await?;
    if !target.props.apply_to_existing_findings {
        return Ok(success(target, origin, &counted.not_applied()));
    }
    progress.set_step("applying the archive rule");
    let token = |rule: &str| ctx.client_token("ApplyArchiveRule", &target.analyzer.name, rule);
    let settings = ApplySettings {
        archive_timeout: target.props.archive_timeout,
        deadline: ctx.deadline,
        client_token: &token,
        metrics: Some(Trigger::AppliedArchiveRule),
    };
    let so_far = |report: &ApplyReport| {
        progress.applied(success(target, origin, report));
    };
    let report = apply::apply(aa, &counted, &settings, &so_far).await?;
    Ok(success(target, origin, &report))
}

/// Writes the rule and counts the ACTIVE findings it matches.
///
/// The count is read-only and independent of the write, so the two overlap — except when
/// `MaxFindingsToArchive` is set: then the count decides whether anything may be written at all.
async fn write_and_count<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
    mode: WriteMode,
) -> Result<(Origin, Counted), ProviderError> {
    let rules = vec![Rule {
        name: target.rule.rule_name.clone(),
        filter: target.props.filter.clone(),
    }];
    let count = apply::count(aa, &target.analyzer, rules);
    let write = async {
        match mode {
            WriteMode::NewRule => create::put_new_rule(aa, ctx, target, progress).await,
            WriteMode::InPlace => update::update_in_place(aa, ctx, target, progress).await,
        }
    };
    match target.props.max_findings_to_archive {
        Some(limit) => {
            progress.set_step("counting matching findings");
            let counted = count.await?;
            counted.enforce_limit(Some(limit))?;
            progress.set_step("writing the archive rule");
            Ok((write.await?, counted))
        }
        None => {
            progress.set_step("writing the archive rule and counting matching findings");
            let (origin, counted) = tokio::join!(write, count);
            Ok((origin?, counted?))
        }
    }
}

/// The SUCCESS answer: the rule ARN, a reason saying what was done, and the `Fn::GetAtt` attributes.
fn success(target: &Target<'_>, origin: Origin, report: &ApplyReport) -> Success {
    let rule = &target.rule;
    let applied = if !target.props.apply_to_existing_findings {
        format!(
            "not applied to existing findings (ApplyToExistingFindings is false); {} ACTIVE findings match",
            report.matched
        )
    } else if let Some(why) = &report.interrupted {
        format!(
            "applied to {} matching ACTIVE findings, not verified ({why}); {} of them known to read ARCHIVED",
            report.matched, report.archived
        )
    } else if !report.verified {
        format!(
            "applied to {} matching ACTIVE findings, not verified (ArchiveTimeoutSeconds is 0)",
            report.matched
        )
    } else if report.pending == 0 {
        format!(
            "{} of {} matching ACTIVE findings archived",
            report.archived, report.matched
        )
    } else {
        format!(
            "{} of {} matching ACTIVE findings archived, {} still ACTIVE when the wait ended",
            report.archived, report.matched, report.pending
        )
    };
    let data = BTreeMap::from([
        ("Arn".to_owned(), rule.to_string()),
        ("AnalyzerArn".to_owned(), target.analyzer.arn.clone()),
        ("AnalyzerName".to_owned(), target.analyzer.name.clone()),
        ("RuleName".to_owned(), rule.rule_name.clone()),
        ("MatchedFindings".to_owned(), report.matched.to_string()),
        ("ArchivedFindings".to_owned(), report.archived.to_string()),
        ("PendingFindings".to_owned(), report.pending.to_string()),
        ("Verified".to_owned(), report.verified.to_string()),
    ]);
    Success {
        physical_resource_id: rule.to_string(),
        reason: format!(
            "{} archive rule {} on analyzer {}; {applied}",
            origin.verb(),
            rule.rule_name,
            target.analyzer.name
        ),
        data,
    }
}
