//! Shared set-up for the integration tests: the provider in-process, with the real SDK client
//! talking HTTP to the Access Analyzer emulator, and a receiver standing in for the presigned
//! ResponseURL. Each test starts its own servers on ephemeral loopback ports.
#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use applied_archive_rule::access_analyzer::SdkAccessAnalyzer;
use applied_archive_rule::cfn::{DeliveryPolicy, ResponseUrlPolicy};
use applied_archive_rule::error::InvocationError;
use applied_archive_rule::handler::{self, Invocation, Provider, Settings};
use aws_sdk_accessanalyzer::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_accessanalyzer::config::{BehaviorVersion, Credentials, Region};
use serde_json::{json, Value};
use testkit::access_analyzer::{Emulator, FindingSeed, FindingStatus};
use testkit::receiver::{ReceivedResponse, ResponseReceiver};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/security-baseline/5b6e1e10-8a1b-11ef-b864-0242ac120002";
pub const FUNCTION_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:applied-archive-rule-provider";
pub const ANALYZER: &str = "main";
pub const RESOURCE_TYPE: &str = "Custom::AppliedArchiveRule";
/// Operations that change state; a refused request must cause none of them.
pub const MUTATING: [&str; 5] = [
    "CreateArchiveRule",
    "UpdateArchiveRule",
    "DeleteArchiveRule",
    "ApplyArchiveRule",
    "UpdateFindings",
];

/// The response CloudFormation would have received.
#[derive(Clone, Debug)]
pub struct CfnResponse {
    pub status: String,
    pub reason: String,
    pub physical_id: String,
    pub data: BTreeMap<String, String>,
    pub body: Value,
    pub raw: ReceivedResponse,
}

impl CfnResponse {
    pub fn from_received(raw: ReceivedResponse) -> CfnResponse {
        let body = raw.json.clone().expect("the response body is JSON");
        let text = |key: &str| {
            body[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a string in {body}"))
                .to_owned()
        };
        let data = body["Data"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().expect("Data values are strings").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        CfnResponse {
            status: text("Status"),
            reason: text("Reason"),
            physical_id: text("PhysicalResourceId"),
            data,
            body,
            raw,
        }
    }

    pub fn data(&self, key: &str) -> &str {
        self.data
            .get(key)
            .unwrap_or_else(|| panic!("Data has no {key}: {:?}", self.data))
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.status, "SUCCESS", "reason: {}", self.reason);
        self
    }

    /// Asserts that the `Reason` says `text`, showing the whole reason when it does not.
    #[track_caller]
    pub fn assert_reason_contains(&self, text: &str) -> &Self {
        assert!(
            self.reason.contains(text),
            "{:?} not in the reason: {}",
            text,
            self.reason
        );
        self
    }

    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert_eq!(
            self.status, "FAILED",
            "expected FAILED, got {:?}",
            self.body
        );
        self
    }
}

pub struct Harness {
    pub emulator: Emulator,
    pub receiver: ResponseReceiver,
    pub provider: Provider<SdkAccessAnalyzer>,
    events: AtomicUsize,
}

/// Attempts of a write through [`sdk_client`] (the SDK's standard 3).
pub const WRITE_ATTEMPTS: usize = 3;
/// Attempts of a read through the harness' provider: the provider's own read retry.
pub const READ_ATTEMPTS: usize = applied_archive_rule::access_analyzer::READ_ATTEMPTS as usize;
/// Backoff before the first retry: short, so throttling tests stay quick.
const TEST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_TEST_BACKOFF: Duration = Duration::from_millis(50);

/// The provider's Access Analyzer client on `client`: the provider's own read retry (adaptive,
/// more attempts), with the tests' short backoff.
pub fn provider_access_analyzer(client: aws_sdk_accessanalyzer::Client) -> SdkAccessAnalyzer {
    SdkAccessAnalyzer::with_read_retry(
        client,
        applied_archive_rule::access_analyzer::read_retry()
            .with_initial_backoff(TEST_BACKOFF)
            // Also caps the adaptive rate limiter's wait before a retry (seconds once throttled).
            .with_max_backoff(MAX_TEST_BACKOFF),
    )
}

