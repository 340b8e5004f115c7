//! Update (SPEC §3): in place when the declared identity is the one in the PhysicalResourceId,
//! otherwise a replacement that leaves the old rule to CloudFormation's cleanup Delete.
//! `OldResourceProperties` are never consulted: a rollback swaps them.

use serde_json::Value;

use super::{write_and_apply, Origin, Target, WriteMode};
use crate::access_analyzer::AccessAnalyzer;
use crate::arn::parse_archive_rule_arn;
use crate::error::ProviderError;
use crate::progress::Progress;
use crate::properties::RuleProperties;
use crate::request::{EventContext, Success};

pub async fn update<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    physical_resource_id: &str,
    properties: &Value,
    progress: &Progress,
) -> Result<Success, ProviderError> {
    let props = RuleProperties::parse(properties)?;
    let target = Target::resolve(&props, &ctx.stack)?;
    // The physical id a rollback carries is the old rule's; its properties are not.
    if parse_archive_rule_arn(physical_resource_id).as_ref() == Some(&target.rule) {
        return write_and_apply(aa, ctx, &target, progress, WriteMode::InPlace).await;
    }
    tracing::info!(
        old = physical_resource_id,
        new = %target.rule,
        "rule identity changed: creating the replacement"
    );
    progress.start_replacement();
    write_and_apply(aa, ctx, &target, progress, WriteMode::NewRule).await
}

/// `UpdateArchiveRule` on the stack's own rule; a rule that vanished is created again.
pub(super) async fn update_in_place<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
) -> Result<Origin, ProviderError> {
    match target.update_rule(aa, ctx).await {
        Ok(()) => return Ok(Origin::Updated),
        Err(e) if e.is_not_found() => {
            tracing::warn!(rule = %target.rule, "the stack's rule has vanished: creating it again");
        }
        Err(e) => return Err(target.aws("updating", e)),
    }
    target
        .create_rule(aa, ctx)
        .await
        .map_err(|e| target.analyzer_error("re-creating", e))?;
    progress.took_ownership(&target.rule);
    Ok(Origin::Recreated)
}
