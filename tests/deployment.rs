//! What a user deploys and copies stays true to the code: the templates' IAM policies allow exactly
//! the Access Analyzer operations each function calls, their parameters shape the roles and the
//! functions as the docs say (auto-apply included: SPEC §9.1), the docs' SCP covers every way in,
//! and the sample events run against the emulator or are what the event rule matches.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::FindingSeed;

const TEMPLATES_WITH_THE_PROVIDER_ROLE: [&str; 3] = [
    "cfn/provider.yaml",
    "cfn/stackset.yaml",
    "examples/sam/template.yaml",
];

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The Access Analyzer actions (without the `access-analyzer:` prefix) that some statement allows.
fn access_analyzer_actions(statements: &[Value]) -> BTreeSet<String> {
    statements
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .filter_map(|a| a.strip_prefix("access-analyzer:"))
        .map(str::to_owned)
        .collect()
}

/// The IAM action that authorises an API operation (`ListFindingsV2` is authorised by
/// `access-analyzer:ListFindings`).
fn iam_action(operation: &str) -> String {
    match operation {
        "ListFindingsV2" => "ListFindings".to_owned(),
        other => other.to_owned(),
    }
}

/// Runs the provider through every branch of its lifecycle and returns the operations the emulator
/// saw: what the function's role must allow.
async fn operations_the_provider_calls() -> BTreeSet<String> {
    let h = Harness::start().await;
    h.seed_findings();
    let created = h.create_rule("R", "r", roles_filter()).await;
    let update = h.update_event(
        "R",
        &created.physical_id,
        rule("r", buckets_filter()),
        json!({}),
    );
    h.send(&update).await;
    // Adopting an identical rule and taking over a different one read the existing rule.
    h.emulator.put_archive_rule(
        ANALYZER,
        "same",
        json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );
    h.create_rule("Same", "same", roles_filter()).await;
    h.emulator.put_archive_rule(
        ANALYZER,
        "other",
        json!({"resourceType": {"eq": ["AWS::KMS::Key"]}}),
    );
    let mut adopt = rule("other", roles_filter());
    adopt["AdoptExisting"] = json!(true);
    h.send(&h.create_event("Other", adopt)).await;
    // A failed replacement removes what it created.
    h.deny_next("ApplyArchiveRule");
    h.send(&h.update_event(
        "R",
        &created.physical_id,
        rule("new", roles_filter()),
        json!({}),
    ))
    .await;
    h.send(&h.delete_event("R", &created.physical_id, json!({})))
        .await;
    // Custom::ApplyArchiveRules without RuleNames lists the analyzer's rules.
    let mut apply_all = h.create_event("ApplyAll", json!({"AnalyzerName": ANALYZER}));
    apply_all["ResourceType"] = json!("Custom::ApplyArchiveRules");
    h.send(&apply_all).await.assert_success();
    // An analyzer without rules is checked with GetAnalyzer before "no rules" is believed.
    h.emulator.add_analyzer("empty", "ACCOUNT");
    let mut apply_none = h.create_event("ApplyNone", json!({"AnalyzerName": "empty"}));
    apply_none["ResourceType"] = json!("Custom::ApplyArchiveRules");
    h.send(&apply_none).await.assert_success();
    h.emulator
        .requests()
        .into_iter()
        .map(|r| iam_action(&r.operation))
        .collect()
}

#[tokio::test]
async fn the_templates_allow_exactly_the_operations_the_provider_calls() {
    let called = operations_the_provider_calls().await;
    assert!(called.contains("ApplyArchiveRule") && called.contains("DeleteArchiveRule"));
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let allowed = access_analyzer_actions(&deploy_provider(path, &[]).statements);
        assert!(
            !allowed.iter().any(|a| a.contains('*')),
            "{path}: no wildcard actions"
        );
        let missing: Vec<_> = called.difference(&allowed).collect();
        let extra: Vec<_> = allowed.difference(&called).collect();
        assert!(
            missing.is_empty(),
            "{path} does not allow {missing:?}, which the provider calls"
        );
        assert!(
            extra.is_empty(),
            "{path} allows {extra:?}, which the provider never calls"
        );
    }
}

#[test]
fn the_templates_name_no_iam_role_and_scope_to_their_own_account_and_region() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let template = read(path);
        assert!(
            !template.contains("RoleName:"),
            "{path}: explicit role names collide across regions"
        );
        assert!(
            template.contains("arn:${AWS::Partition}:access-analyzer:${AWS::Region}:${AWS::AccountId}:analyzer/"),
            "{path}: the policy is scoped to the analyzers of its own partition, region and account"
        );
    }
}

#[tokio::test]
async fn the_sample_events_run_against_the_emulator() {
    let h = Harness::start().await;
    let analyzer = "account-analyzer";
    h.emulator.add_analyzer(analyzer, "ACCOUNT");
    for (kind, resource) in [
        (
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/vendor-audit",
        ),
        ("AWS::S3::Bucket", "arn:aws:s3:::shared-reports"),
    ] {
        h.emulator.add_finding(
            analyzer,
            FindingSeed::new(kind, resource).principal("AWS", "arn:aws:iam::444455556666:root"),
        );
    }
    let mut physical_id = String::new();
    for name in ["create", "update", "delete"] {
        let mut event: Value = serde_json::from_str(&read(&format!("examples/events/{name}.json")))
            .unwrap_or_else(|e| panic!("examples/events/{name}.json: {e}"));
        // Each sample names a ResponseURL on a closed port; answer to the receiver instead.
        event["ResponseURL"] = json!(h.receiver.response_url(&format!("sample-{name}")));
        event["RequestId"] = json!(format!("sample-{name}"));
        let response = h.send(&event).await;
        response.assert_success();
        if name == "create" {
            physical_id = response.physical_id.clone();
            assert_eq!(event["ResourceType"], json!("Custom::AppliedArchiveRule"));
        } else {
            assert_eq!(
                event["PhysicalResourceId"],
                json!(physical_id),
                "{name} continues the create"
            );
        }
    }
    assert!(
        h.emulator.archive_rules(analyzer).is_empty(),
        "the delete removed the rule"
    );
}

#[test]
fn the_lambda_binary_links_none_of_the_command_line_crates() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "applied-archive-rule",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains("aws-sdk-accessanalyzer"), "{tree}");
    for extra in [
        "aws-sdk-organizations",
        "aws-sdk-sso",
        "aws-sdk-ec2",
        "clap",
        "indicatif",
        "comfy-table",
        "testkit",
    ] {
        assert!(
            !crates.contains(extra),
            "bootstrap's dependencies include {extra}"
        );
    }
}

/// The fenced ```json block that follows `heading` in a Markdown file, parsed.
fn json_block_after(markdown: &str, heading: &str) -> Value {
    let (_, after) = markdown
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let (_, block) = after
        .split_once("```json\n")
        .unwrap_or_else(|| panic!("no ```json block after {heading:?}"));
    let (json, _) = block.split_once("\n```").expect("the block is closed");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("the block after {heading:?}: {e}"))
}

