//! Filter criteria (`FilterCriteriaMap`) as Access Analyzer validates and applies them, for
//! archive rules, ApplyArchiveRule and the ListFindings operations alike.

use serde_json::Value;

use super::Finding;

/// The most values one operator takes (`ValueList`: min 1, max 20 in the service model).
const MAX_VALUES: usize = 20;

/// A parsed, valid filter: criteria keyed by attribute, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Filter {
    criteria: Vec<(String, Criterion)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Criterion {
    eq: Option<Vec<String>>,
    neq: Option<Vec<String>>,
    contains: Option<Vec<String>>,
    exists: Option<bool>,
}

impl Filter {
    /// Parses the wire shape `{"<key>": {"eq": [..], "neq": [..], "contains": [..], "exists": b}}`.
    /// Archive rules need at least one criterion; a ListFindings filter may be empty.
    pub(crate) fn parse(value: &Value, require_criteria: bool) -> Result<Filter, String> {
        let map = value
            .as_object()
            .ok_or_else(|| "filter must be a map of criteria".to_owned())?;
        if require_criteria && map.is_empty() {
            return Err("filter must contain at least one criterion".to_owned());
        }
        let mut criteria = Vec::with_capacity(map.len());
        for (key, criterion) in map {
            if !is_supported_key(key) {
                return Err(format!("filter key '{key}' is not supported"));
            }
            let criterion =
                parse_criterion(criterion).map_err(|error| format!("{key}: {error}"))?;
            criteria.push((key.clone(), criterion));
        }
        Ok(Filter { criteria })
    }

    pub(crate) fn matches(&self, finding: &Finding) -> bool {
        self.criteria
            .iter()
            .all(|(key, criterion)| criterion.matches(attribute(finding, key).as_deref()))
    }
}

fn parse_criterion(value: &Value) -> Result<Criterion, String> {
    let map = value
        .as_object()
        .ok_or_else(|| "criterion must be an object".to_owned())?;
    let mut criterion = Criterion::default();
    for (operator, operand) in map {
        match operator.as_str() {
            "eq" => criterion.eq = Some(parse_values(operator, operand)?),
            "neq" => criterion.neq = Some(parse_values(operator, operand)?),
            "contains" => criterion.contains = Some(parse_values(operator, operand)?),
            "exists" => {
                criterion.exists = Some(
                    operand
                        .as_bool()
                        .ok_or_else(|| "exists must be a boolean".to_owned())?,
                )
            }
            other => return Err(format!("unknown operator '{other}'")),
        }
    }
    if criterion == Criterion::default() {
        return Err("criterion must contain at least one operator".to_owned());
    }
    Ok(criterion)
}

fn parse_values(operator: &str, operand: &Value) -> Result<Vec<String>, String> {
    let values = operand
        .as_array()
        .ok_or_else(|| format!("{operator} must be a list of strings"))?;
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(format!(
            "{operator} must hold between 1 and {MAX_VALUES} values, not {}",
            values.len()
        ));
    }
    values
        .iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{operator} must be a list of strings"))
        })
        .collect()
}

fn is_supported_key(key: &str) -> bool {
    const PLAIN_KEYS: &[&str] = &[
        "resourceType",
        "resource",
        "status",
        "id",
        "resourceOwnerAccount",
        "isPublic",
        "findingType",
        "error",
        "action",
    ];
    PLAIN_KEYS.contains(&key)
        || key
            .strip_prefix("principal.")
            .or_else(|| key.strip_prefix("condition."))
            .is_some_and(|rest| !rest.is_empty())
}

/// A finding's values for a filter key; `None` when the finding does not have the attribute.
/// Lists (`action`) yield every element; scalars yield one value.
pub(crate) fn attribute(finding: &Finding, key: &str) -> Option<Vec<String>> {
    let one = |value: &str| Some(vec![value.to_owned()]);
    match key {
        "resourceType" => one(&finding.resource_type),
        "resource" => one(&finding.resource),
        "status" => one(finding.status.as_str()),
        "id" => one(&finding.id),
        "resourceOwnerAccount" => one(&finding.resource_owner_account),
        "isPublic" => one(if finding.is_public { "true" } else { "false" }),
        "findingType" => finding.finding_type.as_deref().and_then(one),
        "error" => finding.error.as_deref().and_then(one),
        "action" => (!finding.action.is_empty()).then(|| finding.action.clone()),
        _ => {
            if let Some(principal) = key.strip_prefix("principal.") {
                finding.principal.get(principal).and_then(|v| one(v))
            } else if let Some(condition) = key.strip_prefix("condition.") {
                finding.condition.get(condition).and_then(|v| one(v))
            } else {
                None
            }
        }
    }
}

