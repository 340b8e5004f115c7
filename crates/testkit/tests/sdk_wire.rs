//! Drives every emulated route through the real `aws-sdk-accessanalyzer` client, so the wire
//! format (routes, member locations, timestamps, error codes and members) is what the SDK the
//! provider uses actually sends and parses.

use std::time::{Duration, Instant};

use aws_sdk_accessanalyzer::{
    config::{retry::RetryConfig, timeout::TimeoutConfig, Credentials, Region},
    error::ProvideErrorMetadata,
    operation::{
        apply_archive_rule::ApplyArchiveRuleError, create_archive_rule::CreateArchiveRuleError,
        delete_archive_rule::DeleteArchiveRuleError, get_analyzer::GetAnalyzerError,
        get_archive_rule::GetArchiveRuleError, list_findings::ListFindingsError,
        list_findings_v2::ListFindingsV2Error, update_archive_rule::UpdateArchiveRuleError,
        update_findings::UpdateFindingsError,
    },
    types::{
        error::ValidationException, Criterion, FindingStatus as SdkFindingStatus,
        FindingStatusUpdate, FindingType, OrderBy, ResourceType, SortCriteria, Type,
    },
    Client,
};
use testkit::access_analyzer::{Emulator, EmulatorConfig, Fault, FindingSeed, FindingStatus};

const ANALYZER: &str = "account-analyzer";

fn client(emulator: &Emulator) -> Client {
    let config = aws_sdk_accessanalyzer::Config::builder()
        .endpoint_url(emulator.endpoint_url())
        .region(Region::new(emulator.region()))
        .credentials_provider(Credentials::new(
            "AKIDEMULATOR",
            "secret",
            None,
            None,
            "sdk_wire",
        ))
        .retry_config(RetryConfig::disabled())
        .behavior_version_latest()
        .build();
    Client::from_conf(config)
}

fn eq(values: &[&str]) -> Criterion {
    values
        .iter()
        .fold(Criterion::builder(), |criterion, value| {
            criterion.eq(*value)
        })
        .build()
}

fn role(name: &str, trusted_account: &str) -> FindingSeed {
    FindingSeed::new(
        "AWS::IAM::Role",
        format!("arn:aws:iam::123456789012:role/{name}"),
    )
    .principal("AWS", format!("arn:aws:iam::{trusted_account}:root"))
    .action("sts:AssumeRole")
}

async fn emulator_with_analyzer() -> (Emulator, Client, String) {
    let emulator = Emulator::start().await.expect("emulator starts");
    let arn = emulator.add_analyzer(ANALYZER, "ACCOUNT");
    let client = client(&emulator);
    (emulator, client, arn)
}

#[tokio::test]
async fn get_and_list_analyzers() {
    let (emulator, client, arn) = emulator_with_analyzer().await;
    emulator.add_analyzer("second", "ORGANIZATION");
    emulator.add_analyzer("unused", "ACCOUNT_UNUSED_ACCESS");

    let analyzer = client
        .get_analyzer()
        .analyzer_name(ANALYZER)
        .send()
        .await
        .expect("GetAnalyzer succeeds");
    let analyzer = analyzer.analyzer().expect("analyzer in the response");
    assert_eq!(analyzer.arn(), arn);
    assert_eq!(analyzer.r#type(), &Type::Account);

    let names: Vec<String> = client
        .list_analyzers()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListAnalyzers pages")
        .iter()
        .map(|analyzer| analyzer.name().to_owned())
        .collect();
    assert_eq!(names, [ANALYZER, "second", "unused"]);

    let unused = client
        .list_analyzers()
        .r#type(Type::AccountUnusedAccess)
        .send()
        .await
        .expect("ListAnalyzers by type");
    assert_eq!(unused.analyzers().len(), 1);
    let listed = emulator.requests_for("ListAnalyzers");
    assert_eq!(listed[0].params["maxResults"], "2");
    assert_eq!(
        listed.last().expect("recorded").params["type"],
        "ACCOUNT_UNUSED_ACCESS"
    );

    let missing = client
        .get_analyzer()
        .analyzer_name("nope")
        .send()
        .await
        .expect_err("missing analyzer");
    match missing.into_service_error() {
        GetAnalyzerError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), "nope");
            assert_eq!(error.resource_type(), "AWS::AccessAnalyzer::Analyzer");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
}