/// An SDK client for the emulator, with fast retries so throttling tests stay quick.
pub fn sdk_client(endpoint_url: &str) -> aws_sdk_accessanalyzer::Client {
    // The adaptive retry's rate limiter and the retry quota are shared by every client of a
    // partition in the process: each emulator gets its own, so one test's throttling cannot slow
    // down another's.
    static PARTITIONS: AtomicUsize = AtomicUsize::new(0);
    let partition = format!("test-{}", PARTITIONS.fetch_add(1, Ordering::SeqCst));
    let config = aws_sdk_accessanalyzer::Config::builder()
        .retry_partition(RetryPartition::new(partition))
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "tests"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(WRITE_ATTEMPTS as u32)
                .with_initial_backoff(TEST_BACKOFF),
        )
        .build();
    aws_sdk_accessanalyzer::Client::from_conf(config)
}

pub fn test_settings() -> Settings {
    Settings {
        response_urls: ResponseUrlPolicy {
            extra_host_suffixes: vec![],
            allow_local: true,
        },
        delivery: DeliveryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(10),
            attempt_timeout: Duration::from_secs(5),
        },
        ..Settings::default()
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(test_settings()).await
    }

    pub async fn start_with(settings: Settings) -> Harness {
        // The in-process tests check responses and emulator state; the EMF lines are checked on
        // the real bootstrap's stdout (tests/bootstrap.rs), and would only clutter the output here.
        applied_archive_rule::metrics::set_enabled(false);
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.add_analyzer(ANALYZER, "ACCOUNT");
        let receiver = ResponseReceiver::start().await.expect("receiver starts");
        let provider = Provider {
            access_analyzer: provider_access_analyzer(sdk_client(&emulator.endpoint_url())),
            http: handler::response_client().expect("http client"),
            settings,
        };
        Harness {
            emulator,
            receiver,
            provider,
            events: AtomicUsize::new(0),
        }
    }

    /// The scenario of the issue: 4 ACTIVE findings on IAM roles, 4 on other resource types.
    /// Returns (role finding ids, other finding ids).
    pub fn seed_findings(&self) -> (Vec<String>, Vec<String>) {
        let roles = (1..=4)
            .map(|i| {
                self.emulator
                    .add_finding(
                        ANALYZER,
                        FindingSeed::new(
                            "AWS::IAM::Role",
                            format!("arn:aws:iam::{ACCOUNT}:role/vendor-audit-{i}"),
                        )
                        .principal("AWS", "arn:aws:iam::444455556666:root")
                        .action("sts:AssumeRole"),
                    )
                    .id
            })
            .collect();
        let others = [
            ("AWS::S3::Bucket", "arn:aws:s3:::shared-reports"),
            (
                "AWS::KMS::Key",
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
            ),
            (
                "AWS::SQS::Queue",
                "arn:aws:sqs:us-east-1:123456789012:partner-inbox",
            ),
            ("AWS::S3::Bucket", "arn:aws:s3:::public-assets"),
        ]
        .into_iter()
        .map(|(kind, arn)| {
            self.emulator
                .add_finding(
                    ANALYZER,
                    FindingSeed::new(kind, arn)
                        .principal("AWS", "*")
                        .public(true),
                )
                .id
        })
        .collect();
        (roles, others)
    }

    pub fn status_of(&self, id: &str) -> FindingStatus {
        self.emulator
            .findings(ANALYZER)
            .into_iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no finding {id}"))
            .status
    }

    pub fn active_ids(&self) -> Vec<String> {
        self.emulator
            .findings(ANALYZER)
            .into_iter()
            .filter(|f| f.status == FindingStatus::Active)
            .map(|f| f.id)
            .collect()
    }

    pub fn rule_filter(&self, rule: &str) -> Option<Value> {
        self.emulator
            .archive_rules(ANALYZER)
            .into_iter()
            .find(|r| r.name == rule)
            .map(|r| r.filter)
    }

    pub fn rule_arn(&self, rule: &str) -> String {
        format!(
            "arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/{ANALYZER}/archive-rule/{rule}"
        )
    }

    /// Mutating calls the emulator recorded, as (operation, client token).
    pub fn mutating_calls(&self) -> Vec<(String, Option<String>)> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| MUTATING.contains(&r.operation.as_str()))
            .map(|r| (r.operation, r.client_token))
            .collect()
    }

    pub fn operations(&self) -> Vec<String> {
        self.emulator
            .requests()
            .into_iter()
            .map(|r| r.operation)
            .collect()
    }

    fn next_request_id(&self) -> String {
        let n = self.events.fetch_add(1, Ordering::SeqCst);
        format!("5f1c{n:04}-8d2e-4b7a-9c3f-{n:012}")
    }

    fn base_event(&self, request_type: &str, logical_id: &str, properties: Value) -> Value {
        let request_id = self.next_request_id();
        json!({
            "RequestType": request_type,
            "ServiceToken": FUNCTION_ARN,
            "ResponseURL": self.receiver.response_url(&request_id),
            "StackId": STACK_ID,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": RESOURCE_TYPE,
            "ResourceProperties": properties,
        })
    }

    pub fn create_event(&self, logical_id: &str, properties: Value) -> Value {
        self.base_event("Create", logical_id, properties)
    }

    pub fn update_event(
        &self,
        logical_id: &str,
        physical_id: &str,
        properties: Value,
        old: Value,
    ) -> Value {
        let mut event = self.base_event("Update", logical_id, properties);
        event["PhysicalResourceId"] = json!(physical_id);
        event["OldResourceProperties"] = old;
        event
    }

    pub fn delete_event(&self, logical_id: &str, physical_id: &str, properties: Value) -> Value {
        let mut event = self.base_event("Delete", logical_id, properties);
        event["PhysicalResourceId"] = json!(physical_id);
        event
    }

    /// Sends the Create of rule `rule_name` with `filter` as `logical_id`; returns the response.
    pub async fn create_rule(
        &self,
        logical_id: &str,
        rule_name: &str,
        filter: Value,
    ) -> CfnResponse {
        // Boxed: the handler's future is deep, and one more async layer overflows the compiler's
        // layout recursion limit.
        Box::pin(self.send(&self.create_event(logical_id, rule(rule_name, filter)))).await
    }

    /// An Update of `logical_id` (now `physical_id`) from the rule `from` to the rule `to`, each a
    /// (rule name, filter); CloudFormation sends `from`'s properties as the old ones.
    pub fn change_event(
        &self,
        logical_id: &str,
        physical_id: &str,
        from: (&str, Value),
        to: (&str, Value),
    ) -> Value {
        self.update_event(
            logical_id,
            physical_id,
            rule(to.0, to.1),
            rule(from.0, from.1),
        )
    }

    /// The next call of `operation` is refused with `AccessDeniedException`: the fault most tests
    /// use to make an operation fail half-way.
    pub fn deny_next(&self, operation: &str) {
        self.emulator
            .fail_next(operation, 1, testkit::access_analyzer::Fault::AccessDenied);
    }

    /// Deletes a rule behind the provider's back, as another tool would.
    pub async fn delete_out_of_band(&self, rule_name: &str) {
        sdk_client(&self.emulator.endpoint_url())
            .delete_archive_rule()
            .analyzer_name(ANALYZER)
            .rule_name(rule_name)
            .send()
            .await
            .expect("out-of-band delete");
    }

    /// Invokes the handler as Lambda would, with `budget` until the deadline.
    pub async fn invoke_with(
        &self,
        event: &Value,
        budget: Duration,
    ) -> Result<Value, InvocationError> {
        let deadline = SystemTime::now() + budget;
        let invocation = Invocation {
            deadline_epoch_ms: deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
            invoked_function_arn: FUNCTION_ARN.to_owned(),
        };
        handler::handle(&self.provider, event.clone(), &invocation).await
    }

    /// Sends an event and returns the one response CloudFormation received for it.
    pub async fn send(&self, event: &Value) -> CfnResponse {
        let result = self.invoke_with(event, Duration::from_secs(60)).await;
        assert!(
            result.is_ok(),
            "the invocation reports delivery: {result:?}"
        );
        self.response_for(event)
    }

    /// The single response received for `event` (asserts there is exactly one).
    pub fn response_for(&self, event: &Value) -> CfnResponse {
        let name = event["RequestId"].as_str().expect("RequestId");
        let mut received = self.receiver.responses_for(name);
        assert_eq!(received.len(), 1, "exactly one response for {name}");
        CfnResponse::from_received(received.remove(0))
    }
}

