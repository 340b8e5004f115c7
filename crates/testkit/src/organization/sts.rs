//! STS in the awsQuery protocol of `sts/2011-06-15`: a form-encoded POST in, XML out.
//! `AssumeRole` issues a key that acts in the role's account; `GetCallerIdentity` tells a caller
//! its account.

use std::time::{Duration, SystemTime};

use axum::{body::Bytes, http::StatusCode};
use serde_json::{Map, Value};

use super::{
    http::{api_error, form, xml_escape, Parsed},
    Org, Principal,
};
use crate::{access_analyzer::wire::ApiError, util::iso8601};

pub(crate) const XML_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// `roleDurationSecondsType`.
const DURATION_SECONDS: std::ops::RangeInclusive<u64> = 900..=43_200;

pub(crate) fn parse(body: &Bytes) -> Parsed {
    let mut params = form(body);
    let action = params
        .remove("Action")
        .and_then(|action| action.as_str().map(str::to_owned));
    params.remove("Version");
    match action.as_deref() {
        Some(operation @ ("AssumeRole" | "GetCallerIdentity")) => Parsed::new(operation, params),
        other => {
            let name = other.unwrap_or("Unknown");
            let error = api_error(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("Could not find operation {name} for version 2011-06-15"),
            );
            Parsed::invalid(name, params, error)
        }
    }
}

/// A role ARN, `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
struct RoleArn {
    account: String,
    name: String,
}

impl RoleArn {
    fn parse(arn: &str) -> Option<RoleArn> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", _partition, "iam", "", account, resource] = parts.as_slice() else {
            return None;
        };
        let well_formed_account =
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
        (well_formed_account && !name.is_empty()).then(|| RoleArn {
            account: (*account).to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The account of the role an `AssumeRole` request names, if it names one.
pub(crate) fn role_account(params: &Map<String, Value>) -> Option<String> {
    let arn = params.get("RoleArn")?.as_str()?;
    RoleArn::parse(arn).map(|role| role.account)
}

pub(crate) fn execute(
    org: &Org,
    caller: &Principal,
    operation: &str,
    params: &Map<String, Value>,
    request_id: &str,
) -> Result<String, ApiError> {
    let (name, result) = match operation {
        "AssumeRole" => ("AssumeRole", assume_role(org, caller, params)?),
        _ => ("GetCallerIdentity", caller_identity(caller)),
    };
    Ok(format!(
        "<{name}Response xmlns=\"{XML_NAMESPACE}\"><{name}Result>{result}</{name}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>"
    ))
}

fn caller_identity(caller: &Principal) -> String {
    format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        xml_escape(&caller.arn),
        xml_escape(&caller.user_id),
        caller.account
    )
}

fn validation(message: String) -> ApiError {
    api_error(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn required<'a>(params: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    params.get(name).and_then(Value::as_str).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

fn assume_role(
    org: &Org,
    caller: &Principal,
    params: &Map<String, Value>,
) -> Result<String, ApiError> {
    let role_arn = required(params, "RoleArn")?;
    let session = required(params, "RoleSessionName")?;
    let session_well_formed = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_well_formed {
        return Err(validation(format!(
            "Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    let lifetime = match params.get("DurationSeconds").and_then(Value::as_str) {
        None => org.spec.credential_lifetime,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if DURATION_SECONDS.contains(&seconds) => Duration::from_secs(seconds),
            _ => {
                return Err(validation(format!(
                    "Value '{text}' at 'durationSeconds' failed to satisfy constraint: Member \
                     must have value between 900 and 43200"
                )))
            }
        },
    };
    let role = RoleArn::parse(role_arn)
        .ok_or_else(|| validation(format!("{role_arn} is not a valid role ARN")))?;

    let mut inner = org.lock();
    let assumable = (org.is_member(&role.account) || role.account == org.spec.management_account)
        && !inner.denied.contains(&role.account);
    if !assumable {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ),
        ));
    }
    inner.keys_issued += 1;
    let serial = inner.keys_issued;
    let access_key_id = format!("ASIAEMUL{serial:012X}");
    let expires_at = SystemTime::now() + lifetime;
    let principal = Principal {
        account: role.account.clone(),
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{session}",
            role.account, role.name
        ),
        user_id: format!("AROAEMUL{}:{session}", role.account),
        expires_at: Some(expires_at),
    };
    let result = format!(
        "<Credentials><AccessKeyId>{access_key_id}</AccessKeyId>\
         <SecretAccessKey>emulator-secret-{serial}</SecretAccessKey>\
         <SessionToken>emulator-session-token-{serial}</SessionToken>\
         <Expiration>{}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        // Whole seconds, rounded down: the client never believes in a longer life than it has.
        iso8601(expires_at),
        xml_escape(&principal.user_id),
        xml_escape(&principal.arn)
    );
    inner.principals.insert(access_key_id, principal);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account_and_role() {
        let role = RoleArn::parse("arn:aws:iam::200000000001:role/ops/Sweeper").expect("valid");
        assert_eq!(role.account, "200000000001");
        assert_eq!(role.name, "Sweeper");
        for invalid in [
            "arn:aws:iam::2000:role/Sweeper",
            "arn:aws:iam::200000000001:user/Sweeper",
            "arn:aws:s3:::bucket",
            "Sweeper",
        ] {
            assert!(RoleArn::parse(invalid).is_none(), "{invalid}");
        }
    }

    #[test]
    fn parses_the_action_and_drops_the_protocol_fields() {
        let parsed = parse(&Bytes::from_static(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A200000000001%3Arole%2FR&RoleSessionName=s",
        ));
        assert_eq!(parsed.operation, "AssumeRole");
        assert!(parsed.error.is_none());
        assert_eq!(
            role_account(&parsed.params).as_deref(),
            Some("200000000001")
        );
        assert!(!parsed.params.contains_key("Action"));

        let unknown = parse(&Bytes::from_static(
            b"Action=GetSessionToken&Version=2011-06-15",
        ));
        assert_eq!(unknown.operation, "GetSessionToken");
        assert_eq!(unknown.error.expect("refused").code, "InvalidAction");
    }
}
