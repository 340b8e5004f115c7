//! Create, Update and Delete of `Custom::AppliedArchiveRule` (SPEC §3), written against the
//! [`AccessAnalyzer`] interface.
//!
//! Ownership decides everything here: the stack owns a rule it created or adopted, and never changes
//! or deletes a rule it does not own. [`Progress`] records, as the operation goes, which
//! PhysicalResourceId a FAILED response must carry and which rule must be removed if the operation
//! is abandoned, so that the protocol layer answers correctly even after a timeout or a panic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::access_analyzer::AccessAnalyzer;
use crate::arn::{parse_archive_rule_arn, ArchiveRuleArn, Location};
use crate::error::{AwsError, ProviderError};
use crate::filter::Filter;
use crate::properties::{Analyzer, RuleProperties};

/// How many finding ids one log line carries: CloudWatch Logs events stay readable, and a
/// reviewer can still grep a single id.
const IDS_PER_LOG_LINE: usize = 100;
/// The wait for findings to read ARCHIVED stops this long before the deadline guard would fire,
/// so a slow apply ends in SUCCESS with `PendingFindings`, not in a timeout.
const WAIT_RESERVE: Duration = Duration::from_secs(1);
/// Why a report is unverified when the deadline guard, not the wait, ended it.
pub(crate) const CUT_SHORT: &str = "the wait for the findings to read ARCHIVED did not end";
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The parts of the CloudFormation event that identify this request.
#[derive(Clone, Debug)]
pub struct EventContext {
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// The stack's partition, region and account, which are also the provider's own.
    pub stack: Location,
    /// When the work must be over so that the response still reaches CloudFormation in time.
    pub deadline: Instant,
}

impl EventContext {
    /// A PhysicalResourceId that names nothing: what a failed Create answers when no rule of the
    /// stack's exists, so that CloudFormation's rollback Delete recognises it and does nothing.
    pub fn marker_id(&self) -> String {
        format!(
            "applied-archive-rule:none:{}:{}",
            self.logical_resource_id, self.request_id
        )
    }

    /// A client token derived from the event and the call, so that a redelivered event repeats its
    /// calls idempotently, and no two calls of one event share a token. The SDK would otherwise
    /// fill in a random token per attempt.
    pub fn client_token(&self, operation: &str, analyzer: &str, rule: &str) -> String {
        stable_token(&[
            &self.stack_id,
            &self.request_id,
            &self.logical_resource_id,
            operation,
            analyzer,
            rule,
        ])
    }
}

/// A 32-hex-digit token that depends on `parts` alone.
pub fn stable_token(parts: &[&str]) -> String {
    let mut hash = Fnv128::new();
    for part in parts {
        hash.write(part.as_bytes());
        // A separator that cannot occur in the parts keeps ("ab","c") apart from ("a","bc").
        hash.write(&[0]);
    }
    format!("{:032x}", hash.finish())
}

/// FNV-1a, 128-bit: a stable, dependency-free hash. Tokens need to be deterministic and distinct,
/// not secret.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn new() -> Self {
        Fnv128(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u128::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        self.0
    }
}

/// A rule this request made and must remove again if it cannot finish (a replacement that fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleToRemove {
    pub analyzer_name: String,
    pub rule_name: String,
}

#[derive(Debug)]
struct ProgressState {
    failure_physical_id: String,
    replacing: bool,
    rule_to_remove: Option<RuleToRemove>,
    step: &'static str,
    /// Once `ApplyArchiveRule` has succeeded: the SUCCESS to answer if the verification is cut
    /// short, with the counts known so far.
    applied: Option<Outcome>,
}

/// What the operation has done so far, shared with the deadline guard.
#[derive(Clone, Debug)]
pub struct Progress(Arc<Mutex<ProgressState>>);

impl Progress {
    /// Progress of a Create: until a rule is ours, a failure carries `marker_id`.
    pub fn for_create(marker_id: String) -> Self {
        Self::new(marker_id, false)
    }