/// A policy element that is a string or a list of strings, as a list.
fn strings(element: &Value) -> Vec<&str> {
    match element {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The SCP in docs/deploy.md must cover every way to invoke or reconfigure the provider and the
/// auto-apply function (SPEC §6, §9.1): the unqualified ARN names only `$LATEST` called without a
/// qualifier, so without `:*` an `Invoke --qualifier $LATEST` (or a version, or an alias) is not
/// denied; and `function:NAME:*` does not match `function:NAME-auto-apply`. `lambda:InvokeAsync`
/// is deprecated but still an action of its own in the Lambda API.
#[test]
fn the_documented_scp_denies_every_invocation_of_both_functions_qualified_or_not() {
    let scp = json_block_after(&read("docs/deploy.md"), "## Who may invoke the provider");
    let provider = "arn:aws:lambda:*:*:function:applied-archive-rule-provider";
    let auto_apply = format!("{provider}-auto-apply");
    let statements = scp["Statement"].as_array().expect("Statement is a list");
    let statement_with = |action: &str| {
        statements
            .iter()
            .find(|s| strings(&s["Action"]).contains(&action))
            .unwrap_or_else(|| panic!("no statement names {action}"))
    };
    for action in [
        "lambda:InvokeFunction",
        "lambda:InvokeAsync",
        "lambda:InvokeFunctionUrl",
        "lambda:UpdateFunctionCode",
        "lambda:AddPermission",
        "lambda:PutFunctionEventInvokeConfig",
        "lambda:DeleteFunctionCodeSigningConfig",
    ] {
        let statement = statement_with(action);
        assert_eq!(statement["Effect"], "Deny", "{action}");
        let resources = strings(&statement["Resource"]);
        for function in [provider, auto_apply.as_str()] {
            let qualified = format!("{function}:*");
            assert!(
                resources.contains(&function) && resources.contains(&qualified.as_str()),
                "{action} is denied on {resources:?}: both {function} and {qualified} are needed"
            );
        }
        let exempt = strings(&statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
        assert!(
            exempt.contains(&"arn:aws:iam::*:role/stacksets-exec-*"),
            "{action}: the StackSet execution role stays able to run the stack"
        );
    }
    // Service control policies are limited to 5,120 characters.
    let text = serde_json::to_string(&scp).expect("serialises");
    assert!(text.len() <= 5120, "the SCP is {} characters", text.len());
}

/// Templates read the way CloudFormation reads them, far enough to check what a set of parameter
/// values makes of the role and the function: `Ref`, `Fn::Sub`, `Fn::Join`, `Fn::Split`,
/// `Fn::Select`, `Fn::If` and the condition functions. A resource's own return values
/// (`Ref` to a resource, `Fn::GetAtt`) stay as `"<Logical>.<Attribute>"` placeholders.
mod template {
    use std::collections::BTreeMap;

    use serde_json::{Map, Value};

    pub const PARTITION: &str = "aws";
    pub const REGION: &str = "us-east-1";
    pub const ACCOUNT: &str = "123456789012";

    /// A template as JSON, with YAML's short forms (`!Sub x`) turned into the long ones
    /// (`{"Fn::Sub": x}`), so that one evaluator reads both.
    pub fn parse(path: &str, text: &str) -> Value {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        to_json(yaml)
    }

    fn to_json(yaml: serde_yaml::Value) -> Value {
        use serde_yaml::Value as Y;
        match yaml {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(b),
            Y::Number(n) => serde_json::to_value(n).expect("a YAML number is a JSON number"),
            Y::String(s) => Value::String(s),
            Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
            Y::Mapping(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let key = k.as_str().expect("template keys are strings").to_owned();
                        (key, to_json(v))
                    })
                    .collect(),
            ),
            Y::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                let name = name.trim_start_matches('!');
                let value = to_json(tagged.value);
                let (key, value) = match (name, value) {
                    ("Ref" | "Condition", v) => (name.to_owned(), v),
                    ("GetAtt", Value::String(s)) => {
                        let (resource, attribute) = s.split_once('.').expect("!GetAtt A.B");
                        (
                            "Fn::GetAtt".to_owned(),
                            serde_json::json!([resource, attribute]),
                        )
                    }
                    (other, v) => (format!("Fn::{other}"), v),
                };
                Value::Object(Map::from_iter([(key, value)]))
            }
        }
    }

    /// One deployment of a template: parameter values given by name, the others at their default.
    pub struct Deployment<'t> {
        template: &'t Value,
        parameters: BTreeMap<String, String>,
    }

    impl<'t> Deployment<'t> {
        pub fn new(template: &'t Value, given: &[(&str, &str)]) -> Deployment<'t> {
            let declared = template["Parameters"].as_object().expect("Parameters");
            let mut parameters = BTreeMap::new();
            for (name, declaration) in declared {
                if let Some(default) = declaration.get("Default") {
                    let default = match default {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    parameters.insert(name.clone(), default);
                }
            }
            for (name, value) in given {
                assert!(declared.contains_key(*name), "no parameter {name}");
                parameters.insert((*name).to_owned(), (*value).to_owned());
            }
            Deployment {
                template,
                parameters,
            }
        }

        /// The resource's properties as CloudFormation would pass them on.
        pub fn properties(&self, logical_id: &str) -> Value {
            let resource = &self.template["Resources"][logical_id];
            assert!(resource.is_object(), "no resource {logical_id}");
            self.resolve(&resource["Properties"])
                .unwrap_or_else(|| Value::Object(Map::new()))
        }

        /// The names of the template's `Rules` that refuse these parameter values: a rule whose
        /// `RuleCondition` holds (or that has none) and one of whose assertions does not.
        /// CloudFormation then creates nothing.
        pub fn refused_rules(&self) -> Vec<String> {
            let Some(rules) = self.template["Rules"].as_object() else {
                return Vec::new();
            };
            rules
                .iter()
                .filter(|(_, rule)| {
                    let applies = rule.get("RuleCondition").is_none_or(|c| self.truth(c));
                    let assertions = rule["Assertions"].as_array().expect("Assertions");
                    applies && !assertions.iter().all(|a| self.truth(&a["Assert"]))
                })
                .map(|(name, _)| name.clone())
                .collect()
        }

        /// The logical ids of the resources these parameter values create.
        pub fn created(&self) -> Vec<String> {
            let resources = self.template["Resources"].as_object().expect("Resources");
            resources
                .keys()
                .filter(|id| self.creates(id))
                .cloned()
                .collect()
        }

        /// Whether the resource is created (it has no condition, or its condition holds).
        pub fn creates(&self, logical_id: &str) -> bool {
            match self.template["Resources"][logical_id]["Condition"].as_str() {
                Some(condition) => self.condition(condition),
                None => self.template["Resources"][logical_id].is_object(),
            }
        }

        fn condition(&self, name: &str) -> bool {
            let condition = &self.template["Conditions"][name];
            assert!(!condition.is_null(), "no condition {name}");
            self.resolve(condition)
                .and_then(|v| v.as_bool())
                .unwrap_or_else(|| panic!("condition {name} is not a boolean"))
        }

        fn reference(&self, name: &str) -> Option<Value> {
            let value = match name {
                "AWS::NoValue" => return None,
                "AWS::Partition" => PARTITION.to_owned(),
                "AWS::Region" => REGION.to_owned(),
                "AWS::AccountId" => ACCOUNT.to_owned(),
                "AWS::StackName" => "stack".to_owned(),
                _ => match self.parameters.get(name) {
                    Some(value) => match self.template["Parameters"][name]["Type"].as_str() {
                        Some("CommaDelimitedList") => {
                            return Some(value.split(',').map(Value::from).collect())
                        }
                        _ => value.clone(),
                    },
                    None => format!("{name}.Ref"),
                },
            };
            Some(Value::String(value))
        }

        fn text(&self, value: &Value) -> String {
            match self.resolve(value) {
                Some(Value::String(s)) => s,
                Some(Value::Number(n)) => n.to_string(),
                other => panic!("{value} resolves to {other:?}, not a string"),
            }
        }

        fn list(&self, value: &Value) -> Vec<Value> {
            match self.resolve(value) {
                Some(Value::Array(items)) => items,
                other => panic!("{value} resolves to {other:?}, not a list"),
            }
        }

        fn substitute(&self, template: &str, variables: &Map<String, Value>) -> String {
            let mut out = String::new();
            let mut rest = template;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').expect("${ is closed") + start;
                let name = &rest[start + 2..end];
                out.push_str(&match variables.get(name) {
                    Some(value) => self.text(value),
                    None => match name.split_once('.') {
                        Some(_) if !name.starts_with("AWS::") => name.to_owned(),
                        _ => self.text(&Value::Object(Map::from_iter([(
                            "Ref".to_owned(),
                            Value::from(name),
                        )]))),
                    },
                });
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            out
        }

        /// The value CloudFormation makes of `value`; `None` for `AWS::NoValue`, which removes
        /// the property or list element that holds it.
        pub fn resolve(&self, value: &Value) -> Option<Value> {
            let Value::Object(map) = value else {
                return Some(match value {
                    Value::Array(items) => {
                        Value::Array(items.iter().filter_map(|v| self.resolve(v)).collect())
                    }
                    other => other.clone(),
                });
            };
            let function = match map.iter().next() {
                Some((key, args))
                    if map.len() == 1
                        && (key == "Ref" || key == "Condition" || key.starts_with("Fn::")) =>
                {
                    (key.as_str(), args)
                }
                _ => {
                    let resolved = map
                        .iter()
                        .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
                        .collect();
                    return Some(Value::Object(resolved));
                }
            };
            let arg = |i: usize| &function.1[i];
            Some(match function.0 {
                "Ref" => return self.reference(function.1.as_str().expect("Ref names a string")),
                "Condition" => Value::Bool(self.condition(function.1.as_str().expect("a name"))),
                "Fn::GetAtt" => Value::String(format!(
                    "{}.{}",
                    arg(0).as_str().expect("resource"),
                    arg(1).as_str().expect("attribute")
                )),
                "Fn::ImportValue" => Value::String(format!("import:{}", self.text(function.1))),
                "Fn::Sub" => Value::String(match function.1 {
                    Value::String(s) => self.substitute(s, &Map::new()),
                    _ => self.substitute(
                        arg(0).as_str().expect("Fn::Sub's string"),
                        arg(1).as_object().expect("Fn::Sub's variables"),
                    ),
                }),
                "Fn::Join" => {
                    let delimiter = arg(0).as_str().expect("Fn::Join's delimiter is a literal");
                    let parts: Vec<String> =
                        self.list(arg(1)).iter().map(|v| self.text(v)).collect();
                    Value::String(parts.join(delimiter))
                }
                "Fn::Split" => {
                    let delimiter = arg(0).as_str().expect("Fn::Split's delimiter is a literal");
                    self.text(arg(1))
                        .split(delimiter)
                        .map(Value::from)
                        .collect()
                }
                "Fn::Select" => {
                    let index: usize = self.text(arg(0)).parse().expect("an index");
                    let items = self.list(arg(1));
                    items
                        .get(index)
                        .unwrap_or_else(|| panic!("Fn::Select: no element {index} in {items:?}"))
                        .clone()
                }
                "Fn::If" => {
                    let name = arg(0).as_str().expect("Fn::If names a condition");
                    return self.resolve(arg(if self.condition(name) { 1 } else { 2 }));
                }
                "Fn::Equals" => Value::Bool(self.resolve(arg(0)) == self.resolve(arg(1))),
                "Fn::Not" => Value::Bool(!self.truth(arg(0))),
                "Fn::And" => Value::Bool(self.list_of(function.1).iter().all(|c| self.truth(c))),
                "Fn::Or" => Value::Bool(self.list_of(function.1).iter().any(|c| self.truth(c))),
                other => panic!("{other} is not evaluated here"),
            })
        }

        fn truth(&self, condition: &Value) -> bool {
            self.resolve(condition)
                .and_then(|v| v.as_bool())
                .unwrap_or_else(|| panic!("{condition} is not a condition"))
        }

        fn list_of<'v>(&self, value: &'v Value) -> &'v Vec<Value> {
            value.as_array().expect("a list of conditions")
        }
    }
}

