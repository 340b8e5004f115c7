//! Properties that hold for every input, not just the examples (issue 5 §3, §4), with proptest:
//!
//! - SPEC §2: the map and the list shape of `Filter`, with PascalCase or camelCase operators (and
//!   CloudFormation's stringly booleans), parse to the same rule;
//! - SPEC §3: comparing a declared filter with an existing rule ignores the order (and repeats) of
//!   values, and still tells a different rule apart;
//! - a parsed filter, written back in the API's shape, parses to itself;
//! - SPEC §4: only `https://` response URLs whose host is in the stack partition's DNS suffix are
//!   accepted, and the redacted form of any URL carries no query string.

use std::collections::BTreeMap;

use applied_archive_rule::arn::stack_location;
use applied_archive_rule::cfn::{redact_str, ResponseUrlPolicy};
use applied_archive_rule::filter::{Criteria, Filter};
use applied_archive_rule::properties::RuleProperties;
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{json, Map, Value};

/// A filter's criteria, as `GetArchiveRule` would return the rule.
fn criteria_of(filter: &Filter) -> Criteria {
    filter
        .criteria()
        .map(|(k, c)| (k.to_owned(), c.clone()))
        .collect()
}

/// One criterion as generated: at least one operator set.
#[derive(Clone, Debug)]
struct Crit {
    eq: Option<Vec<String>>,
    neq: Option<Vec<String>>,
    contains: Option<Vec<String>>,
    exists: Option<bool>,
}

fn value_list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[A-Za-z0-9:*/._-]{1,12}", 1..=20)
}

fn criterion() -> impl Strategy<Value = Crit> {
    (
        prop::option::of(value_list()),
        prop::option::of(value_list()),
        prop::option::of(value_list()),
        prop::option::of(any::<bool>()),
    )
        .prop_filter("at least one operator", |(a, b, c, d)| {
            a.is_some() || b.is_some() || c.is_some() || d.is_some()
        })
        .prop_map(|(eq, neq, contains, exists)| Crit {
            eq,
            neq,
            contains,
            exists,
        })
}

fn filter_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resourceType".to_owned()),
        Just("isPublic".to_owned()),
        Just("principal.AWS".to_owned()),
        Just("condition.aws:SourceVpc".to_owned()),
        Just("resourceOwnerAccount".to_owned()),
        "[a-z][A-Za-z0-9.:]{0,15}",
    ]
    .prop_filter("status and id are not archive-rule keys", |k| {
        k != "status" && k != "id"
    })
}

fn criteria() -> impl Strategy<Value = BTreeMap<String, Crit>> {
    prop::collection::btree_map(filter_key(), criterion(), 1..6)
}

/// Spells an operator in one of its accepted forms.
fn spell(pascal: &str, camel: bool) -> String {
    if camel {
        let mut chars = pascal.chars();
        let first = chars.next().unwrap().to_ascii_lowercase();
        std::iter::once(first).chain(chars).collect()
    } else {
        pascal.to_owned()
    }
}

/// CloudFormation sends booleans as strings; a direct invocation may send JSON booleans.
fn spell_bool(value: bool, style: u8) -> Value {
    match (style % 3, value) {
        (0, v) => json!(v),
        (1, true) => json!("true"),
        (1, false) => json!("false"),
        (_, true) => json!("True"),
        (_, false) => json!("False"),
    }
}

/// The operators of one criterion as a JSON map, each operator's case chosen by `camel`.
fn operators(c: &Crit, camel: &[bool; 4], bool_style: u8) -> Map<String, Value> {
    let mut ops = Map::new();
    for (i, (name, values)) in [("Eq", &c.eq), ("Neq", &c.neq), ("Contains", &c.contains)]
        .into_iter()
        .enumerate()
    {
        if let Some(values) = values {
            ops.insert(spell(name, camel[i]), json!(values));
        }
    }
    if let Some(exists) = c.exists {
        ops.insert(spell("Exists", camel[3]), spell_bool(exists, bool_style));
    }
    ops
}

fn map_shape(criteria: &BTreeMap<String, Crit>, camel: &[bool; 4], bool_style: u8) -> Value {
    Value::Object(
        criteria
            .iter()
            .map(|(k, c)| (k.clone(), Value::Object(operators(c, camel, bool_style))))
            .collect(),
    )
}