    /// Progress of an Update or Delete: a failure always carries the incoming PhysicalResourceId.
    pub fn keeping(incoming_physical_id: String) -> Self {
        Self::new(incoming_physical_id, false)
    }

    fn new(failure_physical_id: String, replacing: bool) -> Self {
        Progress(Arc::new(Mutex::new(ProgressState {
            failure_physical_id,
            replacing,
            rule_to_remove: None,
            step: "starting",
            applied: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // A poisoned lock only means a panic elsewhere; the state itself is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn failure_physical_id(&self) -> String {
        self.state().failure_physical_id.clone()
    }

    pub fn step(&self) -> &'static str {
        self.state().step
    }

    /// The rule to remove if the operation is abandoned now (only ever set during a replacement).
    pub fn rule_to_remove(&self) -> Option<RuleToRemove> {
        self.state().rule_to_remove.clone()
    }

    pub(crate) fn set_step(&self, step: &'static str) {
        self.state().step = step;
    }

    /// The answer once the apply has succeeded: nothing that happens while verifying (a hang, the
    /// time budget running out, a panic) may turn it into FAILED (SPEC §3 step 4, §4), or the
    /// rollback would delete a rule whose findings are already archived.
    pub fn outcome_after_apply(&self) -> Option<Outcome> {
        self.state().applied.clone()
    }

    /// Records that the apply succeeded, and the answer as far as the verification has got.
    pub(crate) fn applied(&self, outcome: Outcome) {
        self.state().applied = Some(outcome);
    }

    fn start_replacement(&self) {
        self.state().replacing = true;
    }

    /// Records that the stack now owns `rule` because this request created it or took it over.
    fn took_ownership(&self, rule: &ArchiveRuleArn) {
        let mut state = self.state();
        if state.replacing {
            state.rule_to_remove = Some(RuleToRemove {
                analyzer_name: rule.analyzer_name.clone(),
                rule_name: rule.rule_name.clone(),
            });
        } else {
            state.failure_physical_id = rule.to_string();
        }
    }
}

/// A successful operation: what CloudFormation receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub physical_resource_id: String,
    pub reason: String,
    pub data: BTreeMap<String, String>,
}

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

/// Counts of the apply, as returned by `Fn::GetAtt`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ApplyReport {
    matched: usize,
    archived: usize,
    pending: usize,
    verified: bool,
    applied: bool,
    /// Why the verification ended before it could finish, once the apply had succeeded.
    interrupted: Option<String>,
}

impl ApplyReport {
    /// Before any read after the apply: nothing known to be archived yet.
    fn unverified(matched: usize) -> Self {
        ApplyReport {
            matched,
            archived: 0,
            pending: matched,
            ..ApplyReport::default()
        }
    }

    /// After the apply, as far as `verification` got.
    fn after_apply(matched: &BTreeSet<String>, verification: &Verification) -> Self {
        let pending = verification.pending_of(matched);
        ApplyReport {
            matched: matched.len(),
            archived: matched.len() - pending,
            pending,
            verified: verification.is_complete(),
            applied: true,
            interrupted: verification.interrupted.clone(),
        }
    }