/// The provider role's statements in a template, and the function's properties, for one set of
/// parameter values.
struct Provider {
    statements: Vec<Value>,
    function: Value,
}

fn deploy_provider(path: &str, parameters: &[(&str, &str)]) -> Provider {
    let parsed = template::parse(path, &read(path));
    let deployment = template::Deployment::new(&parsed, parameters);
    let function = deployment.properties("ProviderFunction");
    // SAM puts the policy on the function; the plain templates on their role.
    let statements = match parsed["Resources"]["ProviderRole"].is_object() {
        true => deployment.properties("ProviderRole")["Policies"][0]["PolicyDocument"]["Statement"]
            .clone(),
        false => function["Policies"][0]["Statement"].clone(),
    };
    Provider {
        statements: statements.as_array().expect("statements").clone(),
        function,
    }
}

impl Provider {
    /// The resources of the statement that allows `action`.
    fn resources_of(&self, action: &str) -> BTreeSet<String> {
        resources_of(&self.statements, action)
    }
}

/// The resources of the statement that allows `action`.
fn resources_of(statements: &[Value], action: &str) -> BTreeSet<String> {
    let statement = statements
        .iter()
        .find(|s| strings(&s["Action"]).contains(&action))
        .unwrap_or_else(|| panic!("no statement allows {action}"));
    strings(&statement["Resource"])
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn analyzer_arn(name: &str) -> String {
    format!(
        "arn:{}:access-analyzer:{}:{}:analyzer/{name}",
        template::PARTITION,
        template::REGION,
        template::ACCOUNT
    )
}

/// SPEC §6: the role can be narrowed to named analyzers; by default it covers every analyzer of its
/// own account and region. With names, the statements name exactly those analyzers (and their
/// archive rules), and the function is told the same list.
#[test]
fn analyzer_names_narrow_the_role_to_exactly_those_analyzers() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        for names in [
            "",
            "main",
            "a,b",
            "external,unused.access,_internal,org-1,org_2",
        ] {
            let provider = deploy_provider(path, &[("AnalyzerNames", names)]);
            let listed: Vec<&str> = names.split(',').filter(|n| !n.is_empty()).collect();
            let analyzers: BTreeSet<String> = match listed.is_empty() {
                true => BTreeSet::from([analyzer_arn("*")]),
                false => listed.iter().map(|n| analyzer_arn(n)).collect(),
            };
            let rules: BTreeSet<String> = analyzers
                .iter()
                .map(|a| format!("{a}/archive-rule/*"))
                .collect();
            for action in [
                "ApplyArchiveRule",
                "ListFindings",
                "ListArchiveRules",
                "GetAnalyzer",
            ] {
                assert_eq!(
                    provider.resources_of(&format!("access-analyzer:{action}")),
                    analyzers,
                    "{path}, AnalyzerNames {names:?}: {action}"
                );
            }
            for action in [
                "CreateArchiveRule",
                "UpdateArchiveRule",
                "GetArchiveRule",
                "DeleteArchiveRule",
            ] {
                assert_eq!(
                    provider.resources_of(&format!("access-analyzer:{action}")),
                    rules,
                    "{path}, AnalyzerNames {names:?}: {action}"
                );
            }
            assert_eq!(
                provider.function["Environment"]["Variables"]["APPLIED_ARCHIVE_RULE_ANALYZERS"],
                json!(names),
                "{path}: the function is told the list"
            );
        }
    }
}

