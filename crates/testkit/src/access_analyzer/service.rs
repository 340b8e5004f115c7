//! The operations themselves, on the emulator's state.

use std::{sync::Arc, time::SystemTime};

use serde_json::{json, Value};

use super::{
    filter::{self, AnalyzerFamily, Filter, Use},
    wire::{ApiError, Call, Operation, ANALYZER_RESOURCE, ARCHIVE_RULE_RESOURCE, FINDING_RESOURCE},
    AnalyzerState, Finding, FindingStatus, RuleState, State,
};
use crate::util::iso8601;

pub(crate) fn execute(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    refuse_service_linked(state, call)?;
    match call.operation {
        Operation::GetAnalyzer => get_analyzer(state, call),
        Operation::ListAnalyzers => list_analyzers(state, call),
        Operation::CreateArchiveRule => create_archive_rule(state, call),
        Operation::UpdateArchiveRule => update_archive_rule(state, call),
        Operation::DeleteArchiveRule => delete_archive_rule(state, call),
        Operation::GetArchiveRule => get_archive_rule(state, call),
        Operation::ListArchiveRules => list_archive_rules(state, call),
        Operation::ApplyArchiveRule => apply_archive_rule(state, call),
        Operation::ListFindings => list_findings(state, call, FindingsVersion::V1),
        Operation::ListFindingsV2 => list_findings(state, call, FindingsVersion::V2),
        Operation::UpdateFindings => update_findings(state, call),
    }
}

/// `Name`: `[A-Za-z][A-Za-z0-9_.-]*`, 1–255 characters.
fn rule_name(call: &Call) -> Result<&str, ApiError> {
    let name = call.required_string("ruleName")?;
    check_name("ruleName", name, |first| first.is_ascii_alphabetic())?;
    Ok(name)
}

/// `AnalyzerName`: `[A-Za-z_][A-Za-z0-9_.-]*`, 1–255 characters (service-linked analyzers
/// start with `_`).
fn analyzer_name(call: &Call) -> Result<&str, ApiError> {
    let name = call.required_string("analyzerName")?;
    check_name("analyzerName", name, |first| {
        first.is_ascii_alphabetic() || first == '_'
    })?;
    Ok(name)
}

fn check_name(field: &str, name: &str, valid_first: impl Fn(char) -> bool) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(valid_first)
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !well_formed || name.len() > 255 {
        return Err(ApiError::field(
            field,
            &format!("'{name}' does not match the required pattern or length"),
        ));
    }
    Ok(())
}

/// `AnalyzerArn`: `[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:analyzer/.{1,255}`.
fn analyzer_arn(call: &Call) -> Result<&str, ApiError> {
    let arn = call.required_string("analyzerArn")?;
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let well_formed = parts.len() == 6
        && parts[5]
            .strip_prefix("analyzer/")
            .is_some_and(|name| (1..=255).contains(&name.chars().count()));
    if !well_formed {
        return Err(ApiError::field(
            "analyzerArn",
            &format!("'{arn}' is not an analyzer ARN"),
        ));
    }
    Ok(arn)
}

/// The rule's filter, checked as far as the request alone allows: its shape, and that every
/// key is an archive-rule key (`status` and `id` are not). [`check_keys`] does the rest once the
/// analyzer is found.
fn archive_rule_filter(call: &Call) -> Result<(Value, Filter), ApiError> {
    let value = call
        .value("filter")
        .ok_or_else(|| ApiError::field("filter", "is required"))?;
    let filter = Filter::parse(value, Use::ArchiveRule)
        .map_err(|error| ApiError::field("filter", &error))?;
    Ok((value.clone(), filter))
}

/// A key the analyzer's type does not accept answers the ValidationException the service gives
/// (see `filter.rs`): the same for archive rules and, as the filter-key reference makes no
/// difference between them, for listing findings.
fn check_keys(analyzer: &AnalyzerState, filter: &Filter) -> Result<(), ApiError> {
    filter
        .check_keys(analyzer.family, &analyzer.analyzer_type)
        .map_err(|error| ApiError::field("filter", &error))
}

