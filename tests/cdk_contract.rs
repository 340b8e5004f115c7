//! The CDK constructs and the provider agree on the contract (issue 12, SPEC §10): the
//! `Custom::AppliedArchiveRule` and `Custom::ApplyArchiveRules` resources of the template that
//! `cdk/example` synthesizes — their properties as CloudFormation would send them, intrinsic
//! functions resolved for the stack's account and region and every scalar a string — run through
//! the real `bootstrap` against the emulator, and succeed: created, applied, updated and deleted.
//! The template's auto-apply function runs with the environment the `AutoApply` construct gives it,
//! and the constructs' synth-time messages are the provider's reasons (cdk/test/validation-cases.json).
//!
//! `make test` synthesizes the example (`make cdk-synth`) and names its cloud assembly in
//! `$APPLIED_ARCHIVE_RULE_CDK_OUT`; the binary is `$APPLIED_ARCHIVE_RULE_BOOTSTRAP` (the release
//! build) when set. Without the assembly (a plain `cargo test`) the test says so and passes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{CfnResponse, Harness, ACCOUNT, ANALYZER, REGION, STACK_ID};
use serde_json::{json, Map, Value};
use testkit::access_analyzer::{Emulator, FindingSeed, FindingStatus};
use testkit::events::{Caller, RuleChange};
use testkit::runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome};

const CDK_OUT: &str = "APPLIED_ARCHIVE_RULE_CDK_OUT";
const APPLIED: &str = "Custom::AppliedArchiveRule";
const APPLY: &str = "Custom::ApplyArchiveRules";
const WAIT: Duration = Duration::from_secs(60);

fn bootstrap_binary() -> String {
    std::env::var("APPLIED_ARCHIVE_RULE_BOOTSTRAP")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned())
}

/// The `*.template.json` files of the cloud assembly `make cdk-synth` wrote.
fn synthesized_templates(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut templates: Vec<(PathBuf, Value)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{CDK_OUT}={}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".template.json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let template =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, template)
        })
        .collect();
    templates.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !templates.is_empty(),
        "no *.template.json in {}",
        dir.display()
    );
    templates
}

/// What CloudFormation substitutes for a template's intrinsic functions, for a stack of
/// `common::STACK_ID` (account 123456789012, us-east-1, partition aws).
struct Resolver<'a> {
    resources: &'a Map<String, Value>,
    parameters: Option<&'a Map<String, Value>>,
}

impl<'a> Resolver<'a> {
    fn new(template: &'a Value) -> Self {
        Resolver {
            resources: template["Resources"]
                .as_object()
                .expect("the template has Resources"),
            parameters: template["Parameters"].as_object(),
        }
    }