const CODE_SIGNING_CONFIG: &str =
    "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// SPEC §6: an optional parameter left empty leaves its property out (Lambda's own behaviour
/// then), and a value reaches the property unchanged.
#[test]
fn the_optional_hardening_parameters_set_their_property_only_when_given() {
    let (csc, key) = (CODE_SIGNING_CONFIG, KMS_KEY);
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let unset = deploy_provider(path, &[]).function;
        let set = deploy_provider(
            path,
            &[
                ("CodeSigningConfigArn", csc),
                ("ReservedConcurrentExecutions", "10"),
            ],
        )
        .function;
        for (property, value) in [
            ("CodeSigningConfigArn", csc),
            ("ReservedConcurrentExecutions", "10"),
        ] {
            assert!(unset.get(property).is_none(), "{path}: {property} unset");
            assert_eq!(set[property], json!(value), "{path}: {property}");
        }
        let parsed = template::parse(path, &read(path));
        if parsed["Parameters"]["LogGroupKmsKeyArn"].is_object() {
            let log_group = |given: &[(&str, &str)]| {
                template::Deployment::new(&parsed, given).properties("ProviderLogGroup")
            };
            assert!(log_group(&[]).get("KmsKeyId").is_none(), "{path}");
            assert_eq!(
                log_group(&[("LogGroupKmsKeyArn", key)])["KmsKeyId"],
                json!(key),
                "{path}"
            );
        }
    }
}

/// In a stack set, each instance makes its own code signing configuration (one belongs to one
/// account and region) that allows only the given signing profile, and refuses anything else.
#[test]
fn a_stack_set_with_a_signing_profile_enforces_it_in_every_instance() {
    let path = "cfn/stackset.yaml";
    let parsed = template::parse(path, &read(path));
    let profile =
        "arn:aws:signer:us-east-1:111122223333:/signing-profiles/applied_archive_rule/a1b2c3d4e5";
    let unsigned = template::Deployment::new(&parsed, &[]);
    assert!(!unsigned.creates("CodeSigningConfig"));
    assert!(unsigned
        .properties("ProviderFunction")
        .get("CodeSigningConfigArn")
        .is_none());
    let signed = template::Deployment::new(&parsed, &[("SigningProfileVersionArn", profile)]);
    assert!(signed.creates("CodeSigningConfig"));
    let config = signed.properties("CodeSigningConfig");
    assert_eq!(
        config["AllowedPublishers"]["SigningProfileVersionArns"],
        json!([profile])
    );
    assert_eq!(
        config["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"],
        "Enforce"
    );
    assert_eq!(
        signed.properties("ProviderFunction")["CodeSigningConfigArn"],
        "CodeSigningConfig.CodeSigningConfigArn"
    );
}

/// Every checkov check a template skips says why, in the resource's own Metadata.
#[test]
fn every_checkov_skip_in_the_templates_gives_its_reason() {
    let mut skipped = 0;
    for path in [
        "cfn/provider.yaml",
        "cfn/stackset.yaml",
        "cfn/code-buckets.yaml",
        "examples/sam/template.yaml",
    ] {
        let parsed = template::parse(path, &read(path));
        for (logical_id, resource) in parsed["Resources"].as_object().expect("Resources") {
            let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_array() else {
                continue;
            };
            for skip in skips {
                let id = skip["id"].as_str().unwrap_or_default();
                let comment = skip["comment"].as_str().unwrap_or_default();
                assert!(id.starts_with("CKV"), "{path} {logical_id}: {skip}");
                assert!(
                    comment.split_whitespace().count() >= 8,
                    "{path} {logical_id} {id}: the reason is missing or too short"
                );
                skipped += 1;
            }
        }
    }
    assert!(skipped > 0, "the templates skip checks, each with a reason");
}

// ---------------------------------------------------------------- auto-apply (SPEC §9)

/// The Access Analyzer operations the auto-apply function calls (SPEC §9.1–9.3): it reads a rule,
/// lists analyzers and their rules for the reconcile, counts the findings a rule matches and applies
/// it — and never creates, changes or deletes a rule. Its role must allow exactly these.
const AUTO_APPLY_OPERATIONS: [&str; 6] = [
    "GetArchiveRule",
    "ListArchiveRules",
    "ListAnalyzers",
    "GetAnalyzer",
    "ListFindingsV2",
    "ApplyArchiveRule",
];

/// Runs the auto-apply function through a CloudTrail event and a scheduled reconcile and returns
/// the operations the emulator saw: what its role must allow, and all it may.
async fn operations_the_auto_apply_function_calls() -> BTreeSet<String> {
    let mut settings = test_settings();
    settings.auto_apply.enabled = true;
    let h = Harness::start_with(settings).await;
    h.seed_findings();
    h.emulator
        .put_archive_rule(ANALYZER, "roles", roles_rule_json());
    let event =
        testkit::events::RuleChange::create(ACCOUNT, REGION, ANALYZER, "roles", roles_rule_json())
            .event();
    let schedule = testkit::events::scheduled_event(
        ACCOUNT,
        REGION,
        "arn:aws:events:us-east-1:123456789012:rule/reconcile",
    );
    for event in [event, schedule] {
        let summary = h
            .invoke_with(&event, std::time::Duration::from_secs(60))
            .await
            .expect("a normal return");
        assert!(
            summary["outcomes"]
                .as_array()
                .is_some_and(|o| o.iter().all(|o| o["outcome"] == "applied")),
            "{summary}"
        );
    }
    h.emulator
        .requests()
        .into_iter()
        .map(|r| r.operation)
        .collect()
}

#[tokio::test]
async fn the_auto_apply_constant_is_what_the_auto_apply_function_calls() {
    let called = operations_the_auto_apply_function_calls().await;
    let expected: BTreeSet<String> = AUTO_APPLY_OPERATIONS
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(called, expected);
}

