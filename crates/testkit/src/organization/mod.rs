//! An AWS Organization in one process, for the command line's `sweep`: STS (`AssumeRole`,
//! `GetCallerIdentity`), Organizations (`ListAccounts`, `ListAccountsForParent`,
//! `ListOrganizationalUnitsForParent`), EC2 (`DescribeRegions`) and IAM Access Analyzer for every
//! (account, region), all on one endpoint.
//!
//! A client points every service at [`OrgEmulator::endpoint_url`] (`AWS_ENDPOINT_URL` or the
//! SDK's `endpoint_url`); the emulator tells the services apart by the SigV4 credential scope
//! (`Credential=AKID/date/REGION/SERVICE/aws4_request`) and never checks a signature. Access
//! Analyzer's routes name neither account nor region, so both come from the request: the region
//! from the scope, the account from the access key — [`OrgEmulator::management_credentials`] act in
//! the management account, and every key `AssumeRole` issues acts in the role's account until it
//! expires.
//!
//! What moto's server cannot do and a sweep must survive: a role that cannot be assumed
//! ([`OrgEmulator::deny_assume_role`]), regions enabled per account ([`AccountSpec::opt_in_regions`];
//! Access Analyzer and EC2 refuse a region that is not, as AWS does), credentials that expire,
//! accounts that report only the deprecated `Status`, analyzers that are not `ACTIVE` and
//! service-linked ones ([`AccountRegion::set_analyzer_status`],
//! [`AccountRegion::add_service_linked_analyzer`]), small pages, and faults and latency per
//! (account, region, operation).
//!
//! # Control plane
//! For processes in other languages (the Python benchmark baseline):
//! - `GET /_emulator/requests` → `{requests: [{service, operation, account, region, accessKeyId,
//!   params, status, receivedMicros, answeredMicros}]}` (microseconds since the emulator started),
//!   `DELETE /_emulator/requests`
//! - `GET /_emulator/findings?account=ID&region=R&analyzer=NAME` → `{findings}`
//! - `GET /_emulator/assume-role-calls` → `{ACCOUNT: count}`
//! - `POST /_emulator/faults {account, region, operation, count?, fault, retryAfterSeconds?}`
//!   (`*` matches any account or region)
//! - `POST /_emulator/latency {millis, service?}`
//! - `POST /_emulator/analyzers {account, region, type, name?, status?, statusReason?,
//!   serviceName?, managedBy?}` → `{name, arn}`: adds an analyzer with no rules; with `managedBy`
//!   (and `serviceName`) a service-linked one, named for the service

mod analyzers;
mod control;
mod ec2;
mod http;
mod organizations;
mod sts;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt, io,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use serde::Serialize;
use serde_json::Value;

pub use analyzers::AnalyzerStatus;

use crate::{
    access_analyzer::{
        self, ArchiveRule, EmulatorConfig, Fault, Finding, FindingSeed, FindingStatus,
    },
    server::{self, ServerGuard},
};

/// The 17 commercial regions enabled in every account without opting in.
pub const DEFAULT_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// Commercial regions an account must opt in to; `DescribeRegions` with `AllRegions=true` lists
/// them as `not-opted-in` unless the account opted in.
pub const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// The access key of the management account's own (long-term) credentials.
pub const MANAGEMENT_ACCESS_KEY_ID: &str = "AKIDMANAGEMENT";
const MANAGEMENT_SECRET: &str = "management-secret";

/// The organization: its accounts, OUs and how its services page and issue credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgSpec {
    pub management_account: String,
    /// Every account of the organization, the management account included (as `ListAccounts`
    /// returns it). Leaving the management account out models an account that belongs to no
    /// organization: Organizations answers `AWSOrganizationsNotInUseException`.
    pub accounts: Vec<AccountSpec>,
    pub organizational_units: Vec<OuSpec>,
    /// `r-` and 4–32 lowercase letters or digits.
    pub root_id: String,
    /// The most items an Organizations list returns per page (`MaxResults` may ask for fewer).
    pub page_size: usize,
    /// How long `AssumeRole` credentials last when the request has no `DurationSeconds`.
    pub credential_lifetime: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuSpec {
    /// `ou-<root part>-<8–32 lowercase letters or digits>`.
    pub id: String,
    pub name: String,
    /// The root or another OU.
    pub parent_id: String,
}

