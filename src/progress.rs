//! What an operation has done so far, shared between the work and the deadline guard, so that the
//! guard answers correctly after a timeout or a panic: which PhysicalResourceId a FAILED response
//! carries, which rule a failed replacement must remove, and — once `ApplyArchiveRule` has
//! succeeded — the SUCCESS to give instead. It decides nothing and calls nothing.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::arn::ArchiveRuleArn;
use crate::request::Success;

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
    applied: Option<Success>,
}

/// What the operation has done so far.
#[derive(Clone, Debug)]
pub struct Progress(Arc<Mutex<ProgressState>>);

impl Progress {
    /// Progress of a Create: until a rule is ours, a failure carries `marker_id`.
    pub fn for_create(marker_id: String) -> Self {
        Self::new(marker_id)
    }

    /// Progress of an Update or Delete: a failure always carries the incoming PhysicalResourceId.
    pub fn keeping(incoming_physical_id: String) -> Self {
        Self::new(incoming_physical_id)
    }

    fn new(failure_physical_id: String) -> Self {
        Progress(Arc::new(Mutex::new(ProgressState {
            failure_physical_id,
            replacing: false,
            rule_to_remove: None,
            step: "starting",
            applied: None,
        })))
    }

    fn state(&self) -> MutexGuard<'_, ProgressState> {
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
    pub fn success_after_apply(&self) -> Option<Success> {
        self.state().applied.clone()
    }

    /// Records that the apply succeeded, and the answer as far as the verification has got: what
    /// remains is the wait.
    pub(crate) fn applied(&self, success: Success) {
        let mut state = self.state();
        state.step = "waiting for matched findings to read ARCHIVED";
        state.applied = Some(success);
    }

    pub(crate) fn start_replacement(&self) {
        self.state().replacing = true;
    }

    /// Records that the stack now owns `rule` because this request created it or took it over.
    pub(crate) fn took_ownership(&self, rule: &ArchiveRuleArn) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::parse_archive_rule_arn;

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
