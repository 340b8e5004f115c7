//! The archive rule's `Filter`, parsed once from either shape CloudFormation users write; a parsed
//! `Filter` cannot be invalid. Which keys an analyzer type accepts is the service's call, not this.
//!
//! - map, as `AWS::AccessAnalyzer::ArchiveRule` and the API: `{ "<key>": { "Eq": [..] } }`
//! - list, as `AWS::AccessAnalyzer::Analyzer.ArchiveRules[].Filter`: `[ { "Property": "<key>", "Eq": [..] } ]`
//!
//! A [`Filter`] that exists is valid: it has at least one key, no `status` or `id` key (the service
//! does not allow them in archive rules), and every criterion has an operator with 1–20 non-empty values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::error::PropertyError;
use crate::properties::values::{describe, parse_bool};

/// Keys the service rejects in archive rules: a rule can neither select on the status it sets nor
/// name single findings.
const FORBIDDEN_KEYS: [&str; 2] = ["status", "id"];
/// `ValueList` in the service model: min 1, max 20.
const MAX_VALUES: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    criteria: BTreeMap<String, Criterion>,
}

/// One key's condition. At least one operator is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Criterion {
    pub eq: Option<Vec<String>>,
    pub neq: Option<Vec<String>>,
    pub contains: Option<Vec<String>>,
    pub exists: Option<bool>,
}

/// Criteria by filter key, as the service holds them.
pub type Criteria = BTreeMap<String, Criterion>;

/// A filter reduced to what it means: value lists compared as sets, so two declarations that differ
/// only in order (or in repeated values) are the same rule.
pub type NormalizedFilter = BTreeMap<String, NormalizedCriterion>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NormalizedCriterion {
    pub eq: Option<BTreeSet<String>>,
    pub neq: Option<BTreeSet<String>>,
    pub contains: Option<BTreeSet<String>>,
    pub exists: Option<bool>,
}

impl NormalizedCriterion {
    /// Normalises a criterion as the service returns it; an empty list means the same as no list.
    pub fn new(
        eq: Option<Vec<String>>,
        neq: Option<Vec<String>>,
        contains: Option<Vec<String>>,
        exists: Option<bool>,
    ) -> Self {
        fn set(values: Option<Vec<String>>) -> Option<BTreeSet<String>> {
            values
                .map(|v| v.into_iter().collect::<BTreeSet<_>>())
                .filter(|s| !s.is_empty())
        }
        NormalizedCriterion {
            eq: set(eq),
            neq: set(neq),
            contains: set(contains),
            exists,
        }
    }
}

impl Filter {
    /// Parses the `Filter` property (either shape, PascalCase or camelCase operators).
    pub fn parse(value: &Value) -> Result<Filter, PropertyError> {
        let criteria = match value {
            Value::Object(map) => parse_map_shape(map)?,
            Value::Array(list) => parse_list_shape(list)?,
            other => {
                return Err(PropertyError::new(
                    "Filter",
                    format!(
                        "must be a map of keys to criteria or a list of criteria with `Property`, got {}",
                        describe(other)
                    ),
                ))
            }
        };
        if criteria.is_empty() {
            return Err(PropertyError::new(
                "Filter",
                "must hold at least one criterion",
            ));
        }
        Ok(Filter { criteria })
    }

    /// Validates a rule's filter as the service returned it (for rules the stack does not declare,
    /// such as those `Custom::ApplyArchiveRules` applies), by the same rules as a declared one.
    pub fn from_criteria(criteria: &Criteria) -> Result<Filter, PropertyError> {
        Filter::parse(&criteria_to_json(criteria))
    }

    pub fn criteria(&self) -> impl Iterator<Item = (&str, &Criterion)> {
        self.criteria.iter().map(|(k, c)| (k.as_str(), c))
    }

    pub fn normalized(&self) -> NormalizedFilter {
        normalize(&self.criteria)
    }

    /// Whether `other` (an existing rule's filter) is the same rule, ignoring order.
    pub fn same_as(&self, other: &Criteria) -> bool {
        self.normalized() == normalize(other)
    }

    /// This filter narrowed to ACTIVE findings: the query that counts what an apply would archive.
    pub fn with_active_status(&self) -> BTreeMap<String, Criterion> {
        let mut criteria = self.criteria.clone();
        criteria.insert(
            "status".to_owned(),
            Criterion {
                eq: Some(vec!["ACTIVE".to_owned()]),
                ..Criterion::default()
            },
        );
        criteria
    }

    /// The filter in the API's map shape, for logs and docs.
    pub fn to_json(&self) -> Value {
        criteria_to_json(&self.criteria)
    }
}

fn normalize(criteria: &Criteria) -> NormalizedFilter {
    criteria
        .iter()
        .map(|(key, c)| {
            (
                key.clone(),
                NormalizedCriterion::new(c.eq.clone(), c.neq.clone(), c.contains.clone(), c.exists),
            )
        })
        .collect()
}