impl OuSpec {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        parent_id: impl Into<String>,
    ) -> Self {
        OuSpec {
            id: id.into(),
            name: name.into(),
            parent_id: parent_id.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    pub id: String,
    pub name: String,
    /// The root or an OU.
    pub parent_id: String,
    pub state: AccountState,
    /// Answer only the deprecated `Status`, as responses did before `State` existed.
    pub legacy_status_only: bool,
    /// Answer only `State`, as responses will once `Status` is retired (ignored when
    /// `legacy_status_only` is set).
    pub state_only: bool,
    /// Opt-in regions this account enabled (e.g. `eu-south-1`), besides [`DEFAULT_REGIONS`].
    pub opt_in_regions: Vec<String>,
    /// `AssumeRole` into this account is refused with `AccessDenied`.
    pub deny_assume_role: bool,
}

impl AccountSpec {
    /// An ACTIVE account with both status fields, the default regions, and a role that can be
    /// assumed.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        parent_id: impl Into<String>,
    ) -> Self {
        AccountSpec {
            id: id.into(),
            name: name.into(),
            parent_id: parent_id.into(),
            state: AccountState::Active,
            legacy_status_only: false,
            state_only: false,
            opt_in_regions: Vec::new(),
            deny_assume_role: false,
        }
    }
}

/// The account's lifecycle, as Organizations' `State` (and the older `Status`) report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Suspended,
    PendingClosure,
    Closed,
}

impl AccountState {
    /// `State`: `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`.
    pub fn state(self) -> &'static str {
        match self {
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
            AccountState::Closed => "CLOSED",
        }
    }

    /// `Status` has no `CLOSED`: a closed account read `SUSPENDED` there.
    pub fn status(self) -> &'static str {
        match self {
            AccountState::Active => "ACTIVE",
            AccountState::Suspended | AccountState::Closed => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
        }
    }
}

impl OrgSpec {
    /// A management account (`100000000000`) and `members` member accounts
    /// (`200000000001`, …) spread round-robin over two OUs under the root and a child OU of the
    /// first; every account has the 17 default regions. Pages of 5, credentials for an hour.
    pub fn generated(members: usize) -> OrgSpec {
        let root_id = "r-a1b2".to_owned();
        let organizational_units = vec![
            OuSpec::new("ou-a1b2-workload", "Workloads", &root_id),
            OuSpec::new("ou-a1b2-sandbox0", "Sandbox", &root_id),
            OuSpec::new("ou-a1b2-prod0001", "Production", "ou-a1b2-workload"),
        ];
        let management_account = "100000000000".to_owned();
        let mut accounts = vec![AccountSpec::new(
            &management_account,
            "management",
            &root_id,
        )];
        accounts.extend((1..=members).map(|index| {
            let parent = &organizational_units[(index - 1) % organizational_units.len()];
            AccountSpec::new(
                format!("{}", 200_000_000_000u64 + index as u64),
                format!("member-{index:03}"),
                &parent.id,
            )
        }));
        OrgSpec {
            management_account,
            accounts,
            organizational_units,
            root_id,
            page_size: 5,
            credential_lifetime: Duration::from_secs(3600),
        }
    }

    fn account(&self, id: &str) -> Option<&AccountSpec> {
        self.accounts.iter().find(|account| account.id == id)
    }
}

/// One request as it arrived, and what it was answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgRequest {
    /// The service from the credential scope: `sts`, `organizations`, `ec2`, `access-analyzer`.
    pub service: String,
    /// The operation name from the service model; `Unknown` when none matched.
    pub operation: String,
    /// The account the request acts in: the access key's, or for `AssumeRole` the role's.
    /// `None` when the key is unknown or the request unsigned.
    pub account: Option<String>,
    /// The region from the credential scope.
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// The form fields or JSON members (Access Analyzer: with path and query parameters).
    pub params: Value,
    /// The HTTP status answered; 0 while unanswered (`Fault::Hang`).
    pub status: u16,
    #[serde(skip)]
    pub received_at: Instant,
    #[serde(skip)]
    pub answered_at: Option<Instant>,
}

