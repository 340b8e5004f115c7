//! The organization emulator through the real SDK clients (STS, Organizations, Access Analyzer)
//! and a hand-made ec2Query POST, as the command line's sweep and the benchmark talk to it.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_accessanalyzer::{
    config::{retry::RetryConfig, Credentials, Region},
    error::ProvideErrorMetadata,
};
use serde_json::{json, Value};
use testkit::{
    access_analyzer::{Fault, FindingSeed, FindingStatus},
    organization::{AccountSpec, AccountState, AnalyzerStatus, OrgEmulator, OrgSpec},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

const MEMBER: &str = "200000000001";
const SECOND_MEMBER: &str = "200000000002";
const ANALYZER: &str = "account-analyzer";

fn credentials(access_key_id: &str, secret: &str, session_token: Option<&str>) -> Credentials {
    Credentials::new(
        access_key_id,
        secret,
        session_token.map(str::to_owned),
        None,
        "organization-test",
    )
}

fn management(emulator: &OrgEmulator) -> Credentials {
    let (access_key_id, secret) = emulator.management_credentials();
    credentials(&access_key_id, &secret, None)
}

fn sts(emulator: &OrgEmulator, credentials: Credentials) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .endpoint_url(emulator.endpoint_url())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .behavior_version_latest()
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn organizations(
    emulator: &OrgEmulator,
    credentials: Credentials,
) -> aws_sdk_organizations::Client {
    let config = aws_sdk_organizations::Config::builder()
        .endpoint_url(emulator.endpoint_url())
        .region(aws_sdk_organizations::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(aws_sdk_organizations::config::retry::RetryConfig::disabled())
        .behavior_version_latest()
        .build();
    aws_sdk_organizations::Client::from_conf(config)
}

fn access_analyzer(
    emulator: &OrgEmulator,
    credentials: Credentials,
    region: &str,
) -> aws_sdk_accessanalyzer::Client {
    let config = aws_sdk_accessanalyzer::Config::builder()
        .endpoint_url(emulator.endpoint_url())
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .behavior_version_latest()
        .build();
    aws_sdk_accessanalyzer::Client::from_conf(config)
}

fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/ApplyArchiveRules")
}

/// Assumes the sweep's role in `account` with the management account's credentials.
async fn assume(emulator: &OrgEmulator, account: &str) -> Credentials {
    let output = sts(emulator, management(emulator))
        .assume_role()
        .role_arn(role_arn(account))
        .role_session_name("sweep")
        .send()
        .await
        .expect("AssumeRole succeeds");
    let issued = output.credentials().expect("credentials in the response");
    credentials(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token()),
    )
}

fn seed(emulator: &OrgEmulator, account: &str, region: &str) -> String {
    let analyzer = emulator.access_analyzer(account, region);
    let arn = analyzer.add_analyzer(ANALYZER, "ACCOUNT");
    analyzer.add_finding(
        ANALYZER,
        FindingSeed::new(
            "AWS::IAM::Role",
            format!("arn:aws:iam::{account}:role/vendor"),
        )
        .principal("AWS", "arn:aws:iam::444455556666:root"),
    );
    analyzer.add_finding(
        ANALYZER,
        FindingSeed::new(
            "AWS::S3::Bucket",
            format!("arn:aws:s3:::{account}-{region}"),
        ),
    );
    analyzer.put_archive_rule(
        ANALYZER,
        "vendor-roles",
        json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );
    arn
}