pub fn criteria_to_json(criteria: &BTreeMap<String, Criterion>) -> Value {
    let mut out = Map::new();
    for (key, c) in criteria {
        let mut ops = Map::new();
        for (name, values) in [("eq", &c.eq), ("neq", &c.neq), ("contains", &c.contains)] {
            if let Some(values) = values {
                ops.insert(name.to_owned(), Value::from(values.clone()));
            }
        }
        if let Some(exists) = c.exists {
            ops.insert("exists".to_owned(), Value::Bool(exists));
        }
        out.insert(key.clone(), Value::Object(ops));
    }
    Value::Object(out)
}

fn parse_map_shape(map: &Map<String, Value>) -> Result<BTreeMap<String, Criterion>, PropertyError> {
    let mut criteria = BTreeMap::new();
    for (key, body) in map {
        let path = format!("Filter.{key}");
        let ops = body.as_object().ok_or_else(|| {
            PropertyError::new(
                &path,
                format!(
                    "must be a map of operators (Eq, Neq, Contains, Exists), got {}",
                    describe(body)
                ),
            )
        })?;
        insert_criterion(&mut criteria, key, &path, parse_criterion(&path, ops, &[])?)?;
    }
    Ok(criteria)
}

fn parse_list_shape(list: &[Value]) -> Result<BTreeMap<String, Criterion>, PropertyError> {
    let mut criteria = BTreeMap::new();
    for (index, item) in list.iter().enumerate() {
        let path = format!("Filter[{index}]");
        let ops = item.as_object().ok_or_else(|| {
            PropertyError::new(
                &path,
                format!(
                    "must be a map with `Property` and operators, got {}",
                    describe(item)
                ),
            )
        })?;
        let key = match (ops.get("Property"), ops.get("property")) {
            (Some(_), Some(_)) => {
                return Err(PropertyError::new(
                    &path,
                    "gives both `Property` and `property`",
                ))
            }
            (Some(Value::String(key)), None) | (None, Some(Value::String(key))) => key,
            (None, None) => {
                return Err(PropertyError::new(
                    format!("{path}.Property"),
                    "is required in the list shape of Filter",
                ))
            }
            (Some(other), None) | (None, Some(other)) => {
                return Err(PropertyError::new(
                    format!("{path}.Property"),
                    format!("must be a string, got {}", describe(other)),
                ))
            }
        };
        let criterion = parse_criterion(&path, ops, &["Property", "property"])?;
        insert_criterion(&mut criteria, key, &path, criterion)?;
    }
    Ok(criteria)
}