/// Who signed a request: the account it acts in and how STS describes it.
#[derive(Clone, Debug)]
struct Principal {
    account: String,
    arn: String,
    user_id: String,
    /// `None` for the management account's long-term key.
    expires_at: Option<SystemTime>,
}

/// A queued fault: the next `remaining` matching calls get it.
#[derive(Clone, Debug)]
struct FaultRule {
    account: String,
    region: String,
    operation: String,
    fault: Fault,
    remaining: usize,
}

impl FaultRule {
    fn matches(&self, account: Option<&str>, region: Option<&str>, operation: &str) -> bool {
        let field = |pattern: &str, value: Option<&str>| pattern == "*" || Some(pattern) == value;
        self.operation == operation && field(&self.account, account) && field(&self.region, region)
    }
}

struct OrgInner {
    principals: HashMap<String, Principal>,
    denied: HashSet<String>,
    assume_role_calls: HashMap<String, usize>,
    analyzers: BTreeMap<(String, String), Arc<access_analyzer::State>>,
    service_linked_created: u64,
    faults: Vec<FaultRule>,
    latency: Duration,
    service_latency: HashMap<String, Duration>,
    /// With a sequence number each, so the answer's status finds its record.
    requests: Vec<(u64, OrgRequest)>,
    requests_recorded: u64,
    keys_issued: u64,
    request_ids: u64,
}

pub(crate) struct Org {
    spec: OrgSpec,
    organization_id: String,
    started_at: Instant,
    inner: Mutex<OrgInner>,
}

impl Org {
    fn new(spec: OrgSpec) -> Org {
        let management = Principal {
            account: spec.management_account.clone(),
            arn: format!(
                "arn:aws:iam::{}:user/emulator-admin",
                spec.management_account
            ),
            user_id: "AIDAEMULATORADMIN".to_owned(),
            expires_at: None,
        };
        let denied = spec
            .accounts
            .iter()
            .filter(|account| account.deny_assume_role)
            .map(|account| account.id.clone())
            .collect();
        // `o-` and 10–32 lowercase letters or digits; one organization per emulator.
        let organization_id = format!("o-{:0>10}", spec.management_account);
        Org {
            organization_id,
            started_at: Instant::now(),
            inner: Mutex::new(OrgInner {
                principals: HashMap::from([(MANAGEMENT_ACCESS_KEY_ID.to_owned(), management)]),
                denied,
                assume_role_calls: HashMap::new(),
                analyzers: BTreeMap::new(),
                service_linked_created: 0,
                faults: Vec::new(),
                latency: Duration::ZERO,
                service_latency: HashMap::new(),
                requests: Vec::new(),
                requests_recorded: 0,
                keys_issued: 0,
                request_ids: 0,
            }),
            spec,
        }
    }