    /// The report as the deadline guard gives it when the verification does not end.
    fn cut_short(self) -> Self {
        ApplyReport {
            verified: false,
            interrupted: self.interrupted.or(Some(CUT_SHORT.to_owned())),
            ..self
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
        ProviderError::Aws {
            action,
            rule: self.rule.rule_name.clone(),
            analyzer: self.analyzer.name.clone(),
            source,
        }
    }

    /// A `ResourceNotFoundException` on a call that does not name the rule can only mean the analyzer.
    fn analyzer_error(
        &self,
        action: &'static str,
        source: AwsError,
        stack: &Location,
    ) -> ProviderError {
        if source.is_not_found() {
            ProviderError::AnalyzerNotFound {
                analyzer: self.analyzer.name.clone(),
                location: stack.clone(),
                source,
            }
        } else {
            self.aws(action, source)
        }
    }

    fn token(&self, ctx: &EventContext, operation: &str) -> String {
        ctx.client_token(operation, &self.analyzer.name, &self.rule.rule_name)
    }
}

/// Create (SPEC §3): put the rule (or adopt an existing one), then apply it.
pub async fn create<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    properties: &Value,
    progress: &Progress,
) -> Result<Outcome, ProviderError> {
    let props = RuleProperties::parse(properties)?;
    let target = Target::resolve(&props, &ctx.stack)?;
    let (origin, matched) = put_and_count(aa, ctx, &target, progress, PutMode::NewRule).await?;
    apply_and_wait(aa, ctx, &target, origin, matched, progress).await
}

/// Update (SPEC §3): in place when the declared identity is the one in the PhysicalResourceId,
/// otherwise a replacement that leaves the old rule to CloudFormation's cleanup Delete.
pub async fn update<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    physical_resource_id: &str,
    properties: &Value,
    progress: &Progress,
) -> Result<Outcome, ProviderError> {
    let props = RuleProperties::parse(properties)?;
    let target = Target::resolve(&props, &ctx.stack)?;
    // OldResourceProperties are not consulted: a rollback swaps them, the physical id it carries does not.
    if parse_archive_rule_arn(physical_resource_id).as_ref() == Some(&target.rule) {
        let (origin, matched) = put_and_count(aa, ctx, &target, progress, PutMode::InPlace).await?;
        apply_and_wait(aa, ctx, &target, origin, matched, progress).await
    } else {
        tracing::info!(
            old = physical_resource_id,
            new = %target.rule,
            "rule identity changed: creating the replacement"
        );
        progress.start_replacement();
        let (origin, matched) = put_and_count(aa, ctx, &target, progress, PutMode::NewRule).await?;
        apply_and_wait(aa, ctx, &target, origin, matched, progress).await
    }
}

/// Delete (SPEC §3): from the PhysicalResourceId alone; properties are not read.
pub async fn delete<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    physical_resource_id: &str,
) -> Result<Outcome, ProviderError> {
    let Some(rule) = parse_archive_rule_arn(physical_resource_id) else {
        return Ok(nothing_to_delete(physical_resource_id));
    };
    if rule.location != ctx.stack {
        tracing::warn!(%rule, "archive rule ARN is outside the stack's account and region; not deleting it");
        return Ok(Outcome {
            physical_resource_id: physical_resource_id.to_owned(),
            reason: format!(
                "nothing to delete: {rule} is not in the stack's {}",
                ctx.stack
            ),
            data: BTreeMap::new(),
        });
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
            return Err(ProviderError::Aws {
                action: "deleting",
                rule: rule.rule_name.clone(),
                analyzer: rule.analyzer_name.clone(),
                source,
            })
        }
    };
    Ok(Outcome {
        physical_resource_id: physical_resource_id.to_owned(),
        reason,
        data: BTreeMap::new(),
    })
}

/// A Delete of an id that is not an archive rule ARN (a create marker, an id CloudFormation made
/// up): no rule of the stack's exists, so nothing is called.
pub fn nothing_to_delete(physical_resource_id: &str) -> Outcome {
    Outcome {
        physical_resource_id: physical_resource_id.to_owned(),
        reason: format!(
            "nothing to delete: {physical_resource_id:?} is not an archive rule ARN, so no rule of this stack exists"
        ),
        data: BTreeMap::new(),
    }
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

/// How the declared rule is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PutMode {
    /// Create, or the replacement side of an Update: the rule may already exist (SPEC §3 step 3).
    NewRule,
    /// An in-place Update of the stack's own rule, re-created if it vanished.
    InPlace,
}

