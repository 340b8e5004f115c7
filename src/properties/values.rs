//! The value shapes every property is read with: CloudFormation sends every scalar as a string
//! (`"true"`, `"60"`) where a direct invocation may send real JSON, and the service's name patterns.
//! Each error names the property and quotes the value that arrived.

use serde_json::{Map, Value};

use crate::error::PropertyError;

pub(crate) fn properties_map(properties: &Value) -> Result<&Map<String, Value>, PropertyError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match properties {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(EMPTY.get_or_init(Map::new)),
        other => Err(PropertyError::new(
            "ResourceProperties",
            format!("must be a map, got {}", describe(other)),
        )),
    }
}

pub(crate) fn reject_unknown(
    map: &Map<String, Value>,
    known: &[&str],
) -> Result<(), PropertyError> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(PropertyError::new(
            key,
            format!(
                "is not a property of this resource type; known properties: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

pub(crate) fn optional<T>(
    map: &Map<String, Value>,
    property: &str,
    parse: impl Fn(&str, &Value) -> Result<T, PropertyError>,
) -> Result<Option<T>, PropertyError> {
    map.get(property).map(|v| parse(property, v)).transpose()
}

/// `true`, `"true"` and `"True"` are all true (CloudFormation stringifies booleans).
pub fn parse_bool(property: &str, value: &Value) -> Result<bool, PropertyError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(PropertyError::new(
            property,
            format!("must be true or false, got {}", describe(other)),
        )),
    }
}

/// `60` and `"60"` are both 60.
pub(crate) fn parse_u64_in(
    property: &str,
    value: &Value,
    min: u64,
    max: u64,
) -> Result<u64, PropertyError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    };
    let range = if max == u64::MAX {
        format!("a whole number of at least {min}")
    } else {
        format!("a whole number from {min} to {max}")
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(PropertyError::new(
            property,
            format!("must be {range}, got {}", describe(value)),
        )),
    }
}

pub(crate) fn parse_nonempty_string(
    property: &str,
    value: &Value,
) -> Result<String, PropertyError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(PropertyError::new(
            property,
            format!("must be a non-empty string, got {}", describe(other)),
        )),
    }
}

/// `Revision` is any string; a number from a direct invocation means its decimal form.
pub(crate) fn parse_scalar_string(property: &str, value: &Value) -> Result<String, PropertyError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(PropertyError::new(
            property,
            format!("must be a string, got {}", describe(other)),
        )),
    }
}

/// The service's `AnalyzerName` shape: 1–255 characters of `[A-Za-z_][A-Za-z0-9_.-]*`
/// (service-linked analyzers start with `_`).
pub(crate) fn check_analyzer_name(property: &str, name: &str) -> Result<(), PropertyError> {
    check_name(property, "analyzer name", name, |c| {
        c.is_ascii_alphabetic() || c == '_'
    })
}

/// The service's `Name` shape for rules: 1–255 characters of `[A-Za-z][A-Za-z0-9_.-]*`.
pub(crate) fn check_rule_name(property: &str, name: &str) -> Result<(), PropertyError> {
    check_name(property, "rule name", name, |c| c.is_ascii_alphabetic())
}

fn check_name(
    property: &str,
    what: &str,
    name: &str,
    valid_first: impl Fn(char) -> bool,
) -> Result<(), PropertyError> {
    let valid_rest = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let len = name.chars().count();
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(&valid_first);
    if !(1..=255).contains(&len) || !first_ok || !chars.all(valid_rest) {
        return Err(PropertyError::new(
            property,
            format!("{name:?} is not a valid {what} (1-255 characters, letters, digits, _ . -, starting with a letter{})",
                if what == "analyzer name" { " or _" } else { "" }),
        ));
    }
    Ok(())
}

/// A short description of a JSON value for error messages, quoting scalars so the operator sees
/// exactly what arrived.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(80).collect();
            format!("{shown:?}")
        }
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "a map".to_owned(),
    }
}