    fn resource(&self, id: &str) -> &'a Value {
        self.resources
            .get(id)
            .unwrap_or_else(|| panic!("no resource {id}"))
    }

    /// A resource's literal property (a name CloudFormation needs to make an ARN).
    fn literal(&self, id: &str, property: &str) -> String {
        let value = self
            .resolve(&self.resource(id)["Properties"][property])
            .unwrap_or_else(|| panic!("{id} has no {property}"));
        value
            .as_str()
            .unwrap_or_else(|| panic!("{id}.{property} is not a string: {value}"))
            .to_owned()
    }

    /// `None` stands for `AWS::NoValue`: the property is left out.
    fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            Value::Object(map) if map.len() == 1 => {
                let (key, args) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => self.reference(args.as_str().expect("Ref names a string")),
                    "Fn::GetAtt" => Some(self.attribute(args)),
                    "Fn::Join" => Some(self.join(args)),
                    "Fn::Sub" => Some(self.sub(args)),
                    name if name.starts_with("Fn::") => panic!(
                        "{name} is not resolved here; teach the contract test what CloudFormation sends for it"
                    ),
                    _ => Some(self.object(map)),
                }
            }
            Value::Object(map) => Some(self.object(map)),
            scalar => Some(scalar.clone()),
        }
    }

    fn object(&self, map: &Map<String, Value>) -> Value {
        Value::Object(
            map.iter()
                .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
                .collect(),
        )
    }

    fn reference(&self, name: &str) -> Option<Value> {
        let pseudo = match name {
            "AWS::NoValue" => return None,
            "AWS::Partition" => Some("aws"),
            "AWS::Region" => Some(REGION),
            "AWS::AccountId" => Some(ACCOUNT),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            "AWS::StackId" => Some(STACK_ID),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Some(json!(value));
        }
        if let Some(parameter) = self.parameters.and_then(|p| p.get(name)) {
            return Some(parameter["Default"].clone());
        }
        let resource = self.resource(name);
        match resource["Type"].as_str() {
            // The Ref of an analyzer is its ARN.
            Some("AWS::AccessAnalyzer::Analyzer") => {
                Some(json!(analyzer_arn(&self.literal(name, "AnalyzerName"))))
            }
            other => panic!("Ref of {name} ({other:?}) is not resolved here"),
        }
    }

    fn attribute(&self, args: &Value) -> Value {
        let id = args[0].as_str().expect("Fn::GetAtt names a resource");
        let attribute = args[1].as_str().expect("Fn::GetAtt names an attribute");
        match (self.resource(id)["Type"].as_str(), attribute) {
            (Some("AWS::Lambda::Function"), "Arn") => json!(format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
                self.literal(id, "FunctionName")
            )),
            // The template names no role: CloudFormation makes a name from the stack and id.
            (Some("AWS::IAM::Role"), "Arn") => {
                json!(format!(
                    "arn:aws:iam::{ACCOUNT}:role/security-baseline-{id}"
                ))
            }
            (kind, _) => panic!("Fn::GetAtt {id}.{attribute} ({kind:?}) is not resolved here"),
        }
    }

    fn join(&self, args: &Value) -> Value {
        let separator = args[0].as_str().expect("Fn::Join separator");
        let parts = self.resolve(&args[1]).expect("Fn::Join list");
        let parts: Vec<&str> = parts
            .as_array()
            .expect("Fn::Join list")
            .iter()
            .map(|p| p.as_str().expect("Fn::Join parts are strings"))
            .collect();
        json!(parts.join(separator))
    }

    fn sub(&self, args: &Value) -> Value {
        let text = args
            .as_str()
            .expect("Fn::Sub with variables is not resolved here");
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed ${") + start;
            let name = &rest[start + 2..end];
            let value = self.reference(name).expect("a value");
            out.push_str(value.as_str().expect("a string"));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        json!(out)
    }
}

fn analyzer_arn(name: &str) -> String {
    format!("arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/{name}")
}

/// CloudFormation sends every scalar of a custom resource's properties as a string.
fn as_cloudformation_sends(value: Value) -> Value {
    match value {
        Value::Bool(b) => json!(b.to_string()),
        Value::Number(n) => json!(n.to_string()),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(as_cloudformation_sends).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, as_cloudformation_sends(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A filter as the API takes it (`{key: {eq: [...]}}`) from either CloudFormation shape: the map
/// of `AWS::AccessAnalyzer::ArchiveRule` and the list of `Analyzer.ArchiveRules`.
fn api_filter(filter: &Value) -> Value {
    let criterion = |ops: &Map<String, Value>| -> Value {
        Value::Object(
            ops.iter()
                .filter(|(op, _)| op.as_str() != "Property")
                .map(|(op, v)| {
                    let op = op.to_ascii_lowercase();
                    // Exists is a boolean to the API, whatever string CloudFormation made of it.
                    let v = match (op.as_str(), v) {
                        ("exists", Value::String(s)) => json!(s.eq_ignore_ascii_case("true")),
                        _ => v.clone(),
                    };
                    (op, v)
                })
                .collect(),
        )
    };
    match filter {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, ops)| (key.clone(), criterion(ops.as_object().expect("operators"))))
                .collect(),
        ),
        Value::Array(items) => Value::Object(
            items
                .iter()
                .map(|item| {
                    let ops = item.as_object().expect("a criterion");
                    let key = ops["Property"].as_str().expect("Property").to_owned();
                    (key, criterion(ops))
                })
                .collect(),
        ),
        other => panic!("not a filter: {other}"),
    }
}