#[tokio::test]
async fn archive_rule_lifecycle_and_request_record() {
    let (emulator, client, _) = emulator_with_analyzer().await;

    client
        .create_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("partners")
        .filter("principal.AWS", eq(&["arn:aws:iam::111111111111:root"]))
        .filter("isPublic", eq(&["false"]))
        .client_token("create-token")
        .send()
        .await
        .expect("CreateArchiveRule succeeds");

    let rule = client
        .get_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("partners")
        .send()
        .await
        .expect("GetArchiveRule succeeds");
    let rule = rule.archive_rule().expect("rule in the response");
    assert_eq!(rule.rule_name(), "partners");
    assert_eq!(rule.filter()["isPublic"].eq(), ["false"]);
    assert!(rule.created_at().secs() > 1_700_000_000, "ISO-8601 parsed");

    client
        .update_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("partners")
        .filter("resourceType", eq(&["AWS::IAM::Role"]))
        .client_token("update-token")
        .send()
        .await
        .expect("UpdateArchiveRule succeeds");
    let stored = emulator.archive_rules(ANALYZER);
    assert_eq!(
        stored[0].filter,
        serde_json::json!({"resourceType": {"eq": ["AWS::IAM::Role"]}})
    );

    client
        .delete_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("partners")
        .client_token("delete-token")
        .send()
        .await
        .expect("DeleteArchiveRule succeeds");
    assert!(emulator.archive_rules(ANALYZER).is_empty());

    let operations: Vec<(String, u16)> = emulator
        .requests()
        .iter()
        .map(|request| (request.operation.clone(), request.status))
        .collect();
    assert_eq!(
        operations,
        [
            ("CreateArchiveRule".to_owned(), 200),
            ("GetArchiveRule".to_owned(), 200),
            ("UpdateArchiveRule".to_owned(), 200),
            ("DeleteArchiveRule".to_owned(), 200),
        ]
    );
    let delete = &emulator.requests_for("DeleteArchiveRule")[0];
    assert_eq!(delete.client_token.as_deref(), Some("delete-token"));
    assert_eq!(delete.params["clientToken"], "delete-token");
    assert_eq!(delete.analyzer.as_deref(), Some(ANALYZER));
    assert_eq!(delete.rule_name.as_deref(), Some("partners"));
    let create = &emulator.requests_for("CreateArchiveRule")[0];
    assert_eq!(create.client_token.as_deref(), Some("create-token"));
    assert_eq!(
        create.params["filter"]["principal.AWS"]["eq"][0],
        "arn:aws:iam::111111111111:root"
    );
    let scope = create.credential_scope.as_deref().expect("SigV4 scope");
    assert!(scope.starts_with("AKIDEMULATOR/"), "{scope}");
    assert!(
        scope.ends_with("/us-east-1/access-analyzer/aws4_request"),
        "{scope}"
    );

    for (operation, error) in [
        (
            "GetArchiveRule",
            client
                .get_archive_rule()
                .analyzer_name(ANALYZER)
                .rule_name("partners")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    matches!(
                        e.into_service_error(),
                        GetArchiveRuleError::ResourceNotFoundException(_)
                    )
                }),
        ),
        (
            "UpdateArchiveRule",
            client
                .update_archive_rule()
                .analyzer_name(ANALYZER)
                .rule_name("partners")
                .filter("resourceType", eq(&["AWS::IAM::Role"]))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    matches!(
                        e.into_service_error(),
                        UpdateArchiveRuleError::ResourceNotFoundException(_)
                    )
                }),
        ),
        (
            "DeleteArchiveRule",
            client
                .delete_archive_rule()
                .analyzer_name(ANALYZER)
                .rule_name("partners")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    matches!(
                        e.into_service_error(),
                        DeleteArchiveRuleError::ResourceNotFoundException(_)
                    )
                }),
        ),
    ] {
        assert_eq!(
            error,
            Err(true),
            "{operation} of a missing rule is ResourceNotFoundException"
        );
    }
}

