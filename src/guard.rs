//! The deadline guard: the work of a request runs in its own task, so that a panic or a hang
//! cannot take the response with it. Whatever happens — an AWS error, a hang past the time budget,
//! a panic — the guard turns it into an answer before the deadline; it decides nothing else.

use std::time::Duration;

use tracing::Instrument;

use crate::access_analyzer::AccessAnalyzer;
use crate::error::ProviderError;
use crate::handler::{Answer, Provider};
use crate::lifecycle;
use crate::progress::Progress;
use crate::request::{EventContext, Success};

/// Runs `work` until it ends or `ctx.deadline` passes, and answers. After a failure, a replacement's
/// new rule is removed; after a successful `ApplyArchiveRule`, a hang or panic is still SUCCESS.
pub(crate) async fn run_guarded<A, W>(
    provider: &Provider<A>,
    ctx: &EventContext,
    progress: &Progress,
    work: W,
) -> Answer
where
    A: AccessAnalyzer,
    W: std::future::Future<Output = Result<Success, ProviderError>> + Send + 'static,
{
    let mut task = tokio::spawn(work.instrument(tracing::Span::current()));
    let (reason, cut_short) = tokio::select! {
        joined = &mut task => match joined {
            Ok(Ok(success)) => return Answer::succeeded(success),
            Ok(Err(error)) => (error.to_string(), None),
            Err(join_error) => {
                let panic = panic_message(join_error);
                (
                    format!(
                        "internal error: the provider panicked while {} ({panic}); nothing further was done",
                        progress.step()
                    ),
                    Some(format!("the provider panicked while {} ({panic})", progress.step())),
                )
            }
        },
        _ = tokio::time::sleep_until(ctx.deadline) => {
            task.abort();
            let margin = provider.settings.timeout_margin.as_millis();
            (
                format!(
                    "timed out while {} on rule of {}: the time budget (Lambda timeout or ServiceTimeout, less a {margin} ms safety margin) ran out; the operation was abandoned",
                    progress.step(),
                    ctx.logical_resource_id,
                ),
                Some(format!(
                    "the time budget (Lambda timeout or ServiceTimeout, less a {margin} ms safety margin) ran out while {}",
                    progress.step()
                )),
            )
        }
    };
    // An error returned by the work itself comes before any apply: after it, nothing fails.
    if let (Some(why), Some(success)) = (cut_short, progress.success_after_apply()) {
        return succeed_unverified(success, &why);
    }
    let reason = remove_abandoned_rule(provider, ctx, progress, reason).await;
    Answer {
        result: Err(reason),
        physical_resource_id: progress.failure_physical_id(),
    }
}

/// The apply had succeeded when the verification was cut short (a hang past the time budget, a
/// panic): the findings are archived whatever happens now, so the answer is SUCCESS with the counts
/// known so far and `Verified` "false" (SPEC §3 step 4, §4) — a FAILED Create would make the
/// rollback delete a rule whose findings stay archived.
fn succeed_unverified(mut success: Success, why: &str) -> Answer {
    tracing::warn!(reason = %why, "the verification after the apply was cut short; answering SUCCESS, not verified");
    success.reason = format!("{}; the verification was cut short: {why}", success.reason);
    Answer::succeeded(success)
}

/// A failed replacement removes the rule it created (CloudFormation will never delete it: it only
/// knows the old PhysicalResourceId). Bounded by half the safety margin so the response still goes out.
async fn remove_abandoned_rule<A: AccessAnalyzer>(
    provider: &Provider<A>,
    ctx: &EventContext,
    progress: &Progress,
    reason: String,
) -> String {
    let Some(rule) = progress.rule_to_remove() else {
        return reason;
    };
    let bound = provider.settings.timeout_margin / 2 + Duration::from_millis(500);
    let removal = tokio::time::timeout(
        bound,
        lifecycle::remove_abandoned_rule(&provider.access_analyzer, ctx, &rule),
    )
    .await;
    match removal {
        Ok(Ok(())) => format!(
            "{reason}; the new rule {} created for the replacement was deleted again",
            rule.rule_name
        ),
        Ok(Err(e)) => format!(
            "{reason}; the new rule {} created for the replacement could NOT be deleted ({e}): delete it by hand",
            rule.rule_name
        ),
        Err(_) => format!(
            "{reason}; deleting the new rule {} created for the replacement timed out: delete it by hand",
            rule.rule_name
        ),
    }
}

/// The text of a panic, for the FAILED reason.
pub fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_owned())
}
