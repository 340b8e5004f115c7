//! Delete (SPEC §3): from the PhysicalResourceId alone, properties unread; and the removal of the
//! rule a failed replacement created. Nothing here touches a rule the id does not name.

use crate::access_analyzer::AccessAnalyzer;
use crate::arn::parse_archive_rule_arn;
use crate::error::{AwsError, ProviderError};
use crate::progress::RuleToRemove;
use crate::request::{EventContext, Success};

pub async fn delete<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    physical_resource_id: &str,
) -> Result<Success, ProviderError> {
    let Some(rule) = parse_archive_rule_arn(physical_resource_id) else {
        return Ok(nothing_to_delete(physical_resource_id));
    };
    if rule.location != ctx.stack {
        tracing::warn!(%rule, "archive rule ARN is outside the stack's account and region; not deleting it");
        return Ok(Success::without_data(
            physical_resource_id,
            format!(
                "nothing to delete: {rule} is not in the stack's {}",
                ctx.stack
            ),
        ));
    }
    let token = ctx.client_token("DeleteArchiveRule", &rule.analyzer_name, &rule.rule_name);
    let reason = match aa
        .delete_archive_rule(&rule.analyzer_name, &rule.rule_name, &token)
        .await
    {
        Ok(()) => format!(
            "deleted archive rule {} of analyzer {}; findings it archived stay archived",
            rule.rule_name, rule.analyzer_name
        ),
        Err(e) if e.is_not_found() => format!(
            "archive rule {} of analyzer {} was already gone",
            rule.rule_name, rule.analyzer_name
        ),
        Err(source) => {
            return Err(ProviderError::aws(
                "deleting",
                &rule.rule_name,
                &rule.analyzer_name,
                source,
            ))
        }
    };
    Ok(Success::without_data(physical_resource_id, reason))
}

/// A Delete of an id that is not an archive rule ARN (a create marker, an id CloudFormation made
/// up): no rule of the stack's exists, so nothing is called.
pub fn nothing_to_delete(physical_resource_id: &str) -> Success {
    Success::without_data(
        physical_resource_id,
        format!(
            "nothing to delete: {physical_resource_id:?} is not an archive rule ARN, so no rule of this stack exists"
        ),
    )
}

/// Removes the rule a failed replacement created (SPEC §3 Update): CloudFormation only knows the
/// old PhysicalResourceId, so nobody else would ever delete it.
pub async fn remove_abandoned_rule<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    rule: &RuleToRemove,
) -> Result<(), AwsError> {
    let token = ctx.client_token("DeleteAbandonedRule", &rule.analyzer_name, &rule.rule_name);
    match aa
        .delete_archive_rule(&rule.analyzer_name, &rule.rule_name, &token)
        .await
    {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}