#[tokio::test]
async fn assumed_role_credentials_act_in_the_role_account_and_the_signed_region() {
    let emulator = OrgEmulator::start(OrgSpec::generated(2))
        .await
        .expect("emulator starts");
    let member_arn = seed(&emulator, MEMBER, "eu-west-1");
    seed(&emulator, SECOND_MEMBER, "eu-west-1");
    seed(&emulator, MEMBER, "us-east-1");

    let member = assume(&emulator, MEMBER).await;
    let identity = sts(&emulator, member.clone())
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity succeeds");
    assert_eq!(identity.account(), Some(MEMBER));
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::200000000001:assumed-role/ApplyArchiveRules/sweep")
    );
    let own = sts(&emulator, management(&emulator))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity succeeds");
    assert_eq!(own.account(), Some(emulator.management_account().as_str()));

    let client = access_analyzer(&emulator, member, "eu-west-1");
    let analyzers = client
        .list_analyzers()
        .send()
        .await
        .expect("ListAnalyzers succeeds");
    let arns: Vec<&str> = analyzers.analyzers().iter().map(|a| a.arn()).collect();
    assert_eq!(arns, [member_arn.as_str()]);
    assert_eq!(
        member_arn,
        "arn:aws:access-analyzer:eu-west-1:200000000001:analyzer/account-analyzer"
    );
    client
        .apply_archive_rule()
        .analyzer_arn(&member_arn)
        .rule_name("vendor-roles")
        .send()
        .await
        .expect("ApplyArchiveRule succeeds");

    let statuses = |account: &str, region: &str| -> Vec<FindingStatus> {
        emulator
            .access_analyzer(account, region)
            .findings(ANALYZER)
            .iter()
            .map(|finding| finding.status)
            .collect()
    };
    assert_eq!(
        statuses(MEMBER, "eu-west-1"),
        [FindingStatus::Archived, FindingStatus::Active]
    );
    // Same account other region, other account same region: untouched.
    assert_eq!(
        statuses(MEMBER, "us-east-1"),
        [FindingStatus::Active, FindingStatus::Active]
    );
    assert_eq!(
        statuses(SECOND_MEMBER, "eu-west-1"),
        [FindingStatus::Active, FindingStatus::Active]
    );
    // Finding ids stay unique across (account, region).
    let first = emulator
        .access_analyzer(MEMBER, "eu-west-1")
        .findings(ANALYZER);
    let other = emulator
        .access_analyzer(SECOND_MEMBER, "eu-west-1")
        .findings(ANALYZER);
    assert_ne!(first[0].id, other[0].id);

    let apply = emulator
        .requests()
        .into_iter()
        .find(|request| request.operation == "ApplyArchiveRule")
        .expect("ApplyArchiveRule recorded");
    assert_eq!(apply.service, "access-analyzer");
    assert_eq!(apply.account.as_deref(), Some(MEMBER));
    assert_eq!(apply.region.as_deref(), Some("eu-west-1"));
    assert_eq!(apply.status, 200);
    let services: Vec<String> = emulator.requests().into_iter().map(|r| r.service).collect();
    assert_eq!(
        services,
        ["sts", "sts", "sts", "access-analyzer", "access-analyzer"]
    );
}

#[tokio::test]
async fn denied_roles_answer_access_denied_and_every_call_is_counted() {
    let mut spec = OrgSpec::generated(3);
    spec.accounts[1].deny_assume_role = true; // 200000000001, from the spec
    let emulator = OrgEmulator::start(spec).await.expect("emulator starts");
    emulator.deny_assume_role("200000000003"); // at run time

    let client = sts(&emulator, management(&emulator));
    for account in [MEMBER, "200000000003", "999999999999"] {
        let error = client
            .assume_role()
            .role_arn(role_arn(account))
            .role_session_name("sweep")
            .send()
            .await
            .expect_err("AssumeRole is refused");
        assert_eq!(error.code(), Some("AccessDenied"), "{account}");
        assert!(
            error.message().is_some_and(
                |message| message.contains("is not authorized to perform: sts:AssumeRole")
            ),
            "{error:?}"
        );
    }
    assume(&emulator, SECOND_MEMBER).await;
    assume(&emulator, SECOND_MEMBER).await;
    emulator.allow_assume_role("200000000003");
    assume(&emulator, "200000000003").await;

    assert_eq!(emulator.assume_role_calls(MEMBER), 1);
    assert_eq!(emulator.assume_role_calls(SECOND_MEMBER), 2);
    assert_eq!(emulator.assume_role_calls("200000000003"), 2);
    let statuses: Vec<(Option<String>, u16)> = emulator
        .requests()
        .into_iter()
        .map(|request| (request.account, request.status))
        .collect();
    assert_eq!(statuses[0], (Some(MEMBER.to_owned()), 403));
    assert_eq!(statuses[3], (Some(SECOND_MEMBER.to_owned()), 200));
}