/// A finding the test seeds, and whether the example's rules must archive it.
struct Seed {
    seed: FindingSeed,
    archived: bool,
}

/// Findings chosen for the example's rules (cdk/example/app.ts): each rule matches some, and
/// some match none. When the example's filters change, change these with them.
fn example_findings() -> Vec<Seed> {
    let role = |i: u32| {
        FindingSeed::new(
            "AWS::IAM::Role",
            format!("arn:aws:iam::{ACCOUNT}:role/vendor-audit-{i}"),
        )
        .principal("AWS", "arn:aws:iam::444455556666:root")
    };
    vec![
        // vendor-audit-roles: IAM roles the vendor's account may assume.
        Seed {
            seed: role(1),
            archived: true,
        },
        Seed {
            seed: role(2),
            archived: true,
        },
        // private-report-buckets: buckets with "reports" in the ARN that are not public.
        Seed {
            seed: FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::quarterly-reports")
                .principal("AWS", "arn:aws:iam::777788889999:root")
                .public(false),
            archived: true,
        },
        // internal-kms-keys (inline in the analyzer, applied by ApplyArchiveRules).
        Seed {
            seed: FindingSeed::new(
                "AWS::KMS::Key",
                format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd"),
            )
            .principal("AWS", "arn:aws:iam::777788889999:root")
            .public(false),
            archived: true,
        },
        // partner-queues (a CfnArchiveRule, applied by ApplyArchiveRules): not open to everyone.
        Seed {
            seed: FindingSeed::new(
                "AWS::SQS::Queue",
                format!("arn:aws:sqs:{REGION}:{ACCOUNT}:partner-inbox"),
            )
            .principal("AWS", "arn:aws:iam::777788889999:root")
            .public(false),
            archived: true,
        },
        // Matched by none: another account's role, a public bucket, a public queue.
        Seed {
            seed: FindingSeed::new(
                "AWS::IAM::Role",
                format!("arn:aws:iam::{ACCOUNT}:role/other"),
            )
            .principal("AWS", "arn:aws:iam::999988887777:root"),
            archived: false,
        },
        Seed {
            seed: FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::public-reports")
                .principal("AWS", "*")
                .public(true),
            archived: false,
        },
        Seed {
            seed: FindingSeed::new(
                "AWS::SQS::Queue",
                format!("arn:aws:sqs:{REGION}:{ACCOUNT}:open"),
            )
            .principal("AWS", "*")
            .public(true),
            archived: false,
        },
    ]
}

/// What [`deploy_native_resources`] made: the native rules as (analyzer, rule), and the findings.
struct Deployed {
    rules: Vec<(String, String)>,
    findings: Vec<SeededFinding>,
}

struct SeededFinding {
    analyzer: String,
    id: String,
    /// Whether the example's rules must archive it.
    archived: bool,
}

