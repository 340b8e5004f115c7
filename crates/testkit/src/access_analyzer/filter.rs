//! Filter criteria (`FilterCriteriaMap`) as Access Analyzer validates and applies them, for
//! archive rules, ApplyArchiveRule and the ListFindings operations alike, and the filter keys
//! each analyzer type accepts.

use serde_json::Value;

use super::Finding;

/// The most values one operator takes (`ValueList`: min 1, max 20 in the service model).
const MAX_VALUES: usize = 20;

/// What the analyzer types have in common for filtering: the kind of finding they make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnalyzerFamily {
    /// `ACCOUNT`, `ORGANIZATION`.
    External,
    /// `ACCOUNT_INTERNAL_ACCESS`, `ORGANIZATION_INTERNAL_ACCESS`.
    Internal,
    /// `ACCOUNT_UNUSED_ACCESS`, `ORGANIZATION_UNUSED_ACCESS`.
    Unused,
}

use AnalyzerFamily::{External, Internal, Unused};

const EVERY_FAMILY: &[AnalyzerFamily] = &[External, Internal, Unused];

/// Which analyzer types accept each filter key, after the IAM User Guide's filter-key
/// reference, "IAM Access Analyzer filter keys"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-filter-keys.html>),
/// whose "Supported analyzer types" column names External, Internal and Unused per key.
///
/// Read from the page: `resource` and `resourceType` serve all three; `findingType` only unused
/// access ("You can only filter by finding type for unused access findings"); `isPublic`,
/// `principal.AWS`, `principal.Federated` and the `condition.*` keys describe external access
/// (the v1 `Finding`'s members); `status` and `id` list findings but are no archive-rule keys
/// ("Archive rule: No").
///
/// A guess (the stored copies of the page we could read stop after the first rows of the
/// column): `resourceOwnerAccount` and `error` for all three, as every `FindingSummaryV2`
/// carries them and the EventBridge docs show error findings of each type; for internal access
/// the members of the model's `InternalAccessDetails` (`principalType`,
/// `principalOwnerAccount`, `accessType`, `serviceControlPolicyRestriction`, the principal map
/// as `principal.AWS`, and `resourceControlPolicyRestriction`, which the page's older text gives
/// to external access only). Where unsure the emulator accepts rather than refuses, so a test
/// never claims the service refuses what it may take.
const KEYS: &[(&str, &[AnalyzerFamily])] = &[
    ("resource", EVERY_FAMILY),
    ("resourceType", EVERY_FAMILY),
    ("resourceOwnerAccount", EVERY_FAMILY),
    ("error", EVERY_FAMILY),
    ("status", EVERY_FAMILY),
    ("id", EVERY_FAMILY),
    ("isPublic", &[External]),
    ("principal.AWS", &[External, Internal]),
    ("principal.Federated", &[External]),
    ("resourceControlPolicyRestriction", &[External, Internal]),
    ("findingType", &[Unused]),
    ("principalType", &[Internal]),
    ("principalOwnerAccount", &[Internal]),
    ("accessType", &[Internal]),
    ("serviceControlPolicyRestriction", &[Internal]),
];

/// Keys that select findings in a listing but not in an archive rule: a rule can neither
/// select on the status it sets nor name findings that do not exist yet.
const LISTING_ONLY_KEYS: [&str; 2] = ["status", "id"];

impl AnalyzerFamily {
    /// `None` for a string that is no analyzer `Type` of the service model.
    pub(crate) fn of(analyzer_type: &str) -> Option<AnalyzerFamily> {
        match analyzer_type {
            "ACCOUNT" | "ORGANIZATION" => Some(External),
            "ACCOUNT_INTERNAL_ACCESS" | "ORGANIZATION_INTERNAL_ACCESS" => Some(Internal),
            "ACCOUNT_UNUSED_ACCESS" | "ORGANIZATION_UNUSED_ACCESS" => Some(Unused),
            _ => None,
        }
    }