/// Properties of a rule on the test analyzer.
pub fn rule(rule_name: &str, filter: Value) -> Value {
    json!({
        "ServiceToken": FUNCTION_ARN,
        "AnalyzerName": ANALYZER,
        "RuleName": rule_name,
        "Filter": filter,
    })
}

/// The roles filter as the API stores it (operators camelCase, as the SDK sends them).
pub fn roles_rule_json() -> Value {
    json!({"resourceType": {"eq": ["AWS::IAM::Role"]}})
}

/// The buckets filter as the API stores it.
pub fn buckets_rule_json() -> Value {
    json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}})
}

pub fn roles_filter() -> Value {
    json!({"resourceType": {"Eq": ["AWS::IAM::Role"]}})
}

pub fn buckets_filter() -> Value {
    json!({"resourceType": {"Eq": ["AWS::S3::Bucket"]}})
}

// Analyzers of the other types (SPEC §5), beside the ACCOUNT analyzer `main`.

pub const UNUSED_ANALYZER: &str = "unused-access";
pub const INTERNAL_ANALYZER: &str = "internal-access";
pub const BREAK_GLASS_ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";
pub const OLD_CI_ROLE: &str = "arn:aws:iam::123456789012:role/old-ci";
pub const BACKUP_ROLE: &str = "arn:aws:iam::123456789012:role/backup";
pub const BACKUPS_BUCKET: &str = "arn:aws:s3:::backups";
pub const REPORTS_BUCKET: &str = "arn:aws:s3:::reports";