/// Plays CloudFormation for the native resources the custom resources depend on: the analyzers
/// (with their inline rules) and the `AWS::AccessAnalyzer::ArchiveRule`s, created before the
/// custom resources (they `Ref` or `DependsOn` them), after the findings, as in an account whose
/// findings predate the rules.
fn deploy_native_resources(emulator: &Emulator, resolver: &Resolver, seeds: Vec<Seed>) -> Deployed {
    let mut rules = Vec::new();
    let mut analyzers = Vec::new();
    for (id, resource) in resolver.resources {
        if resource["Type"] == "AWS::AccessAnalyzer::Analyzer" {
            let name = resolver.literal(id, "AnalyzerName");
            let arn = emulator.add_analyzer(&name, &resolver.literal(id, "Type"));
            assert_eq!(
                arn,
                analyzer_arn(&name),
                "the emulator's ARN is CloudFormation's Ref"
            );
            analyzers.push(name);
        }
    }
    assert!(!analyzers.is_empty(), "the example declares its analyzer");
    let mut findings = Vec::new();
    for seed in seeds {
        let finding = emulator.add_finding(&analyzers[0], seed.seed);
        findings.push(SeededFinding {
            analyzer: analyzers[0].clone(),
            id: finding.id,
            archived: seed.archived,
        });
    }
    for (id, resource) in resolver.resources {
        let properties = || {
            resolver
                .resolve(&resource["Properties"])
                .expect("properties")
        };
        match resource["Type"].as_str() {
            Some("AWS::AccessAnalyzer::Analyzer") => {
                let properties = properties();
                let analyzer = properties["AnalyzerName"].as_str().expect("a name");
                for rule in properties["ArchiveRules"].as_array().into_iter().flatten() {
                    let name = rule["RuleName"].as_str().expect("RuleName");
                    emulator.put_archive_rule(analyzer, name, api_filter(&rule["Filter"]));
                    rules.push((analyzer.to_owned(), name.to_owned()));
                }
            }
            Some("AWS::AccessAnalyzer::ArchiveRule") => {
                let analyzer = resolver.literal(id, "AnalyzerName");
                let name = resolver.literal(id, "RuleName");
                emulator.put_archive_rule(&analyzer, &name, api_filter(&properties()["Filter"]));
                rules.push((analyzer, name));
            }
            _ => {}
        }
    }
    Deployed { rules, findings }
}

/// One custom resource of the template, with the properties CloudFormation would send.
struct CustomResource {
    logical_id: String,
    resource_type: String,
    properties: Value,
}

fn custom_resources(resolver: &Resolver) -> Vec<CustomResource> {
    resolver
        .resources
        .iter()
        .filter(|(_, r)| r["Type"] == APPLIED || r["Type"] == APPLY)
        .map(|(id, r)| CustomResource {
            logical_id: id.clone(),
            resource_type: r["Type"].as_str().expect("a type").to_owned(),
            properties: as_cloudformation_sends(
                resolver.resolve(&r["Properties"]).expect("properties"),
            ),
        })
        .collect()
}

/// The provider function the custom resources name in `ServiceToken`: its name and environment.
fn provider_function(resolver: &Resolver, service_token: &str) -> (String, Vec<(String, String)>) {
    let (id, _) = resolver
        .resources
        .iter()
        .find(|(id, r)| {
            r["Type"] == "AWS::Lambda::Function"
                && resolver.attribute(&json!([id, "Arn"])) == json!(service_token)
        })
        .unwrap_or_else(|| panic!("ServiceToken {service_token} is no function of the template"));
    function_of(resolver, id)
}

/// A function's name and its environment, as Lambda would set them.
fn function_of(resolver: &Resolver, id: &str) -> (String, Vec<(String, String)>) {
    let variables = &resolver.resource(id)["Properties"]["Environment"]["Variables"];
    let environment = resolver
        .resolve(variables)
        .unwrap_or(Value::Null)
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (resolver.literal(id, "FunctionName"), environment)
}

/// The bootstrap binary behind a fake Lambda Runtime API, as Lambda runs the provider function.
struct Provider {
    runtime: FakeRuntime,
    process: BootstrapProcess,
}

