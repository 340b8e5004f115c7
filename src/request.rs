//! What the resource types read of a CloudFormation request — its type, properties and identity —
//! and what a successful one answers. Plain data: nothing here calls Access Analyzer or answers
//! CloudFormation.

use std::collections::BTreeMap;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;
use tokio::time::Instant;

use crate::arn::Location;
use crate::token::stable_token;

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
    /// A PhysicalResourceId that names nothing, for this request (see [`marker_id`]).
    pub fn marker_id(&self) -> String {
        marker_id(&self.logical_resource_id, &self.request_id)
    }

    /// A client token derived from the event and the call, so that a redelivered event repeats its
    /// calls idempotently, and no two calls of one event share a token.
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

/// A PhysicalResourceId that names nothing: what a failed Create answers when no rule of the
/// stack's exists, so that CloudFormation's rollback Delete recognises it and does nothing. Never
/// empty, and never an archive rule ARN.
pub fn marker_id(logical_resource_id: &str, request_id: &str) -> String {
    let or = |value: &str, default: &'static str| {
        if value.is_empty() {
            default.to_owned()
        } else {
            value.to_owned()
        }
    };
    format!(
        "applied-archive-rule:none:{}:{}",
        or(logical_resource_id, "resource"),
        or(request_id, "request")
    )
}

/// A successful operation: what CloudFormation receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Success {
    pub physical_resource_id: String,
    pub reason: String,
    /// `Fn::GetAtt` attributes, all strings.
    pub data: BTreeMap<String, String>,
}

impl Success {
    /// A success with no attributes.
    pub fn without_data(physical_resource_id: &str, reason: String) -> Success {
        Success {
            physical_resource_id: physical_resource_id.to_owned(),
            reason,
            data: BTreeMap::new(),
        }
    }
}

/// A CloudFormation request, as far as the resource types need it.
pub enum Request {
    Create {
        properties: Value,
    },
    Update {
        physical_id: String,
        properties: Value,
    },
    Delete {
        physical_id: String,
    },
}

/// Reads the request with `aws_lambda_events`' types. CloudFormation always sends
/// `ResourceProperties` (and `OldResourceProperties` on Update); a hand-made event may not, and a
/// Delete must not fail for that, so absent ones are read as null.
pub fn parse_request(mut event: Value) -> Result<Request, String> {
    let request_type = event
        .get("RequestType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match request_type.as_deref() {
        Some("Create" | "Update" | "Delete") => {}
        Some(other) => {
            return Err(format!(
                "unsupported RequestType {other:?}; expected Create, Update or Delete"
            ))
        }
        None => return Err("malformed event: RequestType is missing".to_owned()),
    }
    if let Some(map) = event.as_object_mut() {
        for key in ["ResourceProperties", "OldResourceProperties"] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    let typed: CloudFormationCustomResourceRequest =
        serde_json::from_value(event).map_err(|e| format!("malformed event: {e}"))?;
    Ok(match typed {
        CloudFormationCustomResourceRequest::Create(c) => Request::Create {
            properties: c.resource_properties,
        },
        CloudFormationCustomResourceRequest::Update(u) => Request::Update {
            physical_id: u.physical_resource_id,
            properties: u.resource_properties,
        },
        CloudFormationCustomResourceRequest::Delete(d) => Request::Delete {
            physical_id: d.physical_resource_id,
        },
        _ => return Err("unsupported RequestType".to_owned()),
    })
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
    fn marker_ids_are_never_empty_and_not_archive_rule_arns() {
        let marker = ctx().marker_id();
        assert_eq!(marker, "applied-archive-rule:none:Rule:req-1");
        assert!(crate::arn::parse_archive_rule_arn(&marker).is_none());
        assert_eq!(
            marker_id("", ""),
            "applied-archive-rule:none:resource:request"
        );
    }
}