fn find_analyzer<'a>(
    inner: &'a mut super::Inner,
    name: &str,
) -> Result<&'a mut AnalyzerState, ApiError> {
    inner
        .analyzer_mut(name)
        .ok_or_else(|| ApiError::not_found(ANALYZER_RESOURCE, name))
}

fn find_analyzer_by_arn<'a>(
    inner: &'a mut super::Inner,
    arn: &str,
) -> Result<&'a mut AnalyzerState, ApiError> {
    inner
        .analyzer_by_arn_mut(arn)
        .ok_or_else(|| ApiError::not_found(ANALYZER_RESOURCE, arn))
}

fn find_rule<'a>(
    analyzer: &'a mut AnalyzerState,
    name: &str,
) -> Result<&'a mut RuleState, ApiError> {
    analyzer
        .rules
        .iter_mut()
        .find(|rule| rule.name == name)
        .ok_or_else(|| ApiError::not_found(ARCHIVE_RULE_RESOURCE, name))
}

fn get_analyzer(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let name = analyzer_name(call)?;
    let mut inner = state.lock();
    let analyzer = find_analyzer(&mut inner, name)?;
    Ok(json!({ "analyzer": analyzer_summary(analyzer) }))
}

fn analyzer_summary(analyzer: &AnalyzerState) -> Value {
    let mut summary = json!({
        "arn": analyzer.arn,
        "name": analyzer.name,
        "type": analyzer.analyzer_type,
        "createdAt": iso8601(analyzer.created_at),
        "status": analyzer.status,
        "tags": {},
    });
    if let Some(code) = &analyzer.status_reason {
        summary["statusReason"] = json!({ "code": code });
    }
    if let Some(service) = &analyzer.managed_by {
        summary["managedBy"] = service.as_str().into();
    }
    summary
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
/// `ListAnalyzers`), but every call naming it is refused with `AccessDeniedException` — what
/// SPEC §8.2 states ("callers get AccessDenied") and `CreateServiceLinkedAnalyzer`'s documentation
/// implies ("the lifecycle of these analyzers is managed by the calling service"). The message is
/// a guess.
fn refuse_service_linked(state: &Arc<State>, call: &Call) -> Result<(), ApiError> {
    if matches!(
        call.operation,
        Operation::GetAnalyzer | Operation::ListAnalyzers
    ) {
        return Ok(());
    }
    let Some(name) = named_analyzer(call) else {
        return Ok(());
    };
    let inner = state.lock();
    match inner.analyzer(name).and_then(|a| a.managed_by.clone()) {
        Some(service) => Err(ApiError::access_denied(format!(
            "access-analyzer:{} is not allowed on analyzer {name}: it is a service-linked analyzer managed by {service}",
            call.operation.name()
        ))),
        None => Ok(()),
    }
}

fn list_analyzers(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_type = call.string("type")?;
    if let Some(analyzer_type) = analyzer_type {
        if AnalyzerFamily::of(analyzer_type).is_none() {
            return Err(ApiError::field(
                "type",
                &format!("'{analyzer_type}' is not an analyzer type"),
            ));
        }
    }
    let inner = state.lock();
    let analyzers = inner
        .analyzers
        .values()
        .filter(|analyzer| analyzer_type.is_none_or(|t| analyzer.analyzer_type == t))
        .map(|analyzer| (analyzer.name.clone(), analyzer_summary(analyzer)))
        .collect();
    let (page, next_token) = paginate(analyzers, call, state.config.page_size)?;
    Ok(with_next_token(json!({ "analyzers": page }), next_token))
}

fn create_archive_rule(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_name = analyzer_name(call)?;
    let rule_name = rule_name(call)?;
    let (filter_json, filter) = archive_rule_filter(call)?;
    let client_token = call.string("clientToken")?;
    let mut inner = state.lock();
    let analyzer = find_analyzer(&mut inner, analyzer_name)?;
    check_keys(analyzer, &filter)?;
    if let Some(existing) = analyzer.rules.iter().find(|rule| rule.name == rule_name) {
        // A retried request with the token of the call that created the rule is a replay.
        let replay = client_token.is_some() && existing.creation_token.as_deref() == client_token;
        return if replay {
            Ok(json!({}))
        } else {
            Err(ApiError::conflict(ARCHIVE_RULE_RESOURCE, rule_name))
        };
    }
    upsert_rule(
        analyzer,
        rule_name,
        filter_json,
        filter,
        client_token.map(str::to_owned),
    );
    Ok(json!({}))
}

/// Creates the rule, or replaces its filter if it exists. Findings are not touched: a rule only
/// acts on findings that arrive later, or through ApplyArchiveRule.
pub(crate) fn upsert_rule(
    analyzer: &mut AnalyzerState,
    rule_name: &str,
    filter_json: Value,
    filter: Filter,
    creation_token: Option<String>,
) {
    let now = SystemTime::now();
    if let Some(rule) = analyzer
        .rules
        .iter_mut()
        .find(|rule| rule.name == rule_name)
    {
        rule.filter_json = filter_json;
        rule.filter = filter;
        rule.updated_at = now;
        return;
    }
    analyzer.rules.push(RuleState {
        name: rule_name.to_owned(),
        filter_json,
        filter,
        created_at: now,
        updated_at: now,
        creation_token,
    });
}

fn update_archive_rule(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_name = analyzer_name(call)?;
    let rule_name = rule_name(call)?;
    let (filter_json, filter) = archive_rule_filter(call)?;
    call.string("clientToken")?;
    let mut inner = state.lock();
    let analyzer = find_analyzer(&mut inner, analyzer_name)?;
    check_keys(analyzer, &filter)?;
    find_rule(analyzer, rule_name)?;
    upsert_rule(analyzer, rule_name, filter_json, filter, None);
    Ok(json!({}))
}

fn delete_archive_rule(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_name = analyzer_name(call)?;
    let rule_name = rule_name(call)?;
    call.string("clientToken")?;
    let mut inner = state.lock();
    let analyzer = find_analyzer(&mut inner, analyzer_name)?;
    find_rule(analyzer, rule_name)?;
    analyzer.rules.retain(|rule| rule.name != rule_name);
    Ok(json!({}))
}

fn rule_summary(rule: &RuleState) -> Value {
    json!({
        "ruleName": rule.name,
        "filter": rule.filter_json,
        "createdAt": iso8601(rule.created_at),
        "updatedAt": iso8601(rule.updated_at),
    })
}

fn get_archive_rule(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_name = analyzer_name(call)?;
    let rule_name = rule_name(call)?;
    let mut inner = state.lock();
    let analyzer = find_analyzer(&mut inner, analyzer_name)?;
    let rule = find_rule(analyzer, rule_name)?;
    Ok(json!({ "archiveRule": rule_summary(rule) }))
}

fn list_archive_rules(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let analyzer_name = analyzer_name(call)?;
    let mut inner = state.lock();
    // The model lists no ResourceNotFoundException for ListArchiveRules, and the API reference
    // does not say what an analyzer that does not exist is answered: by default the emulator
    // answers 404 (the SDK surfaces it as an unmodeled error with the code intact), and on request
    // an empty list, so that callers are tested against both.
    if inner.analyzer(analyzer_name).is_none() && inner.missing_analyzer_lists_no_rules {
        return Ok(json!({ "archiveRules": [] }));
    }
    let analyzer = find_analyzer(&mut inner, analyzer_name)?;
    let rules = analyzer
        .rules
        .iter()
        .map(|rule| (rule.name.clone(), rule_summary(rule)))
        .collect();
    drop(inner);
    let (page, next_token) = paginate(rules, call, state.config.page_size)?;
    Ok(with_next_token(json!({ "archiveRules": page }), next_token))
}

fn apply_archive_rule(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let arn = analyzer_arn(call)?;
    let rule_name = rule_name(call)?;
    call.string("clientToken")?;
    let mut inner = state.lock();
    let delay = inner.apply_delay;
    let analyzer = find_analyzer_by_arn(&mut inner, arn)?;
    let filter = find_rule(analyzer, rule_name)?.filter.clone();
    if delay.is_zero() {
        analyzer.archive_matching(rule_name, &filter);
        return Ok(json!({}));
    }
    // The service archives asynchronously; the filter is the one the rule had when called.
    let state = state.clone();
    let (arn, rule_name) = (arn.to_owned(), rule_name.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(analyzer) = state.lock().analyzer_by_arn_mut(&arn) {
            analyzer.archive_matching(&rule_name, &filter);
        }
    });
    Ok(json!({}))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FindingsVersion {
    V1,
    V2,
}

fn list_findings(
    state: &Arc<State>,
    call: &Call,
    version: FindingsVersion,
) -> Result<Value, ApiError> {
    let arn = analyzer_arn(call)?;
    let filter = match call.value("filter") {
        Some(value) => {
            Filter::parse(value, Use::Listing).map_err(|error| ApiError::field("filter", &error))?
        }
        None => Filter::default(),
    };
    let sort = Sort::parse(call)?;
    let mut inner = state.lock();
    let analyzer = find_analyzer_by_arn(&mut inner, arn)?;
    if version == FindingsVersion::V1 && analyzer.family != AnalyzerFamily::External {
        return Err(ApiError::validation(
            "notSupported",
            format!(
                "ListFindings is not supported for analyzers of type {}; use ListFindingsV2",
                analyzer.analyzer_type
            ),
        ));
    }
    check_keys(analyzer, &filter)?;
    let mut findings: Vec<(String, Value)> = analyzer
        .findings
        .iter()
        .filter(|finding| filter.matches(finding))
        .map(|finding| (sort.key(finding), finding_summary(finding, version)))
        .collect();
    drop(inner);
    findings.sort_by(|(a, _), (b, _)| if sort.descending { b.cmp(a) } else { a.cmp(b) });
    let (page, next_token) =
        paginate_sorted(findings, call, state.config.page_size, sort.descending)?;
    Ok(with_next_token(json!({ "findings": page }), next_token))
}

fn finding_summary(finding: &Finding, version: FindingsVersion) -> Value {
    let mut summary = json!({
        "id": finding.id,
        "resource": finding.resource,
        "resourceType": finding.resource_type,
        "resourceOwnerAccount": finding.resource_owner_account,
        "status": finding.status.as_str(),
        "createdAt": iso8601(finding.created_at),
        "analyzedAt": iso8601(finding.analyzed_at),
        "updatedAt": iso8601(finding.updated_at),
    });
    let map = summary.as_object_mut().expect("a JSON object literal");
    if let Some(error) = &finding.error {
        map.insert("error".to_owned(), error.as_str().into());
    }
    match version {
        FindingsVersion::V1 => {
            map.insert("principal".to_owned(), json!(finding.principal));
            map.insert("action".to_owned(), json!(finding.action));
            map.insert("condition".to_owned(), json!(finding.condition));
            map.insert("isPublic".to_owned(), finding.is_public.into());
            if let Some(restriction) = &finding.resource_control_policy_restriction {
                map.insert(
                    "resourceControlPolicyRestriction".to_owned(),
                    restriction.as_str().into(),
                );
            }
        }
        FindingsVersion::V2 => {
            if let Some(finding_type) = &finding.finding_type {
                map.insert("findingType".to_owned(), finding_type.as_str().into());
            }
        }
    }
    summary
}

/// The full finding for the control plane: the v1 summary, the details of every analyzer
/// type, and what only the emulator knows.
pub(crate) fn finding_document(finding: &Finding) -> Value {
    let mut document = finding_summary(finding, FindingsVersion::V1);
    let map = document.as_object_mut().expect("a JSON object literal");
    for (key, value) in [
        ("findingType", &finding.finding_type),
        ("principalType", &finding.principal_type),
        ("principalOwnerAccount", &finding.principal_owner_account),
        ("accessType", &finding.access_type),
        (
            "resourceControlPolicyRestriction",
            &finding.resource_control_policy_restriction,
        ),
        (
            "serviceControlPolicyRestriction",
            &finding.service_control_policy_restriction,
        ),
        ("archivedBy", &finding.archived_by),
    ] {
        map.insert(key.to_owned(), json!(value));
    }
    document
}

pub(crate) fn rule_document(rule: &super::ArchiveRule) -> Value {
    json!({
        "ruleName": rule.name,
        "filter": rule.filter,
        "createdAt": iso8601(rule.created_at),
        "updatedAt": iso8601(rule.updated_at),
    })
}

/// `SortCriteria`: `attributeName` (a filter key or a timestamp member) and `orderBy`.
struct Sort {
    attribute: Option<String>,
    descending: bool,
}

impl Sort {
    fn parse(call: &Call) -> Result<Sort, ApiError> {
        let Some(sort) = call.value("sort") else {
            return Ok(Sort {
                attribute: None,
                descending: false,
            });
        };
        let sort = sort
            .as_object()
            .ok_or_else(|| ApiError::field("sort", "must be an object"))?;
        let attribute = match sort.get("attributeName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(ApiError::field("sort.attributeName", "must be a string")),
        };
        let descending = match sort.get("orderBy").and_then(Value::as_str) {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                return Err(ApiError::field(
                    "sort.orderBy",
                    &format!("'{other}' is not ASC or DESC"),
                ))
            }
        };
        Ok(Sort {
            attribute,
            descending,
        })
    }

    /// The attribute's value, then the id, so keys are unique and paging can resume after one.
    fn key(&self, finding: &Finding) -> String {
        let value = match self.attribute.as_deref() {
            None => String::new(),
            Some("createdAt") => iso8601(finding.created_at),
            Some("updatedAt") => iso8601(finding.updated_at),
            Some("analyzedAt") => iso8601(finding.analyzed_at),
            Some(attribute) => filter::attribute(finding, attribute).unwrap_or_default(),
        };
        format!("{value}\u{0}{}", finding.id)
    }
}