    /// The `findingType`s its findings carry (`FindingSummaryV2.findingType`: `ExternalAccess`
    /// for external access, `InternalAccess` for internal access, one of four for unused
    /// access).
    pub(crate) fn finding_types(self) -> &'static [&'static str] {
        match self {
            External => &["ExternalAccess"],
            Internal => &["InternalAccess"],
            Unused => &[
                "UnusedIAMRole",
                "UnusedIAMUserAccessKey",
                "UnusedIAMUserPassword",
                "UnusedPermission",
            ],
        }
    }

    /// The `findingType` a finding has unless it names one: only external and internal access
    /// have a single type.
    pub(crate) fn default_finding_type(self) -> Option<&'static str> {
        match self.finding_types() {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// The analyzer types that accept `key`; `None` when it is no filter key at all.
fn families_accepting(key: &str) -> Option<&'static [AnalyzerFamily]> {
    if let Some((_, families)) = KEYS.iter().find(|(known, _)| *known == key) {
        return Some(families);
    }
    // The page lists a dozen global and service condition keys (`condition.aws:PrincipalOrgID`,
    // `condition.kms:CallerAccount`, ...); which others the service takes is not written, so
    // any `condition.<context key>` is accepted on external access.
    key.strip_prefix("condition.")
        .is_some_and(|context_key| !context_key.is_empty())
        .then_some(&[External][..])
}

