//! Property parsing: `ResourceProperties` and `Filter` from any JSON must parse or fail with a
//! reason, never panic; a filter that parses, written back in the API's shape, parses to itself
//! and compares equal to itself.
#![no_main]

use applied_archive_rule::filter::{Criteria, Filter};
use applied_archive_rule::properties::{self, ApplyRulesProperties, RuleProperties};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check_filter(value: &Value) {
    let Ok(filter) = Filter::parse(value) else {
        return;
    };
    let again = Filter::parse(&filter.to_json()).expect("a parsed filter's own JSON parses");
    assert_eq!(again, filter);
    let criteria: Criteria = filter
        .criteria()
        .map(|(k, c)| (k.to_owned(), c.clone()))
        .collect();
    assert!(filter.same_as(&criteria));
    assert_eq!(Filter::from_criteria(&criteria).as_ref(), Ok(&filter));
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check_filter(&value);
    if let Some(filter) = value.get("Filter") {
        check_filter(filter);
    }
    if let Ok(props) = RuleProperties::parse(&value) {
        // Parsing is deterministic.
        assert_eq!(RuleProperties::parse(&value).ok(), Some(props));
    }
    let _ = ApplyRulesProperties::parse(&value);
    let _ = properties::service_timeout(&value);
    for key in ["ApplyToExistingFindings", "AdoptExisting"] {
        if let Some(v) = value.get(key) {
            let _ = properties::parse_bool(key, v);
        }
    }
});
