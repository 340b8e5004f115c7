//! How the auto-apply function is configured (SPEC §9.1–9.2), read once from its environment.
//! A guard that cannot be read refuses every apply rather than vanishing: auto-apply fails closed.

use std::time::Duration;

/// The environment variables, as the templates set them.
pub const ENABLED: &str = "APPLIED_ARCHIVE_RULE_AUTO_APPLY";
pub const PROVIDER_ROLE_ARN: &str = "APPLIED_ARCHIVE_RULE_ROLE_ARN";
pub const PRINCIPALS: &str = "APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS";
pub const MAX_FINDINGS: &str = "APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS";
pub const WAIT_SECONDS: &str = "APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS";
pub const ANALYZERS: &str = "APPLIED_ARCHIVE_RULE_ANALYZERS";

const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// Rules a reconcile applies at once: enough to finish an account's rules within one invocation,
/// few enough to stay under Access Analyzer's request rates.
const RECONCILE_CONCURRENCY: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoApplySettings {
    /// Only a function deployed for auto-apply acts on EventBridge events; the CloudFormation
    /// provider ignores them, so forged CloudTrail events cannot drive it.
    pub enabled: bool,
    /// The CloudFormation provider's role: its own rule changes are applied already.
    pub provider_role_arn: Option<String>,
    /// ARN glob patterns of the callers whose changes are applied; empty: any caller.
    pub principals: Vec<String>,
    /// At most this many matching ACTIVE findings per rule; `Err` when the variable cannot be read.
    pub max_findings: Result<Option<u64>, String>,
    /// How long one apply waits for its findings to read ARCHIVED.
    pub wait: Duration,
    /// The analyzers the role was narrowed to (`AnalyzerNames`); `None`: every analyzer.
    pub analyzers: Option<Vec<String>>,
    pub reconcile_concurrency: usize,
}

impl Default for AutoApplySettings {
    fn default() -> Self {
        AutoApplySettings {
            enabled: false,
            provider_role_arn: None,
            principals: Vec::new(),
            max_findings: Ok(None),
            wait: DEFAULT_WAIT,
            analyzers: None,
            reconcile_concurrency: RECONCILE_CONCURRENCY,
        }
    }
}

impl AutoApplySettings {
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`, so that tests need not touch the process environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let list = |name: &str| -> Vec<String> {
            text(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let max_findings = match text(MAX_FINDINGS) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                format!("{MAX_FINDINGS} is {v:?}, not a whole number: every apply is refused until it is fixed")
            }),
        };
        let wait = text(WAIT_SECONDS)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_WAIT);
        let analyzers = list(ANALYZERS);
        AutoApplySettings {
            enabled: text(ENABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            provider_role_arn: text(PROVIDER_ROLE_ARN),
            principals: list(PRINCIPALS),
            max_findings,
            wait,
            analyzers: (!analyzers.is_empty()).then_some(analyzers),
            reconcile_concurrency: RECONCILE_CONCURRENCY,
        }
    }

    /// Whether `analyzer` is one the role was narrowed to.
    pub fn covers_analyzer(&self, analyzer: &str) -> bool {
        self.analyzers
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == analyzer))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> AutoApplySettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AutoApplySettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_disabled_with_no_guard() {
        assert_eq!(settings(&[]), AutoApplySettings::default());
    }

    #[test]
    fn lists_are_comma_separated_and_trimmed() {
        let s = settings(&[
            (ENABLED, "True"),
            (
                PRINCIPALS,
                " arn:aws:iam::1:role/a , arn:aws:iam::*:role/ci/* ,",
            ),
            (ANALYZERS, "main,org"),
            (MAX_FINDINGS, "250"),
            (WAIT_SECONDS, "30"),
        ]);
        assert!(s.enabled);
        assert_eq!(
            s.principals,
            ["arn:aws:iam::1:role/a", "arn:aws:iam::*:role/ci/*"]
        );
        assert_eq!(s.analyzers, Some(vec!["main".to_owned(), "org".to_owned()]));
        assert_eq!(s.max_findings, Ok(Some(250)));
        assert_eq!(s.wait, Duration::from_secs(30));
        assert!(s.covers_analyzer("org") && !s.covers_analyzer("other"));
    }

    #[test]
    fn an_unreadable_guard_refuses_instead_of_vanishing() {
        let s = settings(&[(MAX_FINDINGS, "ten")]);
        assert!(s.max_findings.unwrap_err().contains("\"ten\""));
    }
}