fn update_findings(state: &Arc<State>, call: &Call) -> Result<Value, ApiError> {
    let arn = analyzer_arn(call)?;
    let status = match call.required_string("status")? {
        "ACTIVE" => FindingStatus::Active,
        "ARCHIVED" => FindingStatus::Archived,
        other => {
            return Err(ApiError::field(
                "status",
                &format!("'{other}' is not ACTIVE or ARCHIVED"),
            ))
        }
    };
    let ids: Option<Vec<String>> = match call.value("ids") {
        None => None,
        Some(value) => Some(
            serde_json::from_value(value.clone())
                .map_err(|_| ApiError::field("ids", "must be a list of strings"))?,
        ),
    };
    let resource_arn = call.string("resourceArn")?;
    call.string("clientToken")?;
    if ids.is_none() && resource_arn.is_none() {
        return Err(ApiError::validation(
            "fieldValidationFailed",
            "either ids or resourceArn is required",
        ));
    }
    let mut inner = state.lock();
    let analyzer = find_analyzer_by_arn(&mut inner, arn)?;
    if let Some(missing) = ids
        .iter()
        .flatten()
        .find(|id| !analyzer.findings.iter().any(|finding| &finding.id == *id))
    {
        return Err(ApiError::not_found(FINDING_RESOURCE, missing));
    }
    let now = SystemTime::now();
    for finding in &mut analyzer.findings {
        let selected = ids.as_ref().is_some_and(|ids| ids.contains(&finding.id))
            || resource_arn.is_some_and(|arn| finding.resource == arn);
        // RESOLVED findings are the analyzer's to change, not the caller's.
        if selected && finding.status != FindingStatus::Resolved && finding.status != status {
            finding.status = status;
            finding.archived_by = None;
            finding.updated_at = now;
        }
    }
    Ok(json!({}))
}

