//! The EventBridge events auto-apply receives (SPEC §9.2–9.3): a CloudTrail record of
//! `CreateArchiveRule` / `UpdateArchiveRule` in the "AWS API Call via CloudTrail" envelope, or a
//! "Scheduled Event". Reading only; whatever is malformed is said, never guessed.
//! <https://docs.aws.amazon.com/eventbridge/latest/ref/events-structure.html>,
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>

use serde_json::Value;

pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";

/// An EventBridge event is told from a CloudFormation one by its shape: `detail-type`, and no
/// `ResponseURL` to answer.
pub fn is_eventbridge_event(payload: &Value) -> bool {
    payload.get("detail-type").is_some() && payload.get("ResponseURL").is_none()
}

/// What an EventBridge event asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    RuleChange(RuleChange),
    Schedule(Envelope),
    /// Any other event: nothing to do.
    Other {
        envelope: Envelope,
        detail_type: String,
    },
}

/// The EventBridge envelope's fields every event has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The event `id`: client tokens derive from it, so Lambda's retry of the event is idempotent.
    pub id: String,
    pub account: String,
    pub region: String,
}

/// A CloudTrail record of an archive-rule change.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleChange {
    pub envelope: Envelope,
    /// `CreateArchiveRule` or `UpdateArchiveRule` (`eventName`).
    pub event_name: String,
    /// `errorCode`: the call failed, and changed nothing.
    pub error_code: Option<String>,
    /// `recipientAccountId` and `awsRegion`: where the call was made.
    pub recipient_account: String,
    pub aws_region: String,
    pub user_identity: Value,
    pub analyzer_name: String,
    pub rule_name: String,
    /// The filter the call set, in the API's map shape; absent when the record carries none.
    pub filter: Option<Value>,
}

impl Event {
    /// Reads an EventBridge payload; `Err` says what is missing or malformed.
    pub fn read(payload: &Value) -> Result<Event, String> {
        let text = |value: &Value, name: &str| -> Result<String, String> {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("malformed event: {name} is missing or not a string"))
        };
        let envelope = Envelope {
            id: text(payload, "id")?,
            account: text(payload, "account")?,
            region: text(payload, "region")?,
        };
        let detail_type = text(payload, "detail-type")?;
        match detail_type.as_str() {
            SCHEDULED_DETAIL_TYPE => return Ok(Event::Schedule(envelope)),
            CLOUDTRAIL_DETAIL_TYPE => {}
            _ => {
                return Ok(Event::Other {
                    envelope,
                    detail_type,
                })
            }
        }
        let detail = payload
            .get("detail")
            .filter(|d| d.is_object())
            .ok_or("malformed event: detail is missing or not an object")?;
        let event_name = text(detail, "eventName")?;
        let parameters = detail
            .get("requestParameters")
            .filter(|p| p.is_object())
            .ok_or("malformed event: detail.requestParameters is missing or not an object")?;
        Ok(Event::RuleChange(RuleChange {
            envelope,
            event_name,
            error_code: detail
                .get("errorCode")
                .and_then(Value::as_str)
                .map(str::to_owned),
            recipient_account: text(detail, "recipientAccountId")?,
            aws_region: text(detail, "awsRegion")?,
            user_identity: detail.get("userIdentity").cloned().unwrap_or(Value::Null),
            analyzer_name: text(parameters, "analyzerName")
                .map_err(|e| e.replace("analyzerName", "requestParameters.analyzerName"))?,
            rule_name: text(parameters, "ruleName")
                .map_err(|e| e.replace("ruleName", "requestParameters.ruleName"))?,
            filter: parameters.get("filter").filter(|f| !f.is_null()).cloned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn create_event() -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.access-analyzer",
            "account": "123456789012",
            "time": "2026-12-01T12:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
                "eventSource": "access-analyzer.amazonaws.com",
                "eventName": "CreateArchiveRule",
                "awsRegion": "us-east-1",
                "requestParameters": {
                    "analyzerName": "main",
                    "ruleName": "vendor-roles",
                    "filter": {"resourceType": {"eq": ["AWS::IAM::Role"]}},
                    "clientToken": "abc"
                },
                "responseElements": null,
                "recipientAccountId": "123456789012"
            }
        })
    }

    #[test]
    fn eventbridge_events_are_told_from_cloudformation_ones_by_shape() {
        assert!(is_eventbridge_event(&create_event()));
        assert!(!is_eventbridge_event(
            &json!({"RequestType": "Create", "ResponseURL": "x"})
        ));
        let mut both = create_event();
        both["ResponseURL"] = json!("https://example");
        assert!(!is_eventbridge_event(&both));
    }

    #[test]
    fn a_cloudtrail_record_reads_as_a_rule_change() {
        let Event::RuleChange(change) = Event::read(&create_event()).unwrap() else {
            panic!("a rule change")
        };
        assert_eq!(change.envelope.id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert_eq!(change.event_name, "CreateArchiveRule");
        assert_eq!(
            (change.analyzer_name.as_str(), change.rule_name.as_str()),
            ("main", "vendor-roles")
        );
        assert_eq!(change.recipient_account, "123456789012");
        assert_eq!(change.error_code, None);
        assert_eq!(
            change.filter,
            Some(json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}))
        );
    }

    #[test]
    fn schedules_other_events_and_malformed_ones() {
        let mut scheduled = create_event();
        scheduled["detail-type"] = json!("Scheduled Event");
        scheduled["detail"] = json!({});
        assert!(matches!(Event::read(&scheduled), Ok(Event::Schedule(_))));
        let mut other = create_event();
        other["detail-type"] = json!("EC2 Instance State-change Notification");
        assert!(matches!(Event::read(&other), Ok(Event::Other { .. })));
        let mut no_rule = create_event();
        no_rule["detail"]["requestParameters"]
            .as_object_mut()
            .unwrap()
            .remove("ruleName");
        assert!(Event::read(&no_rule)
            .unwrap_err()
            .contains("requestParameters.ruleName"));
        assert!(Event::read(&json!({"detail-type": "x"}))
            .unwrap_err()
            .contains("id"));
    }
}