    fn lock(&self) -> MutexGuard<'_, OrgInner> {
        self.inner
            .lock()
            .expect("organization emulator lock poisoned")
    }

    fn is_member(&self, account: &str) -> bool {
        self.spec.account(account).is_some()
    }

    /// The regions enabled in `account`: the defaults and the account's opt-ins.
    fn enabled_regions(&self, account: &str) -> Vec<String> {
        let opted_in = self
            .spec
            .account(account)
            .map(|account| account.opt_in_regions.as_slice())
            .unwrap_or_default();
        DEFAULT_REGIONS
            .iter()
            .map(|region| (*region).to_owned())
            .chain(opted_in.iter().cloned())
            .collect()
    }

    fn region_enabled(&self, account: &str, region: &str) -> bool {
        DEFAULT_REGIONS.contains(&region)
            || self
                .spec
                .account(account)
                .is_some_and(|spec| spec.opt_in_regions.iter().any(|r| r == region))
    }

    /// The Access Analyzer of (account, region), created empty on first use.
    fn analyzer_state(&self, account: &str, region: &str) -> Arc<access_analyzer::State> {
        let mut inner = self.lock();
        let namespace = inner.analyzers.len() as u32 + 1;
        inner
            .analyzers
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                let config = EmulatorConfig {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    ..EmulatorConfig::default()
                };
                access_analyzer::State::with_id_namespace(config, namespace)
            })
            .clone()
    }

    fn next_request_id(&self) -> String {
        let mut inner = self.lock();
        inner.request_ids += 1;
        crate::util::uuid_like(0x0b9a_0000, inner.request_ids)
    }

    fn take_fault(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        operation: &str,
    ) -> Option<Fault> {
        let mut inner = self.lock();
        let index = inner
            .faults
            .iter()
            .position(|rule| rule.matches(account, region, operation))?;
        let rule = &mut inner.faults[index];
        let fault = rule.fault.clone();
        rule.remaining -= 1;
        if rule.remaining == 0 {
            inner.faults.remove(index);
        }
        Some(fault)
    }

    fn fail_next(&self, account: &str, region: &str, operation: &str, count: usize, fault: Fault) {
        if count == 0 {
            return;
        }
        self.lock().faults.push(FaultRule {
            account: account.to_owned(),
            region: region.to_owned(),
            operation: operation.to_owned(),
            fault,
            remaining: count,
        });
    }

    fn latency_for(&self, service: &str) -> Duration {
        let inner = self.lock();
        inner
            .service_latency
            .get(service)
            .copied()
            .unwrap_or(inner.latency)
    }

    fn micros_since_start(&self, instant: Instant) -> u64 {
        instant
            .saturating_duration_since(self.started_at)
            .as_micros() as u64
    }
}

/// A running organization emulator. Clones share it; it stops when the last clone is dropped or
/// on [`OrgEmulator::shutdown`].
#[derive(Clone)]
pub struct OrgEmulator {
    org: Arc<Org>,
    server: Arc<ServerGuard>,
    endpoint_url: String,
}

impl fmt::Debug for OrgEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgEmulator")
            .field("endpoint_url", &self.endpoint_url)
            .field("management_account", &self.org.spec.management_account)
            .finish_non_exhaustive()
    }
}

impl OrgEmulator {
    /// Starts the emulator on an ephemeral port of 127.0.0.1, on the current tokio runtime.
    pub async fn start(spec: OrgSpec) -> io::Result<OrgEmulator> {
        OrgEmulator::start_on(spec, 0).await
    }

    /// As [`OrgEmulator::start`], on `port` (0 for an ephemeral one).
    pub async fn start_on(spec: OrgSpec, port: u16) -> io::Result<OrgEmulator> {
        let org = Arc::new(Org::new(spec));
        let router = control::router()
            .fallback(http::handle)
            .with_state(org.clone());
        let (address, server) = server::serve(router, port).await?;
        Ok(OrgEmulator {
            org,
            server: Arc::new(server),
            endpoint_url: format!("http://{address}"),
        })
    }