fn list_shape(
    criteria: &BTreeMap<String, Crit>,
    camel: &[bool; 4],
    bool_style: u8,
    lower_property: bool,
    order: &[usize],
) -> Value {
    let items: Vec<Value> = criteria
        .iter()
        .map(|(k, c)| {
            let mut ops = operators(c, camel, bool_style);
            let property = if lower_property {
                "property"
            } else {
                "Property"
            };
            ops.insert(property.to_owned(), json!(k));
            Value::Object(ops)
        })
        .collect();
    // The list's order carries no meaning either.
    let mut permuted: Vec<Value> = order
        .iter()
        .filter_map(|&i| items.get(i).cloned())
        .collect();
    for (i, item) in items.into_iter().enumerate() {
        if !order.contains(&i) {
            permuted.push(item);
        }
    }
    Value::Array(permuted)
}

fn properties_with(filter: Value) -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "AnalyzerName": "main",
        "RuleName": "r",
        "Filter": filter,
    })
}

/// Reorders every value list of `filter` (map shape) and repeats some values.
fn shuffled(filter: &Value, seed: u64) -> Value {
    let mut out = filter.clone();
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift: a deterministic permutation from the generated seed.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for ops in out.as_object_mut().unwrap().values_mut() {
        for values in ops.as_object_mut().unwrap().values_mut() {
            if let Some(list) = values.as_array_mut() {
                for i in (1..list.len()).rev() {
                    let j = (next() % (i as u64 + 1)) as usize;
                    list.swap(i, j);
                }
                if list.len() < 20 && next() % 2 == 0 {
                    let dup = list[(next() % list.len() as u64) as usize].clone();
                    list.push(dup);
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn map_and_list_shapes_and_operator_spellings_parse_to_the_same_rule(
        criteria in criteria(),
        camel_a in any::<[bool; 4]>(),
        camel_b in any::<[bool; 4]>(),
        bool_a in 0u8..3,
        bool_b in 0u8..3,
        lower_property in any::<bool>(),
        order in subsequence((0..6).collect::<Vec<usize>>(), 0..6).prop_shuffle(),
    ) {
        let map = map_shape(&criteria, &camel_a, bool_a);
        let list = list_shape(&criteria, &camel_b, bool_b, lower_property, &order);

        let from_map = Filter::parse(&map).expect("the map shape parses");
        let from_list = Filter::parse(&list).expect("the list shape parses");
        prop_assert_eq!(&from_map, &from_list);
        prop_assert!(from_map.same_as(&criteria_of(&from_list)));

        // The same holds for the whole resource: nothing else in the properties depends on it.
        let props_map = RuleProperties::parse(&properties_with(map)).expect("properties parse");
        let props_list = RuleProperties::parse(&properties_with(list)).expect("properties parse");
        prop_assert_eq!(props_map, props_list);
    }

    #[test]
    fn a_parsed_filter_written_in_the_api_shape_parses_to_itself(
        criteria in criteria(),
        camel in any::<[bool; 4]>(),
    ) {
        let filter = Filter::parse(&map_shape(&criteria, &camel, 0)).unwrap();
        let again = Filter::parse(&filter.to_json()).expect("its own output parses");
        prop_assert_eq!(again, filter);
    }

    #[test]
    fn filter_comparison_ignores_the_order_and_repeats_of_values(
        criteria in criteria(),
        seed in any::<u64>(),
    ) {
        let declared = Filter::parse(&map_shape(&criteria, &[false; 4], 0)).unwrap();
        let existing = Filter::parse(&shuffled(&declared.to_json(), seed)).unwrap();
        prop_assert!(declared.same_as(&criteria_of(&existing)));
        prop_assert!(existing.same_as(&criteria_of(&declared)));
    }

    #[test]
    fn filter_comparison_still_tells_a_different_rule_apart(
        criteria in criteria(),
        extra in "[A-Za-z0-9]{1,8}",
    ) {
        let declared = Filter::parse(&map_shape(&criteria, &[false; 4], 0)).unwrap();
        let mut changed = declared.to_json();
        // One more criterion on a key no generated filter has.
        changed["zzz.added"] = json!({"eq": [format!("{extra}")]});
        let changed = Filter::parse(&changed).unwrap();
        prop_assert!(!declared.same_as(&criteria_of(&changed)));

        // One more value in an existing Eq/Neq/Contains list (a value not there yet).
        let mut widened = declared.to_json();
        let mut did = false;
        for ops in widened.as_object_mut().unwrap().values_mut() {
            for (name, values) in ops.as_object_mut().unwrap() {
                if name != "exists" {
                    let list = values.as_array_mut().unwrap();
                    let fresh = format!("{extra}-not-a-generated-value!");
                    if list.len() < 20 {
                        list.push(json!(fresh));
                        did = true;
                        break;
                    }
                }
            }
            if did {
                break;
            }
        }
        if did {
            let widened = Filter::parse(&widened).unwrap();
            prop_assert!(!declared.same_as(&criteria_of(&widened)));
        }
    }
}

/// SPEC §4's partition → DNS suffix table, written out here rather than taken from the code.
const PARTITIONS: [(&str, &str); 6] = [
    ("aws", "amazonaws.com"),
    ("aws-us-gov", "amazonaws.com"),
    ("aws-cn", "amazonaws.com.cn"),
    ("aws-iso", "c2s.ic.gov"),
    ("aws-iso-b", "sc2s.sgov.gov"),
    ("aws-eusc", "amazonaws.eu"),
];

fn host_tail() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("amazonaws.com".to_owned()),
        Just("amazonaws.com.cn".to_owned()),
        Just("c2s.ic.gov".to_owned()),
        Just("sc2s.sgov.gov".to_owned()),
        Just("amazonaws.eu".to_owned()),
        Just("amazonaws.com.evil.example".to_owned()),
        Just("evilamazonaws.com".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("localhost".to_owned()),
        "[a-z0-9-]{1,12}\\.[a-z]{2,6}",
    ]
}

fn stack_id(partition: &str) -> String {
    let region = match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        "aws-iso" => "us-iso-east-1",
        "aws-iso-b" => "us-isob-east-1",
        "aws-eusc" => "eusc-de-east-1",
        _ => "us-east-1",
    };
    format!("arn:{partition}:cloudformation:{region}:123456789012:stack/s/guid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn only_https_hosts_in_the_partition_suffix_are_accepted_and_redaction_drops_the_query(
        partition in 0usize..PARTITIONS.len(),
        labels in prop::collection::vec("[a-z0-9-]{1,10}", 0..3),
        tail in host_tail(),
        https in any::<bool>(),
        userinfo in any::<bool>(),
        secret in "[A-Za-z0-9%]{8,24}",
    ) {
        let (partition, suffix) = PARTITIONS[partition];
        let stack = stack_location(&stack_id(partition)).expect("a valid StackId");
        prop_assert_eq!(stack.partition.as_str(), partition);
        let mut host = labels.join(".");
        if !host.is_empty() {
            host.push('.');
        }
        host.push_str(&tail);
        let scheme = if https { "https" } else { "http" };
        // A userinfo part that looks like an allowed host must not fool the check.
        let auth = if userinfo { "s3.amazonaws.com@" } else { "" };
        let url = format!(
            "{scheme}://{auth}{host}/cloudformation-response/obj?X-Amz-Signature=SIG{secret}&X-Amz-Credential=c"
        );

        let policy = ResponseUrlPolicy::default();
        let accepted = policy.check(&url, Some(partition)).is_ok();
        let in_suffix = host == suffix || host.ends_with(&format!(".{suffix}"));
        prop_assert_eq!(accepted, https && in_suffix, "{}", url);

        let redacted = redact_str(&url);
        prop_assert!(!redacted.contains('?'), "{}", redacted);
        prop_assert!(!redacted.contains(&format!("SIG{secret}")), "{}", redacted);
    }

    #[test]
    fn local_urls_are_accepted_only_when_allowed_and_only_over_http(
        host in prop_oneof![Just("127.0.0.1"), Just("localhost"), Just("[::1]"), Just("10.0.0.1"), Just("169.254.169.254")],
        port in 1u16..,
        https in any::<bool>(),
        allow_local in any::<bool>(),
    ) {
        let url = format!("{}://{host}:{port}/r?X-Amz-Signature=s", if https { "https" } else { "http" });
        let policy = ResponseUrlPolicy { extra_host_suffixes: vec![], allow_local };
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        prop_assert_eq!(
            policy.check(&url, Some("aws")).is_ok(),
            allow_local && loopback && !https,
            "{}", url
        );
    }
}