/// The ACTIVE findings [`Harness::seed_unused_access`] makes, by what they are.
pub struct UnusedAccessFindings {
    /// `UnusedIAMRole` on [`BREAK_GLASS_ROLE`]: what a break-glass rule archives.
    pub break_glass_role: String,
    /// `UnusedPermission` on the same role: another finding type, not archived with it.
    pub break_glass_permission: String,
    /// `UnusedIAMRole` on [`OLD_CI_ROLE`].
    pub old_ci_role: String,
    /// `UnusedIAMUserAccessKey` and `UnusedIAMUserPassword` on an IAM user.
    pub access_key: String,
    pub password: String,
}

/// The ACTIVE findings [`Harness::seed_internal_access`] makes: who inside the account can
/// reach which bucket.
pub struct InternalAccessFindings {
    /// [`BACKUP_ROLE`] on [`BACKUPS_BUCKET`]: the expected access a rule archives.
    pub backup_role_on_backups: String,
    /// Another role on the same bucket.
    pub analytics_role_on_backups: String,
    /// [`BACKUP_ROLE`] on [`REPORTS_BUCKET`].
    pub backup_role_on_reports: String,
}

impl Harness {
    /// Adds an analyzer of `analyzer_type` named `name`; returns its ARN.
    pub fn add_analyzer_of_type(&self, name: &str, analyzer_type: &str) -> String {
        self.emulator.add_analyzer(name, analyzer_type)
    }