    /// `http://127.0.0.1:PORT`, for every service: `AWS_ENDPOINT_URL` or the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        self.endpoint_url.clone()
    }

    pub fn spec(&self) -> &OrgSpec {
        &self.org.spec
    }

    pub fn management_account(&self) -> String {
        self.org.spec.management_account.clone()
    }

    /// The management account's long-term key: `(access key id, secret access key)`.
    pub fn management_credentials(&self) -> (String, String) {
        (
            MANAGEMENT_ACCESS_KEY_ID.to_owned(),
            MANAGEMENT_SECRET.to_owned(),
        )
    }

    /// The regions enabled in `account`, the 17 defaults first.
    pub fn enabled_regions(&self, account: &str) -> Vec<String> {
        self.org.enabled_regions(account)
    }

    /// The Access Analyzer of one account and region, to seed and inspect. It exists whether or
    /// not the region is enabled in the account (a call there is refused all the same).
    pub fn access_analyzer(&self, account: &str, region: &str) -> AccountRegion {
        AccountRegion::new(&self.org, account, region)
    }

    /// From now on `AssumeRole` into `account` is refused with `AccessDenied`.
    pub fn deny_assume_role(&self, account: &str) {
        self.org.lock().denied.insert(account.to_owned());
    }

    pub fn allow_assume_role(&self, account: &str) {
        self.org.lock().denied.remove(account);
    }

    /// How many `AssumeRole` requests for a role in `account` arrived, refused or faulted ones
    /// included.
    pub fn assume_role_calls(&self, account: &str) -> usize {
        self.org
            .lock()
            .assume_role_calls
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// Answers the next `count` calls of `operation` (a model name such as `ApplyArchiveRule`,
    /// `AssumeRole`, `ListAccounts`, `DescribeRegions`) in `account` and `region` with `fault`.
    /// `*` matches any account or region; `AssumeRole` matches on the role's account. Faults
    /// queue in the order given.
    pub fn fail_next(
        &self,
        account: &str,
        region: &str,
        operation: &str,
        count: usize,
        fault: Fault,
    ) {
        self.org.fail_next(account, region, operation, count, fault);
    }

    /// Delays every answer by `latency` (services with their own latency excepted).
    pub fn set_latency(&self, latency: Duration) {
        self.org.lock().latency = latency;
    }

    /// Delays every answer of `service` (`sts`, `organizations`, `ec2`, `access-analyzer`) by
    /// `latency`, instead of the global latency.
    pub fn set_service_latency(&self, service: &str, latency: Duration) {
        self.org
            .lock()
            .service_latency
            .insert(service.to_owned(), latency);
    }

    /// Every request so far, in arrival order, including refused and faulted ones.
    pub fn requests(&self) -> Vec<OrgRequest> {
        self.org
            .lock()
            .requests
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.org.lock().requests.clear();
    }

    /// Stops the server now; requests in flight (a hanging one included) are dropped.
    pub fn shutdown(&self) {
        self.server.stop();
    }
}

/// The Access Analyzer of one (account, region) of an [`OrgEmulator`]: the seeding and
/// inspection half of [`access_analyzer::Emulator`]'s API.
#[derive(Clone)]
pub struct AccountRegion {
    state: Arc<access_analyzer::State>,
    org: Arc<Org>,
    account: String,
    region: String,
}

