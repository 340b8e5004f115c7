//! Create (SPEC §3): write the declared rule — or adopt an existing one — then apply it. A rule of
//! the same name that the stack does not own is never changed without `AdoptExisting`.

use serde_json::Value;

use super::{write_and_apply, Origin, Target, WriteMode};
use crate::access_analyzer::AccessAnalyzer;
use crate::error::ProviderError;
use crate::filter::criteria_to_json;
use crate::progress::Progress;
use crate::properties::RuleProperties;
use crate::request::{EventContext, Success};

pub async fn create<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    properties: &Value,
    progress: &Progress,
) -> Result<Success, ProviderError> {
    let props = RuleProperties::parse(properties)?;
    let target = Target::resolve(&props, &ctx.stack)?;
    write_and_apply(aa, ctx, &target, progress, WriteMode::NewRule).await
}

/// `CreateArchiveRule`; on `ConflictException` the existing rule is adopted if identical, taken over
/// with `AdoptExisting`, and otherwise left exactly as it was.
pub(super) async fn put_new_rule<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
) -> Result<Origin, ProviderError> {
    let filter = &target.props.filter;
    let (analyzer, rule) = (&target.analyzer.name, &target.rule.rule_name);
    match target.create_rule(aa, ctx).await {
        Ok(()) => {
            progress.took_ownership(&target.rule);
            return Ok(Origin::Created);
        }
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(target.analyzer_error("creating", e)),
    }
    let existing = aa
        .get_archive_rule(analyzer, rule)
        .await
        .map_err(|e| target.aws("reading the existing", e))?;
    if filter.same_as(&existing) {
        tracing::info!(rule = %target.rule, "an identical rule already exists: adopting it");
        return Ok(Origin::AdoptedIdentical);
    }
    if !target.props.adopt_existing {
        return Err(ProviderError::ForeignRule {
            rule: rule.clone(),
            analyzer: analyzer.clone(),
            existing: criteria_to_json(&existing).to_string(),
            declared: filter.to_json().to_string(),
        });
    }
    target
        .update_rule(aa, ctx)
        .await
        .map_err(|e| target.aws("taking over (AdoptExisting) the existing", e))?;
    progress.took_ownership(&target.rule);
    tracing::info!(rule = %target.rule, "AdoptExisting: took over the existing rule and set the declared filter");
    Ok(Origin::TookOver)
}