    /// An `ACCOUNT_UNUSED_ACCESS` analyzer [`UNUSED_ANALYZER`] with one finding of each unused
    /// finding type.
    pub fn seed_unused_access(&self) -> UnusedAccessFindings {
        self.add_analyzer_of_type(UNUSED_ANALYZER, "ACCOUNT_UNUSED_ACCESS");
        let user = format!("arn:aws:iam::{ACCOUNT}:user/alice");
        let add = |resource_type: &str, resource: &str, finding_type: &str| {
            self.emulator
                .add_finding(
                    UNUSED_ANALYZER,
                    FindingSeed::new(resource_type, resource).finding_type(finding_type),
                )
                .id
        };
        UnusedAccessFindings {
            break_glass_role: add("AWS::IAM::Role", BREAK_GLASS_ROLE, "UnusedIAMRole"),
            break_glass_permission: add("AWS::IAM::Role", BREAK_GLASS_ROLE, "UnusedPermission"),
            old_ci_role: add("AWS::IAM::Role", OLD_CI_ROLE, "UnusedIAMRole"),
            access_key: add("AWS::IAM::User", &user, "UnusedIAMUserAccessKey"),
            password: add("AWS::IAM::User", &user, "UnusedIAMUserPassword"),
        }
    }

    /// An `ACCOUNT_INTERNAL_ACCESS` analyzer [`INTERNAL_ANALYZER`] with three internal-access
    /// findings on buckets.
    pub fn seed_internal_access(&self) -> InternalAccessFindings {
        self.add_analyzer_of_type(INTERNAL_ANALYZER, "ACCOUNT_INTERNAL_ACCESS");
        let analytics_role = format!("arn:aws:iam::{ACCOUNT}:role/analytics");
        let add = |bucket: &str, role: &str| {
            self.emulator
                .add_finding(
                    INTERNAL_ANALYZER,
                    FindingSeed::new("AWS::S3::Bucket", bucket)
                        .internal_principal(role, "IAM_ROLE", ACCOUNT, "INTRA_ACCOUNT")
                        .action("s3:GetObject")
                        .resource_control_policy_restriction("NOT_APPLICABLE")
                        .service_control_policy_restriction("NOT_APPLICABLE"),
                )
                .id
        };
        InternalAccessFindings {
            backup_role_on_backups: add(BACKUPS_BUCKET, BACKUP_ROLE),
            analytics_role_on_backups: add(BACKUPS_BUCKET, &analytics_role),
            backup_role_on_reports: add(REPORTS_BUCKET, BACKUP_ROLE),
        }
    }

    /// The status of a finding of `analyzer`.
    pub fn status_on(&self, analyzer: &str, id: &str) -> FindingStatus {
        self.emulator
            .findings(analyzer)
            .into_iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no finding {id} on {analyzer}"))
            .status
    }

    /// The ids of `analyzer`'s ACTIVE findings.
    pub fn active_ids_on(&self, analyzer: &str) -> Vec<String> {
        self.emulator
            .findings(analyzer)
            .into_iter()
            .filter(|f| f.status == FindingStatus::Active)
            .map(|f| f.id)
            .collect()
    }

    /// The stored filter of `analyzer`'s rule `rule`, as the API received it.
    pub fn rule_filter_on(&self, analyzer: &str, rule: &str) -> Option<Value> {
        self.emulator
            .archive_rules(analyzer)
            .into_iter()
            .find(|r| r.name == rule)
            .map(|r| r.filter)
    }

    pub fn rule_arn_on(&self, analyzer: &str, rule: &str) -> String {
        format!(
            "{}/archive-rule/{rule}",
            self.emulator.analyzer_arn(analyzer)
        )
    }
}

/// Properties of a rule on `analyzer`.
pub fn rule_on(analyzer: &str, rule_name: &str, filter: Value) -> Value {
    let mut properties = rule(rule_name, filter);
    properties["AnalyzerName"] = json!(analyzer);
    properties
}
