//! EventBridge events as AWS delivers them to auto-apply: the CloudTrail record of an
//! archive-rule call inside the "AWS API Call via CloudTrail" envelope, and a "Scheduled Event".
//! The shapes follow the EventBridge event structure and the CloudTrail record contents
//! (<https://docs.aws.amazon.com/eventbridge/latest/ref/events-structure.html>,
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>,
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html>).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::util::{iso8601, uuid_like};

/// Who made the call, as `userIdentity` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A role session: `arn` is the session's, `sessionContext.sessionIssuer.arn` the role's.
    AssumedRole {
        role_arn: String,
        session: String,
    },
    IamUser {
        user_arn: String,
    },
    Root {
        account: String,
    },
    /// A call an AWS service made on its own behalf (`invokedBy`), with no IAM principal ARN.
    AwsService {
        service: String,
    },
}

impl Caller {
    pub fn role(role_arn: &str) -> Caller {
        Caller::AssumedRole {
            role_arn: role_arn.to_owned(),
            session: "session-1".to_owned(),
        }
    }

    pub fn user(user_arn: &str) -> Caller {
        Caller::IamUser {
            user_arn: user_arn.to_owned(),
        }
    }

    fn user_identity(&self, account: &str) -> Value {
        match self {
            Caller::AssumedRole { role_arn, session } => {
                // arn:aws:iam::ACCOUNT:role/PATH/NAME → arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
                let (prefix, role_path) = role_arn.split_once(":role/").unwrap_or((role_arn, ""));
                let name = role_path.rsplit('/').next().unwrap_or(role_path);
                let sts = prefix.replacen(":iam::", ":sts::", 1);
                json!({
                    "type": "AssumedRole",
                    "principalId": format!("AROAEXAMPLEROLEID:{session}"),
                    "arn": format!("{sts}:assumed-role/{name}/{session}"),
                    "accountId": account,
                    "accessKeyId": "ASIAEXAMPLEKEYID",
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": "AROAEXAMPLEROLEID",
                            "arn": role_arn,
                            "accountId": account,
                            "userName": name,
                        },
                        "attributes": {
                            "creationDate": "2026-12-01T11:58:00Z",
                            "mfaAuthenticated": "false",
                        },
                    },
                })
            }
            Caller::IamUser { user_arn } => json!({
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEUSERID",
                "arn": user_arn,
                "accountId": account,
                "accessKeyId": "AKIAEXAMPLEKEYID",
                "userName": user_arn.rsplit('/').next().unwrap_or(user_arn),
            }),
            Caller::Root { account } => json!({
                "type": "Root",
                "principalId": account,
                "arn": format!("arn:aws:iam::{account}:root"),
                "accountId": account,
                "accessKeyId": "ASIAEXAMPLEROOTKEY",
            }),
            Caller::AwsService { service } => json!({
                "type": "AWSService",
                "invokedBy": service,
            }),
        }
    }
}

/// A `CreateArchiveRule` or `UpdateArchiveRule` call, to deliver as its EventBridge event.
#[derive(Clone, Debug)]
pub struct RuleChange {
    pub event_name: String,
    pub account: String,
    pub region: String,
    pub analyzer: String,
    pub rule: String,
    /// The filter the call set, in the API's map shape (`{"resourceType": {"eq": [...]}}`).
    pub filter: Value,
    pub caller: Caller,
    /// `errorCode` and `errorMessage` of a call that failed.
    pub error: Option<(String, String)>,
}

static EVENTS: AtomicU64 = AtomicU64::new(1);

fn next_event_id() -> String {
    uuid_like(0xe7e1_0000, EVENTS.fetch_add(1, Ordering::SeqCst))
}

impl RuleChange {
    pub fn create(account: &str, region: &str, analyzer: &str, rule: &str, filter: Value) -> Self {
        RuleChange {
            event_name: "CreateArchiveRule".to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            analyzer: analyzer.to_owned(),
            rule: rule.to_owned(),
            filter,
            caller: Caller::user(&format!("arn:aws:iam::{account}:user/admin")),
            error: None,
        }
    }

    pub fn update(account: &str, region: &str, analyzer: &str, rule: &str, filter: Value) -> Self {
        RuleChange {
            event_name: "UpdateArchiveRule".to_owned(),
            ..Self::create(account, region, analyzer, rule, filter)
        }
    }

    pub fn by(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }

    pub fn failed(mut self, code: &str, message: &str) -> Self {
        self.error = Some((code.to_owned(), message.to_owned()));
        self
    }

    /// The event EventBridge delivers for this call, with a fresh event `id`.
    pub fn event(&self) -> Value {
        let now = iso8601(std::time::SystemTime::now());
        let mut detail = json!({
            "eventVersion": "1.09",
            "userIdentity": self.caller.user_identity(&self.account),
            "eventTime": now,
            "eventSource": "access-analyzer.amazonaws.com",
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 terraform-provider-aws/5.80.0",
            "requestParameters": {
                "analyzerName": self.analyzer,
                "ruleName": self.rule,
                "filter": self.filter,
                "clientToken": uuid_like(0xc11e_0000, EVENTS.fetch_add(1, Ordering::SeqCst)),
            },
            "responseElements": null,
            "requestID": uuid_like(0x0e90_0000, EVENTS.fetch_add(1, Ordering::SeqCst)),
            "eventID": uuid_like(0xe1d0_0000, EVENTS.fetch_add(1, Ordering::SeqCst)),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        });
        if let Some((code, message)) = &self.error {
            detail["errorCode"] = code.as_str().into();
            detail["errorMessage"] = message.as_str().into();
        }
        json!({
            "version": "0",
            "id": next_event_id(),
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.access-analyzer",
            "account": self.account,
            "time": now,
            "region": self.region,
            "resources": [],
            "detail": detail,
        })
    }
}

/// The "Scheduled Event" an EventBridge schedule rule delivers.
pub fn scheduled_event(account: &str, region: &str, rule_arn: &str) -> Value {
    json!({
        "version": "0",
        "id": next_event_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso8601(std::time::SystemTime::now()),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}