/// Pages items sorted ascending by a unique key.
fn paginate(
    items: Vec<(String, Value)>,
    call: &Call,
    default_page_size: usize,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    paginate_sorted(items, call, default_page_size, false)
}

/// Pages items already sorted by a unique key (descending if `descending`). The token carries
/// the last key returned, not an offset, so items that leave the list between pages (a finding
/// archived meanwhile) do not make the next page skip others.
fn paginate_sorted(
    items: Vec<(String, Value)>,
    call: &Call,
    default_page_size: usize,
    descending: bool,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let page_size = match call.integer("maxResults")? {
        None => default_page_size,
        Some(max) if max >= 1 => usize::try_from(max).unwrap_or(usize::MAX),
        Some(max) => {
            return Err(ApiError::field(
                "maxResults",
                &format!("must be at least 1, not {max}"),
            ))
        }
    };
    let start = match call.string("nextToken")? {
        None => 0,
        Some(token) => {
            let last = decode_token(token).ok_or_else(|| {
                ApiError::field("nextToken", "is not a token this service issued")
            })?;
            items
                .iter()
                .position(
                    |(key, _)| {
                        if descending {
                            *key < last
                        } else {
                            *key > last
                        }
                    },
                )
                .unwrap_or(items.len())
        }
    };
    let end = start.saturating_add(page_size).min(items.len());
    let next_token = (end < items.len()).then(|| encode_token(&items[end - 1].0));
    let page = items
        .into_iter()
        .skip(start)
        .take(end - start)
        .map(|(_, item)| item)
        .collect();
    Ok((page, next_token))
}

