//! CloudWatch metrics of every apply, as Embedded Metric Format log lines (SPEC §9.4): one JSON
//! line on stdout per apply, which CloudWatch Logs turns into metrics. No API call: a metric can
//! never fail or slow an apply.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::apply::ApplyReport;

pub const NAMESPACE: &str = "AppliedArchiveRule";

/// What started an apply: the `Trigger` dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    AppliedArchiveRule,
    ApplyArchiveRules,
    CreateArchiveRule,
    UpdateArchiveRule,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::AppliedArchiveRule => "Custom::AppliedArchiveRule",
            Trigger::ApplyArchiveRules => "Custom::ApplyArchiveRules",
            Trigger::CreateArchiveRule => "CreateArchiveRule",
            Trigger::UpdateArchiveRule => "UpdateArchiveRule",
            Trigger::Schedule => "Schedule",
        }
    }

    /// Auto-apply's triggers also report `AutoApplyRefused`.
    fn is_auto_apply(self) -> bool {
        matches!(
            self,
            Trigger::CreateArchiveRule | Trigger::UpdateArchiveRule | Trigger::Schedule
        )
    }
}

/// The EMF document of one apply (or one refused auto-apply): the counts of `report`, by analyzer
/// and trigger and, through the empty dimension set, account-wide, so that one alarm covers every
/// analyzer.
pub fn document(
    trigger: Trigger,
    analyzer: &str,
    report: &ApplyReport,
    refused: bool,
    timestamp_ms: u64,
) -> Value {
    let mut values = vec![
        ("MatchedFindings", report.matched as u64),
        ("ArchivedFindings", report.archived as u64),
        ("PendingFindings", report.pending as u64),
    ];
    if trigger.is_auto_apply() {
        values.push(("AutoApplyRefused", u64::from(refused)));
    }
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Analyzer", "Trigger"], []],
                "Metrics": metrics,
            }],
        }),
    );
    document.insert("Analyzer".to_owned(), analyzer.into());
    document.insert("Trigger".to_owned(), trigger.as_str().into());
    for (name, value) in values {
        document.insert(name.to_owned(), value.into());
    }
    Value::Object(document)
}

/// Whether [`emit`] writes: on in the Lambda function; a process whose stdout is for people or
/// pipelines (the command line) turns it off.
static ENABLED: AtomicBool = AtomicBool::new(true);

pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Writes the document of one apply as a single line on stdout, where Lambda hands it to
/// CloudWatch Logs (the structured logs go to stderr).
pub fn emit(trigger: Trigger, analyzer: &str, report: &ApplyReport, refused: bool) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let line = document(trigger, analyzer, report, refused, now_ms).to_string();
    // One write of the whole line, so lines of concurrent applies never interleave.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a document against the EMF specification: the `_aws` member with an integer
    /// `Timestamp` and `CloudWatchMetrics` directives, each with a `Namespace`, `Dimensions` (arrays
    /// of at most 30 dimension names) and `Metrics` (each with a `Name`), and every dimension and
    /// metric a directive names present as a top-level member (dimensions strings, metrics numbers).
    fn assert_valid_emf(document: &Value) {
        let root = document
            .as_object()
            .expect("an EMF document is a JSON object");
        let aws = root["_aws"].as_object().expect("_aws is an object");
        assert!(aws["Timestamp"].is_u64(), "Timestamp is epoch milliseconds");
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics");
        assert!(!directives.is_empty());
        for directive in directives {
            let namespace = directive["Namespace"].as_str().expect("Namespace");
            assert!(!namespace.is_empty() && namespace.len() <= 1024);
            for set in directive["Dimensions"].as_array().expect("Dimensions") {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(set.len() <= 30);
                for name in set {
                    let name = name.as_str().expect("a dimension name is a string");
                    assert!(
                        root[name].is_string(),
                        "dimension {name} is a top-level string"
                    );
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics");
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().expect("a metric has a Name");
                assert!(
                    root[name].is_number(),
                    "metric {name} is a top-level number"
                );
                if let Some(unit) = metric.get("Unit") {
                    assert_eq!(unit, "Count");
                }
            }
        }
    }

    fn report(matched: usize, archived: usize) -> ApplyReport {
        ApplyReport {
            matched,
            archived,
            pending: matched - archived,
            verified: true,
            applied: true,
            ..ApplyReport::default()
        }
    }

    #[test]
    fn every_document_is_valid_emf_with_both_dimension_sets() {
        for trigger in [
            Trigger::AppliedArchiveRule,
            Trigger::ApplyArchiveRules,
            Trigger::CreateArchiveRule,
            Trigger::UpdateArchiveRule,
            Trigger::Schedule,
        ] {
            for refused in [false, true] {
                let doc = document(trigger, "main", &report(4, 3), refused, 1_700_000_000_000);
                assert_valid_emf(&doc);
                let directive = &doc["_aws"]["CloudWatchMetrics"][0];
                assert_eq!(directive["Namespace"], NAMESPACE);
                assert_eq!(
                    directive["Dimensions"],
                    json!([["Analyzer", "Trigger"], []])
                );
                assert_eq!(doc["Analyzer"], "main");
                assert_eq!(doc["Trigger"], trigger.as_str());
                assert_eq!(doc["MatchedFindings"], 4);
                assert_eq!(doc["ArchivedFindings"], 3);
                assert_eq!(doc["PendingFindings"], 1);
            }
        }
    }

    #[test]
    fn only_auto_apply_reports_refusals() {
        let event = document(Trigger::CreateArchiveRule, "a", &report(9, 0), true, 1);
        assert_eq!(event["AutoApplyRefused"], 1);
        let names: Vec<&str> = event["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "MatchedFindings",
                "ArchivedFindings",
                "PendingFindings",
                "AutoApplyRefused"
            ]
        );
        let applied = document(Trigger::Schedule, "a", &report(1, 1), false, 1);
        assert_eq!(applied["AutoApplyRefused"], 0);
        let resource = document(Trigger::AppliedArchiveRule, "a", &report(1, 1), false, 1);
        assert!(resource.get("AutoApplyRefused").is_none());
    }
}