/// Auto-apply with the one guard that also allows a schedule (SPEC §9.1's `Rules`).
const AUTO_APPLY: [(&str, &str); 2] = [("AutoApply", "true"), ("AutoApplyMaxFindings", "500")];

/// What a template makes of a set of parameter values, read once: the resources it creates, with
/// their properties, and the `Rules` that refuse the values.
struct Stack {
    path: &'static str,
    /// Logical id -> (Type, properties).
    resources: std::collections::BTreeMap<String, (String, Value)>,
    refused: Vec<String>,
}

fn deploy(path: &'static str, parameters: &[(&str, &str)]) -> Stack {
    let parsed = template::parse(path, &read(path));
    let deployment = template::Deployment::new(&parsed, parameters);
    let resources = deployment
        .created()
        .into_iter()
        .map(|id| {
            let kind = parsed["Resources"][&id]["Type"]
                .as_str()
                .expect("Type")
                .to_owned();
            let properties = deployment.properties(&id);
            (id, (kind, properties))
        })
        .collect();
    Stack {
        path,
        resources,
        refused: deployment.refused_rules(),
    }
}

/// Parameter lists as one list: the shared ones, then those of one case.
fn with(
    first: &[(&'static str, &'static str)],
    more: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    first.iter().chain(more).copied().collect()
}

impl Stack {
    fn properties(&self, logical_id: &str) -> &Value {
        match self.resources.get(logical_id) {
            Some((_, properties)) => properties,
            None => panic!("{}: {logical_id} is not created", self.path),
        }
    }

    /// The logical ids of the created resources of one type.
    fn of_type(&self, kind: &str) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|(_, (k, _))| k == kind)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The logical ids of the created resources whose id starts with `prefix`.
    fn created_with_prefix(&self, prefix: &str) -> BTreeSet<&str> {
        self.resources
            .keys()
            .map(String::as_str)
            .filter(|id| id.starts_with(prefix))
            .collect()
    }

    /// The statements of the auto-apply role's inline policies, policy by policy.
    fn auto_apply_policies(&self) -> Vec<Vec<Value>> {
        self.properties("AutoApplyRole")["Policies"]
            .as_array()
            .expect("Policies")
            .iter()
            .map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .expect("Statement")
                    .clone()
            })
            .collect()
    }

    fn auto_apply_statements(&self) -> Vec<Value> {
        self.auto_apply_policies().into_iter().flatten().collect()
    }
}

/// SPEC §9.1: the second function, and everything that serves it, exists only with
/// `AutoApply: "true"`; the schedule only with `ReconcileSchedule`, the queue only when asked.
#[test]
fn the_auto_apply_function_exists_only_with_auto_apply() {
    let always = [
        "AutoApplyEventInvokeConfig",
        "AutoApplyEventPermission",
        "AutoApplyEventRule",
        "AutoApplyFunction",
        "AutoApplyLogGroup",
        "AutoApplyRefusedAlarm",
        "AutoApplyRole",
    ];
    let schedule = ["AutoApplySchedulePermission", "AutoApplyScheduleRule"];
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let off = deploy(path, &[]);
        assert!(off.refused.is_empty(), "{path}: the defaults deploy");
        assert_eq!(
            off.created_with_prefix("AutoApply"),
            BTreeSet::new(),
            "{path}"
        );
        // The parameters do nothing without AutoApply.
        let off = deploy(
            path,
            &[
                ("AutoApplyMaxFindings", "500"),
                ("ReconcileSchedule", "rate(1 day)"),
                ("AutoApplyKeepFailedEvents", "true"),
            ],
        );
        assert_eq!(
            off.created_with_prefix("AutoApply"),
            BTreeSet::new(),
            "{path}"
        );

        let on = deploy(path, &AUTO_APPLY);
        assert!(on.refused.is_empty(), "{path}: {:?}", on.refused);
        assert_eq!(
            on.created_with_prefix("AutoApply"),
            BTreeSet::from(always),
            "{path}"
        );
        let scheduled = deploy(
            path,
            &with(&AUTO_APPLY, &[("ReconcileSchedule", "rate(1 day)")]),
        );
        let expected: BTreeSet<&str> = always.iter().chain(&schedule).copied().collect();
        assert_eq!(
            scheduled.created_with_prefix("AutoApply"),
            expected,
            "{path}"
        );
        let queued = deploy(
            path,
            &with(&AUTO_APPLY, &[("AutoApplyKeepFailedEvents", "true")]),
        );
        let expected: BTreeSet<&str> = always
            .iter()
            .chain(&["AutoApplyFailureQueue"])
            .copied()
            .collect();
        assert_eq!(queued.created_with_prefix("AutoApply"), expected, "{path}");
        // The provider is the same either way.
        assert_eq!(
            off.properties("ProviderFunction"),
            on.properties("ProviderFunction"),
            "{path}"
        );
    }
}

/// SPEC §9.1: "from the same code" — the same zip (or source), runtime, architecture, code signing,
/// memory and concurrency limit as the provider, under `<provider function name>-auto-apply`, with
/// a role and a log group of its own.
#[test]
fn the_auto_apply_function_runs_the_providers_code_with_its_own_role_and_log_group() {
    let (csc, key) = (CODE_SIGNING_CONFIG, KMS_KEY);
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let parsed = template::parse(path, &read(path));
        let mut given = with(
            &AUTO_APPLY,
            &[
                ("CodeSigningConfigArn", csc),
                ("ReservedConcurrentExecutions", "10"),
            ],
        );
        if parsed["Parameters"]["LogGroupKmsKeyArn"].is_object() {
            given.push(("LogGroupKmsKeyArn", key));
        }
        let stack = deploy(path, &given);
        let provider = stack.properties("ProviderFunction");
        let auto_apply = stack.properties("AutoApplyFunction");
        for property in [
            "Code",
            "CodeUri",
            "Runtime",
            "Architectures",
            "Handler",
            "CodeSigningConfigArn",
            "MemorySize",
            "ReservedConcurrentExecutions",
        ] {
            assert_eq!(
                auto_apply.get(property),
                provider.get(property),
                "{path}: {property}"
            );
        }
        assert_eq!(auto_apply["CodeSigningConfigArn"], json!(csc), "{path}");
        let name = auto_apply["FunctionName"].as_str().expect("FunctionName");
        assert_eq!(
            name,
            format!(
                "{}-auto-apply",
                provider["FunctionName"].as_str().expect("a name")
            ),
            "{path}"
        );
        assert_eq!(auto_apply["Role"], "AutoApplyRole.Arn", "{path}");
        assert_eq!(
            auto_apply["LoggingConfig"]["LogGroup"], "AutoApplyLogGroup.Ref",
            "{path}"
        );
        let log_group = stack.properties("AutoApplyLogGroup");
        assert_eq!(
            log_group["LogGroupName"],
            json!(format!("/aws/lambda/{name}")),
            "{path}"
        );
        assert_eq!(
            log_group["RetentionInDays"],
            stack.properties("ProviderLogGroup")["RetentionInDays"],
            "{path}"
        );
        assert_eq!(
            log_group.get("KmsKeyId"),
            stack.properties("ProviderLogGroup").get("KmsKeyId"),
            "{path}"
        );
    }
    let signed = deploy(
        "cfn/stackset.yaml",
        &with(
            &AUTO_APPLY,
            &[(
                "SigningProfileVersionArn",
                "arn:aws:signer:us-east-1:111122223333:/signing-profiles/applied_archive_rule/a1b2c3d4e5",
            )],
        ),
    );
    assert_eq!(
        signed.properties("AutoApplyFunction")["CodeSigningConfigArn"],
        "CodeSigningConfig.CodeSigningConfigArn",
        "each stack instance's own code signing configuration checks both functions"
    );
}