impl Criterion {
    /// Every operator present must hold. `eq`: some value equals one of the operands; `neq`: no
    /// value equals any operand (an absent attribute equals nothing); `contains`: some value has
    /// an operand as a substring; `exists`: presence matches the flag.
    fn matches(&self, values: Option<&[String]>) -> bool {
        let values = values.unwrap_or_default();
        let any = |operands: &[String], test: &dyn Fn(&str, &str) -> bool| {
            values
                .iter()
                .any(|value| operands.iter().any(|operand| test(value, operand)))
        };
        self.eq
            .as_deref()
            .is_none_or(|operands| any(operands, &|value, operand| value == operand))
            && self
                .neq
                .as_deref()
                .is_none_or(|operands| !any(operands, &|value, operand| value == operand))
            && self
                .contains
                .as_deref()
                .is_none_or(|operands| any(operands, &|value, operand| value.contains(operand)))
            && self.exists.is_none_or(|exists| exists != values.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::access_analyzer::{FindingSeed, FindingStatus};

    fn role_finding() -> Finding {
        let seed = FindingSeed::new("AWS::IAM::Role", "arn:aws:iam::123456789012:role/deploy")
            .principal("AWS", "arn:aws:iam::999999999999:root")
            .action("sts:AssumeRole")
            .action("sts:TagSession")
            .condition("aws:PrincipalOrgID", "o-abc");
        Finding::from_seed(
            seed,
            "00000000-0000-4000-8000-000000000001",
            "123456789012",
            "ACCOUNT",
        )
    }

    fn matches(filter: Value) -> bool {
        Filter::parse(&filter, true)
            .expect("valid filter")
            .matches(&role_finding())
    }

    #[test]
    fn eq_matches_any_of_the_values() {
        assert!(matches(
            json!({"resourceType": {"eq": ["AWS::S3::Bucket", "AWS::IAM::Role"]}})
        ));
        assert!(!matches(
            json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}})
        ));
    }

    #[test]
    fn neq_matches_when_none_of_the_values_match() {
        assert!(matches(
            json!({"resourceType": {"neq": ["AWS::S3::Bucket"]}})
        ));
        assert!(!matches(
            json!({"resourceType": {"neq": ["AWS::S3::Bucket", "AWS::IAM::Role"]}})
        ));
        assert!(matches(json!({"principal.Federated": {"neq": ["x"]}})));
    }

    #[test]
    fn contains_is_a_substring_match() {
        assert!(matches(
            json!({"principal.AWS": {"contains": ["999999999999"]}})
        ));
        assert!(!matches(
            json!({"principal.AWS": {"contains": ["111111111111"]}})
        ));
    }

    #[test]
    fn exists_tests_presence() {
        assert!(matches(json!({"principal.AWS": {"exists": true}})));
        assert!(matches(json!({"principal.Service": {"exists": false}})));
        assert!(!matches(json!({"error": {"exists": true}})));
        assert!(matches(
            json!({"condition.aws:PrincipalOrgID": {"exists": true}})
        ));
    }

    #[test]
    fn criteria_and_operators_are_anded() {
        assert!(matches(json!({
            "resourceType": {"eq": ["AWS::IAM::Role"]},
            "isPublic": {"eq": ["false"]},
            "status": {"eq": ["ACTIVE"]}
        })));
        assert!(!matches(json!({
            "resourceType": {"eq": ["AWS::IAM::Role"]},
            "isPublic": {"eq": ["true"]}
        })));
        assert!(!matches(
            json!({"resource": {"contains": ["deploy"], "neq": [
                "arn:aws:iam::123456789012:role/deploy"
            ]}})
        ));
    }

    #[test]
    fn list_attributes_match_on_any_element() {
        assert!(matches(json!({"action": {"eq": ["sts:TagSession"]}})));
        assert!(!matches(json!({"action": {"neq": ["sts:TagSession"]}})));
        assert!(matches(json!({"findingType": {"eq": ["ExternalAccess"]}})));
    }

    #[test]
    fn status_changes_are_seen() {
        let mut finding = role_finding();
        finding.status = FindingStatus::Archived;
        let filter = Filter::parse(&json!({"status": {"eq": ["ACTIVE"]}}), true).expect("valid");
        assert!(!filter.matches(&finding));
    }

    #[test]
    fn rejects_what_the_service_rejects() {
        let rejected = [
            json!({}),
            json!([]),
            json!({"resourceType": {}}),
            json!({"resourceType": {"eq": []}}),
            json!({"resourceType": {"eq": vec!["x"; 21]}}),
            json!({"resourceType": {"eq": [1]}}),
            json!({"resourceType": {"exists": "true"}}),
            json!({"resourceType": {"like": ["x"]}}),
            json!({"colour": {"eq": ["blue"]}}),
            json!({"principal.": {"eq": ["x"]}}),
        ];
        for filter in rejected {
            assert!(Filter::parse(&filter, true).is_err(), "accepted {filter}");
        }
        assert!(Filter::parse(&json!({}), false).is_ok());
        assert!(Filter::parse(&json!({"resourceType": {"eq": vec!["x"; 20]}}), true).is_ok());
    }
}