/// Writes the rule and counts the ACTIVE findings it matches.
///
/// The count is read-only and independent of the write, so the two overlap — except when
/// `MaxFindingsToArchive` is set: then the count decides whether anything may be written at all.
async fn put_and_count<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
    mode: PutMode,
) -> Result<(Origin, Vec<String>), ProviderError> {
    let count = async {
        aa.list_active_finding_ids(&target.analyzer.arn, &target.props.filter)
            .await
            .map_err(|e| target.analyzer_error("counting the findings matched by", e, &ctx.stack))
    };
    let put = async {
        match mode {
            PutMode::NewRule => put_new_rule(aa, ctx, target, progress).await,
            PutMode::InPlace => update_in_place(aa, ctx, target, progress).await,
        }
    };
    match target.props.max_findings_to_archive {
        Some(limit) => {
            progress.set_step("counting matching findings");
            let matched = count.await?;
            if matched.len() as u64 > limit {
                return Err(ProviderError::TooManyFindings {
                    rule: target.rule.rule_name.clone(),
                    analyzer: target.analyzer.name.clone(),
                    count: matched.len() as u64,
                    limit,
                });
            }
            progress.set_step("writing the archive rule");
            Ok((put.await?, matched))
        }
        None => {
            progress.set_step("writing the archive rule and counting matching findings");
            let (origin, matched) = tokio::join!(put, count);
            Ok((origin?, matched?))
        }
    }
}

/// `CreateArchiveRule`; on `ConflictException` the existing rule is adopted if identical, taken over
/// with `AdoptExisting`, and otherwise left exactly as it was.
async fn put_new_rule<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
) -> Result<Origin, ProviderError> {
    let filter = &target.props.filter;
    let (analyzer, rule) = (&target.analyzer.name, &target.rule.rule_name);
    match aa
        .create_archive_rule(
            analyzer,
            rule,
            filter,
            &target.token(ctx, "CreateArchiveRule"),
        )
        .await
    {
        Ok(()) => {
            progress.took_ownership(&target.rule);
            return Ok(Origin::Created);
        }
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(target.analyzer_error("creating", e, &ctx.stack)),
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
            existing: crate::filter::criteria_to_json(&existing).to_string(),
            declared: filter.to_json().to_string(),
        });
    }
    aa.update_archive_rule(
        analyzer,
        rule,
        filter,
        &target.token(ctx, "UpdateArchiveRule"),
    )
    .await
    .map_err(|e| target.aws("taking over (AdoptExisting) the existing", e))?;
    progress.took_ownership(&target.rule);
    tracing::info!(rule = %target.rule, "AdoptExisting: took over the existing rule and set the declared filter");
    Ok(Origin::TookOver)
}

/// `UpdateArchiveRule` on the stack's own rule; a rule that vanished is created again.
async fn update_in_place<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    progress: &Progress,
) -> Result<Origin, ProviderError> {
    let filter = &target.props.filter;
    let (analyzer, rule) = (&target.analyzer.name, &target.rule.rule_name);
    match aa
        .update_archive_rule(
            analyzer,
            rule,
            filter,
            &target.token(ctx, "UpdateArchiveRule"),
        )
        .await
    {
        Ok(()) => return Ok(Origin::Updated),
        Err(e) if e.is_not_found() => {
            tracing::warn!(rule = %target.rule, "the stack's rule has vanished: creating it again");
        }
        Err(e) => return Err(target.aws("updating", e)),
    }
    aa.create_archive_rule(
        analyzer,
        rule,
        filter,
        &target.token(ctx, "CreateArchiveRule"),
    )
    .await
    .map_err(|e| target.analyzer_error("re-creating", e, &ctx.stack))?;
    progress.took_ownership(&target.rule);
    Ok(Origin::Recreated)
}