#[tokio::test]
async fn credentials_last_as_configured_or_as_asked() {
    let mut spec = OrgSpec::generated(1);
    spec.credential_lifetime = Duration::from_secs(1);
    let emulator = OrgEmulator::start(spec).await.expect("emulator starts");
    seed(&emulator, MEMBER, "us-east-1");
    let client = sts(&emulator, management(&emulator));

    let asked = client
        .assume_role()
        .role_arn(role_arn(MEMBER))
        .role_session_name("sweep")
        .duration_seconds(900)
        .send()
        .await
        .expect("AssumeRole succeeds");
    let expiration = asked.credentials().expect("credentials").expiration();
    let lifetime = expiration.secs()
        - SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
    assert!((895..=900).contains(&lifetime), "{lifetime}");
    let too_short = client
        .assume_role()
        .role_arn(role_arn(MEMBER))
        .role_session_name("sweep")
        .duration_seconds(60)
        .send()
        .await
        .expect_err("below 900 s is refused");
    assert_eq!(too_short.code(), Some("ValidationError"));

    let short_lived = assume(&emulator, MEMBER).await;
    let analyzer = access_analyzer(&emulator, short_lived, "us-east-1");
    analyzer
        .list_analyzers()
        .send()
        .await
        .expect("fresh credentials work");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = analyzer
        .list_analyzers()
        .send()
        .await
        .expect_err("expired credentials are refused");
    assert_eq!(expired.code(), Some("ExpiredTokenException"));

    let unknown = access_analyzer(
        &emulator,
        credentials("AKIDNOBODY", "secret", None),
        "us-east-1",
    )
    .list_analyzers()
    .send()
    .await
    .expect_err("an unknown key is refused");
    assert_eq!(unknown.code(), Some("UnrecognizedClientException"));
    assert_eq!(emulator.assume_role_calls(MEMBER), 3);
}