/// SPEC §9.1: the auto-apply role allows exactly the operations the function calls — never
/// `CreateArchiveRule`, `UpdateArchiveRule` or `DeleteArchiveRule` — plus its own logs, and
/// `sqs:SendMessage` only when there is a queue. No managed policy widens it.
#[test]
fn the_auto_apply_role_allows_exactly_the_operations_the_auto_apply_function_calls() {
    let expected: BTreeSet<String> = AUTO_APPLY_OPERATIONS
        .iter()
        .map(|o| iam_action(o))
        .collect();
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        for keep in ["false", "true"] {
            let stack = deploy(
                path,
                &with(&AUTO_APPLY, &[("AutoApplyKeepFailedEvents", keep)]),
            );
            let role = stack.properties("AutoApplyRole");
            assert!(role.get("ManagedPolicyArns").is_none(), "{path}");
            assert!(
                role.get("RoleName").is_none(),
                "{path}: names collide across regions"
            );
            let statements = stack.auto_apply_statements();
            assert_eq!(access_analyzer_actions(&statements), expected, "{path}");
            let all: BTreeSet<String> = statements
                .iter()
                .flat_map(|s| strings(&s["Action"]))
                .map(str::to_owned)
                .collect();
            let mut allowed: BTreeSet<String> = expected
                .iter()
                .map(|a| format!("access-analyzer:{a}"))
                .collect();
            allowed.extend([
                "logs:CreateLogStream".to_owned(),
                "logs:PutLogEvents".to_owned(),
            ]);
            if keep == "true" {
                allowed.insert("sqs:SendMessage".to_owned());
                assert_eq!(
                    resources_of(&statements, "sqs:SendMessage"),
                    BTreeSet::from(["AutoApplyFailureQueue.Arn".to_owned()]),
                    "{path}"
                );
            }
            assert_eq!(all, allowed, "{path}, AutoApplyKeepFailedEvents {keep}");
            assert!(
                statements
                    .iter()
                    .all(|s| s["Effect"] == "Allow" && s.get("NotAction").is_none()),
                "{path}"
            );
            assert_eq!(
                resources_of(&statements, "logs:PutLogEvents"),
                BTreeSet::from(["AutoApplyLogGroup.Arn".to_owned()]),
                "{path}: its own log group only"
            );
        }
    }
}

/// SPEC §6 and §9.1: `AnalyzerNames` narrows the auto-apply role exactly as it narrows the
/// provider's, and the function is told the same list. `ListAnalyzers` has no resource type in
/// the Service Authorization Reference, so it is allowed on `*` whatever the names.
#[test]
fn analyzer_names_narrow_the_auto_apply_role_as_they_narrow_the_provider_role() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        for names in ["", "main", "external,unused.access,_internal,org-1,org_2"] {
            let stack = deploy(path, &with(&AUTO_APPLY, &[("AnalyzerNames", names)]));
            let provider = deploy_provider(path, &[("AnalyzerNames", names)]);
            let statements = stack.auto_apply_statements();
            for action in [
                "ApplyArchiveRule",
                "ListFindings",
                "ListArchiveRules",
                "GetAnalyzer",
                "GetArchiveRule",
            ] {
                let action = format!("access-analyzer:{action}");
                assert_eq!(
                    resources_of(&statements, &action),
                    provider.resources_of(&action),
                    "{path}, AnalyzerNames {names:?}: {action}"
                );
            }
            assert_eq!(
                resources_of(&statements, "access-analyzer:ListAnalyzers"),
                BTreeSet::from(["*".to_owned()]),
                "{path}"
            );
            assert_eq!(
                stack.properties("AutoApplyFunction")["Environment"]["Variables"]
                    ["APPLIED_ARCHIVE_RULE_ANALYZERS"],
                json!(names),
                "{path}"
            );
        }
    }
}

/// SPEC §9.1–9.2: the auto-apply function is told to act on events, whose calls to skip (the
/// provider's own role), and its guards; the provider is not told to act on events, so it ignores
/// a CloudTrail event sent to it.
#[test]
fn the_auto_apply_function_is_told_its_guards_and_the_providers_role() {
    let principals =
        "arn:aws:iam::123456789012:role/pipelines/*,arn:aws:iam::123456789012:role/terraform-*";
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let stack = deploy(
            path,
            &[
                ("AutoApply", "true"),
                ("AutoApplyPrincipals", principals),
                ("AutoApplyMaxFindings", "250"),
                ("AnalyzerNames", "account-analyzer"),
            ],
        );
        assert!(stack.refused.is_empty(), "{path}: {:?}", stack.refused);
        let provider = stack.properties("ProviderFunction");
        // SAM generates the provider's role as <function logical id>Role.
        let provider_role = match provider.get("Role") {
            Some(role) => role.as_str().expect("a GetAtt").to_owned(),
            None => "ProviderFunctionRole.Arn".to_owned(),
        };
        assert_eq!(
            stack.properties("AutoApplyFunction")["Environment"]["Variables"],
            json!({
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY": "true",
                "APPLIED_ARCHIVE_RULE_ROLE_ARN": provider_role,
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS": principals,
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS": "250",
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS": "60",
                "APPLIED_ARCHIVE_RULE_ANALYZERS": "account-analyzer",
            }),
            "{path}"
        );
        let provider_variables = provider["Environment"]["Variables"]
            .as_object()
            .expect("Variables");
        assert!(
            provider_variables
                .keys()
                .all(|k| !k.starts_with("APPLIED_ARCHIVE_RULE_AUTO_APPLY")),
            "{path}: the provider never acts on EventBridge events"
        );
    }
}

/// SPEC §9.1, the event pattern, to the letter: `CreateArchiveRule` and `UpdateArchiveRule` that
/// succeeded, never `ApplyArchiveRule` (the function's own call would loop), on the default bus.
fn spec_event_pattern() -> Value {
    json!({
        "source": ["aws.access-analyzer"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["access-analyzer.amazonaws.com"],
            "eventName": ["CreateArchiveRule", "UpdateArchiveRule"],
            "errorCode": [{"exists": false}]
        }
    })
}

