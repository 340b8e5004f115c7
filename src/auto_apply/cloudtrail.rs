//! SPEC §9.2 for one CloudTrail record of `CreateArchiveRule` / `UpdateArchiveRule`: the skips,
//! the caller, the rule as it is now — then the same apply as every other trigger. It decides;
//! the counting and applying are [`super::apply_rule`]'s, through the apply engine.

use super::event::RuleChange;
use super::settings::PRINCIPALS;
use super::{apply_rule, caller, settle, trigger_of, Context, RuleOutcome, Transient, Verdict};
use crate::access_analyzer::AccessAnalyzer;
use crate::apply::{ApplyReport, Rule};
use crate::arn::Analyzer;
use crate::filter::Filter;
use crate::metrics;

/// SPEC §9.2: the skips of step 1, the caller of step 2, the rule's current state of step 3, then
/// the count, guard, apply and verification.
pub(super) async fn rule_change<A: AccessAnalyzer>(
    aa: &A,
    ctx: &Context<'_>,
    change: &RuleChange,
) -> Result<RuleOutcome, Transient> {
    let trigger = trigger_of(change);
    let caller = caller::caller_arn(&change.user_identity);
    let outcome = |verdict, why: String| {
        let outcome = RuleOutcome::of(
            trigger,
            caller.clone(),
            &change.analyzer_name,
            &change.rule_name,
            verdict,
            why,
        );
        settle(outcome, None)
    };
    if let Some(why) = skip_reason(ctx, change, caller.as_deref()) {
        return Ok(outcome(Verdict::Skipped, why));
    }
    if !caller::is_allowed(caller.as_deref(), &ctx.settings.principals) {
        let why = format!(
            "the caller {} matches none of {PRINCIPALS} ({}); nothing was applied",
            caller.as_deref().unwrap_or("(no IAM principal ARN)"),
            ctx.settings.principals.join(", ")
        );
        metrics::emit(
            trigger,
            &change.analyzer_name,
            &ApplyReport::default(),
            true,
        );
        return Ok(outcome(Verdict::Refused, why));
    }
    let analyzer = Analyzer::new(ctx.location.clone(), change.analyzer_name.as_str());
    // A service-linked analyzer's rules are its service's (which also makes such changes), and an
    // analyzer that is not ACTIVE cannot apply: both are skipped before anything is read. The
    // look-up only ever skips: an answer it cannot use leaves the decision to GetArchiveRule, the
    // step SPEC §9.2 names. Both reads go out together: one round trip, not two.
    let (described, read) = tokio::join!(
        aa.get_analyzer(&analyzer.name),
        aa.get_archive_rule(&analyzer.name, &change.rule_name)
    );
    match described {
        Ok(listing) if listing.managed_by.is_some() => {
            return Ok(outcome(
                Verdict::Skipped,
                format!(
                    "analyzer {} is service-linked, managed by {}: its rules are that service's",
                    analyzer.name,
                    listing.managed_by.unwrap_or_default()
                ),
            ))
        }
        Ok(listing) if listing.status != "ACTIVE" => {
            return Ok(outcome(
                Verdict::Skipped,
                format!(
                    "analyzer {} is {}, not ACTIVE",
                    analyzer.name, listing.status
                ),
            ))
        }
        Ok(_) => {}
        Err(e) => tracing::info!(error = %e, "GetAnalyzer did not say; GetArchiveRule decides"),
    }
    let current = match read {
        Ok(criteria) => criteria,
        Err(e) if e.is_not_found() => {
            return Ok(outcome(
                Verdict::Gone,
                format!("the rule or its analyzer no longer exists ({e})"),
            ))
        }
        Err(e) if e.is_transient() => return Err(Transient(e.to_string())),
        Err(e) => return Ok(outcome(Verdict::Refused, e.to_string())),
    };
    if let Some(declared) = &change.filter {
        match Filter::parse(declared) {
            Ok(filter) if !filter.same_as(&current) => {
                return Ok(outcome(
                    Verdict::Superseded,
                    "the rule's filter changed again since this event; that change has its own event and is judged on its own caller".to_owned(),
                ))
            }
            Ok(_) => {}
            Err(e) => {
                return Ok(outcome(
                    Verdict::Skipped,
                    format!("malformed event: requestParameters.filter: {e}"),
                ))
            }
        }
    }
    let filter = match Filter::from_criteria(&current) {
        Ok(filter) => filter,
        Err(e) => {
            return Ok(outcome(
                Verdict::Refused,
                format!("the rule's filter cannot be used: {e}"),
            ))
        }
    };
    let rule = Rule {
        name: change.rule_name.clone(),
        filter,
    };
    apply_rule(aa, ctx, trigger, caller.clone(), &analyzer, rule).await
}

/// Step 1's skips: events that are not an archive-rule change for this function to apply.
fn skip_reason(ctx: &Context<'_>, change: &RuleChange, caller: Option<&str>) -> Option<String> {
    if let Some(code) = &change.error_code {
        return Some(format!("the call failed ({code}), so it changed nothing"));
    }
    if !matches!(
        change.event_name.as_str(),
        "CreateArchiveRule" | "UpdateArchiveRule"
    ) {
        return Some(format!(
            "{} is not an archive rule change",
            change.event_name
        ));
    }
    let here = &ctx.location;
    for account in [&change.envelope.account, &change.recipient_account] {
        if account != &here.account {
            return Some(format!(
                "the change was made in account {account}; this function acts in {here}"
            ));
        }
    }
    for region in [&change.envelope.region, &change.aws_region] {
        if region != &here.region {
            return Some(format!(
                "the change was made in {region}; this function acts in {here}"
            ));
        }
    }
    if caller.is_some() && caller == ctx.settings.provider_role_arn.as_deref() {
        return Some(
            "the change was made by the CloudFormation provider, which applies its own rules"
                .to_owned(),
        );
    }
    if !ctx.settings.covers_analyzer(&change.analyzer_name) {
        return Some(format!(
            "analyzer {} is outside the analyzers this function was narrowed to",
            change.analyzer_name
        ));
    }
    None
}