#[tokio::test]
async fn create_conflicts_unless_replayed_with_the_same_token() {
    let (emulator, client, _) = emulator_with_analyzer().await;
    let create = |token: &'static str, filter_value: &'static str| {
        client
            .create_archive_rule()
            .analyzer_name(ANALYZER)
            .rule_name("rule")
            .filter("resourceType", eq(&[filter_value]))
            .client_token(token)
            .send()
    };
    create("first", "AWS::IAM::Role").await.expect("created");
    create("first", "AWS::S3::Bucket")
        .await
        .expect("a replay with the creating token succeeds");
    assert_eq!(
        emulator.archive_rules(ANALYZER)[0].filter,
        serde_json::json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
        "a replay changes nothing"
    );
    let conflict = create("second", "AWS::IAM::Role")
        .await
        .expect_err("another token conflicts");
    match conflict.into_service_error() {
        CreateArchiveRuleError::ConflictException(error) => {
            assert_eq!(error.resource_id(), "rule");
            assert_eq!(error.resource_type(), "AWS::AccessAnalyzer::ArchiveRule");
        }
        other => panic!("expected ConflictException, got {other:?}"),
    }

    let missing_analyzer = client
        .create_archive_rule()
        .analyzer_name("missing")
        .rule_name("rule")
        .filter("resourceType", eq(&["AWS::IAM::Role"]))
        .send()
        .await
        .expect_err("no such analyzer");
    assert!(matches!(
        missing_analyzer.into_service_error(),
        CreateArchiveRuleError::ResourceNotFoundException(_)
    ));

    let too_many: Vec<String> = (0..21).map(|i| format!("value-{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for (rule_name, criterion) in [
        ("1-starts-with-a-digit", eq(&["x"])),
        ("empty-criterion", Criterion::builder().build()),
        ("too-many-values", eq(&too_many)),
    ] {
        let invalid = client
            .create_archive_rule()
            .analyzer_name(ANALYZER)
            .rule_name(rule_name)
            .filter("resourceType", criterion)
            .send()
            .await
            .expect_err("invalid request");
        match invalid.into_service_error() {
            CreateArchiveRuleError::ValidationException(error) => {
                assert_eq!(
                    error.reason().as_str(),
                    "fieldValidationFailed",
                    "{rule_name}"
                );
            }
            other => panic!("expected ValidationException for {rule_name}, got {other:?}"),
        }
    }
    assert_eq!(emulator.archive_rules(ANALYZER).len(), 1);
}

#[tokio::test]
async fn list_archive_rules_pages() {
    let (emulator, client, _) = emulator_with_analyzer().await;
    for index in 0..5 {
        emulator.put_archive_rule(
            ANALYZER,
            &format!("rule-{index}"),
            serde_json::json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
        );
    }
    let first = client
        .list_archive_rules()
        .analyzer_name(ANALYZER)
        .max_results(2)
        .send()
        .await
        .expect("first page");
    assert_eq!(first.archive_rules().len(), 2);
    assert!(first.next_token().is_some());

    let names: Vec<String> = client
        .list_archive_rules()
        .analyzer_name(ANALYZER)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all pages")
        .iter()
        .map(|rule| rule.rule_name().to_owned())
        .collect();
    assert_eq!(names, ["rule-0", "rule-1", "rule-2", "rule-3", "rule-4"]);
    let tokens: Vec<Option<String>> = emulator
        .requests_for("ListArchiveRules")
        .iter()
        .map(|request| request.params.get("nextToken").map(|t| t.to_string()))
        .collect();
    assert_eq!(tokens.iter().filter(|token| token.is_some()).count(), 2);
}

#[tokio::test]
async fn apply_archives_existing_active_findings_that_match() {
    let (emulator, client, arn) = emulator_with_analyzer().await;
    let partner = emulator.add_finding(ANALYZER, role("deploy", "111111111111"));
    let stranger = emulator.add_finding(ANALYZER, role("vendor", "999999999999"));

    client
        .create_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("partners")
        .filter(
            "principal.AWS",
            Criterion::builder().contains("111111111111").build(),
        )
        .send()
        .await
        .expect("created");
    let statuses = |emulator: &Emulator| -> Vec<FindingStatus> {
        emulator
            .findings(ANALYZER)
            .iter()
            .map(|f| f.status)
            .collect()
    };
    assert_eq!(
        statuses(&emulator),
        [FindingStatus::Active, FindingStatus::Active],
        "creating a rule does not touch existing findings"
    );

    client
        .apply_archive_rule()
        .analyzer_arn(&arn)
        .rule_name("partners")
        .client_token("apply-token")
        .send()
        .await
        .expect("ApplyArchiveRule succeeds");
    let findings = emulator.findings(ANALYZER);
    assert_eq!(findings[0].id, partner.id);
    assert_eq!(findings[0].status, FindingStatus::Archived);
    assert_eq!(findings[0].archived_by.as_deref(), Some("partners"));
    assert_eq!(findings[1].id, stranger.id);
    assert_eq!(findings[1].status, FindingStatus::Active);
    let apply = &emulator.requests_for("ApplyArchiveRule")[0];
    assert_eq!(apply.analyzer.as_deref(), Some(arn.as_str()));
    assert_eq!(apply.client_token.as_deref(), Some("apply-token"));

    let by_name = client
        .apply_archive_rule()
        .analyzer_arn(ANALYZER)
        .rule_name("partners")
        .send()
        .await
        .expect_err("a name is not an ARN");
    assert!(matches!(
        by_name.into_service_error(),
        ApplyArchiveRuleError::ValidationException(_)
    ));
    let missing_rule = client
        .apply_archive_rule()
        .analyzer_arn(&arn)
        .rule_name("missing")
        .send()
        .await
        .expect_err("no such rule");
    assert!(matches!(
        missing_rule.into_service_error(),
        ApplyArchiveRuleError::ResourceNotFoundException(_)
    ));
}

#[tokio::test]
async fn apply_with_a_delay_archives_after_returning() {
    let config = EmulatorConfig {
        apply_delay: Duration::from_millis(300),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start_with(config).await.expect("emulator starts");
    let arn = emulator.add_analyzer(ANALYZER, "ACCOUNT");
    let client = client(&emulator);
    emulator.add_finding(ANALYZER, role("deploy", "111111111111"));
    emulator.put_archive_rule(
        ANALYZER,
        "roles",
        serde_json::json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );

    client
        .apply_archive_rule()
        .analyzer_arn(&arn)
        .rule_name("roles")
        .send()
        .await
        .expect("applied");
    assert_eq!(emulator.findings(ANALYZER)[0].status, FindingStatus::Active);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        emulator.findings(ANALYZER)[0].status,
        FindingStatus::Archived
    );
}

#[tokio::test]
async fn list_findings_v1_has_principals_and_serves_external_access_only() {
    let (emulator, client, arn) = emulator_with_analyzer().await;
    emulator.add_finding(
        ANALYZER,
        role("deploy", "111111111111").condition("aws:PrincipalOrgID", "o-1"),
    );
    emulator.add_finding(
        ANALYZER,
        FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::public")
            .principal("AWS", "*")
            .public(true),
    );

    let listed = client
        .list_findings()
        .analyzer_arn(&arn)
        .filter("resourceType", eq(&["AWS::IAM::Role"]))
        .sort(
            SortCriteria::builder()
                .attribute_name("resource")
                .order_by(OrderBy::Desc)
                .build(),
        )
        .send()
        .await
        .expect("ListFindings succeeds");
    assert_eq!(listed.findings().len(), 1);
    let finding = &listed.findings()[0];
    assert_eq!(
        finding
            .principal()
            .and_then(|p| p.get("AWS"))
            .map(String::as_str),
        Some("arn:aws:iam::111111111111:root")
    );
    assert_eq!(finding.action(), ["sts:AssumeRole"]);
    assert_eq!(finding.is_public(), Some(false));
    assert_eq!(
        finding
            .condition()
            .get("aws:PrincipalOrgID")
            .map(String::as_str),
        Some("o-1")
    );
    assert_eq!(finding.status(), &SdkFindingStatus::Active);
    assert_eq!(finding.resource_owner_account(), "123456789012");

    let unused_arn = emulator.add_analyzer("unused", "ACCOUNT_UNUSED_ACCESS");
    let unsupported = client
        .list_findings()
        .analyzer_arn(&unused_arn)
        .send()
        .await
        .expect_err("v1 serves external access only");
    assert!(matches!(
        unsupported.into_service_error(),
        ListFindingsError::ValidationException(_)
    ));
}

#[tokio::test]
async fn list_findings_v2_pages_by_default_100_and_honours_max_results() {
    let (emulator, client, arn) = emulator_with_analyzer().await;
    for index in 0..250 {
        emulator.add_finding(ANALYZER, role(&format!("role-{index}"), "111111111111"));
    }
    emulator.add_finding(
        ANALYZER,
        FindingSeed::new("AWS::S3::Bucket", "arn:aws:s3:::bucket"),
    );

    let first = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .send()
        .await
        .expect("first page");
    assert_eq!(first.findings().len(), 100, "default page size");
    assert_eq!(
        first.findings()[0].finding_type().map(|t| t.as_str()),
        Some("ExternalAccess")
    );

    let roles = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .filter("status", eq(&["ACTIVE"]))
        .filter("resourceType", eq(&["AWS::IAM::Role"]))
        .into_paginator()
        .page_size(40)
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all pages");
    let sizes: Vec<usize> = roles.iter().map(|page| page.findings().len()).collect();
    assert_eq!(sizes, [40, 40, 40, 40, 40, 40, 10]);
    let mut ids: Vec<&str> = roles
        .iter()
        .flat_map(|page| page.findings())
        .map(|finding| finding.id())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no finding twice");
    let requests = emulator.requests_for("ListFindingsV2");
    assert_eq!(requests[1].params["maxResults"], 40);
    assert!(requests[1].params.get("nextToken").is_none());
    assert!(requests[2].params["nextToken"].is_string());
}

#[tokio::test]
async fn update_findings_archives_and_reactivates() {
    let (emulator, client, arn) = emulator_with_analyzer().await;
    let first = emulator.add_finding(ANALYZER, role("a", "111111111111"));
    let second = emulator.add_finding(ANALYZER, role("b", "111111111111"));

    client
        .update_findings()
        .analyzer_arn(&arn)
        .status(FindingStatusUpdate::Archived)
        .ids(&first.id)
        .ids(&second.id)
        .client_token("archive")
        .send()
        .await
        .expect("archived");
    assert!(emulator
        .findings(ANALYZER)
        .iter()
        .all(|finding| finding.status == FindingStatus::Archived && finding.archived_by.is_none()));

    client
        .update_findings()
        .analyzer_arn(&arn)
        .status(FindingStatusUpdate::Active)
        .resource_arn(&second.resource)
        .send()
        .await
        .expect("reactivated");
    let statuses: Vec<FindingStatus> = emulator
        .findings(ANALYZER)
        .iter()
        .map(|f| f.status)
        .collect();
    assert_eq!(statuses, [FindingStatus::Archived, FindingStatus::Active]);

    let unknown = client
        .update_findings()
        .analyzer_arn(&arn)
        .status(FindingStatusUpdate::Archived)
        .ids("no-such-finding")
        .send()
        .await
        .expect_err("unknown id");
    assert!(matches!(
        unknown.into_service_error(),
        UpdateFindingsError::ResourceNotFoundException(_)
    ));
}

#[tokio::test]
async fn injected_faults_map_to_typed_errors_and_change_nothing() {
    let (emulator, client, _) = emulator_with_analyzer().await;
    let faults = [
        Fault::Throttling {
            retry_after_seconds: 7,
        },
        Fault::Internal,
        Fault::AccessDenied,
        Fault::Validation,
        Fault::ResourceNotFound,
        Fault::Conflict,
        Fault::ServiceQuotaExceeded,
    ];
    for fault in &faults {
        emulator.fail_next("CreateArchiveRule", 1, fault.clone());
    }
    let mut codes = Vec::new();
    for _ in &faults {
        let error = client
            .create_archive_rule()
            .analyzer_name(ANALYZER)
            .rule_name("rule")
            .filter("resourceType", eq(&["AWS::IAM::Role"]))
            .send()
            .await
            .expect_err("faulted");
        let request_id = error
            .raw_response()
            .and_then(|response| response.headers().get("x-amzn-requestid"))
            .map(str::to_owned);
        assert!(
            request_id.is_some(),
            "every answer carries x-amzn-RequestId"
        );
        let service_error = error.into_service_error();
        codes.push(service_error.code().unwrap_or_default().to_owned());
        match service_error {
            CreateArchiveRuleError::ThrottlingException(error) => {
                assert_eq!(error.retry_after_seconds(), Some(7));
            }
            CreateArchiveRuleError::InternalServerException(_)
            | CreateArchiveRuleError::AccessDeniedException(_)
            | CreateArchiveRuleError::ValidationException(_)
            | CreateArchiveRuleError::ResourceNotFoundException(_)
            | CreateArchiveRuleError::ConflictException(_)
            | CreateArchiveRuleError::ServiceQuotaExceededException(_) => {}
            other => panic!("unmodeled error {other:?}"),
        }
    }
    assert_eq!(
        codes,
        [
            "ThrottlingException",
            "InternalServerException",
            "AccessDeniedException",
            "ValidationException",
            "ResourceNotFoundException",
            "ConflictException",
            "ServiceQuotaExceededException",
        ]
    );
    assert!(
        emulator.archive_rules(ANALYZER).is_empty(),
        "faults change nothing"
    );
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 403, 400, 404, 409, 402]);

    client
        .create_archive_rule()
        .analyzer_name(ANALYZER)
        .rule_name("rule")
        .filter("resourceType", eq(&["AWS::IAM::Role"]))
        .send()
        .await
        .expect("faults are used up");
}