impl Provider {
    /// Spawns the bootstrap as the template's `function_name`, with its `environment`.
    async fn spawn(h: &Harness, function_name: &str, environment: Vec<(String, String)>) -> Self {
        let runtime = FakeRuntime::start().await.expect("fake runtime starts");
        let mut env = environment;
        env.push((
            "AWS_ENDPOINT_URL_ACCESSANALYZER".into(),
            h.emulator.endpoint_url(),
        ));
        env.push((
            "APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL".into(),
            "true".into(),
        ));
        let process = BootstrapProcess::spawn(bootstrap_binary(), &runtime, function_name, env)
            .expect("bootstrap spawns");
        Provider { runtime, process }
    }

    /// What the invocation returned.
    async fn run(&self, event: &Value) -> Value {
        let id = self.runtime.queue_event(event.clone(), Deadline::In(WAIT));
        match self.runtime.wait_for_outcome(&id, WAIT).await {
            Some(InvocationOutcome::Response(value)) => value,
            outcome => panic!("{outcome:?}; logs:\n{}", self.process.logs().join("\n")),
        }
    }

    async fn invoke(&self, h: &Harness, event: &Value) -> CfnResponse {
        self.run(event).await;
        h.response_for(event)
    }
}

fn typed(mut event: Value, resource: &CustomResource, service_token: &str) -> Value {
    event["ResourceType"] = json!(resource.resource_type);
    event["ServiceToken"] = json!(service_token);
    event
}

#[tokio::test]
async fn the_synthesized_custom_resources_succeed_through_the_bootstrap() {
    let Some(dir) = std::env::var_os(CDK_OUT) else {
        eprintln!(
            "{CDK_OUT} is not set: `make test` synthesizes cdk/example (make cdk-synth) and runs this test on its templates"
        );
        return;
    };
    for (path, template) in synthesized_templates(Path::new(&dir)) {
        let resolver = Resolver::new(&template);
        let resources = custom_resources(&resolver);
        if resources.is_empty() {
            continue;
        }
        for kind in [APPLIED, APPLY] {
            assert!(
                resources.iter().any(|r| r.resource_type == kind),
                "{}: the example declares a {kind}",
                path.display()
            );
        }
        run_stack(&resolver, &resources).await;
    }
}

async fn run_stack(resolver: &Resolver<'_>, resources: &[CustomResource]) {
    let h = Harness::start().await;
    let deployed = deploy_native_resources(&h.emulator, resolver, example_findings());

    let service_token = resources[0].properties["ServiceToken"]
        .as_str()
        .expect("ServiceToken")
        .to_owned();
    let (function_name, environment) = provider_function(resolver, &service_token);
    let provider = Provider::spawn(&h, &function_name, environment).await;
    assert_eq!(provider.runtime.function_arn(), service_token);

    // Create, in the template's order: nothing between the custom resources orders them.
    let mut physical_ids = BTreeMap::new();
    for resource in resources {
        assert_eq!(resource.properties["ServiceToken"], json!(service_token));
        let event = typed(
            h.create_event(&resource.logical_id, resource.properties.clone()),
            resource,
            &service_token,
        );
        let response = provider.invoke(&h, &event).await;
        response.assert_success();
        assert_created(&h, resource, &response);
        physical_ids.insert(resource.logical_id.clone(), response.physical_id);
    }
    assert_findings(&h, &deployed.findings);

    // A redeploy with a new Revision: applied again in place.
    for resource in resources {
        let mut properties = resource.properties.clone();
        properties["Revision"] = json!("contract-update");
        let event = typed(
            h.update_event(
                &resource.logical_id,
                &physical_ids[&resource.logical_id],
                properties,
                resource.properties.clone(),
            ),
            resource,
            &service_token,
        );
        let response = provider.invoke(&h, &event).await;
        response.assert_success();
        assert_eq!(response.physical_id, physical_ids[&resource.logical_id]);
    }

    // Stack deletion: the owned rules go, the native ones stay, the findings stay archived.
    for resource in resources {
        let event = typed(
            h.delete_event(
                &resource.logical_id,
                &physical_ids[&resource.logical_id],
                resource.properties.clone(),
            ),
            resource,
            &service_token,
        );
        provider.invoke(&h, &event).await.assert_success();
    }
    for resource in resources.iter().filter(|r| r.resource_type == APPLIED) {
        let (analyzer, rule) = analyzer_and_rule(resource);
        assert!(
            h.rule_filter_on(&analyzer, &rule).is_none(),
            "{rule} was deleted"
        );
    }
    for (analyzer, rule) in &deployed.rules {
        assert!(
            h.rule_filter_on(analyzer, rule).is_some(),
            "native rule {rule} stays"
        );
    }
    assert_findings(&h, &deployed.findings);
}