#[tokio::test]
async fn organizations_lists_page_through_accounts_and_organizational_units() {
    let mut spec = OrgSpec::generated(12);
    spec.accounts[1].state = AccountState::Suspended;
    spec.accounts[1].legacy_status_only = true;
    spec.accounts[2].state = AccountState::Closed;
    spec.accounts[2].state_only = true;
    let emulator = OrgEmulator::start(spec).await.expect("emulator starts");
    let client = organizations(&emulator, management(&emulator));

    let pages = client
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("ListAccounts pages");
    assert_eq!(
        pages
            .iter()
            .map(|page| page.accounts().len())
            .collect::<Vec<_>>(),
        [5, 5, 3]
    );
    let accounts: Vec<_> = pages.iter().flat_map(|page| page.accounts()).collect();
    assert_eq!(accounts[0].id(), Some("100000000000"));
    assert_eq!(
        accounts[0].arn(),
        Some("arn:aws:organizations::100000000000:account/o-100000000000/100000000000")
    );
    assert_eq!(accounts[0].state().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(accounts[0].status().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(accounts[0].joined_timestamp().is_some());
    assert_eq!(accounts[1].state(), None);
    assert_eq!(accounts[1].status().map(|s| s.as_str()), Some("SUSPENDED"));
    assert_eq!(accounts[2].state().map(|s| s.as_str()), Some("CLOSED"));
    assert_eq!(accounts[2].status(), None);

    // MaxResults may ask for fewer than the emulator's page size.
    let small = client
        .list_accounts()
        .max_results(2)
        .send()
        .await
        .expect("ListAccounts succeeds");
    assert_eq!(small.accounts().len(), 2);
    assert!(small.next_token().is_some());

    let units = client
        .list_organizational_units_for_parent()
        .parent_id("r-a1b2")
        .into_paginator()
        .page_size(1)
        .send()
        .try_collect()
        .await
        .expect("ListOrganizationalUnitsForParent pages");
    let names: Vec<&str> = units
        .iter()
        .flat_map(|page| page.organizational_units())
        .filter_map(|unit| unit.name())
        .collect();
    assert_eq!(names, ["Workloads", "Sandbox"]);
    assert_eq!(units.len(), 2);
    let child = client
        .list_organizational_units_for_parent()
        .parent_id("ou-a1b2-workload")
        .send()
        .await
        .expect("child OUs");
    let child = &child.organizational_units()[0];
    assert_eq!(child.id(), Some("ou-a1b2-prod0001"));
    assert_eq!(
        child.arn(),
        Some("arn:aws:organizations::100000000000:ou/o-100000000000/ou-a1b2-prod0001")
    );

    let in_workloads = client
        .list_accounts_for_parent()
        .parent_id("ou-a1b2-workload")
        .into_paginator()
        .page_size(3)
        .send()
        .try_collect()
        .await
        .expect("ListAccountsForParent pages");
    let ids: Vec<&str> = in_workloads
        .iter()
        .flat_map(|page| page.accounts())
        .filter_map(|account| account.id())
        .collect();
    assert_eq!(
        ids,
        [
            "200000000001",
            "200000000004",
            "200000000007",
            "200000000010"
        ]
    );
    assert_eq!(in_workloads.len(), 2);

    let missing = client
        .list_accounts_for_parent()
        .parent_id("ou-a1b2-nowhere0")
        .send()
        .await
        .expect_err("an unknown parent is refused");
    assert_eq!(missing.code(), Some("ParentNotFoundException"));
    let token = client
        .list_accounts()
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("a forged token is refused");
    assert_eq!(token.code(), Some("InvalidInputException"));

    let listed_pages = emulator
        .requests()
        .iter()
        .filter(|request| {
            request.operation == "ListAccounts" && request.params.get("NextToken").is_some()
        })
        .count();
    assert_eq!(listed_pages, 3); // two follow-up pages and the forged token
}

#[tokio::test]
async fn organizations_answers_only_the_management_account_of_an_organization() {
    let emulator = OrgEmulator::start(OrgSpec::generated(1))
        .await
        .expect("emulator starts");
    let member = assume(&emulator, MEMBER).await;
    let denied = organizations(&emulator, member)
        .list_accounts()
        .send()
        .await
        .expect_err("a member account may not list");
    assert_eq!(denied.code(), Some("AccessDeniedException"));

    let mut alone = OrgSpec::generated(1);
    alone.accounts.remove(0);
    let standalone = OrgEmulator::start(alone).await.expect("emulator starts");
    let not_in_use = organizations(&standalone, management(&standalone))
        .list_accounts()
        .send()
        .await
        .expect_err("no organization");
    assert_eq!(not_in_use.code(), Some("AWSOrganizationsNotInUseException"));
}

/// A POST with a SigV4-shaped `Authorization` header (the emulator reads the scope, not the
/// signature), as the command line sends `DescribeRegions` without aws-sdk-ec2.
async fn ec2_post(
    emulator: &OrgEmulator,
    access_key_id: &str,
    region: &str,
    form: &str,
) -> (u16, String) {
    let headers = format!(
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/{region}/ec2/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\n"
    );
    post(emulator, "/", &headers, form).await
}

/// A POST of `body` to `path`, `headers` (each ending in CRLF) besides Host and Content-Length.
async fn post(emulator: &OrgEmulator, path: &str, headers: &str, body: &str) -> (u16, String) {
    let address = emulator
        .endpoint_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connects");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("reads");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `(regionName, optInStatus)` of every `<item>`.
fn regions(xml: &str) -> Vec<(String, String)> {
    let element = |item: &str, name: &str| -> String {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        item.split_once(&open)
            .and_then(|(_, rest)| rest.split_once(&close))
            .map(|(value, _)| value.to_owned())
            .unwrap_or_default()
    };
    xml.split("<item>")
        .skip(1)
        .map(|item| (element(item, "regionName"), element(item, "optInStatus")))
        .collect()
}

#[tokio::test]
async fn describe_regions_answers_each_accounts_regions() {
    let mut spec = OrgSpec::generated(2);
    spec.accounts[1].opt_in_regions = vec!["eu-south-1".to_owned()];
    let emulator = OrgEmulator::start(spec).await.expect("emulator starts");
    let opted = assume(&emulator, MEMBER).await;
    let plain = assume(&emulator, SECOND_MEMBER).await;
    let describe = "Action=DescribeRegions&Version=2016-11-15";

    let (status, body) = ec2_post(&emulator, opted.access_key_id(), "us-east-1", describe).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(
        "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"
    ));
    assert!(body.contains(
        "<item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>"
    ));
    let listed = regions(&body);
    assert_eq!(listed.len(), 18);
    assert!(listed.contains(&("eu-south-1".to_owned(), "opted-in".to_owned())));

    let (_, body) = ec2_post(&emulator, plain.access_key_id(), "us-east-1", describe).await;
    let listed = regions(&body);
    assert_eq!(listed.len(), 17);
    assert!(listed
        .iter()
        .all(|(_, status)| status == "opt-in-not-required"));

    let all = format!("{describe}&AllRegions=true");
    let (_, body) = ec2_post(&emulator, plain.access_key_id(), "eu-west-1", &all).await;
    let listed = regions(&body);
    assert_eq!(listed.len(), 32);
    assert!(listed.contains(&("eu-south-1".to_owned(), "not-opted-in".to_owned())));

    let filtered =
        format!("{describe}&Filter.1.Name=opt-in-status&Filter.1.Value.1=opted-in&AllRegions=true");
    let (_, body) = ec2_post(&emulator, opted.access_key_id(), "us-east-1", &filtered).await;
    assert_eq!(
        regions(&body),
        [("eu-south-1".to_owned(), "opted-in".to_owned())]
    );

    // The not-enabled region does not know the account: ec2Query's own error document.
    let (status, body) = ec2_post(&emulator, plain.access_key_id(), "eu-south-1", describe).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("<Response><Errors><Error><Code>AuthFailure</Code>"),
        "{body}"
    );
    assert!(body.contains("<RequestID>"), "{body}");

    let describe_calls: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|request| request.service == "ec2")
        .map(|request| (request.operation, request.account, request.status))
        .collect();
    assert_eq!(describe_calls.len(), 5);
    assert_eq!(
        describe_calls[4],
        (
            "DescribeRegions".to_owned(),
            Some(SECOND_MEMBER.to_owned()),
            401
        )
    );
}