/// Where a filter is used: archive rules take fewer keys and need at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// CreateArchiveRule, UpdateArchiveRule (and the rules ApplyArchiveRule applies).
    ArchiveRule,
    /// ListFindings, ListFindingsV2.
    Listing,
}

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
    /// Parses the wire shape `{"<key>": {"eq": [..], "neq": [..], "contains": [..], "exists": b}}`
    /// and checks each key is a filter key `usage` takes. Which analyzer types accept a key is
    /// checked by [`Filter::check_keys`], once the analyzer is known.
    pub(crate) fn parse(value: &Value, usage: Use) -> Result<Filter, String> {
        let map = value
            .as_object()
            .ok_or_else(|| "must be a map of criteria".to_owned())?;
        if usage == Use::ArchiveRule && map.is_empty() {
            return Err("must contain at least one criterion".to_owned());
        }
        let mut criteria = Vec::with_capacity(map.len());
        for (key, criterion) in map {
            if families_accepting(key).is_none() {
                return Err(format!("key '{key}' is not supported"));
            }
            if usage == Use::ArchiveRule && LISTING_ONLY_KEYS.contains(&key.as_str()) {
                return Err(format!("key '{key}' is not supported in archive rules"));
            }
            let criterion =
                parse_criterion(criterion).map_err(|error| format!("{key}: {error}"))?;
            criteria.push((key.clone(), criterion));
        }
        Ok(Filter { criteria })
    }

    /// The first key the analyzer's type does not accept, as the service's message names it.
    /// The wording is a guess: the API reference documents the `ValidationException` (its
    /// `reason` and `fieldList`), not its message.
    pub(crate) fn check_keys(
        &self,
        family: AnalyzerFamily,
        analyzer_type: &str,
    ) -> Result<(), String> {
        match self.criteria.iter().find(|(key, _)| {
            !families_accepting(key).is_some_and(|families| families.contains(&family))
        }) {
            Some((key, _)) => Err(format!(
                "key '{key}' is not supported for analyzers of type {analyzer_type}"
            )),
            None => Ok(()),
        }
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

/// A finding's value for a filter key; `None` when the finding does not have the attribute.
pub(crate) fn attribute(finding: &Finding, key: &str) -> Option<String> {
    let text = |value: &Option<String>| value.clone();
    match key {
        "resourceType" => Some(finding.resource_type.clone()),
        "resource" => Some(finding.resource.clone()),
        "status" => Some(finding.status.as_str().to_owned()),
        "id" => Some(finding.id.clone()),
        "resourceOwnerAccount" => Some(finding.resource_owner_account.clone()),
        "isPublic" => Some(finding.is_public.to_string()),
        "findingType" => text(&finding.finding_type),
        "error" => text(&finding.error),
        "principalType" => text(&finding.principal_type),
        "principalOwnerAccount" => text(&finding.principal_owner_account),
        "accessType" => text(&finding.access_type),
        "resourceControlPolicyRestriction" => text(&finding.resource_control_policy_restriction),
        "serviceControlPolicyRestriction" => text(&finding.service_control_policy_restriction),
        _ => {
            if let Some(principal) = key.strip_prefix("principal.") {
                finding.principal.get(principal).cloned()
            } else if let Some(condition) = key.strip_prefix("condition.") {
                finding.condition.get(condition).cloned()
            } else {
                None
            }
        }
    }
}

impl Criterion {
    /// Every operator present must hold. `eq`: the value equals one of the operands; `neq`: it
    /// equals none of them (an absent attribute equals nothing); `contains`: it has an operand
    /// as a substring; `exists`: presence matches the flag.
    fn matches(&self, value: Option<&str>) -> bool {
        let any = |operands: &[String], test: &dyn Fn(&str, &str) -> bool| {
            value.is_some_and(|value| operands.iter().any(|operand| test(value, operand)))
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
            && self.exists.is_none_or(|exists| exists == value.is_some())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::access_analyzer::{FindingSeed, FindingStatus};

    fn finding(seed: FindingSeed, family: AnalyzerFamily) -> Finding {
        Finding::from_seed(seed, "123456789012", family).expect("a finding of its family")
    }

    fn role_finding() -> Finding {
        let seed = FindingSeed::new("AWS::IAM::Role", "arn:aws:iam::123456789012:role/deploy")
            .principal("AWS", "arn:aws:iam::999999999999:root")
            .action("sts:AssumeRole")
            .condition("aws:PrincipalOrgID", "o-abc");
        finding(seed, External)
    }

    fn matches(filter: Value) -> bool {
        Filter::parse(&filter, Use::Listing)
            .expect("valid filter")
            .matches(&role_finding())
    }

    /// Keys, and whether External, Internal and Unused analyzers accept them.
    const KEY_SUPPORT: &[(&str, [bool; 3])] = &[
        ("resource", [true, true, true]),
        ("resourceType", [true, true, true]),
        ("resourceOwnerAccount", [true, true, true]),
        ("error", [true, true, true]),
        ("isPublic", [true, false, false]),
        ("principal.AWS", [true, true, false]),
        ("principal.Federated", [true, false, false]),
        ("condition.aws:PrincipalOrgID", [true, false, false]),
        ("condition.kms:CallerAccount", [true, false, false]),
        ("resourceControlPolicyRestriction", [true, true, false]),
        ("findingType", [false, false, true]),
        ("principalType", [false, true, false]),
        ("principalOwnerAccount", [false, true, false]),
        ("accessType", [false, true, false]),
        ("serviceControlPolicyRestriction", [false, true, false]),
    ];

    fn keys_check(key: &str, usage: Use, family: AnalyzerFamily) -> Result<(), String> {
        let filter = Filter::parse(&json!({ key: {"eq": ["x"]} }), usage)?;
        filter.check_keys(family, "TYPE")
    }

    #[test]
    fn each_analyzer_type_accepts_its_own_keys() {
        for (key, support) in KEY_SUPPORT {
            for (family, accepted) in [External, Internal, Unused].into_iter().zip(support) {
                for usage in [Use::ArchiveRule, Use::Listing] {
                    let result = keys_check(key, usage, family);
                    assert_eq!(result.is_ok(), *accepted, "{key} on {family:?}: {result:?}");
                }
            }
        }
    }

    #[test]
    fn analyzer_types_map_to_their_family() {
        for (analyzer_type, family) in [
            ("ACCOUNT", External),
            ("ORGANIZATION", External),
            ("ACCOUNT_INTERNAL_ACCESS", Internal),
            ("ORGANIZATION_INTERNAL_ACCESS", Internal),
            ("ACCOUNT_UNUSED_ACCESS", Unused),
            ("ORGANIZATION_UNUSED_ACCESS", Unused),
        ] {
            assert_eq!(AnalyzerFamily::of(analyzer_type), Some(family));
        }
        assert_eq!(AnalyzerFamily::of("account"), None);
    }

    #[test]
    fn status_and_id_are_refused_in_rules_but_select_findings_in_listings() {
        for key in ["status", "id"] {
            let refused = keys_check(key, Use::ArchiveRule, External).expect_err("refused");
            assert_eq!(
                refused,
                format!("key '{key}' is not supported in archive rules")
            );
            for family in [External, Internal, Unused] {
                assert_eq!(keys_check(key, Use::Listing, family), Ok(()), "{key}");
            }
        }
    }

    #[test]
    fn a_key_of_another_type_is_named_with_the_type() {
        let filter = Filter::parse(
            &json!({"resource": {"eq": ["x"]}, "isPublic": {"eq": ["false"]}}),
            Use::ArchiveRule,
        )
        .expect("both are filter keys");
        assert_eq!(
            filter.check_keys(Unused, "ACCOUNT_UNUSED_ACCESS"),
            Err(
                "key 'isPublic' is not supported for analyzers of type ACCOUNT_UNUSED_ACCESS"
                    .into()
            )
        );
        assert_eq!(filter.check_keys(External, "ACCOUNT"), Ok(()));
    }

    #[test]
    fn unused_and_internal_findings_match_on_their_own_attributes() {
        let unused = finding(
            FindingSeed::new(
                "AWS::IAM::Role",
                "arn:aws:iam::123456789012:role/break-glass",
            )
            .finding_type("UnusedIAMRole"),
            Unused,
        );
        let unused_rule = Filter::parse(
            &json!({
                "findingType": {"eq": ["UnusedIAMRole"]},
                "resource": {"eq": ["arn:aws:iam::123456789012:role/break-glass"]}
            }),
            Use::ArchiveRule,
        )
        .expect("valid");
        assert!(unused_rule.matches(&unused));

        let internal = finding(
            FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::backups").internal_principal(
                "arn:aws:iam::123456789012:role/backup",
                "IAM_ROLE",
                "123456789012",
                "INTRA_ACCOUNT",
            ),
            Internal,
        );
        assert_eq!(internal.finding_type.as_deref(), Some("InternalAccess"));
        let internal_rule = Filter::parse(
            &json!({
                "principal.AWS": {"eq": ["arn:aws:iam::123456789012:role/backup"]},
                "principalType": {"eq": ["IAM_ROLE"]},
                "accessType": {"eq": ["INTRA_ACCOUNT"]},
                "serviceControlPolicyRestriction": {"exists": false}
            }),
            Use::ArchiveRule,
        )
        .expect("valid");
        assert!(internal_rule.matches(&internal));
        assert!(!internal_rule.matches(&role_finding()));
    }

    #[test]
    fn findings_carry_a_finding_type_of_their_family() {
        let role = || FindingSeed::new("AWS::IAM::Role", "arn:aws:iam::123456789012:role/r");
        assert_eq!(
            role_finding().finding_type.as_deref(),
            Some("ExternalAccess")
        );
        for (seed, family) in [
            (role(), Unused),
            (role().finding_type("UnusedIAMRole"), External),
            (role().finding_type("ExternalAccess"), Internal),
            (role().finding_type("UnusedRole"), Unused),
        ] {
            assert!(
                Finding::from_seed(seed, "123456789012", family).is_err(),
                "{family:?}"
            );
        }
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
        assert!(matches(json!({"principal.Federated": {"exists": false}})));
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
    fn status_changes_are_seen() {
        let mut finding = role_finding();
        finding.status = FindingStatus::Archived;
        let filter =
            Filter::parse(&json!({"status": {"eq": ["ACTIVE"]}}), Use::Listing).expect("valid");
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
            json!({"condition.": {"eq": ["x"]}}),
            json!({"principal.Service": {"eq": ["x"]}}),
            json!({"action": {"eq": ["s3:GetObject"]}}),
        ];
        for filter in rejected {
            assert!(
                Filter::parse(&filter, Use::ArchiveRule).is_err(),
                "accepted {filter}"
            );
        }
        assert!(Filter::parse(&json!({}), Use::Listing).is_ok());
        assert!(Filter::parse(
            &json!({"resourceType": {"eq": vec!["x"; 20]}}),
            Use::ArchiveRule
        )
        .is_ok());
    }
}