impl fmt::Debug for AccountRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRegion")
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl AccountRegion {
    fn new(org: &Arc<Org>, account: &str, region: &str) -> AccountRegion {
        AccountRegion {
            state: org.analyzer_state(account, region),
            org: org.clone(),
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn analyzer_arn(&self, name: &str) -> String {
        self.state.analyzer_arn(name)
    }

    /// Adds an ACTIVE, customer-managed analyzer (replacing one of the same name) and returns its
    /// ARN.
    pub fn add_analyzer(&self, name: &str, analyzer_type: &str) -> String {
        self.state.add_analyzer(name, analyzer_type)
    }

    pub fn remove_analyzer(&self, name: &str) {
        self.state.remove_analyzer(name);
    }

    /// `ListArchiveRules` of an analyzer that does not exist answers an empty list here, not 404
    /// (see [`crate::access_analyzer::Emulator::answer_empty_rule_lists_for_missing_analyzers`]).
    pub fn answer_empty_rule_lists_for_missing_analyzers(&self) {
        self.state.answer_empty_rule_lists_for_missing_analyzers();
    }

    /// Adds a service-linked analyzer, as `CreateServiceLinkedAnalyzer` called by an AWS service
    /// would, and returns its name, `_AccessAnalyzerFor{service_name}-{Id}`. `GetAnalyzer` and
    /// `ListAnalyzers` report `managedBy: managed_by` (e.g. `securityhubv2.amazonaws.com`); every
    /// other call naming it is refused with `AccessDeniedException`. Seed its rules and findings
    /// with [`AccountRegion::put_archive_rule`] and [`AccountRegion::add_finding`].
    pub fn add_service_linked_analyzer(
        &self,
        service_name: &str,
        managed_by: &str,
        analyzer_type: &str,
    ) -> String {
        let id = {
            let mut inner = self.org.lock();
            inner.service_linked_created += 1;
            inner.service_linked_created
        };
        let name = analyzers::service_linked_name(service_name, id);
        self.state.add_analyzer(&name, analyzer_type);
        self.state.set_managed_by(&name, Some(managed_by));
        name
    }

    /// Sets the `status` (and `statusReason`, a `ReasonCode` such as
    /// `SERVICE_LINKED_ROLE_CREATION_FAILED`) that `GetAnalyzer` and `ListAnalyzers` report for
    /// an analyzer. Only the reports change: the emulator still serves the analyzer's other calls.
    pub fn set_analyzer_status(
        &self,
        name: &str,
        status: AnalyzerStatus,
        status_reason: Option<&str>,
    ) {
        self.state
            .set_analyzer_status(name, status.as_str(), status_reason);
    }

    /// Adds a finding as the analyzer would on discovering it (its archive rules apply).
    ///
    /// # Panics
    /// If the analyzer does not exist (a mistake in the test's setup).
    pub fn add_finding(&self, analyzer_name: &str, seed: FindingSeed) -> Finding {
        self.state
            .add_finding(analyzer_name, seed)
            .unwrap_or_else(|| {
                panic!(
                    "add_finding: no analyzer named {analyzer_name} in {} {}",
                    self.account, self.region
                )
            })
    }

    /// The analyzer's findings in creation order; empty if it does not exist.
    pub fn findings(&self, analyzer_name: &str) -> Vec<Finding> {
        self.state.findings(analyzer_name)
    }

    pub fn set_finding_status(&self, analyzer_name: &str, id: &str, status: FindingStatus) -> bool {
        self.state.set_finding_status(analyzer_name, id, status)
    }

    /// Creates or replaces a rule directly, without touching findings.
    ///
    /// # Panics
    /// If the analyzer does not exist or the filter is invalid.
    pub fn put_archive_rule(&self, analyzer_name: &str, rule_name: &str, filter: Value) {
        self.state
            .put_archive_rule(analyzer_name, rule_name, filter);
    }

    pub fn archive_rules(&self, analyzer_name: &str) -> Vec<ArchiveRule> {
        self.state.archive_rules(analyzer_name)
    }

    pub fn set_apply_delay(&self, delay: Duration) {
        self.state.set_apply_delay(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_organization_has_the_management_account_and_spread_members() {
        let spec = OrgSpec::generated(7);
        assert_eq!(spec.accounts.len(), 8);
        assert_eq!(spec.accounts[0].id, spec.management_account);
        assert_eq!(spec.accounts[0].parent_id, spec.root_id);
        let in_child_ou = spec
            .accounts
            .iter()
            .filter(|account| account.parent_id == "ou-a1b2-prod0001")
            .count();
        assert_eq!(in_child_ou, 2);
        assert!(spec.accounts.iter().all(|account| account.id.len() == 12));
    }

    #[test]
    fn faults_match_wildcards_and_are_consumed_in_order() {
        let org = Org::new(OrgSpec::generated(1));
        org.fail_next("*", "eu-west-1", "ListFindingsV2", 1, Fault::Internal);
        org.fail_next(
            "200000000001",
            "*",
            "ListFindingsV2",
            1,
            Fault::AccessDenied,
        );
        let account = Some("200000000001");
        assert_eq!(
            org.take_fault(account, Some("us-east-1"), "ListFindings"),
            None
        );
        assert_eq!(
            org.take_fault(account, Some("us-east-1"), "ListFindingsV2"),
            Some(Fault::AccessDenied)
        );
        assert_eq!(
            org.take_fault(account, Some("eu-west-1"), "ListFindingsV2"),
            Some(Fault::Internal)
        );
        assert_eq!(
            org.take_fault(account, Some("eu-west-1"), "ListFindingsV2"),
            None
        );
    }

    #[test]
    fn closed_accounts_read_suspended_in_the_legacy_status() {
        assert_eq!(AccountState::Closed.state(), "CLOSED");
        assert_eq!(AccountState::Closed.status(), "SUSPENDED");
        assert_eq!(AccountState::PendingClosure.status(), "PENDING_CLOSURE");
    }
}
