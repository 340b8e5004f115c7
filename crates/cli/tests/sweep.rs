//! The `applied-archive-rule` binary against an emulated Organization: STS, Organizations, EC2
//! `DescribeRegions` and Access Analyzer in every (account, region), on one loopback endpoint.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::access_analyzer::{Fault, FindingSeed, FindingStatus};
use testkit::organization::{AccountSpec, AnalyzerStatus, OrgEmulator, OrgSpec};

const ANALYZER: &str = "account-analyzer";
const RULE: &str = "vendor-roles";
const HOME_REGION: &str = "us-east-1";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Far longer than any run here takes; a run that outlives it hangs, and fails the test rather
/// than the whole suite.
const HUNG_RUN: Duration = Duration::from_secs(600);

/// Runs the CLI as the management account's caller, with nothing of the developer's environment.
async fn cli(org: &OrgEmulator, args: &[&str]) -> Run {
    let (key, secret) = org.management_credentials();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_applied-archive-rule"))
        .args(args)
        .kill_on_drop(true)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", HOME_REGION)
        .env("AWS_ENDPOINT_URL", org.endpoint_url())
        .output();
    let output = tokio::time::timeout(HUNG_RUN, run)
        .await
        .unwrap_or_else(|_| panic!("the CLI never finished: {args:?}"))
        .expect("the CLI runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An Organization of `members` accounts plus the management account, each with the analyzer, two
/// ACTIVE role findings and a bucket finding in both regions, and a rule created after them (so the
/// findings are still ACTIVE: exactly the situation the sweep is for).
async fn organization(spec: OrgSpec) -> OrgEmulator {
    let org = OrgEmulator::start(spec).await.expect("emulator starts");
    for account in org
        .spec()
        .accounts
        .iter()
        .map(|a| a.id.clone())
        .collect::<Vec<_>>()
    {
        for region in REGIONS {
            let target = org.access_analyzer(&account, region);
            target.add_analyzer(ANALYZER, "ACCOUNT");
            for name in ["audit", "billing"] {
                target.add_finding(
                    ANALYZER,
                    FindingSeed::new(
                        "AWS::IAM::Role",
                        format!("arn:aws:iam::{account}:role/vendor-{name}"),
                    )
                    .principal("AWS", "arn:aws:iam::444455556666:root"),
                );
            }
            target.add_finding(
                ANALYZER,
                FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::shared"),
            );
            target.put_archive_rule(
                ANALYZER,
                RULE,
                json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
            );
        }
    }
    org
}

fn statuses(org: &OrgEmulator, account: &str, region: &str) -> Vec<(String, FindingStatus)> {
    org.access_analyzer(account, region)
        .findings(ANALYZER)
        .into_iter()
        .map(|f| (f.resource_type, f.status))
        .collect()
}

fn sweep_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sweep",
        "--role-name",
        "OrganizationAccountAccessRole",
        "--all-accounts",
        "--regions",
        "us-east-1,eu-west-1",
        "--analyzer",
        ANALYZER,
        "--all-rules",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            (
                t["account"].as_str().unwrap().to_owned(),
                t["region"].as_str().unwrap().to_owned(),
                t["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every target was applied except (`account`, `region`), whose outcome is `outcome`.
fn assert_applied_except(report: &Value, account: &str, region: &str, outcome: &str) {
    for (a, r, o) in outcomes(report) {
        let expected = if a == account && r == region {
            outcome
        } else {
            "applied"
        };
        assert_eq!(o, expected, "{a} {r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_target_is_applied_and_each_role_is_assumed_once() {
    let org = organization(OrgSpec::generated(6)).await;

    let run = cli(&org, &sweep_args(&[])).await;

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let outcomes = outcomes(&report);
    assert_eq!(outcomes.len(), 7 * 2, "7 accounts × 2 regions");
    assert!(
        outcomes.iter().all(|(_, _, o)| o == "applied"),
        "{outcomes:?}"
    );
    assert_eq!(report["summary"]["archived"], json!(7 * 2 * 2));
    for account in org.spec().accounts.iter() {
        for region in REGIONS {
            for (kind, status) in statuses(&org, &account.id, region) {
                let expected = if kind == "AWS::IAM::Role" {
                    FindingStatus::Archived
                } else {
                    FindingStatus::Active
                };
                assert_eq!(status, expected, "{} {region} {kind}", account.id);
            }
        }
        let assumed = org.assume_role_calls(&account.id);
        if account.id == org.management_account() {
            assert_eq!(
                assumed, 0,
                "the caller's own account uses the caller's credentials"
            );
        } else {
            assert_eq!(
                assumed, 1,
                "one AssumeRole per account, reused across its regions"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_denies_the_role_is_reported_and_the_rest_are_applied() {
    let mut spec = OrgSpec::generated(3);
    spec.accounts[2].deny_assume_role = true;
    let denied = spec.accounts[2].id.clone();
    let org = organization(spec).await;

    let run = cli(&org, &sweep_args(&[])).await;

    assert_eq!(run.code, 1, "a denied target makes the exit status 1");
    for (account, _, outcome) in outcomes(&run.json()) {
        let expected = if account == denied {
            "access-denied"
        } else {
            "applied"
        };
        assert_eq!(outcome, expected, "{account}");
    }
    for region in REGIONS {
        assert!(statuses(&org, &denied, region)
            .iter()
            .all(|(_, s)| *s == FindingStatus::Active));
    }
}

/// Three accounts; only the returned one enabled eu-south-1, where its analyzer has no rule.
async fn one_account_opted_in_to_eu_south_1() -> (OrgEmulator, String) {
    let mut spec = OrgSpec::generated(2);
    spec.accounts[1].opt_in_regions = vec!["eu-south-1".to_owned()];
    let opted_in = spec.accounts[1].id.clone();
    let org = organization(spec).await;
    org.access_analyzer(&opted_in, "eu-south-1")
        .add_analyzer(ANALYZER, "ACCOUNT");
    (org, opted_in)
}

/// eu-south-1 is "no rule" in the account that enabled it, "region not enabled" in the others.
fn assert_only_the_opted_in_account_reaches_eu_south_1(report: &Value, opted_in: &str) {
    for (account, region, outcome) in outcomes(report) {
        assert_eq!(region, "eu-south-1");
        let expected = if account == opted_in {
            "no-rule"
        } else {
            "region-not-enabled"
        };
        assert_eq!(outcome, expected, "{account}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_not_enabled_in_an_account_is_skipped_without_a_call() {
    let (org, opted_in) = one_account_opted_in_to_eu_south_1().await;

    let args = [
        "sweep",
        "--role-name",
        "r",
        "--all-accounts",
        "--regions",
        "eu-south-1",
        "--analyzer",
        ANALYZER,
        "--all-rules",
        "--output",
        "json",
    ];
    let run = cli(&org, &args).await;

    assert_eq!(
        run.code, 0,
        "nothing to apply is not a failure: {}",
        run.stderr
    );
    assert_only_the_opted_in_account_reaches_eu_south_1(&run.json(), &opted_in);
    let refused = org
        .requests()
        .into_iter()
        .filter(|r| r.service == "access-analyzer" && r.account.as_deref() != Some(&opted_in))
        .count();
    assert_eq!(
        refused, 0,
        "no Access Analyzer call where the region is not enabled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_under_concurrency_is_retried_until_every_target_is_applied() {
    let org = organization(OrgSpec::generated(4)).await;
    org.fail_next(
        "*",
        "*",
        "ApplyArchiveRule",
        6,
        Fault::Throttling {
            retry_after_seconds: 0,
        },
    );
    org.fail_next(
        "*",
        "*",
        "ListFindingsV2",
        4,
        Fault::Throttling {
            retry_after_seconds: 0,
        },
    );

    let run = cli(&org, &sweep_args(&["--concurrency", "8"])).await;

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(outcomes(&run.json()).iter().all(|(_, _, o)| o == "applied"));
    let throttled = org
        .requests()
        .into_iter()
        .filter(|r| r.status == 429 || r.status == 400 && r.operation == "ApplyArchiveRule")
        .count();
    assert!(
        throttled >= 6,
        "the throttles were really served: {throttled}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_does_not_stop_the_others() {
    let org = organization(OrgSpec::generated(3)).await;
    let broken = org.spec().accounts[1].id.clone();
    // Not retryable, so the target fails at once rather than after the SDK's backoff.
    org.fail_next(
        &broken,
        "eu-west-1",
        "ApplyArchiveRule",
        1,
        Fault::Validation,
    );

    let run = cli(&org, &sweep_args(&[])).await;

    assert_eq!(run.code, 1);
    let report = run.json();
    assert_applied_except(&report, &broken, "eu-west-1", "error");
    let failed = detail_of(&report, "error");
    assert!(failed.contains("ValidationException"), "{failed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_counts_and_changes_nothing() {
    let org = organization(OrgSpec::generated(2)).await;

    let run = cli(&org, &sweep_args(&["--dry-run"])).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["dryRun"], json!(true));
    assert_eq!(report["summary"]["matched"], json!(3 * 2 * 2));
    assert_eq!(report["summary"]["archived"], json!(0));
    assert_eq!(
        report["summary"]["pending"],
        json!(0),
        "nothing applied, nothing pending"
    );
    assert!(outcomes(&report).iter().all(|(_, _, o)| o == "dry-run"));
    assert_eq!(
        report["summary"]["outcomes"]["dry-run"],
        json!(3 * 2),
        "one spelling everywhere"
    );
    let applies = org
        .requests()
        .into_iter()
        .filter(|r| r.operation == "ApplyArchiveRule")
        .count();
    assert_eq!(applies, 0);
    for account in org.spec().accounts.iter() {
        for region in REGIONS {
            assert!(statuses(&org, &account.id, region)
                .iter()
                .all(|(_, s)| *s == FindingStatus::Active));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_report_has_a_stable_schema() {
    let org = organization(OrgSpec::generated(1)).await;

    let run = cli(&org, &sweep_args(&[])).await;

    let report = run.json();
    assert!(report["dryRun"].is_boolean());
    let summary = &report["summary"];
    for key in ["targets", "matched", "archived", "pending"] {
        assert!(summary[key].is_u64(), "summary.{key}: {summary}");
    }
    assert!(summary["outcomes"].is_object());
    let target = &report["targets"][0];
    for key in ["account", "region", "outcome", "detail"] {
        assert!(target[key].is_string(), "{key}: {target}");
    }
    for key in ["matched", "archived", "pending"] {
        assert!(target[key].is_u64(), "{key}: {target}");
    }
    assert!(target["verified"].is_boolean());
    assert_eq!(target["analyzer"], json!(ANALYZER));
    let rule = &target["rules"][0];
    assert_eq!(rule["rule"], json!(RULE));
    for key in ["matched", "archived", "pending"] {
        assert!(rule[key].is_u64(), "rules[].{key}: {rule}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn analyzers_are_found_by_type_and_accounts_by_ou_including_child_ous() {
    let mut spec = OrgSpec::generated(6);
    // An account outside the chosen OU, and a suspended one inside it.
    spec.accounts.push({
        let mut gone = AccountSpec::new("299999999999", "suspended", "ou-a1b2-prod0001");
        gone.state = testkit::organization::AccountState::Suspended;
        gone
    });
    let org = organization(spec).await;
    let in_workload: Vec<String> = org
        .spec()
        .accounts
        .iter()
        .filter(|a| {
            matches!(
                a.parent_id.as_str(),
                "ou-a1b2-workload" | "ou-a1b2-prod0001"
            ) && a.id != "299999999999"
        })
        .map(|a| a.id.clone())
        .collect();

    let args = [
        "sweep",
        "--role-name",
        "r",
        "--ou",
        "ou-a1b2-workload",
        "--regions",
        "us-east-1",
        "--analyzer-type",
        "ACCOUNT",
        "--rule",
        RULE,
        "--output",
        "json",
    ];
    let run = cli(&org, &args).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut accounts: Vec<String> = outcomes(&run.json())
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    accounts.sort();
    let mut expected = in_workload.clone();
    expected.sort();
    assert_eq!(
        accounts, expected,
        "the OU and its child OU, active accounts only"
    );
}

/// Every account, two regions, a rule that exists nowhere.
const MISSING_RULE_SWEEP: [&str; 12] = [
    "sweep",
    "--role-name",
    "r",
    "--all-accounts",
    "--regions",
    "us-east-1,eu-west-1",
    "--analyzer",
    ANALYZER,
    "--rule",
    "no-such-rule",
    "--output",
    "json",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_analyzer_or_rule_is_nothing_to_apply() {
    let org = organization(OrgSpec::generated(1)).await;
    let member = org.spec().accounts[1].id.clone();
    org.access_analyzer(&member, "eu-west-1")
        .remove_analyzer(ANALYZER);

    let run = cli(&org, &MISSING_RULE_SWEEP).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    for (account, region, outcome) in outcomes(&run.json()) {
        let expected = if account == member && region == "eu-west-1" {
            "no-analyzer"
        } else {
            "no-rule"
        };
        assert_eq!(outcome, expected, "{account} {region}");
    }
}

/// The service model lists no ResourceNotFoundException for ListArchiveRules: an empty list is only
/// "no rule" once GetAnalyzer has found the analyzer (issue 9, item 9).
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_rule_list_is_checked_with_get_analyzer_before_it_reads_as_no_rule() {
    let org = organization(OrgSpec::generated(1)).await;
    let member = org.spec().accounts[1].id.clone();
    let gone = org.access_analyzer(&member, "eu-west-1");
    gone.remove_analyzer(ANALYZER);
    gone.answer_empty_rule_lists_for_missing_analyzers();
    let without_rules = org.access_analyzer(&member, "us-east-1");
    without_rules.remove_analyzer(ANALYZER);
    without_rules.add_analyzer(ANALYZER, "ACCOUNT");

    let run = cli(&org, &sweep_args(&[])).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    for (account, region, outcome) in outcomes(&run.json()) {
        let expected = match (account == member, region.as_str()) {
            (true, "eu-west-1") => "no-analyzer",
            (true, _) => "no-rule",
            _ => "applied",
        };
        assert_eq!(outcome, expected, "{account} {region}");
    }
    let looked_up: Vec<(String, String)> = org
        .requests()
        .into_iter()
        .filter(|r| r.operation == "GetAnalyzer" && r.account.as_deref() == Some(member.as_str()))
        .map(|r| (r.region.clone().unwrap_or_default(), r.operation))
        .collect();
    assert_eq!(
        looked_up.len(),
        2,
        "one GetAnalyzer per empty list: {looked_up:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_table_report_reads_at_a_glance() {
    let org = organization(OrgSpec::generated(1)).await;
    let mut args = sweep_args(&[]);
    args.truncate(args.len() - 2);

    let run = cli(&org, &args).await;

    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("ACCOUNT"), "{}", run.stdout);
    assert!(run.stdout.contains("OUTCOME"));
    assert!(
        run.stdout
            .contains("4 targets: 4 applied. Findings matched 8, archived 8, pending 0."),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_exits_2() {
    let org = organization(OrgSpec::generated(0)).await;
    for args in [
        vec!["sweep", "--role-name", "r", "--all-rules"],
        vec![
            "sweep",
            "--role-name",
            "r",
            "--analyzer",
            "a",
            "--all-rules",
            "--accounts",
            "12345",
        ],
        vec!["frobnicate"],
        vec!["preview", "--analyzer", ANALYZER, "--filter", "{not json"],
    ] {
        let run = cli(&org, &args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_lists_what_a_filter_would_archive_with_the_principal() {
    let org = organization(OrgSpec::generated(0)).await;
    let args = [
        "preview",
        "--analyzer",
        ANALYZER,
        "--filter",
        r#"[{"Property": "resourceType", "Eq": ["AWS::IAM::Role"]}]"#,
        "--output",
        "json",
    ];

    let run = cli(&org, &args).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["activeFindings"], json!(2));
    assert_eq!(
        report["findings"][0]["principal"],
        json!("AWS=arn:aws:iam::444455556666:root")
    );
    assert!(
        org.requests()
            .iter()
            .all(|r| r.operation != "ApplyArchiveRule"),
        "preview changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_in_the_callers_account_reports_each_rule() {
    let org = organization(OrgSpec::generated(0)).await;
    let management = org.management_account();

    let run = cli(
        &org,
        &[
            "apply",
            "--analyzer",
            ANALYZER,
            "--rule",
            RULE,
            "--output",
            "json",
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["report"]["rules"][0]["archived"], json!(2));
    assert_eq!(report["report"]["verified"], json!(true));
    assert!(statuses(&org, &management, HOME_REGION)
        .iter()
        .all(|(kind, s)| (*s == FindingStatus::Archived) == (kind == "AWS::IAM::Role")));
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_runs_a_sample_event_and_prints_the_response_without_sending_it() {
    let org = organization(OrgSpec::generated(0)).await;
    let management = org.management_account();
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/events/create.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    event["StackId"] = json!(format!(
        "arn:aws:cloudformation:us-east-1:{management}:stack/try/1"
    ));
    event["ResourceProperties"]["AnalyzerName"] = json!(ANALYZER);
    let file = std::env::temp_dir().join(format!("invoke-{}.json", std::process::id()));
    std::fs::write(&file, event.to_string()).unwrap();

    let run = cli(&org, &["invoke", "--event", file.to_str().unwrap()]).await;
    std::fs::remove_file(&file).ok();

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let response = run.json();
    assert_eq!(response["Status"], json!("SUCCESS"), "{response}");
    assert!(run.stderr.contains("response not sent"), "{}", run.stderr);
    assert!(!org
        .access_analyzer(&management, HOME_REGION)
        .archive_rules(ANALYZER)
        .is_empty());
}

/// `invoke` runs the auto-apply samples as the auto-apply function would (issue 11 item 5).
#[tokio::test(flavor = "multi_thread")]
async fn invoke_runs_the_auto_apply_samples_as_the_auto_apply_function_would() {
    let org = organization(OrgSpec::generated(0)).await;
    let management = org.management_account();
    let home = org.access_analyzer(&management, HOME_REGION);
    home.add_analyzer("account-analyzer", "ACCOUNT");
    let role = home
        .add_finding(
            "account-analyzer",
            FindingSeed::new(
                "AWS::IAM::Role",
                format!("arn:aws:iam::{management}:role/vendor-audit"),
            )
            .principal("AWS", "arn:aws:iam::444455556666:root"),
        )
        .id;
    home.put_archive_rule(
        "account-analyzer",
        "vendor-audit-terraform",
        json!({
            "resourceType": {"eq": ["AWS::IAM::Role"]},
            "principal.AWS": {"eq": ["arn:aws:iam::444455556666:root"]}
        }),
    );
    let sample = |name: &str| {
        format!(
            "{}/../../examples/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };

    let run = cli(
        &org,
        &[
            "invoke",
            "--event",
            &sample("auto-apply-create-archive-rule.json"),
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcomes"][0]["outcome"], "applied", "{summary}");
    assert_eq!(
        home.findings("account-analyzer")
            .iter()
            .find(|f| f.id == role)
            .map(|f| f.status),
        Some(FindingStatus::Archived)
    );
    let run = cli(
        &org,
        &["invoke", "--event", &sample("auto-apply-scheduled.json")],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["trigger"], "Schedule");
}

/// The detail of the first target with `outcome`.
fn detail_of<'a>(report: &'a Value, outcome: &str) -> &'a str {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["outcome"] == json!(outcome))
        .and_then(|t| t["detail"].as_str())
        .unwrap_or_else(|| panic!("no {outcome} target in {report}"))
}

fn target<'a>(report: &'a Value, account: &str, region: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["account"] == json!(account) && t["region"] == json!(region))
        .unwrap_or_else(|| panic!("no target {account} {region} in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_access_analyzer_call_ends_its_target_as_an_error_and_the_sweep_finishes() {
    let org = organization(OrgSpec::generated(2)).await;
    let stuck = org.spec().accounts[1].id.clone();
    // Every attempt hangs: the retries cannot rescue it, only the operation timeout ends it.
    org.fail_next(&stuck, "eu-west-1", "ListArchiveRules", 1000, Fault::Hang);

    let run = cli(&org, &sweep_args(&["--call-timeout", "1"])).await;

    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_applied_except(&report, &stuck, "eu-west-1", "error");
    let detail = target(&report, &stuck, "eu-west-1")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("ListArchiveRules") && detail.contains("operation timeout"),
        "{detail}"
    );
    assert!(
        org.requests()
            .iter()
            .any(|r| r.operation == "ListArchiveRules" && r.status == 0),
        "the call really hung"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_describe_regions_ends_as_an_error_naming_the_timeout_and_the_other_accounts_are_applied(
) {
    let org = organization(OrgSpec::generated(1)).await;
    let stuck = org.spec().accounts[1].id.clone();
    let management = org.management_account();
    org.fail_next(&stuck, "*", "DescribeRegions", 1000, Fault::Hang);

    let run = cli(
        &org,
        &[
            "sweep",
            "--role-name",
            "r",
            "--all-accounts",
            "--all-regions",
            "--analyzer",
            ANALYZER,
            "--rule",
            RULE,
            "--output",
            "json",
            "--call-timeout",
            "1",
        ],
    )
    .await;

    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let stuck_targets: Vec<&Value> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["account"] == json!(stuck))
        .collect();
    assert_eq!(stuck_targets.len(), 1, "{report}");
    assert_eq!(stuck_targets[0]["outcome"], json!("error"));
    let detail = stuck_targets[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("DescribeRegions") && detail.contains("timeout"),
        "{detail}"
    );
    for region in REGIONS {
        assert_eq!(
            target(&report, &management, region)["outcome"],
            json!("applied")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_that_is_denied_or_fails_is_never_reported_as_nothing_to_apply() {
    let org = organization(OrgSpec::generated(2)).await;
    let denied = org.spec().accounts[1].id.clone();
    let failing = org.spec().accounts[2].id.clone();
    // The rule is missing everywhere, so each target asks GetAnalyzer whether the analyzer is.
    org.fail_next(&denied, "eu-west-1", "GetAnalyzer", 1, Fault::AccessDenied);
    org.fail_next(&failing, "eu-west-1", "GetAnalyzer", 1, Fault::Validation);

    let run = cli(&org, &MISSING_RULE_SWEEP).await;

    assert_eq!(
        run.code, 1,
        "a denied lookup needs a person: {}",
        run.stderr
    );
    let report = run.json();
    for (account, region, outcome) in outcomes(&report) {
        let expected = match (account.as_str(), region.as_str()) {
            (a, "eu-west-1") if a == denied => "access-denied",
            (a, "eu-west-1") if a == failing => "error",
            _ => "no-rule",
        };
        assert_eq!(outcome, expected, "{account} {region}");
    }
    for account in [&denied, &failing] {
        let detail = target(&report, account, "eu-west-1")["detail"]
            .as_str()
            .unwrap();
        assert!(detail.contains("GetAnalyzer"), "{detail}");
    }

    // A denied ListAnalyzers is not "no analyzer" either.
    org.fail_next(
        &denied,
        "us-east-1",
        "ListAnalyzers",
        1,
        Fault::AccessDenied,
    );
    let by_type = [
        "sweep",
        "--role-name",
        "r",
        "--all-accounts",
        "--regions",
        "us-east-1",
        "--analyzer-type",
        "ACCOUNT",
        "--all-rules",
        "--output",
        "json",
    ];
    let run = cli(&org, &by_type).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_applied_except(&run.json(), &denied, "us-east-1", "access-denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn by_type_only_active_analyzers_count_and_service_linked_ones_are_skipped() {
    let org = OrgEmulator::start(OrgSpec::generated(1))
        .await
        .expect("emulator starts");
    let member = org.spec().accounts[1].id.clone();
    let unused_rule = json!({"resourceType": {"eq": ["AWS::IAM::Role"]}});
    let seed = |target: &testkit::organization::AccountRegion, analyzer: &str| {
        target.add_finding(
            analyzer,
            FindingSeed::new(
                "AWS::IAM::Role",
                format!("arn:aws:iam::{member}:role/break-glass"),
            )
            .finding_type("UnusedIAMRole"),
        );
        target.put_archive_rule(analyzer, "break-glass", unused_rule.clone());
    };
    let east = org.access_analyzer(&member, "us-east-1");
    east.add_analyzer("unused-access", "ACCOUNT_UNUSED_ACCESS");
    seed(&east, "unused-access");
    let linked = east.add_service_linked_analyzer(
        "SecurityHubV2",
        "securityhubv2.amazonaws.com",
        "ACCOUNT_UNUSED_ACCESS",
    );
    seed(&east, &linked);
    let west = org.access_analyzer(&member, "eu-west-1");
    for (name, status) in [
        ("unused-new", AnalyzerStatus::Creating),
        ("unused-failed", AnalyzerStatus::Failed),
    ] {
        west.add_analyzer(name, "ACCOUNT_UNUSED_ACCESS");
        seed(&west, name);
        west.set_analyzer_status(name, status, None);
    }
    let mut args = vec![
        "sweep",
        "--role-name",
        "r",
        "--accounts",
        &member,
        "--regions",
        "us-east-1,eu-west-1",
        "--analyzer-type",
        "ACCOUNT_UNUSED_ACCESS",
        "--all-rules",
    ];

    let table = cli(&org, &args).await;
    args.extend(["--output", "json"]);
    let run = cli(&org, &args).await;

    assert_eq!(run.code, 0, "skipped is nothing to apply: {}", run.stderr);
    let report = run.json();
    let rows: Vec<(String, String, String)> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["region"].as_str().unwrap().to_owned(),
                t["analyzer"].as_str().unwrap_or("-").to_owned(),
                t["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |region: &str, analyzer: &str, outcome: &str| {
        (region.to_owned(), analyzer.to_owned(), outcome.to_owned())
    };
    assert_eq!(
        rows,
        [
            row("eu-west-1", "-", "no-analyzer"),
            row("us-east-1", &linked, "skipped"),
            row("us-east-1", "unused-access", "applied"),
        ]
    );
    let skipped = detail_of(&report, "skipped");
    assert!(skipped.contains("securityhubv2.amazonaws.com"), "{skipped}");
    let none = target(&report, &member, "eu-west-1")["detail"]
        .as_str()
        .unwrap();
    assert!(
        none.contains("unused-new is CREATING") && none.contains("unused-failed is FAILED"),
        "{none}"
    );
    assert_eq!(report["summary"]["outcomes"]["skipped"], json!(1));
    assert!(
        table.stdout.contains("skipped (service-linked)"),
        "{}",
        table.stdout
    );

    let touched: Vec<String> = org
        .requests()
        .into_iter()
        .filter(|r| r.service == "access-analyzer" && r.operation != "ListAnalyzers")
        .map(|r| r.params.to_string())
        .filter(|p| {
            ["unused-new", "unused-failed", linked.as_str()]
                .iter()
                .any(|n| p.contains(n))
        })
        .collect();
    assert!(
        touched.is_empty(),
        "no call names an analyzer that does not count: {touched:?}"
    );
    for (target, analyzer) in [
        (&east, linked.as_str()),
        (&west, "unused-new"),
        (&west, "unused-failed"),
    ] {
        assert!(
            target
                .findings(analyzer)
                .iter()
                .all(|f| f.status == FindingStatus::Active),
            "{analyzer}"
        );
    }
    assert!(east
        .findings("unused-access")
        .iter()
        .all(|f| f.status == FindingStatus::Archived));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_not_enabled_is_reported_so_even_when_describe_regions_cannot_be_read() {
    let (org, opted_in) = one_account_opted_in_to_eu_south_1().await;
    // The role may not call ec2:DescribeRegions: every requested region is tried.
    org.fail_next("*", "*", "DescribeRegions", 1000, Fault::AccessDenied);
    let mut args = vec![
        "sweep",
        "--role-name",
        "r",
        "--all-accounts",
        "--regions",
        "eu-south-1",
        "--output",
        "json",
    ];

    for selection in [
        &["--analyzer", ANALYZER, "--all-rules"][..],
        &["--analyzer", ANALYZER, "--rule", RULE][..],
        &["--analyzer-type", "ACCOUNT", "--all-rules"][..],
    ] {
        args.truncate(8);
        args.extend_from_slice(selection);
        let run = cli(&org, &args).await;

        assert_eq!(run.code, 0, "{selection:?}: {}", run.stderr);
        let report = run.json();
        assert_only_the_opted_in_account_reaches_eu_south_1(&report, &opted_in);
        let refused = target(&report, "100000000000", "eu-south-1");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.contains("UnrecognizedClientException") && detail.contains("DescribeRegions"),
            "{detail}"
        );
    }
}