#[tokio::test]
async fn access_analyzer_refuses_a_region_the_account_has_not_enabled() {
    let mut spec = OrgSpec::generated(2);
    spec.accounts[1] = AccountSpec {
        opt_in_regions: vec!["eu-south-1".to_owned()],
        ..spec.accounts[1].clone()
    };
    let emulator = OrgEmulator::start(spec).await.expect("emulator starts");
    seed(&emulator, MEMBER, "eu-south-1");
    seed(&emulator, SECOND_MEMBER, "eu-south-1");

    let opted = access_analyzer(&emulator, assume(&emulator, MEMBER).await, "eu-south-1");
    let listed = opted
        .list_analyzers()
        .send()
        .await
        .expect("an opted-in region answers");
    assert_eq!(listed.analyzers().len(), 1);

    let plain = access_analyzer(
        &emulator,
        assume(&emulator, SECOND_MEMBER).await,
        "eu-south-1",
    );
    let error = plain
        .list_analyzers()
        .send()
        .await
        .expect_err("a region not enabled is refused");
    assert_eq!(error.code(), Some("UnrecognizedClientException"));
    assert_eq!(
        error.message(),
        Some("The security token included in the request is invalid."),
        "word for word what AWS answers, with nothing that names the region"
    );
    let raw = error.raw_response().expect("a response");
    assert_eq!(raw.status().as_u16(), 403);
}