#[tokio::test]
async fn a_hanging_call_times_out_and_latency_is_applied() {
    let (emulator, _, arn) = emulator_with_analyzer().await;
    let config = aws_sdk_accessanalyzer::Config::builder()
        .endpoint_url(emulator.endpoint_url())
        .region(Region::new(emulator.region()))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .behavior_version_latest()
        .build();
    let client = Client::from_conf(config);

    emulator.fail_next("ListFindingsV2", 1, Fault::Hang);
    let started = Instant::now();
    let hung = client.list_findings_v2().analyzer_arn(&arn).send().await;
    assert!(
        hung.is_err(),
        "the SDK gives up on a call that never answers"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emulator.requests_for("ListFindingsV2")[0].status, 0);

    emulator.set_operation_latency("ListFindingsV2", Duration::from_millis(150));
    let started = Instant::now();
    client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .send()
        .await
        .expect("answers after the latency");
    assert!(started.elapsed() >= Duration::from_millis(150));
    emulator.shutdown();
}

#[tokio::test]
async fn partition_region_and_account_come_from_the_config() {
    let config = EmulatorConfig {
        account: "210987654321".to_owned(),
        region: "cn-north-1".to_owned(),
        partition: "aws-cn".to_owned(),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start_with(config).await.expect("emulator starts");
    let arn = emulator.add_analyzer("china", "ACCOUNT");
    assert_eq!(
        arn,
        "arn:aws-cn:access-analyzer:cn-north-1:210987654321:analyzer/china"
    );
    let analyzer = client(&emulator)
        .get_analyzer()
        .analyzer_name("china")
        .send()
        .await
        .expect("GetAnalyzer succeeds");
    assert_eq!(analyzer.analyzer().map(|a| a.arn()), Some(arn.as_str()));
}

const UNUSED: &str = "unused-analyzer";
const INTERNAL: &str = "internal-analyzer";
const BREAK_GLASS: &str = "arn:aws:iam::123456789012:role/break-glass";

/// The ValidationException a filter key answers: `fieldValidationFailed` on the member
/// `filter`, with a message naming the key.
fn assert_filter_refused(error: &ValidationException, expected: &str) {
    assert_eq!(error.reason().as_str(), "fieldValidationFailed");
    assert_eq!(error.message(), expected);
    let fields: Vec<&str> = error.field_list().iter().map(|f| f.name()).collect();
    assert_eq!(fields, ["filter"]);
}

#[tokio::test]
async fn archive_rules_take_only_the_keys_of_their_analyzer_type() {
    let (emulator, client, _) = emulator_with_analyzer().await;
    emulator.add_analyzer(UNUSED, "ACCOUNT_UNUSED_ACCESS");
    emulator.add_analyzer(INTERNAL, "ORGANIZATION_INTERNAL_ACCESS");
    let create = |analyzer: &'static str, key: &'static str, value: &'static str| {
        client
            .create_archive_rule()
            .analyzer_name(analyzer)
            .rule_name("rule")
            .filter(key, eq(&[value]))
            .send()
    };

    for (analyzer, key, analyzer_type) in [
        (ANALYZER, "findingType", "ACCOUNT"),
        (UNUSED, "isPublic", "ACCOUNT_UNUSED_ACCESS"),
        (UNUSED, "principal.AWS", "ACCOUNT_UNUSED_ACCESS"),
        (INTERNAL, "findingType", "ORGANIZATION_INTERNAL_ACCESS"),
        (
            INTERNAL,
            "condition.aws:SourceVpc",
            "ORGANIZATION_INTERNAL_ACCESS",
        ),
    ] {
        let refused = create(analyzer, key, "x").await.expect_err(key);
        match refused.into_service_error() {
            CreateArchiveRuleError::ValidationException(error) => assert_filter_refused(
                &error,
                &format!(
                    "filter key '{key}' is not supported for analyzers of type {analyzer_type}"
                ),
            ),
            other => panic!("expected ValidationException for {key}, got {other:?}"),
        }
    }
    for (analyzer, key) in [(ANALYZER, "status"), (UNUSED, "id"), (INTERNAL, "status")] {
        let refused = create(analyzer, key, "ACTIVE").await.expect_err(key);
        match refused.into_service_error() {
            CreateArchiveRuleError::ValidationException(error) => assert_filter_refused(
                &error,
                &format!("filter key '{key}' is not supported in archive rules"),
            ),
            other => panic!("expected ValidationException for {key}, got {other:?}"),
        }
    }
    for analyzer in [ANALYZER, UNUSED, INTERNAL] {
        assert!(emulator.archive_rules(analyzer).is_empty(), "{analyzer}");
    }

    create(UNUSED, "findingType", "UnusedIAMRole")
        .await
        .expect("findingType is an unused-access key");
    create(INTERNAL, "principalType", "IAM_ROLE")
        .await
        .expect("principalType is an internal-access key");
    let refused = client
        .update_archive_rule()
        .analyzer_name(UNUSED)
        .rule_name("rule")
        .filter("isPublic", eq(&["true"]))
        .send()
        .await
        .expect_err("isPublic is no unused-access key");
    match refused.into_service_error() {
        UpdateArchiveRuleError::ValidationException(error) => assert_filter_refused(
            &error,
            "filter key 'isPublic' is not supported for analyzers of type ACCOUNT_UNUSED_ACCESS",
        ),
        other => panic!("expected ValidationException, got {other:?}"),
    }
    assert_eq!(
        emulator.archive_rules(UNUSED)[0].filter,
        serde_json::json!({"findingType": {"eq": ["UnusedIAMRole"]}}),
        "a refused update leaves the rule as it was"
    );
    let statuses: Vec<(String, u16)> = emulator
        .requests()
        .iter()
        .map(|r| (r.operation.clone(), r.status))
        .collect();
    assert_eq!(
        statuses.iter().filter(|(_, status)| *status == 400).count(),
        9
    );
    assert_eq!(
        statuses.last(),
        Some(&("UpdateArchiveRule".to_owned(), 400))
    );
}