#[test]
fn the_event_rules_have_the_spec_pattern_and_schedule_and_target_only_the_auto_apply_function() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let stack = deploy(
            path,
            &with(&AUTO_APPLY, &[("ReconcileSchedule", "cron(0 3 * * ? *)")]),
        );
        let events = stack.properties("AutoApplyEventRule");
        assert_eq!(events["EventPattern"], spec_event_pattern(), "{path}");
        assert_eq!(events["EventBusName"], "default", "{path}");
        assert!(events.get("ScheduleExpression").is_none(), "{path}");
        let schedule = stack.properties("AutoApplyScheduleRule");
        assert_eq!(
            schedule["ScheduleExpression"], "cron(0 3 * * ? *)",
            "{path}"
        );
        assert!(schedule.get("EventPattern").is_none(), "{path}");
        for rule in [events, schedule] {
            assert_eq!(rule["State"], "ENABLED", "{path}");
            let targets = rule["Targets"].as_array().expect("Targets");
            assert_eq!(targets.len(), 1, "{path}");
            assert_eq!(targets[0]["Arn"], "AutoApplyFunction.Arn", "{path}");
            assert!(
                targets[0].get("Input").is_none(),
                "{path}: the event as EventBridge sends it"
            );
        }
        // No other rule anywhere sends events to a function.
        assert_eq!(
            stack.of_type("AWS::Events::Rule"),
            ["AutoApplyEventRule", "AutoApplyScheduleRule"],
            "{path}"
        );
    }
}

/// SPEC §9.1: the auto-apply function's only invoke permissions are for `events.amazonaws.com`
/// from the two rules, scoped by `SourceArn` alone (the rule's ARN names its account; a
/// `SourceAccount` would add nothing). The provider has none: CloudFormation needs none.
#[test]
fn the_only_invoke_permissions_are_for_eventbridge_from_the_two_rules() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let none = deploy(path, &[]);
        assert!(none.of_type("AWS::Lambda::Permission").is_empty(), "{path}");
        let stack = deploy(
            path,
            &with(&AUTO_APPLY, &[("ReconcileSchedule", "rate(1 day)")]),
        );
        assert_eq!(
            stack.of_type("AWS::Lambda::Permission"),
            ["AutoApplyEventPermission", "AutoApplySchedulePermission"],
            "{path}"
        );
        for (permission, rule) in [
            ("AutoApplyEventPermission", "AutoApplyEventRule"),
            ("AutoApplySchedulePermission", "AutoApplyScheduleRule"),
        ] {
            assert_eq!(
                stack.properties(permission),
                &json!({
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": "AutoApplyFunction.Arn",
                    "Principal": "events.amazonaws.com",
                    "SourceArn": format!("{rule}.Arn"),
                }),
                "{path}: {permission}, and nothing else (no SourceAccount)"
            );
        }
    }
}

/// SPEC §9.1–9.2: Lambda retries an event that returned an error (throttling, 5xx, timeouts), and
/// one that failed every retry goes to an encrypted queue when asked for, instead of being dropped.
#[test]
fn failed_events_are_retried_then_kept_in_an_encrypted_queue_when_asked() {
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let dropped = deploy(path, &AUTO_APPLY);
        let config = dropped.properties("AutoApplyEventInvokeConfig");
        assert_eq!(config["FunctionName"], "AutoApplyFunction.Ref", "{path}");
        assert_eq!(
            config["Qualifier"], "$LATEST",
            "{path}: what EventBridge invokes"
        );
        assert_eq!(config["MaximumRetryAttempts"], 2, "{path}");
        assert_eq!(config["MaximumEventAgeInSeconds"], 21600, "{path}");
        assert!(config.get("DestinationConfig").is_none(), "{path}");

        let kept = deploy(
            path,
            &with(&AUTO_APPLY, &[("AutoApplyKeepFailedEvents", "true")]),
        );
        assert_eq!(
            kept.properties("AutoApplyEventInvokeConfig")["DestinationConfig"],
            json!({"OnFailure": {"Destination": "AutoApplyFailureQueue.Arn"}}),
            "{path}"
        );
        let queue = kept.properties("AutoApplyFailureQueue");
        assert_eq!(
            queue["SqsManagedSseEnabled"], true,
            "{path}: encrypted at rest"
        );
        assert_eq!(
            queue["MessageRetentionPeriod"], 1_209_600,
            "{path}: 14 days"
        );
        assert!(
            queue.get("FifoQueue").is_none(),
            "{path}: Lambda sends only to standard queues"
        );
        // The permission to send is a policy of its own, present only with the queue.
        assert_eq!(dropped.auto_apply_policies().len(), 1, "{path}");
        assert_eq!(kept.auto_apply_policies().len(), 2, "{path}");
    }
}

/// SPEC §9.4: one alarm covers the account and region — `AutoApplyRefused` without dimensions
/// (the function also writes the dimension set `[]`), missing data not breaching, and the SNS topic
/// as its action only when one is given.
#[test]
fn the_refused_alarm_reads_the_metric_without_dimensions() {
    let topic = "arn:aws:sns:us-east-1:123456789012:security-alerts";
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let quiet = deploy(path, &AUTO_APPLY);
        let alarm = quiet.properties("AutoApplyRefusedAlarm");
        assert_eq!(alarm["Namespace"], "AppliedArchiveRule", "{path}");
        assert_eq!(alarm["MetricName"], "AutoApplyRefused", "{path}");
        assert!(
            alarm.get("Dimensions").is_none(),
            "{path}: the dimension set []"
        );
        assert!(alarm.get("Metrics").is_none(), "{path}");
        assert_eq!(alarm["TreatMissingData"], "notBreaching", "{path}");
        assert!(
            alarm["Threshold"].as_f64().expect("Threshold") >= 1.0,
            "{path}"
        );
        assert_eq!(
            alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{path}"
        );
        assert!(alarm.get("AlarmActions").is_none(), "{path}");
        let notifying = deploy(
            path,
            &with(&AUTO_APPLY, &[("AutoApplyAlarmTopicArn", topic)]),
        );
        assert_eq!(
            notifying.properties("AutoApplyRefusedAlarm")["AlarmActions"],
            json!([topic]),
            "{path}"
        );
    }
}

/// SPEC §9.1: with `AutoApply`, at least one guard; never a schedule together with
/// `AutoApplyPrincipals` (a scheduled run has no caller to check).
#[test]
fn the_template_rules_demand_a_guard_and_refuse_a_schedule_with_principals() {
    let principals = (
        "AutoApplyPrincipals",
        "arn:aws:iam::123456789012:role/pipelines/*",
    );
    let max = ("AutoApplyMaxFindings", "500");
    let schedule = ("ReconcileSchedule", "rate(1 day)");
    let on = ("AutoApply", "true");
    type Parameters<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Parameters, &[&str]); 8] = [
        (&[], &[]),
        (&[principals, schedule], &[]),
        (&[on], &["AutoApplyNeedsAGuard"]),
        (&[on, schedule], &["AutoApplyNeedsAGuard"]),
        (&[on, principals], &[]),
        (&[on, max, schedule], &[]),
        (&[on, principals, max], &[]),
        (&[on, principals, max, schedule], &["AScheduleHasNoCaller"]),
    ];
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        for (given, refused) in cases {
            assert_eq!(deploy(path, given).refused, refused, "{path}: {given:?}");
        }
    }
}

