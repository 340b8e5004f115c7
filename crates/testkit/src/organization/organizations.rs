//! Organizations in the awsJson1_1 protocol of `organizations/2016-11-28`: the operation in
//! `X-Amz-Target`, JSON in and out, timestamps as epoch seconds. Only the listing operations a
//! sweep needs, paged, and only for the management account.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode},
};
use serde_json::{json, Map, Value};

use super::{
    http::{api_error, with_member, Parsed},
    AccountSpec, Org, Principal,
};
use crate::access_analyzer::wire::ApiError;

const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";
const OPERATIONS: &[&str] = &[
    "ListAccounts",
    "ListAccountsForParent",
    "ListOrganizationalUnitsForParent",
];
/// `MaxResults`: 1–20.
const MAX_RESULTS: std::ops::RangeInclusive<i64> = 1..=20;
/// When the generated organization's accounts joined: 2020-09-13, one day apart.
const JOINED_BASE_EPOCH_SECONDS: u64 = 1_600_000_000;

pub(crate) fn parse(headers: &HeaderMap, body: &Bytes) -> Parsed {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let operation = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(params)) => Ok(params),
            _ => Err(api_error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "the request body is not a JSON object",
            )),
        }
    };
    let name = if operation.is_empty() {
        "Unknown"
    } else {
        operation
    };
    match params {
        Err(error) => Parsed::invalid(name, Map::new(), error),
        Ok(params) if !OPERATIONS.contains(&operation) => {
            let error = api_error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("the organization emulator does not serve {target:?}"),
            );
            Parsed::invalid(name, params, error)
        }
        Ok(params) => Parsed::new(operation, params),
    }
}

fn invalid_input(reason: &str, message: String) -> ApiError {
    with_member(
        api_error(StatusCode::BAD_REQUEST, "InvalidInputException", message),
        "Reason",
        reason,
    )
}

pub(crate) fn execute(
    org: &Org,
    caller: &Principal,
    operation: &str,
    params: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let management = &org.spec.management_account;
    if !org.is_member(management) || !org.is_member(&caller.account) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        ));
    }
    if caller.account != *management {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        ));
    }
    let page = PageRequest::parse(params, org.spec.page_size)?;
    match operation {
        "ListAccounts" => {
            let accounts: Vec<Value> = org
                .spec
                .accounts
                .iter()
                .enumerate()
                .map(|(index, account)| account_json(org, index, account))
                .collect();
            Ok(page.respond(operation, "", "Accounts", accounts)?)
        }
        "ListAccountsForParent" => {
            let parent = parent_id(org, params)?;
            let accounts: Vec<Value> = org
                .spec
                .accounts
                .iter()
                .enumerate()
                .filter(|(_, account)| account.parent_id == parent)
                .map(|(index, account)| account_json(org, index, account))
                .collect();
            Ok(page.respond(operation, parent, "Accounts", accounts)?)
        }
        _ => {
            let parent = parent_id(org, params)?;
            let units: Vec<Value> = org
                .spec
                .organizational_units
                .iter()
                .filter(|unit| unit.parent_id == parent)
                .map(|unit| {
                    json!({
                        "Id": unit.id,
                        "Arn": format!(
                            "arn:aws:organizations::{}:ou/{}/{}",
                            management, org.organization_id, unit.id
                        ),
                        "Name": unit.name,
                    })
                })
                .collect();
            Ok(page.respond(operation, parent, "OrganizationalUnits", units)?)
        }
    }
}

/// The `ParentId` member: the root or an existing OU.
fn parent_id<'a>(org: &Org, params: &'a Map<String, Value>) -> Result<&'a str, ApiError> {
    let parent = params
        .get("ParentId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_input("INPUT_REQUIRED", "ParentId is required".to_owned()))?;
    if !(parent.starts_with("r-") || parent.starts_with("ou-")) {
        return Err(invalid_input(
            "INVALID_PATTERN",
            format!("ParentId {parent} is not a root or OU id"),
        ));
    }
    let exists = parent == org.spec.root_id
        || org
            .spec
            .organizational_units
            .iter()
            .any(|unit| unit.id == parent);
    if !exists {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "ParentNotFoundException",
            format!("We can't find a root or OU with the ParentId {parent}."),
        ));
    }
    Ok(parent)
}

