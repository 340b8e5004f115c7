//! What a user deploys and copies stays true to the code: the templates' IAM policy allows exactly the
//! Access Analyzer operations the provider calls, and the sample events run against the emulator.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingSeed};

const TEMPLATES_WITH_THE_PROVIDER_ROLE: [&str; 2] = ["cfn/provider.yaml", "cfn/stackset.yaml"];

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every `access-analyzer:<Action>` token in a template. ARNs (`access-analyzer:${AWS::Region}`)
/// do not match because an action name starts with a letter.
fn policy_actions(template: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for (start, _) in template.match_indices("access-analyzer:") {
        let rest = &template[start + "access-analyzer:".len()..];
        let action: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '*')
            .collect();
        if action.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*') {
            actions.insert(action);
        }
    }
    actions
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
    let created = h
        .send(&h.create_event("R", rule("r", roles_filter())))
        .await;
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
    h.send(&h.create_event("Same", rule("same", roles_filter())))
        .await;
    h.emulator.put_archive_rule(
        ANALYZER,
        "other",
        json!({"resourceType": {"eq": ["AWS::KMS::Key"]}}),
    );
    let mut adopt = rule("other", roles_filter());
    adopt["AdoptExisting"] = json!(true);
    h.send(&h.create_event("Other", adopt)).await;
    // A failed replacement removes what it created.
    h.emulator
        .fail_next("ApplyArchiveRule", 1, Fault::AccessDenied);
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
        let allowed = policy_actions(&read(path));
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

/// The SCP in docs/deploy.md must cover every way to invoke or reconfigure the provider: the
/// unqualified ARN names only `$LATEST` called without a qualifier, so without `:*` an
/// `Invoke --qualifier $LATEST` (or a version, or an alias) is not denied. `lambda:InvokeAsync`
/// is deprecated but still an action of its own in the Lambda API.
#[test]
fn the_documented_scp_denies_every_invocation_of_the_provider_qualified_or_not() {
    let scp = json_block_after(&read("docs/deploy.md"), "## Who may invoke the provider");
    let function = "arn:aws:lambda:*:*:function:applied-archive-rule-provider";
    let qualified = format!("{function}:*");
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
        assert!(
            resources.contains(&function) && resources.contains(&qualified.as_str()),
            "{action} is denied on {resources:?}: both {function} and {qualified} are needed"
        );
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