/// EventBridge's matching, for the parts of it the event rule uses: a list of literal values
/// (the event's value is one of them) or of `{"exists": bool}`, and nested objects.
/// <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html>
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    let pattern = pattern.as_object().expect("a pattern is an object");
    pattern.iter().all(|(key, expected)| {
        let value = event.get(key);
        match expected {
            Value::Object(_) => value.is_some_and(|v| pattern_matches(expected, v)),
            Value::Array(alternatives) => alternatives.iter().any(|alternative| match alternative
                .get("exists")
                .and_then(Value::as_bool)
            {
                Some(exists) => value.is_some() == exists,
                None => value == Some(alternative),
            }),
            other => panic!("not a pattern: {other}"),
        }
    })
}

fn sample(name: &str) -> Value {
    let path = format!("examples/events/{name}.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The CloudTrail samples are what the deployed rule sends to the function, and what it must not:
/// the same calls failed, `ApplyArchiveRule` (the function's own) and `DeleteArchiveRule`.
#[test]
fn the_sample_cloudtrail_events_are_what_the_event_rule_matches() {
    let stack = deploy("cfn/provider.yaml", &AUTO_APPLY);
    let pattern = &stack.properties("AutoApplyEventRule")["EventPattern"];
    for name in [
        "auto-apply-create-archive-rule",
        "auto-apply-update-archive-rule",
    ] {
        let event = sample(name);
        assert!(
            pattern_matches(pattern, &event),
            "{name} reaches the function"
        );
        let mut failed = event.clone();
        failed["detail"]["errorCode"] = json!("AccessDeniedException");
        failed["detail"]["errorMessage"] =
            json!("User is not authorized to perform: access-analyzer:CreateArchiveRule");
        assert!(
            !pattern_matches(pattern, &failed),
            "{name} with an errorCode"
        );
        for other in ["ApplyArchiveRule", "DeleteArchiveRule", "CreateAnalyzer"] {
            let mut call = event.clone();
            call["detail"]["eventName"] = json!(other);
            assert!(!pattern_matches(pattern, &call), "{other}");
        }
    }
    assert!(!pattern_matches(pattern, &sample("auto-apply-scheduled")));
}

/// The samples carry what SPEC §9.2 reads, in the shapes AWS delivers: the EventBridge envelope
/// (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`)
/// around a CloudTrail record (its account and region again, the caller's `userIdentity`, the
/// request as the API takes it, `responseElements` null as for every call that returns nothing).
#[test]
fn the_auto_apply_samples_have_the_shapes_aws_delivers() {
    let envelope = [
        "account",
        "detail",
        "detail-type",
        "id",
        "region",
        "resources",
        "source",
        "time",
        "version",
    ];
    for name in [
        "auto-apply-create-archive-rule",
        "auto-apply-update-archive-rule",
        "auto-apply-scheduled",
    ] {
        let event = sample(name);
        let keys: BTreeSet<&str> = event
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(envelope), "{name}");
        assert_eq!(event["version"], "0", "{name}");
        assert_eq!(event["account"], ACCOUNT, "{name}");
        assert_eq!(event["region"], REGION, "{name}");
        assert!(
            event.get("ResponseURL").is_none(),
            "{name}: no CloudFormation event"
        );
    }
    for (name, caller_type) in [
        ("auto-apply-create-archive-rule", "AssumedRole"),
        ("auto-apply-update-archive-rule", "IAMUser"),
    ] {
        let event = sample(name);
        let detail = &event["detail"];
        assert_eq!(event["resources"], json!([]), "{name}");
        assert_eq!(detail["recipientAccountId"], ACCOUNT, "{name}");
        assert_eq!(detail["awsRegion"], REGION, "{name}");
        assert_eq!(detail["eventTime"], event["time"], "{name}");
        assert_eq!(detail["eventType"], "AwsApiCall", "{name}");
        assert_eq!(detail["responseElements"], Value::Null, "{name}");
        assert!(detail.get("errorCode").is_none(), "{name}");
        let request = detail["requestParameters"]
            .as_object()
            .expect("requestParameters");
        let keys: BTreeSet<&str> = request.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["analyzerName", "clientToken", "filter", "ruleName"]),
            "{name}"
        );
        assert_eq!(request["analyzerName"], "account-analyzer", "{name}");
        for (key, criterion) in request["filter"].as_object().expect("the API's map shape") {
            for operator in criterion.as_object().expect("a criterion").keys() {
                assert!(
                    ["eq", "neq", "contains", "exists"].contains(&operator.as_str()),
                    "{name}: {key}.{operator} is not the API's lowercase shape"
                );
            }
        }
        let identity = &detail["userIdentity"];
        assert_eq!(identity["type"], caller_type, "{name}");
        assert_eq!(identity["accountId"], ACCOUNT, "{name}");
    }
    // An assumed role's session ARN has no path; the role ARN the caller rule reads has it.
    let identity = &sample("auto-apply-create-archive-rule")["detail"]["userIdentity"];
    let role = identity["sessionContext"]["sessionIssuer"]["arn"]
        .as_str()
        .expect("the role");
    assert_eq!(
        role,
        "arn:aws:iam::123456789012:role/pipelines/terraform-security-baseline"
    );
    let session = identity["arn"].as_str().expect("the session");
    assert!(
        session.starts_with("arn:aws:sts::123456789012:assumed-role/terraform-security-baseline/")
    );
    let user = &sample("auto-apply-update-archive-rule")["detail"]["userIdentity"];
    assert_eq!(user["arn"], "arn:aws:iam::123456789012:user/alice");
    let scheduled = sample("auto-apply-scheduled");
    assert_eq!(scheduled["source"], "aws.events");
    assert_eq!(scheduled["detail-type"], "Scheduled Event");
    assert_eq!(scheduled["detail"], json!({}));
    let rule = scheduled["resources"][0]
        .as_str()
        .expect("the schedule rule");
    assert!(
        rule.starts_with("arn:aws:events:us-east-1:123456789012:rule/"),
        "{rule}"
    );
}

/// docs/deploy.md's table of the auto-apply parameters names exactly those of every template, with
/// each template's default.
#[test]
fn the_documented_auto_apply_parameters_are_the_templates() {
    let docs = read("docs/deploy.md");
    let (_, section) = docs
        .split_once("\n## Auto-apply: rules made by any tool\n")
        .expect("the auto-apply section");
    let (_, table) = section
        .split_once("\n### Parameters\n")
        .expect("its parameter table");
    let documented: std::collections::BTreeMap<String, String> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect();
    for path in TEMPLATES_WITH_THE_PROVIDER_ROLE {
        let parsed = template::parse(path, &read(path));
        let parameters = parsed["Parameters"].as_object().expect("Parameters");
        let auto_apply: BTreeSet<&str> = parameters
            .keys()
            .map(String::as_str)
            .filter(|p| p.starts_with("AutoApply") || *p == "ReconcileSchedule")
            .collect();
        let names: BTreeSet<&str> = documented.keys().map(String::as_str).collect();
        assert_eq!(names, auto_apply, "{path}");
        for (name, default) in &documented {
            let declared = parameters[name.as_str()]["Default"]
                .as_str()
                .expect("a default");
            let expected = match declared {
                "" => "empty",
                other => other,
            };
            assert!(
                default
                    .trim_matches('`')
                    .trim_matches('"')
                    .starts_with(expected),
                "{path}: {name} defaults to {declared:?}, the docs say {default}"
            );
        }
    }
}