/// The findings the example's rules match are ARCHIVED, the others still ACTIVE.
fn assert_findings(h: &Harness, findings: &[SeededFinding]) {
    for finding in findings {
        let expected = if finding.archived {
            FindingStatus::Archived
        } else {
            FindingStatus::Active
        };
        assert_eq!(
            h.status_on(&finding.analyzer, &finding.id),
            expected,
            "finding {}",
            finding.id
        );
    }
}

/// The analyzer (by name) and rule a `Custom::AppliedArchiveRule` declares.
fn analyzer_and_rule(resource: &CustomResource) -> (String, String) {
    let p = &resource.properties;
    let analyzer = match (p["AnalyzerName"].as_str(), p["AnalyzerArn"].as_str()) {
        (Some(name), _) => name.to_owned(),
        (None, Some(arn)) => arn.rsplit('/').next().expect("a name").to_owned(),
        _ => panic!("{}: no analyzer", resource.logical_id),
    };
    (
        analyzer,
        p["RuleName"].as_str().unwrap_or_default().to_owned(),
    )
}

fn assert_created(h: &Harness, resource: &CustomResource, response: &CfnResponse) {
    let matched: usize = response.data("MatchedFindings").parse().expect("a count");
    assert!(
        matched >= 1,
        "{}: seed a finding in example_findings() that its filter matches",
        resource.logical_id
    );
    assert_eq!(response.data("ArchivedFindings"), matched.to_string());
    assert_eq!(response.data("PendingFindings"), "0");
    assert_eq!(response.data("Verified"), "true");
    let p = &resource.properties;
    match resource.resource_type.as_str() {
        APPLIED => {
            let (analyzer, rule) = analyzer_and_rule(resource);
            assert_eq!(
                response.physical_id,
                format!("{}/archive-rule/{rule}", analyzer_arn(&analyzer))
            );
            assert_eq!(response.data("Arn"), response.physical_id);
            assert_eq!(
                h.rule_filter_on(&analyzer, &rule),
                Some(api_filter(&p["Filter"])),
                "{}: the rule holds the declared filter",
                resource.logical_id
            );
        }
        _ => {
            let analyzer = p["AnalyzerArn"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| p["AnalyzerName"].as_str().map(analyzer_arn))
                .expect("an analyzer");
            assert_eq!(
                response.physical_id,
                format!("apply-archive-rules:{analyzer}")
            );
            let rules = p["RuleNames"].as_array().map(Vec::len).expect("RuleNames");
            assert_eq!(response.data("RulesApplied"), rules.to_string());
        }
    }
}