/// `ApplyArchiveRule`, then polls until the matched findings no longer read ACTIVE or the wait ends.
/// Once the apply has succeeded nothing fails the operation: a read that fails ends the wait with
/// the counts known so far (SPEC §3 step 4).
async fn apply_and_wait<A: AccessAnalyzer>(
    aa: &A,
    ctx: &EventContext,
    target: &Target<'_>,
    origin: Origin,
    matched: Vec<String>,
    progress: &Progress,
) -> Result<Outcome, ProviderError> {
    let props = target.props;
    let matched: BTreeSet<String> = matched.into_iter().collect();
    if !props.apply_to_existing_findings {
        return Ok(outcome(
            target,
            origin,
            &ApplyReport::unverified(matched.len()),
        ));
    }
    progress.set_step("applying the archive rule");
    aa.apply_archive_rule(
        &target.analyzer.arn,
        &target.rule.rule_name,
        &target.token(ctx, "ApplyArchiveRule"),
    )
    .await
    .map_err(|source| {
        if source.is_not_found() {
            ProviderError::RuleVanished {
                rule: target.rule.rule_name.clone(),
                analyzer: target.analyzer.name.clone(),
                source,
            }
        } else {
            target.aws("applying", source)
        }
    })?;
    // What the deadline guard answers if the verification never ends.
    let so_far = |verification: &Verification| {
        let report = ApplyReport::after_apply(&matched, verification);
        progress.applied(outcome(target, origin, &report.cut_short()));
    };
    so_far(&Verification::default());
    if props.archive_timeout.is_zero() {
        return Ok(outcome(
            target,
            origin,
            &ApplyReport {
                applied: true,
                ..ApplyReport::unverified(matched.len())
            },
        ));
    }
    progress.set_step("waiting for matched findings to read ARCHIVED");
    let verification = wait_for_archived(
        aa,
        &target.analyzer.arn,
        &[(target.rule.rule_name.as_str(), &props.filter)],
        &matched,
        props.archive_timeout,
        ctx.deadline,
        &so_far,
    )
    .await;
    log_apply_evidence(&target.rule.to_string(), &matched, &verification);
    Ok(outcome(
        target,
        origin,
        &ApplyReport::after_apply(&matched, &verification),
    ))
}

/// What the reads after `ApplyArchiveRule` established.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verification {
    /// The matched ids still ACTIVE at the last successful read; `None` when no read succeeded.
    pub still_active: Option<BTreeSet<String>>,
    /// The read error that ended the wait early, after the SDK's retries.
    pub interrupted: Option<String>,
}

impl Verification {
    /// A read after the apply produced the counts, and no read failed.
    pub fn is_complete(&self) -> bool {
        self.interrupted.is_none() && self.still_active.is_some()
    }

    /// How many of `ids` were still ACTIVE at the last successful read (all of them without one).
    pub fn pending_of(&self, ids: &BTreeSet<String>) -> usize {
        match &self.still_active {
            Some(active) => ids.iter().filter(|id| active.contains(*id)).count(),
            None => ids.len(),
        }
    }
}