#[tokio::test]
async fn analyzers_that_are_not_active_or_are_service_linked_read_as_the_model_has_them() {
    let emulator = OrgEmulator::start(OrgSpec::generated(1))
        .await
        .expect("emulator starts");
    let target = emulator.access_analyzer(MEMBER, "us-east-1");
    target.add_analyzer("unused-access", "ACCOUNT_UNUSED_ACCESS");
    target.add_analyzer("being-made", "ACCOUNT_UNUSED_ACCESS");
    target.set_analyzer_status("being-made", AnalyzerStatus::Creating, None);
    target.add_analyzer("broken", "ACCOUNT_UNUSED_ACCESS");
    target.set_analyzer_status(
        "broken",
        AnalyzerStatus::Failed,
        Some("SERVICE_LINKED_ROLE_CREATION_FAILED"),
    );
    let linked = target.add_service_linked_analyzer(
        "SecurityHubV2",
        "securityhubv2.amazonaws.com",
        "ACCOUNT_UNUSED_ACCESS",
    );
    assert!(
        linked.starts_with("_AccessAnalyzerForSecurityHubV2-"),
        "{linked}"
    );
    target.put_archive_rule(
        &linked,
        "service-rule",
        json!({"resourceType": {"eq": ["AWS::IAM::Role"]}}),
    );
    let client = access_analyzer(&emulator, assume(&emulator, MEMBER).await, "us-east-1");

    let listed = client
        .list_analyzers()
        .send()
        .await
        .expect("ListAnalyzers answers");
    let summary = |name: &str| {
        listed
            .analyzers()
            .iter()
            .find(|a| a.name() == name)
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    assert_eq!(summary("unused-access").status().as_str(), "ACTIVE");
    assert_eq!(summary("unused-access").managed_by(), None);
    assert_eq!(summary("being-made").status().as_str(), "CREATING");
    assert_eq!(summary("broken").status().as_str(), "FAILED");
    assert_eq!(
        summary("broken")
            .status_reason()
            .map(|reason| reason.code().as_str()),
        Some("SERVICE_LINKED_ROLE_CREATION_FAILED")
    );
    assert_eq!(
        summary(&linked).managed_by(),
        Some("securityhubv2.amazonaws.com")
    );
    let got = client
        .get_analyzer()
        .analyzer_name(&linked)
        .send()
        .await
        .expect("a service-linked analyzer can be read");
    assert_eq!(
        got.analyzer().and_then(|a| a.managed_by()),
        Some("securityhubv2.amazonaws.com")
    );

    let refused = client
        .list_archive_rules()
        .analyzer_name(&linked)
        .send()
        .await
        .expect_err("its rules belong to the managing service");
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let refused = client
        .apply_archive_rule()
        .analyzer_arn(target.analyzer_arn(&linked))
        .rule_name("service-rule")
        .send()
        .await
        .expect_err("it cannot be applied");
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    assert_eq!(target.archive_rules(&linked).len(), 1, "nothing changed");

    // Re-adding an analyzer makes it ACTIVE and customer-managed again.
    target.add_analyzer("broken", "ACCOUNT_UNUSED_ACCESS");
    let got = client
        .get_analyzer()
        .analyzer_name("broken")
        .send()
        .await
        .expect("GetAnalyzer answers");
    let analyzer = got.analyzer().expect("an analyzer");
    assert_eq!(analyzer.status().as_str(), "ACTIVE");
    assert!(analyzer.status_reason().is_none());
}

#[tokio::test]
async fn the_control_plane_adds_service_linked_and_inactive_analyzers() {
    let emulator = OrgEmulator::start(OrgSpec::generated(1))
        .await
        .expect("emulator starts");
    let json_header = "Content-Type: application/json\r\n";
    let add = |body: Value| {
        let emulator = emulator.clone();
        async move {
            post(
                &emulator,
                "/_emulator/analyzers",
                json_header,
                &body.to_string(),
            )
            .await
        }
    };
    let (status, body) = add(json!({
        "account": MEMBER, "region": "eu-west-1", "type": "ACCOUNT_UNUSED_ACCESS",
        "serviceName": "SecurityHubV2", "managedBy": "securityhubv2.amazonaws.com",
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    let linked: Value = serde_json::from_str(&body).expect("JSON");
    let linked = linked["name"].as_str().expect("a name").to_owned();
    let (status, _) = add(json!({
        "account": MEMBER, "region": "eu-west-1", "type": "ACCOUNT",
        "name": "turned-off", "status": "DISABLED", "statusReason": "AWS_SERVICE_ACCESS_DISABLED",
    }))
    .await;
    assert_eq!(status, 200);
    let (status, _) = add(json!({
        "account": MEMBER, "region": "eu-west-1", "type": "ACCOUNT", "status": "ASLEEP", "name": "x",
    }))
    .await;
    assert_eq!(status, 400, "an unknown status is refused");

    let client = access_analyzer(&emulator, assume(&emulator, MEMBER).await, "eu-west-1");
    let listed = client
        .list_analyzers()
        .send()
        .await
        .expect("ListAnalyzers answers");
    let seen: Vec<(&str, &str, Option<&str>)> = listed
        .analyzers()
        .iter()
        .map(|a| (a.name(), a.status().as_str(), a.managed_by()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                linked.as_str(),
                "ACTIVE",
                Some("securityhubv2.amazonaws.com")
            ),
            ("turned-off", "DISABLED", None),
        ]
    );
}

#[tokio::test]
async fn faults_target_one_account_region_and_operation() {
    let emulator = OrgEmulator::start(OrgSpec::generated(2))
        .await
        .expect("emulator starts");
    seed(&emulator, MEMBER, "eu-west-1");
    seed(&emulator, MEMBER, "us-east-1");
    emulator.fail_next(
        MEMBER,
        "eu-west-1",
        "ListAnalyzers",
        1,
        Fault::Throttling {
            retry_after_seconds: 3,
        },
    );
    emulator.fail_next(SECOND_MEMBER, "*", "AssumeRole", 1, Fault::Internal);
    emulator.fail_next(
        "*",
        "*",
        "ListAccounts",
        1,
        Fault::Throttling {
            retry_after_seconds: 1,
        },
    );

    let member = assume(&emulator, MEMBER).await;
    let other_region = access_analyzer(&emulator, member.clone(), "us-east-1");
    other_region
        .list_analyzers()
        .send()
        .await
        .expect("another region is not faulted");
    let faulted = access_analyzer(&emulator, member, "eu-west-1");
    let throttled = faulted
        .list_analyzers()
        .send()
        .await
        .expect_err("throttled once");
    assert_eq!(throttled.code(), Some("ThrottlingException"));
    let raw = throttled.raw_response().expect("a response");
    assert_eq!(raw.headers().get("retry-after"), Some("3"));
    faulted
        .list_analyzers()
        .send()
        .await
        .expect("the fault was consumed");

    let internal = sts(&emulator, management(&emulator))
        .assume_role()
        .role_arn(role_arn(SECOND_MEMBER))
        .role_session_name("sweep")
        .send()
        .await
        .expect_err("an internal error");
    assert_eq!(internal.code(), Some("InternalFailure"));
    let throttled = organizations(&emulator, management(&emulator))
        .list_accounts()
        .send()
        .await
        .expect_err("Organizations throttles");
    assert_eq!(throttled.code(), Some("TooManyRequestsException"));
}

#[tokio::test]
async fn hanging_calls_stay_open_until_shutdown() {
    let emulator = OrgEmulator::start(OrgSpec::generated(1))
        .await
        .expect("emulator starts");
    emulator.fail_next("*", "*", "GetCallerIdentity", 1, Fault::Hang);
    let client = sts(&emulator, management(&emulator));
    let call = tokio::spawn(async move { client.get_caller_identity().send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished());
    assert_eq!(emulator.requests()[0].status, 0);
    assert_eq!(emulator.requests()[0].answered_at, None);
    emulator.shutdown();
    let result = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the call ends after shutdown")
        .expect("the task completes");
    assert!(result.is_err());
}

#[tokio::test]
async fn latency_applies_per_service_and_the_record_shows_concurrency() {
    let emulator = OrgEmulator::start(OrgSpec::generated(2))
        .await
        .expect("emulator starts");
    for account in [MEMBER, SECOND_MEMBER] {
        for region in ["us-east-1", "eu-west-1"] {
            seed(&emulator, account, region);
        }
    }
    let credentials = [
        assume(&emulator, MEMBER).await,
        assume(&emulator, SECOND_MEMBER).await,
    ];
    emulator.clear_requests();
    emulator.set_latency(Duration::from_millis(20));
    emulator.set_service_latency("access-analyzer", Duration::from_millis(300));

    let started = Instant::now();
    let mut calls = Vec::new();
    for credentials in &credentials {
        for region in ["us-east-1", "eu-west-1"] {
            let client = access_analyzer(&emulator, credentials.clone(), region);
            calls.push(tokio::spawn(async move {
                client.list_analyzers().send().await.map(|_| ())
            }));
        }
    }
    for call in calls {
        call.await.expect("task").expect("ListAnalyzers succeeds");
    }
    let elapsed = started.elapsed();
    // Four concurrent calls of 300 ms each: about 300 ms, not 1.2 s.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");

    let sts_started = Instant::now();
    sts(&emulator, management(&emulator))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity succeeds");
    let sts_elapsed = sts_started.elapsed();
    assert!(sts_elapsed >= Duration::from_millis(20), "{sts_elapsed:?}");
    assert!(sts_elapsed < Duration::from_millis(300), "{sts_elapsed:?}");

    let analyzer_calls: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|request| request.service == "access-analyzer")
        .collect();
    assert_eq!(analyzer_calls.len(), 4);
    let mut targets: Vec<(String, String)> = analyzer_calls
        .iter()
        .map(|request| {
            (
                request.account.clone().expect("an account"),
                request.region.clone().expect("a region"),
            )
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            (MEMBER.to_owned(), "eu-west-1".to_owned()),
            (MEMBER.to_owned(), "us-east-1".to_owned()),
            (SECOND_MEMBER.to_owned(), "eu-west-1".to_owned()),
            (SECOND_MEMBER.to_owned(), "us-east-1".to_owned()),
        ]
    );
    // Every call was in flight while every other was: the record shows the concurrency.
    let last_arrival = analyzer_calls
        .iter()
        .map(|request| request.received_at)
        .max()
        .expect("calls");
    for request in &analyzer_calls {
        let answered = request.answered_at.expect("answered");
        assert!(answered > last_arrival);
        assert!(answered - request.received_at >= Duration::from_millis(300));
    }
}

#[tokio::test]
async fn the_binary_serves_a_seeded_organization() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args(["--organization", "3", "--latency-ms", "5"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line within 10 s")
        .expect("readable")
        .expect("one line");
    let started: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(started["managementAccount"], "100000000000");
    assert_eq!(started["accounts"], 4);
    assert_eq!(started["targets"], 4 * 17);
    let endpoint = started["endpoint"].as_str().expect("an endpoint");
    let config = aws_sdk_accessanalyzer::Config::builder()
        .endpoint_url(endpoint)
        .region(Region::new("ap-northeast-3"))
        .credentials_provider(credentials(
            started["accessKeyId"].as_str().expect("a key"),
            started["secretAccessKey"].as_str().expect("a secret"),
            None,
        ))
        .retry_config(RetryConfig::disabled())
        .behavior_version_latest()
        .build();
    let client = aws_sdk_accessanalyzer::Client::from_conf(config);
    let rule = client
        .get_archive_rule()
        .analyzer_name("account-analyzer")
        .rule_name("vendor-roles")
        .send()
        .await
        .expect("the rule is seeded");
    assert!(rule.archive_rule().is_some());
    let findings = client
        .list_findings_v2()
        .analyzer_arn(
            "arn:aws:access-analyzer:ap-northeast-3:100000000000:analyzer/account-analyzer",
        )
        .send()
        .await
        .expect("findings are seeded");
    let statuses: Vec<&str> = findings
        .findings()
        .iter()
        .map(|finding| finding.status().as_str())
        .collect();
    assert_eq!(statuses, ["ACTIVE", "ACTIVE", "ACTIVE"]);
}