/// The constructs refuse at synth time what the provider refuses, in its words: for each case of
/// cdk/test/validation-cases.json (whose construct side cdk/test/validation-cases.test.ts checks),
/// the provider answers FAILED with a Reason that holds the same message, and writes nothing.
#[tokio::test]
async fn the_synth_time_messages_are_the_provider_reasons() {
    let fixture: Value = serde_json::from_str(include_str!("../cdk/test/validation-cases.json"))
        .expect("the fixture is JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "the fixture lost its cases");
    let h = Harness::start().await;
    for case in cases {
        let name = case["case"].as_str().expect("a case name");
        let mut properties = as_cloudformation_sends(case["properties"].clone());
        properties["ServiceToken"] = json!(common::FUNCTION_ARN);
        let mut event = h.create_event("Refused", properties);
        event["ResourceType"] = case["resourceType"].clone();

        let response = h.send(&event).await;

        response.assert_failed();
        let message = case["message"].as_str().expect("a message");
        assert!(
            response.reason.contains(&format!("invalid {message}")),
            "{name}: the provider says {:?}, the constructs say {message:?}",
            response.reason
        );
    }
    assert!(h.mutating_calls().is_empty(), "{:?}", h.mutating_calls());
}

/// The example's `AutoApply` function, with the environment the construct gives it, applies a rule
/// that a caller its `principals` allow created with a plain `CreateArchiveRule`, refuses one made
/// by any other caller, and skips the provider's own: the construct and the provider agree on the
/// auto-apply settings too.
#[tokio::test]
async fn the_synthesized_auto_apply_function_applies_what_its_guards_allow() {
    let Some(dir) = std::env::var_os(CDK_OUT) else {
        eprintln!("{CDK_OUT} is not set: `make test` runs this test on the example's templates");
        return;
    };
    let mut ran = false;
    for (_, template) in synthesized_templates(Path::new(&dir)) {
        let resolver = Resolver::new(&template);
        let auto_apply = resolver.resources.iter().find(|(_, r)| {
            r["Properties"]["Environment"]["Variables"]["APPLIED_ARCHIVE_RULE_AUTO_APPLY"] == "true"
        });
        let Some((id, _)) = auto_apply else { continue };
        let (function_name, environment) = function_of(&resolver, id);
        let setting = |name: &str| {
            environment
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name} is not set"))
        };
        let principals = setting("APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS");
        let provider_role = setting("APPLIED_ARCHIVE_RULE_ROLE_ARN");
        assert!(
            !principals.is_empty(),
            "the example names the pipeline roles"
        );
        // A role each `*` of the first pattern admits.
        let allowed = principals
            .split(',')
            .next()
            .expect("a pattern")
            .replace('*', ACCOUNT);

        let h = Harness::start().await;
        let (roles, others) = h.seed_findings();
        h.emulator
            .put_archive_rule(ANALYZER, "vendor-roles", common::roles_rule_json());
        h.emulator
            .put_archive_rule(ANALYZER, "buckets", common::buckets_rule_json());
        let function = Provider::spawn(&h, &function_name, environment.clone()).await;
        let change = |rule: &str, filter: Value, caller: &str| {
            RuleChange::create(ACCOUNT, REGION, ANALYZER, rule, filter)
                .by(Caller::role(caller))
                .event()
        };

        let applied = function
            .run(&change("vendor-roles", common::roles_rule_json(), &allowed))
            .await;
        let refused = function
            .run(&change(
                "buckets",
                common::buckets_rule_json(),
                &format!("arn:aws:iam::{ACCOUNT}:role/someone-else"),
            ))
            .await;
        let skipped = function
            .run(&change(
                "buckets",
                common::buckets_rule_json(),
                &provider_role,
            ))
            .await;

        assert_eq!(applied["outcomes"][0]["outcome"], "applied", "{applied}");
        assert_eq!(refused["outcomes"][0]["outcome"], "refused", "{refused}");
        let why = refused["outcomes"][0]["why"].as_str().unwrap_or_default();
        assert!(why.contains("matches none of"), "{refused}");
        assert_eq!(skipped["outcomes"][0]["outcome"], "skipped", "{skipped}");
        let why = skipped["outcomes"][0]["why"].as_str().unwrap_or_default();
        assert!(
            why.contains("made by the CloudFormation provider"),
            "{skipped}"
        );
        for id in &roles {
            assert_eq!(h.status_of(id), FindingStatus::Archived);
        }
        for id in &others {
            assert_eq!(h.status_of(id), FindingStatus::Active);
        }
        ran = true;
    }
    assert!(ran, "the example declares an AutoApply");
}