/// Hex, so the token is opaque to callers and safe in a query string.
fn encode_token(key: &str) -> String {
    key.bytes().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_token(token: &str) -> Option<String> {
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(token.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn with_next_token(mut body: Value, next_token: Option<String>) -> Value {
    if let (Some(token), Some(map)) = (next_token, body.as_object_mut()) {
        map.insert("nextToken".to_owned(), token.into());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analyzer_is_named_by_uri_label_or_arn() {
        let call = |operation, params: Value| Call {
            operation,
            params: serde_json::from_value(params).unwrap(),
        };
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

    fn call(params: Value) -> Call {
        let Value::Object(params) = params else {
            panic!("params must be an object")
        };
        Call {
            operation: Operation::ListFindingsV2,
            params,
        }
    }

    fn items(count: usize) -> Vec<(String, Value)> {
        (0..count)
            .map(|index| (format!("{index:04}"), json!(index)))
            .collect()
    }

    /// Follows nextToken to the end, as a paginator does.
    fn all_pages(count: usize, max_results: Option<i64>) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = call(json!({ "maxResults": max_results, "nextToken": token }));
            let (page, next) = paginate(items(count), &request, 100).expect("valid page request");
            pages.push(page);
            match next {
                Some(next) => token = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_default_to_the_configured_size() {
        let pages = all_pages(250, None);
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(pages[1][0], json!(100));
    }

    #[test]
    fn pages_honour_max_results_and_end_without_a_token() {
        let sizes: Vec<usize> = all_pages(5, Some(2)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let sizes: Vec<usize> = all_pages(4, Some(2)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2]);
        let sizes: Vec<usize> = all_pages(0, Some(2)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [0]);
    }

    #[test]
    fn a_token_resumes_after_the_last_key_even_if_items_left() {
        let (_, token) = paginate(items(6), &call(json!({"maxResults": 2})), 100).expect("page");
        let mut remaining = items(6);
        remaining.remove(0); // "0000" left the list after page one was served
        let (page, _) = paginate(
            remaining,
            &call(json!({"maxResults": 2, "nextToken": token})),
            100,
        )
        .expect("page");
        assert_eq!(page, [json!(2), json!(3)]);
    }

    #[test]
    fn query_string_max_results_and_bad_tokens() {
        let (page, _) = paginate(items(5), &call(json!({"maxResults": "3"})), 100).expect("page");
        assert_eq!(page.len(), 3);
        for bad in [
            json!({"maxResults": 0}),
            json!({"nextToken": "zz"}),
            json!({"maxResults": "x"}),
        ] {
            let error = paginate(items(5), &call(bad), 100).expect_err("rejected");
            assert_eq!(error.code, "ValidationException");
        }
    }
}
