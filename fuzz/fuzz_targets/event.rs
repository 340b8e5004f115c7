//! Event parsing: whatever bytes arrive as a Lambda payload, reading the CloudFormation event must
//! not panic, the ResponseURL policy must hold, and a logged URL must never carry its query string.
#![no_main]

use applied_archive_rule::arn::{function_location, parse_archive_rule_arn, stack_location};
use applied_archive_rule::cfn::{redact_str, unwrap_sns, Envelope, ResponseUrlPolicy};
use applied_archive_rule::properties::{self, ApplyRulesProperties, RuleProperties};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let event = unwrap_sns(payload);
    let envelope = Envelope::read(&event);

    let stack = envelope.stack_id.as_deref().and_then(stack_location);
    if let Some(service_token) = event.get("ServiceToken").and_then(Value::as_str) {
        let _ = function_location(service_token);
    }
    if let Some(url) = envelope.response_url.as_deref() {
        for allow_local in [false, true] {
            let policy = ResponseUrlPolicy {
                extra_host_suffixes: vec!["example.internal".to_owned()],
                allow_local,
            };
            if let Ok(parsed) = policy.check(url, stack.as_ref().map(|s| s.partition.as_str())) {
                let scheme = parsed.scheme();
                assert!(
                    scheme == "https" || (allow_local && scheme == "http"),
                    "accepted a {scheme} URL"
                );
            }
        }
        let redacted = redact_str(url);
        assert!(
            !redacted.contains('?'),
            "a redacted URL kept its query: {redacted}"
        );
    }
    if let Some(id) = envelope.physical_resource_id.as_deref() {
        if let Some(rule) = parse_archive_rule_arn(id) {
            // An id the provider recognises is one it could have written.
            let again = parse_archive_rule_arn(&rule.to_string()).expect("its own ARN parses");
            assert_eq!(again, rule);
        }
    }
    if let Some(props) = envelope.resource_properties.as_ref() {
        let _ = properties::service_timeout(props);
        if let Ok(rule) = RuleProperties::parse(props) {
            if let Some(stack) = stack.as_ref() {
                let _ = rule.analyzer.resolve(stack);
            }
        }
        let _ = ApplyRulesProperties::parse(props);
    }
    if let Some(old) = event.get("OldResourceProperties") {
        let _ = properties::service_timeout(old);
    }
});