#[tokio::test]
async fn unused_access_findings_list_with_their_finding_type_and_apply() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let arn = emulator.add_analyzer(UNUSED, "ACCOUNT_UNUSED_ACCESS");
    let client = client(&emulator);
    let seeds = [
        ("AWS::IAM::Role", BREAK_GLASS, "UnusedIAMRole"),
        (
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/old-ci",
            "UnusedIAMRole",
        ),
        (
            "AWS::IAM::User",
            "arn:aws:iam::123456789012:user/alice",
            "UnusedIAMUserAccessKey",
        ),
        (
            "AWS::IAM::User",
            "arn:aws:iam::123456789012:user/bob",
            "UnusedIAMUserPassword",
        ),
        ("AWS::IAM::Role", BREAK_GLASS, "UnusedPermission"),
    ];
    for (resource_type, resource, finding_type) in seeds {
        emulator.add_finding(
            UNUSED,
            FindingSeed::new(resource_type, resource).finding_type(finding_type),
        );
    }

    let listed = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .filter("status", eq(&["ACTIVE"]))
        .send()
        .await
        .expect("ListFindingsV2 serves unused access");
    let parsed: Vec<(FindingType, ResourceType, &str)> = listed
        .findings()
        .iter()
        .map(|f| {
            (
                f.finding_type().cloned().expect("a finding type"),
                f.resource_type().clone(),
                f.resource().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        parsed,
        [
            (
                FindingType::UnusedIamRole,
                ResourceType::AwsIamRole,
                BREAK_GLASS
            ),
            (
                FindingType::UnusedIamRole,
                ResourceType::AwsIamRole,
                "arn:aws:iam::123456789012:role/old-ci"
            ),
            (
                FindingType::UnusedIamUserAccessKey,
                ResourceType::AwsIamUser,
                "arn:aws:iam::123456789012:user/alice"
            ),
            (
                FindingType::UnusedIamUserPassword,
                ResourceType::AwsIamUser,
                "arn:aws:iam::123456789012:user/bob"
            ),
            (
                FindingType::UnusedPermission,
                ResourceType::AwsIamRole,
                BREAK_GLASS
            ),
        ],
        "the SDK parses every unused-access finding type"
    );

    let not_a_key = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .filter("isPublic", eq(&["false"]))
        .send()
        .await
        .expect_err("isPublic is no unused-access key");
    match not_a_key.into_service_error() {
        ListFindingsV2Error::ValidationException(error) => assert_filter_refused(
            &error,
            "filter key 'isPublic' is not supported for analyzers of type ACCOUNT_UNUSED_ACCESS",
        ),
        other => panic!("expected ValidationException, got {other:?}"),
    }

    client
        .create_archive_rule()
        .analyzer_name(UNUSED)
        .rule_name("break-glass")
        .filter("findingType", eq(&["UnusedIAMRole"]))
        .filter("resource", eq(&[BREAK_GLASS]))
        .send()
        .await
        .expect("created");
    client
        .apply_archive_rule()
        .analyzer_arn(&arn)
        .rule_name("break-glass")
        .send()
        .await
        .expect("applied");
    let archived: Vec<(String, Option<String>)> = emulator
        .findings(UNUSED)
        .into_iter()
        .filter(|f| f.status == FindingStatus::Archived)
        .map(|f| (f.resource, f.finding_type))
        .collect();
    assert_eq!(
        archived,
        [(BREAK_GLASS.to_owned(), Some("UnusedIAMRole".to_owned()))],
        "only the break-glass role's UnusedIAMRole finding, not its UnusedPermission one"
    );
}

#[tokio::test]
async fn internal_access_findings_list_and_filter_on_their_principal() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let arn = emulator.add_analyzer(INTERNAL, "ACCOUNT_INTERNAL_ACCESS");
    let client = client(&emulator);
    for (bucket, role, access_type) in [
        ("backups", "backup", "INTRA_ACCOUNT"),
        ("backups", "analytics", "INTRA_ORG"),
        ("reports", "backup", "INTRA_ACCOUNT"),
    ] {
        emulator.add_finding(
            INTERNAL,
            FindingSeed::new("AWS::S3::Bucket", format!("arn:aws:s3:::{bucket}"))
                .internal_principal(
                    format!("arn:aws:iam::123456789012:role/{role}"),
                    "IAM_ROLE",
                    "123456789012",
                    access_type,
                )
                .service_control_policy_restriction("NOT_APPLICABLE"),
        );
    }

    let listed = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .filter("status", eq(&["ACTIVE"]))
        .filter(
            "principal.AWS",
            eq(&["arn:aws:iam::123456789012:role/backup"]),
        )
        .filter("accessType", eq(&["INTRA_ACCOUNT"]))
        .send()
        .await
        .expect("ListFindingsV2 serves internal access");
    let resources: Vec<(&str, Option<&FindingType>)> = listed
        .findings()
        .iter()
        .map(|f| (f.resource().unwrap_or_default(), f.finding_type()))
        .collect();
    assert_eq!(
        resources,
        [
            ("arn:aws:s3:::backups", Some(&FindingType::InternalAccess)),
            ("arn:aws:s3:::reports", Some(&FindingType::InternalAccess)),
        ]
    );

    let v1 = client
        .list_findings()
        .analyzer_arn(&arn)
        .send()
        .await
        .expect_err("ListFindings serves external access only");
    assert!(matches!(
        v1.into_service_error(),
        ListFindingsError::ValidationException(_)
    ));
    let not_a_key = client
        .list_findings_v2()
        .analyzer_arn(&arn)
        .filter("findingType", eq(&["InternalAccess"]))
        .send()
        .await
        .expect_err("findingType filters unused access only");
    assert!(matches!(
        not_a_key.into_service_error(),
        ListFindingsV2Error::ValidationException(_)
    ));
}