fn insert_criterion(
    criteria: &mut BTreeMap<String, Criterion>,
    key: &str,
    path: &str,
    criterion: Criterion,
) -> Result<(), PropertyError> {
    if key.is_empty() {
        return Err(PropertyError::new(path, "has an empty filter key"));
    }
    if FORBIDDEN_KEYS.contains(&key) {
        return Err(PropertyError::new(
            path,
            format!("filter key `{key}` is not allowed in archive rules"),
        ));
    }
    if criteria.insert(key.to_owned(), criterion).is_some() {
        return Err(PropertyError::new(
            path,
            format!("filter key `{key}` appears more than once"),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Operator {
    Eq,
    Neq,
    Contains,
    Exists,
}

fn operator(name: &str) -> Option<(Operator, &'static str)> {
    match name {
        "Eq" | "eq" => Some((Operator::Eq, "Eq")),
        "Neq" | "neq" => Some((Operator::Neq, "Neq")),
        "Contains" | "contains" => Some((Operator::Contains, "Contains")),
        "Exists" | "exists" => Some((Operator::Exists, "Exists")),
        _ => None,
    }
}

fn parse_criterion(
    path: &str,
    ops: &Map<String, Value>,
    skip: &[&str],
) -> Result<Criterion, PropertyError> {
    let mut criterion = Criterion::default();
    for (name, value) in ops {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let (op, canonical) = operator(name).ok_or_else(|| {
            PropertyError::new(
                format!("{path}.{name}"),
                "is not an operator; use Eq, Neq, Contains or Exists",
            )
        })?;
        let op_path = format!("{path}.{canonical}");
        let duplicate = match op {
            Operator::Eq => criterion
                .eq
                .replace(parse_values(&op_path, value)?)
                .is_some(),
            Operator::Neq => criterion
                .neq
                .replace(parse_values(&op_path, value)?)
                .is_some(),
            Operator::Contains => criterion
                .contains
                .replace(parse_values(&op_path, value)?)
                .is_some(),
            Operator::Exists => criterion
                .exists
                .replace(parse_bool(&op_path, value)?)
                .is_some(),
        };
        if duplicate {
            return Err(PropertyError::new(
                op_path,
                "is given twice (PascalCase and camelCase name the same operator)",
            ));
        }
    }
    if criterion == Criterion::default() {
        return Err(PropertyError::new(
            path,
            "needs at least one operator: Eq, Neq, Contains or Exists",
        ));
    }
    Ok(criterion)
}

fn parse_values(path: &str, value: &Value) -> Result<Vec<String>, PropertyError> {
    let items = value.as_array().ok_or_else(|| {
        PropertyError::new(
            path,
            format!("must be a list of strings, got {}", describe(value)),
        )
    })?;
    if items.is_empty() || items.len() > MAX_VALUES {
        return Err(PropertyError::new(
            path,
            format!("must hold 1 to {MAX_VALUES} values, got {}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            // CloudFormation turns YAML numbers (an account id, say) into strings; a direct
            // invocation may not, and the number means the same.
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::String(_) => Err(PropertyError::new(
                format!("{path}[{i}]"),
                "must not be empty",
            )),
            other => Err(PropertyError::new(
                format!("{path}[{i}]"),
                format!("must be a string, got {}", describe(other)),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(value: Value) -> PropertyError {
        Filter::parse(&value).unwrap_err()
    }

    #[test]
    fn map_and_list_shapes_and_operator_cases_mean_the_same() {
        let map = Filter::parse(&json!({
            "resourceType": {"Eq": ["AWS::IAM::Role"]},
            "principal.AWS": {"neq": ["111122223333"], "Exists": "true"}
        }))
        .unwrap();
        let list = Filter::parse(&json!([
            {"Property": "principal.AWS", "Neq": ["111122223333"], "exists": true},
            {"Property": "resourceType", "eq": ["AWS::IAM::Role"]}
        ]))
        .unwrap();
        assert_eq!(map, list);
    }

    #[test]
    fn comparison_ignores_order_and_repeats() {
        let declared =
            Filter::parse(&json!({"resource": {"Eq": ["a", "b"], "Contains": ["x"]}})).unwrap();
        let criterion = |eq: Vec<&str>, neq: Option<Vec<String>>| Criterion {
            eq: Some(eq.into_iter().map(str::to_owned).collect()),
            neq,
            contains: Some(vec!["x".into()]),
            exists: None,
        };
        let existing = Criteria::from([(
            "resource".to_owned(),
            criterion(vec!["b", "a", "a"], Some(vec![])),
        )]);
        assert!(declared.same_as(&existing));
        let different = Criteria::from([("resource".to_owned(), criterion(vec!["a"], None))]);
        assert!(!declared.same_as(&different));
    }

    #[test]
    fn rejects_empty_filter() {
        assert_eq!(err(json!({})).property, "Filter");
        assert_eq!(err(json!([])).property, "Filter");
    }

    #[test]
    fn rejects_status_and_id_keys() {
        let e = err(json!({"status": {"Eq": ["ACTIVE"]}}));
        assert!(e.to_string().contains("`status` is not allowed"), "{e}");
        let e = err(json!([{"Property": "id", "Eq": ["x"]}]));
        assert!(e.to_string().contains("`id` is not allowed"), "{e}");
    }

    #[test]
    fn rejects_duplicate_and_empty_keys_in_list_shape() {
        let e = err(json!([
            {"Property": "resource", "Eq": ["a"]},
            {"Property": "resource", "Eq": ["b"]}
        ]));
        assert!(e.to_string().contains("more than once"), "{e}");
        assert!(err(json!([{"Property": "", "Eq": ["a"]}]))
            .to_string()
            .contains("empty filter key"));
        assert!(err(json!({"": {"Eq": ["a"]}}))
            .to_string()
            .contains("empty filter key"));
    }

    #[test]
    fn rejects_criteria_without_operators_and_unknown_operators() {
        assert!(err(json!({"resource": {}}))
            .to_string()
            .contains("at least one operator"));
        let e = err(json!({"resource": {"Equals": ["a"]}}));
        assert_eq!(e.property, "Filter.resource.Equals");
        let e = err(json!({"resource": {"Eq": ["a"], "eq": ["b"]}}));
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn value_lists_hold_one_to_twenty_non_empty_strings() {
        assert!(err(json!({"resource": {"Eq": []}}))
            .to_string()
            .contains("1 to 20"));
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert!(err(json!({"resource": {"Neq": many}}))
            .to_string()
            .contains("got 21"));
        assert_eq!(
            err(json!({"resource": {"Contains": ["a", ""]}})).property,
            "Filter.resource.Contains[1]"
        );
        assert!(err(json!({"resource": {"Eq": "a"}}))
            .to_string()
            .contains("must be a list"));
    }

    #[test]
    fn exists_is_a_boolean() {
        let f = Filter::parse(&json!({"error": {"Exists": "False"}})).unwrap();
        assert_eq!(f.criteria().next().unwrap().1.exists, Some(false));
        let e = err(json!({"error": {"Exists": "maybe"}}));
        assert_eq!(e.property, "Filter.error.Exists");
    }

    #[test]
    fn active_status_is_added_for_counting() {
        let f = Filter::parse(&json!({"resourceType": {"Eq": ["AWS::S3::Bucket"]}})).unwrap();
        let query = f.with_active_status();
        assert_eq!(query["status"].eq, Some(vec!["ACTIVE".to_owned()]));
        assert_eq!(query.len(), 2);
    }
}
