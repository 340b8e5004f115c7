//! Reconcile (SPEC §9.3): a "Scheduled Event" applies every rule of every ACTIVE, customer-managed
//! analyzer of the account and region, as the CloudTrail path would, within one invocation's
//! deadline and a bounded concurrency. Rules it cannot reach in time wait for the next run.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::{apply_rule, settle, Context, RuleOutcome, Transient, Verdict};
use crate::access_analyzer::AccessAnalyzer;
use crate::apply::Rule;
use crate::arn::Analyzer;
use crate::filter::{Criteria, Filter};
use crate::metrics::Trigger;

/// A rule is started only with at least this much time left: less cannot count, apply and read.
const LEAST_TIME_FOR_A_RULE: Duration = Duration::from_secs(5);

pub(super) async fn reconcile<A: AccessAnalyzer>(
    aa: &A,
    ctx: &Context<'_>,
) -> Result<Vec<RuleOutcome>, Transient> {
    let outcome = |analyzer: &str, rule: &str, verdict, why: String| {
        let outcome = RuleOutcome::of(Trigger::Schedule, None, analyzer, rule, verdict, why);
        settle(outcome, None)
    };
    if !ctx.settings.principals.is_empty() {
        // The templates refuse this combination; a function configured by hand fails closed.
        return Ok(vec![outcome(
            "(all)",
            "(all)",
            Verdict::Refused,
            format!(
                "a scheduled run has no caller to check against {}; set no principals, or no schedule",
                super::settings::PRINCIPALS
            ),
        )]);
    }
    let listed = match aa.list_analyzers().await {
        Ok(listed) => listed,
        Err(e) if e.is_transient() => return Err(Transient(e.to_string())),
        Err(e) => {
            return Ok(vec![outcome(
                "(all)",
                "(all)",
                Verdict::Refused,
                e.to_string(),
            )])
        }
    };
    let mut outcomes = Vec::new();
    let mut rules: Vec<(Analyzer, String, Criteria)> = Vec::new();
    for listing in listed {
        if !listing.is_applicable() || !ctx.settings.covers_analyzer(&listing.name) {
            tracing::info!(
                analyzer = %listing.name,
                status = %listing.status,
                managed_by = listing.managed_by.as_deref().unwrap_or(""),
                "reconcile: not an analyzer whose rules this function applies"
            );
            continue;
        }
        let analyzer = Analyzer::new(ctx.location.clone(), listing.name.as_str());
        match aa.list_archive_rules(&analyzer.name).await {
            Ok(found) => rules.extend(
                found
                    .into_iter()
                    .map(|(rule, criteria)| (analyzer.clone(), rule, criteria)),
            ),
            Err(e) => {
                let verdict = if e.is_transient() {
                    Verdict::Pending
                } else {
                    Verdict::Refused
                };
                outcomes.push(outcome(&analyzer.name, "(all)", verdict, e.to_string()));
            }
        }
    }
    let applied = stream::iter(rules)
        .map(|(analyzer, rule, criteria)| async move {
            if Instant::now() + LEAST_TIME_FOR_A_RULE > ctx.deadline {
                return outcome(
                    &analyzer.name,
                    &rule,
                    Verdict::Pending,
                    "not reached before the invocation's deadline; the next run applies it"
                        .to_owned(),
                );
            }
            let filter = match Filter::from_criteria(&criteria) {
                Ok(filter) => filter,
                Err(e) => {
                    return outcome(
                        &analyzer.name,
                        &rule,
                        Verdict::Refused,
                        format!("the rule's filter cannot be used: {e}"),
                    )
                }
            };
            let work = apply_rule(
                aa,
                ctx,
                Trigger::Schedule,
                None,
                &analyzer,
                Rule {
                    name: rule.clone(),
                    filter,
                },
            );
            match work.await {
                Ok(done) => done,
                Err(Transient(why)) => outcome(
                    &analyzer.name,
                    &rule,
                    Verdict::Pending,
                    format!("{why}; the next run applies it"),
                ),
            }
        })
        .buffer_unordered(ctx.settings.reconcile_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    outcomes.extend(applied);
    outcomes.sort_by(|a, b| (&a.analyzer, &a.rule).cmp(&(&b.analyzer, &b.rule)));
    Ok(outcomes)
}