/// Polls until none of the `matched` findings reads ACTIVE under any of the rules' filters, or the
/// wait ends (`archive_timeout`, or shortly before `deadline`), or a read fails after the SDK's
/// retries. The rules are read concurrently; `on_read` sees the state after every successful read,
/// so that a deadline guard knows how far the verification got.
pub(crate) async fn wait_for_archived<A: AccessAnalyzer>(
    aa: &A,
    analyzer_arn: &str,
    rules: &[(&str, &Filter)],
    matched: &BTreeSet<String>,
    archive_timeout: Duration,
    deadline: Instant,
    on_read: &(dyn Fn(&Verification) + Sync),
) -> Verification {
    let latest_useful = deadline.checked_sub(WAIT_RESERVE).unwrap_or(deadline);
    let wait_until = (Instant::now() + archive_timeout).min(latest_useful);
    let mut interval = FIRST_POLL_INTERVAL;
    let mut verification = Verification::default();
    loop {
        let reads = rules.iter().map(|(rule, filter)| async move {
            aa.list_active_finding_ids(analyzer_arn, filter)
                .await
                .map_err(|e| (*rule, e))
        });
        let still_active = match futures_util::future::try_join_all(reads).await {
            Ok(still_active) => still_active,
            Err((rule, error)) => {
                tracing::warn!(
                    rule,
                    %error,
                    "a read after the apply failed; the apply stands, so the operation succeeds unverified"
                );
                verification.interrupted = Some(format!(
                    "reading the findings of archive rule {rule} after the apply failed: {error}"
                ));
                return verification;
            }
        };
        let pending: BTreeSet<String> = still_active
            .into_iter()
            .flatten()
            .filter(|id| matched.contains(id))
            .collect();
        let done = pending.is_empty();
        verification.still_active = Some(pending);
        on_read(&verification);
        if done || Instant::now() + interval >= wait_until {
            return verification;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// Logs the ids the apply archived (the matched ones no longer ACTIVE) and those still ACTIVE when
/// the wait ended; without a read after the apply, the ids it was applied to.
pub(crate) fn log_apply_evidence(
    rule: &str,
    matched: &BTreeSet<String>,
    verification: &Verification,
) {
    let Some(pending) = &verification.still_active else {
        let ids: Vec<&str> = matched.iter().map(String::as_str).collect();
        log_ids("applied to, not verified", rule, &ids);
        return;
    };
    let archived: Vec<&str> = matched
        .iter()
        .filter(|id| !pending.contains(*id))
        .map(String::as_str)
        .collect();
    log_ids("archived by the apply", rule, &archived);
    if !pending.is_empty() {
        let pending: Vec<&str> = pending.iter().map(String::as_str).collect();
        log_ids("still ACTIVE when the wait ended", rule, &pending);
    }
}

/// The evidence a security review asks for: every finding id, at most 100 to a line, and the total.
fn log_ids(what: &str, rule: &str, ids: &[&str]) {
    let chunks = ids.len().div_ceil(IDS_PER_LOG_LINE);
    for (index, chunk) in ids.chunks(IDS_PER_LOG_LINE).enumerate() {
        tracing::info!(
            rule = %rule,
            part = index + 1,
            parts = chunks,
            finding_ids = chunk.join(","),
            "findings {what}"
        );
    }
    tracing::info!(rule = %rule, total = ids.len(), "findings {what}: {} in total", ids.len());
}

fn outcome(target: &Target<'_>, origin: Origin, report: &ApplyReport) -> Outcome {
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
    Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> EventContext {
        EventContext {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            request_id: "req-1".into(),
            logical_resource_id: "Rule".into(),
            stack: crate::arn::stack_location(
                "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            )
            .unwrap(),
            deadline: Instant::now(),
        }
    }

    #[test]
    fn client_tokens_are_deterministic_and_distinct_per_call() {
        let c = ctx();
        let a = c.client_token("CreateArchiveRule", "main", "r");
        assert_eq!(a, c.client_token("CreateArchiveRule", "main", "r"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, c.client_token("ApplyArchiveRule", "main", "r"));
        assert_ne!(a, c.client_token("CreateArchiveRule", "mai", "nr"));
        let mut other = c.clone();
        other.request_id = "req-2".into();
        assert_ne!(a, other.client_token("CreateArchiveRule", "main", "r"));
    }

    #[test]
    fn marker_ids_are_not_archive_rule_arns() {
        let marker = ctx().marker_id();
        assert!(!marker.is_empty());
        assert!(parse_archive_rule_arn(&marker).is_none());
    }

    #[test]
    fn ownership_moves_the_failure_id_on_create_but_not_on_replacement() {
        let rule = parse_archive_rule_arn(
            "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/a/archive-rule/r",
        )
        .unwrap();
        let create = Progress::for_create("marker".into());
        create.took_ownership(&rule);
        assert_eq!(create.failure_physical_id(), rule.to_string());
        assert_eq!(create.rule_to_remove(), None);

        let replacement = Progress::keeping("old-arn".into());
        replacement.start_replacement();
        replacement.took_ownership(&rule);
        assert_eq!(replacement.failure_physical_id(), "old-arn");
        assert_eq!(
            replacement.rule_to_remove(),
            Some(RuleToRemove {
                analyzer_name: "a".into(),
                rule_name: "r".into()
            })
        );
    }
}