/// An account as the service lists it: `State` beside the deprecated `Status`, or either alone.
fn account_json(org: &Org, index: usize, account: &AccountSpec) -> Value {
    let joined_method = if account.id == org.spec.management_account {
        "INVITED"
    } else {
        "CREATED"
    };
    let mut value = json!({
        "Id": account.id,
        "Arn": format!(
            "arn:aws:organizations::{}:account/{}/{}",
            org.spec.management_account, org.organization_id, account.id
        ),
        "Email": format!("aws+{}@example.com", account.id),
        "Name": account.name,
        "JoinedMethod": joined_method,
        "JoinedTimestamp": JOINED_BASE_EPOCH_SECONDS + index as u64 * 86_400,
    });
    let map = value.as_object_mut().expect("a JSON object literal");
    if account.legacy_status_only || !account.state_only {
        map.insert("Status".to_owned(), account.state.status().into());
    }
    if !account.legacy_status_only {
        map.insert("State".to_owned(), account.state.state().into());
    }
    value
}

/// `MaxResults` and `NextToken`. The items are fixed when the emulator starts, so a token is
/// the operation, the parent and the offset of the next item, hex-encoded to stay opaque.
struct PageRequest {
    size: usize,
    token: Option<String>,
}

impl PageRequest {
    fn parse(params: &Map<String, Value>, page_size: usize) -> Result<PageRequest, ApiError> {
        let size = match params.get("MaxResults") {
            None | Some(Value::Null) => page_size,
            Some(value) => {
                let max = value.as_i64().filter(|max| MAX_RESULTS.contains(max));
                let Some(max) = max else {
                    return Err(invalid_input(
                        "MAX_VALUE_EXCEEDED",
                        format!("MaxResults must be between 1 and 20, not {value}"),
                    ));
                };
                // The service may return fewer than asked; the emulator's page size caps it so
                // that paging is exercised.
                page_size.min(max as usize)
            }
        };
        let token = match params.get("NextToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) => Some(token.clone()),
            Some(_) => {
                return Err(invalid_input(
                    "INVALID_NEXT_TOKEN",
                    "NextToken must be a string".to_owned(),
                ))
            }
        };
        Ok(PageRequest {
            size: size.max(1),
            token,
        })
    }

    fn respond(
        &self,
        operation: &str,
        parent: &str,
        member: &str,
        items: Vec<Value>,
    ) -> Result<Value, ApiError> {
        let start = match &self.token {
            None => 0,
            Some(token) => decode_token(token)
                .and_then(|(token_operation, token_parent, offset)| {
                    let same_listing = token_operation == operation && token_parent == parent;
                    (same_listing && offset <= items.len()).then_some(offset)
                })
                .ok_or_else(|| {
                    invalid_input(
                        "INVALID_NEXT_TOKEN",
                        "The NextToken is not valid for this request".to_owned(),
                    )
                })?,
        };
        let end = start.saturating_add(self.size).min(items.len());
        let next_token = (end < items.len()).then(|| encode_token(operation, parent, end));
        let page: Vec<Value> = items.into_iter().skip(start).take(end - start).collect();
        let mut body = Map::new();
        body.insert(member.to_owned(), Value::Array(page));
        if let Some(token) = next_token {
            body.insert("NextToken".to_owned(), token.into());
        }
        Ok(Value::Object(body))
    }
}

fn encode_token(operation: &str, parent: &str, offset: usize) -> String {
    format!("{operation}/{parent}/{offset}")
        .bytes()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Option<(String, String, usize)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(token.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '/');
    let operation = parts.next()?.to_owned();
    let parent = parts.next()?.to_owned();
    let offset = parts.next()?.parse().ok()?;
    Some((operation, parent, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let token = encode_token("ListAccountsForParent", "ou-a1b2-workload", 5);
        assert_eq!(
            decode_token(&token),
            Some((
                "ListAccountsForParent".to_owned(),
                "ou-a1b2-workload".to_owned(),
                5
            ))
        );
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("abc"), None);
    }

    #[test]
    fn the_target_names_the_operation() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            "AWSOrganizationsV20161128.ListAccounts"
                .parse()
                .expect("header"),
        );
        let parsed = parse(&headers, &Bytes::from_static(b"{}"));
        assert_eq!(parsed.operation, "ListAccounts");
        assert!(parsed.error.is_none());

        headers.insert(
            "x-amz-target",
            "AWSOrganizationsV20161128.CreateAccount"
                .parse()
                .expect("header"),
        );
        let parsed = parse(&headers, &Bytes::from_static(b"{}"));
        assert_eq!(
            parsed.error.expect("refused").code,
            "UnknownOperationException"
        );
    }
}
