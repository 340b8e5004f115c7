//! What the Access Analyzer emulator does not model and a sweep must tell apart: analyzers whose
//! status is not `ACTIVE`, and service-linked analyzers that an AWS service manages. The
//! organization keeps both per (account, region, analyzer) and lays them over the emulator's
//! answers, so `GetAnalyzer` and `ListAnalyzers` carry them on the wire as the service model's
//! `AnalyzerSummary` has them: `status` (`ACTIVE | CREATING | DISABLED | FAILED`), `statusReason`
//! (`{"code": ReasonCode}`) and `managedBy` ("the service principal that manages this analyzer …
//! only present for service-linked analyzers").

use axum::http::StatusCode;
use serde_json::Value;

use super::{http::api_error, Org};
use crate::access_analyzer::wire::{ApiError, Call, Operation};

/// An analyzer's `status`, as `AnalyzerSummary` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyzerStatus {
    Active,
    Creating,
    Disabled,
    Failed,
}

impl AnalyzerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalyzerStatus::Active => "ACTIVE",
            AnalyzerStatus::Creating => "CREATING",
            AnalyzerStatus::Disabled => "DISABLED",
            AnalyzerStatus::Failed => "FAILED",
        }
    }
}

/// What the organization lays over one analyzer's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Overlay {
    pub(crate) status: AnalyzerStatus,
    /// `ReasonCode`, e.g. `SERVICE_LINKED_ROLE_CREATION_FAILED`.
    pub(crate) status_reason: Option<String>,
    /// The managing service's principal, e.g. `securityhubv2.amazonaws.com`.
    pub(crate) managed_by: Option<String>,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            status: AnalyzerStatus::Active,
            status_reason: None,
            managed_by: None,
        }
    }
}

/// The name a service-linked analyzer gets: `_AccessAnalyzerFor{ServiceName}-{Id}`, as the SDK's
/// documentation of `DeleteServiceLinkedAnalyzer` gives the format (`Id` is generated).
pub(crate) fn service_linked_name(service_name: &str, id: u64) -> String {
    format!("_AccessAnalyzerFor{service_name}-{id:08x}")
}

/// The analyzer a call names, by `analyzerName` (URI label) or `analyzerArn` (body member).
fn named_analyzer(call: &Call) -> Option<&str> {
    if let Some(name) = call.params.get("analyzerName").and_then(Value::as_str) {
        return Some(name);
    }
    let arn = call.params.get("analyzerArn").and_then(Value::as_str)?;
    arn.rsplit_once(":analyzer/").map(|(_, name)| name)
}

/// A service-linked analyzer belongs to its service: a caller may read it (`GetAnalyzer`,
/// `ListAnalyzers` show it, with `managedBy`), but every call that would act on it or its archive
/// rules is refused with `AccessDeniedException`. The refusal is what SPEC §8.2 states ("callers
/// get AccessDenied") and what `CreateServiceLinkedAnalyzer`'s documentation implies ("the
/// lifecycle of these analyzers is managed by the calling service"); the exact message is a
/// guess.
pub(crate) fn refuse_service_linked(
    org: &Org,
    account: &str,
    region: &str,
    call: &Call,
) -> Result<(), ApiError> {
    if call.operation == Operation::GetAnalyzer {
        return Ok(());
    }
    let Some(name) = named_analyzer(call) else {
        return Ok(());
    };
    match org.overlay(account, region, name).managed_by {
        Some(service) => Err(api_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!(
                "access-analyzer:{} is not allowed on analyzer {name}: it is a service-linked analyzer managed by {service}",
                call.operation.name()
            ),
        )),
        None => Ok(()),
    }
}

/// Lays the organization's overlays over a `GetAnalyzer` or `ListAnalyzers` answer.
pub(crate) fn describe(
    org: &Org,
    account: &str,
    region: &str,
    operation: Operation,
    body: &mut Value,
) {
    let summaries: Vec<&mut Value> = match operation {
        Operation::GetAnalyzer => body.get_mut("analyzer").into_iter().collect(),
        Operation::ListAnalyzers => match body.get_mut("analyzers") {
            Some(Value::Array(items)) => items.iter_mut().collect(),
            _ => Vec::new(),
        },
        _ => return,
    };
    for summary in summaries {
        let Some(name) = summary.get("name").and_then(Value::as_str) else {
            continue;
        };
        let overlay = org.overlay(account, region, name);
        let Some(fields) = summary.as_object_mut() else {
            continue;
        };
        fields.insert("status".to_owned(), overlay.status.as_str().into());
        if let Some(code) = overlay.status_reason {
            fields.insert(
                "statusReason".to_owned(),
                serde_json::json!({ "code": code }),
            );
        }
        if let Some(service) = overlay.managed_by {
            fields.insert("managedBy".to_owned(), service.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    fn call(operation: Operation, params: Value) -> Call {
        let params: Map<String, Value> = serde_json::from_value(params).unwrap();
        Call { operation, params }
    }

    #[test]
    fn the_analyzer_is_named_by_uri_label_or_arn() {
        let by_name = call(
            Operation::ListArchiveRules,
            json!({"analyzerName": "_AccessAnalyzerForSecurityHubV2-0000000a"}),
        );
        assert_eq!(
            named_analyzer(&by_name),
            Some("_AccessAnalyzerForSecurityHubV2-0000000a")
        );
        let by_arn = call(
            Operation::ApplyArchiveRule,
            json!({"analyzerArn": "arn:aws:access-analyzer:us-east-1:200000000001:analyzer/a-1", "ruleName": "r"}),
        );
        assert_eq!(named_analyzer(&by_arn), Some("a-1"));
        assert_eq!(
            named_analyzer(&call(Operation::ListAnalyzers, json!({}))),
            None
        );
    }

    #[test]
    fn service_linked_names_follow_the_documented_format() {
        assert_eq!(
            service_linked_name("SecurityHubV2", 26),
            "_AccessAnalyzerForSecurityHubV2-0000001a"
        );
    }
}
