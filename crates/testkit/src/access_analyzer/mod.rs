//! An IAM Access Analyzer emulator: the restJson1 wire protocol of the service model
//! `accessanalyzer/2019-11-01`, for the operations the provider and its tests use, so the real
//! `aws-sdk-accessanalyzer` client pointed at [`Emulator::endpoint_url`] works unchanged.
//!
//! Archive-rule semantics follow the service: a rule archives findings that arrive after it
//! exists ([`Emulator::add_finding`] evaluates every rule of the analyzer); ACTIVE findings that
//! were already there are archived only by `ApplyArchiveRule` or `UpdateFindings`.
//!
//! Every analyzer type is served — external access (`ACCOUNT`, `ORGANIZATION`), unused access
//! and internal access (`ACCOUNT_UNUSED_ACCESS`, `ACCOUNT_INTERNAL_ACCESS` and their
//! `ORGANIZATION_` forms) — each with the findings it makes and the filter keys it accepts; a
//! key its type does not take, or `status` / `id` in an archive rule, is a `ValidationException`
//! naming the key (see `filter.rs` for the sources).
//!
//! Besides the Rust API there is a JSON control plane under `/_emulator/` for processes in other
//! languages (a Python benchmark baseline, a shell demo), described below.
//!
//! # Control plane
//! - `POST /_emulator/analyzers {name, type}` → `{arn}`
//! - `POST /_emulator/findings {analyzer, resourceType, resource, principal?, action?, condition?,
//!   isPublic?, findingType?, error?, resourceOwnerAccount?, status?, principalType?,
//!   principalOwnerAccount?, accessType?, resourceControlPolicyRestriction?,
//!   serviceControlPolicyRestriction?}` → the finding
//! - `GET /_emulator/findings?analyzer=NAME`, `GET /_emulator/archive-rules?analyzer=NAME`
//! - `POST /_emulator/archive-rules {analyzer, ruleName, filter}` (seeds a rule, not recorded)
//! - `GET /_emulator/requests`, `DELETE /_emulator/requests`
//! - `POST /_emulator/faults {operation, count, fault, retryAfterSeconds?, after?}` (`after`: calls
//!   answered normally first) where `fault` is one of
//!   `Throttling`, `Internal`, `AccessDenied`, `Validation`, `ResourceNotFound`, `Conflict`,
//!   `ServiceQuotaExceeded`, `Hang`
//! - `POST /_emulator/latency {millis, operation?}`, `POST /_emulator/apply-delay {millis}`

pub(crate) mod control;
mod filter;
pub(crate) mod service;
pub(crate) mod wire;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use serde::Serialize;
use serde_json::Value;

use crate::server::{self, ServerGuard};
use filter::{AnalyzerFamily, Filter, Use};

/// Where and as whom the emulator runs.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub account: String,
    pub region: String,
    pub partition: String,
    /// Page size of the List operations when the request gives no `maxResults`.
    pub page_size: usize,
    /// 0 for an ephemeral port.
    pub port: u16,
    /// How long after `ApplyArchiveRule` returns the findings are archived (0: before it returns).
    pub apply_delay: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            account: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            partition: "aws".to_owned(),
            page_size: 100,
            port: 0,
            apply_delay: Duration::ZERO,
        }
    }
}

/// An error (or silence) to answer instead of handling a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `ThrottlingException` with `Retry-After: <seconds>`.
    Throttling { retry_after_seconds: u32 },
    /// 500 `InternalServerException`.
    Internal,
    /// 403 `AccessDeniedException`.
    AccessDenied,
    /// 400 `ValidationException`.
    Validation,
    /// 404 `ResourceNotFoundException`.
    ResourceNotFound,
    /// 409 `ConflictException`.
    Conflict,
    /// 402 `ServiceQuotaExceededException`.
    ServiceQuotaExceeded,
    /// Never answers; the connection stays open until the emulator shuts down.
    Hang,
}

/// One request as it arrived, and what it was answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// The operation name from the service model, e.g. `CreateArchiveRule`; `Unknown` for a
    /// request that matched no route.
    pub operation: String,
    /// The analyzer name, or ARN, as the request named it.
    pub analyzer: Option<String>,
    pub rule_name: Option<String>,
    pub client_token: Option<String>,
    /// The JSON body merged with the path and query parameters (query values as strings).
    pub params: Value,
    /// The HTTP status answered; 0 for a request that was never answered (`Fault::Hang`).
    pub status: u16,
    /// The SigV4 credential scope from `Authorization` (`AKID/date/region/service/aws4_request`),
    /// not verified.
    pub credential_scope: Option<String>,
    /// When the request arrived, and when its answer was ready (`None` while unanswered): the
    /// benchmark reads an invocation's sequential round trips from them.
    #[serde(skip)]
    pub received_at: Instant,
    #[serde(skip)]
    pub answered_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingStatus {
    Active,
    Archived,
    Resolved,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Active => "ACTIVE",
            FindingStatus::Archived => "ARCHIVED",
            FindingStatus::Resolved => "RESOLVED",
        }
    }

    pub fn parse(value: &str) -> Option<FindingStatus> {
        match value {
            "ACTIVE" => Some(FindingStatus::Active),
            "ARCHIVED" => Some(FindingStatus::Archived),
            "RESOLVED" => Some(FindingStatus::Resolved),
            _ => None,
        }
    }
}

impl fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a test declares about a finding; the emulator fills in id, account and timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingSeed {
    pub resource_type: String,
    pub resource: String,
    pub principal: BTreeMap<String, String>,
    pub action: Vec<String>,
    pub condition: BTreeMap<String, String>,
    pub is_public: bool,
    /// Defaults to `ExternalAccess` on external-access analyzers and `InternalAccess` on
    /// internal-access ones; unused-access findings must name theirs (`UnusedIAMRole`,
    /// `UnusedIAMUserAccessKey`, `UnusedIAMUserPassword` or `UnusedPermission`).
    pub finding_type: Option<String>,
    pub error: Option<String>,
    /// Defaults to the emulator's account.
    pub resource_owner_account: Option<String>,
    /// ACTIVE unless set; archive rules are evaluated only for ACTIVE arrivals.
    pub status: FindingStatus,
    /// Internal access (`InternalAccessDetails`): `IAM_ROLE` or `IAM_USER`.
    pub principal_type: Option<String>,
    /// Internal access: the account that owns the principal.
    pub principal_owner_account: Option<String>,
    /// Internal access: `INTRA_ACCOUNT` or `INTRA_ORG`.
    pub access_type: Option<String>,
    /// External and internal access: `APPLICABLE`, `APPLIED`, `FAILED_TO_EVALUATE_RCP` or
    /// `NOT_APPLICABLE`.
    pub resource_control_policy_restriction: Option<String>,
    /// Internal access: `APPLICABLE`, `APPLIED`, `FAILED_TO_EVALUATE_SCP` or `NOT_APPLICABLE`.
    pub service_control_policy_restriction: Option<String>,
}

impl FindingSeed {
    pub fn new(resource_type: impl Into<String>, resource: impl Into<String>) -> FindingSeed {
        FindingSeed {
            resource_type: resource_type.into(),
            resource: resource.into(),
            principal: BTreeMap::new(),
            action: Vec::new(),
            condition: BTreeMap::new(),
            is_public: false,
            finding_type: None,
            error: None,
            resource_owner_account: None,
            status: FindingStatus::Active,
            principal_type: None,
            principal_owner_account: None,
            access_type: None,
            resource_control_policy_restriction: None,
            service_control_policy_restriction: None,
        }
    }

    pub fn principal(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.principal.insert(key.into(), value.into());
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action.push(action.into());
        self
    }

    pub fn condition(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition.insert(key.into(), value.into());
        self
    }

    pub fn public(mut self, is_public: bool) -> Self {
        self.is_public = is_public;
        self
    }

    pub fn finding_type(mut self, finding_type: impl Into<String>) -> Self {
        self.finding_type = Some(finding_type.into());
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    pub fn resource_owner_account(mut self, account: impl Into<String>) -> Self {
        self.resource_owner_account = Some(account.into());
        self
    }

    pub fn status(mut self, status: FindingStatus) -> Self {
        self.status = status;
        self
    }

    /// An internal-access finding's principal: its ARN (the `AWS` entry of the principal map),
    /// its type (`IAM_ROLE`, `IAM_USER`) and owning account, and how the access is granted
    /// (`INTRA_ACCOUNT`, `INTRA_ORG`).
    pub fn internal_principal(
        self,
        principal_arn: impl Into<String>,
        principal_type: impl Into<String>,
        owner_account: impl Into<String>,
        access_type: impl Into<String>,
    ) -> Self {
        let mut seed = self.principal("AWS", principal_arn);
        seed.principal_type = Some(principal_type.into());
        seed.principal_owner_account = Some(owner_account.into());
        seed.access_type = Some(access_type.into());
        seed
    }

    pub fn resource_control_policy_restriction(mut self, restriction: impl Into<String>) -> Self {
        self.resource_control_policy_restriction = Some(restriction.into());
        self
    }

    pub fn service_control_policy_restriction(mut self, restriction: impl Into<String>) -> Self {
        self.service_control_policy_restriction = Some(restriction.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub id: String,
    pub resource_type: String,
    pub resource: String,
    pub status: FindingStatus,
    pub principal: BTreeMap<String, String>,
    pub action: Vec<String>,
    pub condition: BTreeMap<String, String>,
    pub is_public: bool,
    pub resource_owner_account: String,
    pub finding_type: Option<String>,
    pub error: Option<String>,
    pub principal_type: Option<String>,
    pub principal_owner_account: Option<String>,
    pub access_type: Option<String>,
    pub resource_control_policy_restriction: Option<String>,
    pub service_control_policy_restriction: Option<String>,
    pub created_at: SystemTime,
    pub analyzed_at: SystemTime,
    pub updated_at: SystemTime,
    /// The archive rule that archived it (on arrival or by ApplyArchiveRule); `None` when it is
    /// not archived or was archived by `UpdateFindings`.
    pub archived_by: Option<String>,
}

impl Finding {
    /// The finding an analyzer of `family` makes from `seed`, still without an id; `Err` when
    /// the seed's `findingType` is not one that family makes (a mistake in a test's setup).
    pub(crate) fn from_seed(
        seed: FindingSeed,
        account: &str,
        family: AnalyzerFamily,
    ) -> Result<Finding, String> {
        let finding_type = seed
            .finding_type
            .or_else(|| family.default_finding_type().map(str::to_owned))
            .filter(|finding_type| family.finding_types().contains(&finding_type.as_str()))
            .ok_or_else(|| {
                format!(
                    "a finding of this analyzer needs a findingType of {}",
                    family.finding_types().join(", ")
                )
            })?;
        let now = SystemTime::now();
        Ok(Finding {
            id: String::new(),
            resource_type: seed.resource_type,
            resource: seed.resource,
            status: seed.status,
            principal: seed.principal,
            action: seed.action,
            condition: seed.condition,
            is_public: seed.is_public,
            resource_owner_account: seed
                .resource_owner_account
                .unwrap_or_else(|| account.to_owned()),
            finding_type: Some(finding_type),
            error: seed.error,
            principal_type: seed.principal_type,
            principal_owner_account: seed.principal_owner_account,
            access_type: seed.access_type,
            resource_control_policy_restriction: seed.resource_control_policy_restriction,
            service_control_policy_restriction: seed.service_control_policy_restriction,
            created_at: now,
            analyzed_at: now,
            updated_at: now,
            archived_by: None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveRule {
    pub name: String,
    /// The filter as the API received it (the map shape).
    pub filter: Value,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

pub(crate) struct AnalyzerState {
    name: String,
    arn: String,
    analyzer_type: String,
    family: AnalyzerFamily,
    created_at: SystemTime,
    rules: Vec<RuleState>,
    findings: Vec<Finding>,
    /// `ACTIVE`, `CREATING`, `DISABLED` or `FAILED` (`AnalyzerSummary.status`).
    status: String,
    /// `AnalyzerSummary.statusReason.code`, e.g. `SERVICE_LINKED_ROLE_CREATION_FAILED`.
    status_reason: Option<String>,
    /// The managing service of a service-linked analyzer (`AnalyzerSummary.managedBy`, "only
    /// present for service-linked analyzers").
    managed_by: Option<String>,
}

struct RuleState {
    name: String,
    filter_json: Value,
    filter: Filter,
    created_at: SystemTime,
    updated_at: SystemTime,
    /// The client token of the CreateArchiveRule that made it: a replay with the same token is
    /// answered 200 instead of ConflictException, as the service's idempotency promises.
    creation_token: Option<String>,
}

impl RuleState {
    fn to_public(&self) -> ArchiveRule {
        ArchiveRule {
            name: self.name.clone(),
            filter: self.filter_json.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl AnalyzerState {
    /// Adds a finding, archived on arrival if an archive rule matches it.
    fn add_finding(&mut self, mut finding: Finding) -> Finding {
        if finding.status == FindingStatus::Active {
            if let Some(rule) = self.rules.iter().find(|rule| rule.filter.matches(&finding)) {
                finding.status = FindingStatus::Archived;
                finding.archived_by = Some(rule.name.clone());
            }
        }
        self.findings.push(finding.clone());
        finding
    }

    /// Archives the ACTIVE findings `filter` matches; returns how many.
    fn archive_matching(&mut self, rule_name: &str, filter: &Filter) -> usize {
        let now = SystemTime::now();
        let mut archived = 0;
        for finding in &mut self.findings {
            if finding.status == FindingStatus::Active && filter.matches(finding) {
                finding.status = FindingStatus::Archived;
                finding.archived_by = Some(rule_name.to_owned());
                finding.updated_at = now;
                archived += 1;
            }
        }
        archived
    }
}

/// Faults queued for one operation: `answer_first` calls are handled normally, then `remaining`
/// calls get `fault`.
struct QueuedFault {
    fault: Fault,
    remaining: usize,
    answer_first: usize,
}

pub(crate) struct Inner {
    analyzers: BTreeMap<String, AnalyzerState>,
    /// With a sequence number each, so the answer's status finds its record.
    requests: Vec<(u64, RecordedRequest)>,
    requests_recorded: u64,
    faults: HashMap<String, VecDeque<QueuedFault>>,
    /// `ListArchiveRules` of an analyzer that does not exist answers an empty list, not 404.
    missing_analyzer_lists_no_rules: bool,
    latency: Duration,
    operation_latency: HashMap<String, Duration>,
    apply_delay: Duration,
    findings_created: u64,
    finding_id_namespace: u32,
    requests_received: u64,
}

impl Inner {
    fn analyzer(&self, name: &str) -> Option<&AnalyzerState> {
        self.analyzers.get(name)
    }

    fn analyzer_mut(&mut self, name: &str) -> Option<&mut AnalyzerState> {
        self.analyzers.get_mut(name)
    }

    fn analyzer_by_arn_mut(&mut self, arn: &str) -> Option<&mut AnalyzerState> {
        self.analyzers
            .values_mut()
            .find(|analyzer| analyzer.arn == arn)
    }

    /// Takes one injected fault for `operation`, if any is due.
    fn take_fault(&mut self, operation: &str) -> Option<Fault> {
        let queue = self.faults.get_mut(operation)?;
        let queued = queue.front_mut()?;
        if queued.answer_first > 0 {
            queued.answer_first -= 1;
            return None;
        }
        let fault = queued.fault.clone();
        queued.remaining -= 1;
        if queued.remaining == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    fn latency_for(&self, operation: &str) -> Duration {
        self.operation_latency
            .get(operation)
            .copied()
            .unwrap_or(self.latency)
    }

    fn next_finding_id(&mut self) -> String {
        self.findings_created += 1;
        crate::util::uuid_like(self.finding_id_namespace, self.findings_created)
    }

    fn next_request_id(&mut self) -> String {
        self.requests_received += 1;
        crate::util::uuid_like(0xa11a_0000, self.requests_received)
    }
}

pub(crate) struct State {
    config: EmulatorConfig,
    inner: Mutex<Inner>,
}

impl State {
    /// One account and region's Access Analyzer: its analyzers, rules and findings, with its
    /// own (unused by the organization emulator) record, faults and latency.
    pub(crate) fn new(config: EmulatorConfig) -> Arc<State> {
        State::with_id_namespace(config, 0)
    }

    /// Finding ids take `namespace` as their first group, so that the many states of the
    /// organization emulator do not hand out the same ids.
    pub(crate) fn with_id_namespace(config: EmulatorConfig, namespace: u32) -> Arc<State> {
        Arc::new(State {
            inner: Mutex::new(Inner {
                analyzers: BTreeMap::new(),
                requests: Vec::new(),
                requests_recorded: 0,
                faults: HashMap::new(),
                missing_analyzer_lists_no_rules: false,
                latency: Duration::ZERO,
                operation_latency: HashMap::new(),
                apply_delay: config.apply_delay,
                findings_created: 0,
                finding_id_namespace: namespace,
                requests_received: 0,
            }),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("emulator state lock poisoned")
    }

    pub(crate) fn analyzer_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:access-analyzer:{}:{}:analyzer/{name}",
            self.config.partition, self.config.region, self.config.account
        )
    }

    /// `Err` when `analyzer_type` is no analyzer `Type` of the service model.
    pub(crate) fn try_add_analyzer(
        &self,
        name: &str,
        analyzer_type: &str,
    ) -> Result<String, String> {
        let family = AnalyzerFamily::of(analyzer_type)
            .ok_or_else(|| format!("{analyzer_type} is not an analyzer type"))?;
        let arn = self.analyzer_arn(name);
        let analyzer = AnalyzerState {
            name: name.to_owned(),
            arn: arn.clone(),
            analyzer_type: analyzer_type.to_owned(),
            family,
            created_at: SystemTime::now(),
            rules: Vec::new(),
            findings: Vec::new(),
            status: "ACTIVE".to_owned(),
            status_reason: None,
            managed_by: None,
        };
        self.lock().analyzers.insert(name.to_owned(), analyzer);
        Ok(arn)
    }

    /// Sets the status (and its reason) that `GetAnalyzer` and `ListAnalyzers` report of an
    /// analyzer; the emulator still serves its other calls. `false` when it does not exist.
    pub(crate) fn set_analyzer_status(
        &self,
        name: &str,
        status: &str,
        status_reason: Option<&str>,
    ) -> bool {
        let mut inner = self.lock();
        let Some(analyzer) = inner.analyzer_mut(name) else {
            return false;
        };
        analyzer.status = status.to_owned();
        analyzer.status_reason = status_reason.map(str::to_owned);
        true
    }

    /// Makes an analyzer service-linked (`managed_by` the managing service's principal), or
    /// customer-managed again with `None`. `false` when it does not exist.
    pub(crate) fn set_managed_by(&self, name: &str, managed_by: Option<&str>) -> bool {
        let mut inner = self.lock();
        let Some(analyzer) = inner.analyzer_mut(name) else {
            return false;
        };
        analyzer.managed_by = managed_by.map(str::to_owned);
        true
    }

    /// # Panics
    /// If `analyzer_type` is no analyzer type (a mistake in a test's setup).
    pub(crate) fn add_analyzer(&self, name: &str, analyzer_type: &str) -> String {
        self.try_add_analyzer(name, analyzer_type)
            .unwrap_or_else(|error| panic!("add_analyzer: {error}"))
    }

    /// `Ok(None)` when the analyzer does not exist; `Err` when the seed is not a finding of
    /// the analyzer's type.
    pub(crate) fn try_add_finding(
        &self,
        analyzer_name: &str,
        seed: FindingSeed,
    ) -> Result<Option<Finding>, String> {
        let mut inner = self.lock();
        let Some(family) = inner
            .analyzer(analyzer_name)
            .map(|analyzer| analyzer.family)
        else {
            return Ok(None);
        };
        let mut finding = Finding::from_seed(seed, &self.config.account, family)?;
        finding.id = inner.next_finding_id();
        let analyzer = inner
            .analyzer_mut(analyzer_name)
            .expect("the analyzer was found under the same lock");
        Ok(Some(analyzer.add_finding(finding)))
    }

    /// `None` when the analyzer does not exist.
    ///
    /// # Panics
    /// If the seed is not a finding of the analyzer's type (a mistake in a test's setup).
    pub(crate) fn add_finding(&self, analyzer_name: &str, seed: FindingSeed) -> Option<Finding> {
        self.try_add_finding(analyzer_name, seed)
            .unwrap_or_else(|error| panic!("add_finding on {analyzer_name}: {error}"))
    }

    pub(crate) fn remove_analyzer(&self, name: &str) {
        self.lock().analyzers.remove(name);
    }

    pub(crate) fn findings(&self, analyzer_name: &str) -> Vec<Finding> {
        self.lock()
            .analyzer(analyzer_name)
            .map(|analyzer| analyzer.findings.clone())
            .unwrap_or_default()
    }

    pub(crate) fn set_finding_status(
        &self,
        analyzer_name: &str,
        id: &str,
        status: FindingStatus,
    ) -> bool {
        let mut inner = self.lock();
        let Some(finding) = inner
            .analyzer_mut(analyzer_name)
            .and_then(|analyzer| analyzer.findings.iter_mut().find(|f| f.id == id))
        else {
            return false;
        };
        finding.status = status;
        finding.updated_at = SystemTime::now();
        if status != FindingStatus::Archived {
            finding.archived_by = None;
        }
        true
    }

    pub(crate) fn archive_rules(&self, analyzer_name: &str) -> Vec<ArchiveRule> {
        self.lock()
            .analyzer(analyzer_name)
            .map(|analyzer| analyzer.rules.iter().map(RuleState::to_public).collect())
            .unwrap_or_default()
    }

    /// Creates or replaces a rule as CreateArchiveRule would validate it, without a request
    /// record; `Err` names what is wrong.
    pub(crate) fn try_put_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        filter: Value,
    ) -> Result<(), String> {
        let parsed = Filter::parse(&filter, Use::ArchiveRule)
            .map_err(|error| format!("invalid filter: filter {error}"))?;
        let mut inner = self.lock();
        let analyzer = inner
            .analyzer_mut(analyzer_name)
            .ok_or_else(|| format!("no analyzer named {analyzer_name}"))?;
        parsed
            .check_keys(analyzer.family, &analyzer.analyzer_type)
            .map_err(|error| format!("invalid filter: filter {error}"))?;
        service::upsert_rule(analyzer, rule_name, filter, parsed, None);
        Ok(())
    }

    /// # Panics
    /// If the analyzer does not exist or the filter is invalid (mistakes in a test's setup).
    pub(crate) fn put_archive_rule(&self, analyzer_name: &str, rule_name: &str, filter: Value) {
        self.try_put_archive_rule(analyzer_name, rule_name, filter)
            .unwrap_or_else(|error| panic!("put_archive_rule: {error}"));
    }

    pub(crate) fn answer_empty_rule_lists_for_missing_analyzers(&self) {
        self.lock().missing_analyzer_lists_no_rules = true;
    }

    pub(crate) fn set_apply_delay(&self, delay: Duration) {
        self.lock().apply_delay = delay;
    }

    pub(crate) fn fail_next(&self, operation: &str, count: usize, fault: Fault) {
        self.fail_after(operation, 0, count, fault);
    }

    pub(crate) fn fail_after(&self, operation: &str, answered: usize, count: usize, fault: Fault) {
        if count == 0 {
            return;
        }
        self.lock()
            .faults
            .entry(operation.to_owned())
            .or_default()
            .push_back(QueuedFault {
                fault,
                remaining: count,
                answer_first: answered,
            });
    }
}

/// A running emulator. Clones share it; it stops when the last clone is dropped or on
/// [`Emulator::shutdown`].
#[derive(Clone)]
pub struct Emulator {
    state: Arc<State>,
    server: Arc<ServerGuard>,
    endpoint_url: String,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with the defaults (account `123456789012`, `us-east-1`, `aws`) on an
    /// ephemeral port of the current tokio runtime.
    pub async fn start() -> std::io::Result<Emulator> {
        Emulator::start_with(EmulatorConfig::default()).await
    }

    pub async fn start_with(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let port = config.port;
        let state = State::new(config);
        let router = control::router()
            .fallback(wire::handle)
            .with_state(state.clone());
        let (address, server) = server::serve(router, port).await?;
        Ok(Emulator {
            state,
            server: Arc::new(server),
            endpoint_url: format!("http://{address}"),
        })
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url` or `AWS_ENDPOINT_URL_ACCESSANALYZER`.
    pub fn endpoint_url(&self) -> String {
        self.endpoint_url.clone()
    }

    pub fn account(&self) -> String {
        self.state.config.account.clone()
    }

    pub fn region(&self) -> String {
        self.state.config.region.clone()
    }

    pub fn partition(&self) -> String {
        self.state.config.partition.clone()
    }

    /// The ARN an analyzer of this name has (whether or not it exists).
    pub fn analyzer_arn(&self, name: &str) -> String {
        self.state.analyzer_arn(name)
    }

    /// Adds an analyzer (replacing one of the same name) and returns its ARN.
    /// `analyzer_type` is the service's `Type`, e.g. `ACCOUNT` or `ACCOUNT_UNUSED_ACCESS`.
    ///
    /// # Panics
    /// If `analyzer_type` is no analyzer type of the service (a mistake in the test's setup).
    pub fn add_analyzer(&self, name: &str, analyzer_type: &str) -> String {
        self.state.add_analyzer(name, analyzer_type)
    }

    /// Makes an analyzer read as `status` (`CREATING`, `DISABLED`, `FAILED`, `ACTIVE`) and, with
    /// `managed_by` (e.g. `securityhubv2.amazonaws.com`), as a service-linked analyzer: every call
    /// naming it but `GetAnalyzer` is then refused with `AccessDeniedException`.
    ///
    /// # Panics
    /// If the analyzer does not exist.
    pub fn describe_analyzer(&self, name: &str, status: &str, managed_by: Option<&str>) {
        assert!(
            self.state.set_analyzer_status(name, status, None)
                && self.state.set_managed_by(name, managed_by),
            "describe_analyzer: no analyzer named {name}"
        );
    }

    /// Removes an analyzer with its rules and findings.
    pub fn remove_analyzer(&self, name: &str) {
        self.state.remove_analyzer(name);
    }

    /// Adds a finding as the analyzer would on discovering it: the analyzer's archive rules are
    /// evaluated and a matching one archives it on arrival.
    ///
    /// # Panics
    /// If the analyzer does not exist, or the seed's `findingType` is not one its type makes
    /// (unused-access findings must name theirs): mistakes in the test's setup.
    pub fn add_finding(&self, analyzer_name: &str, seed: FindingSeed) -> Finding {
        self.state
            .add_finding(analyzer_name, seed)
            .unwrap_or_else(|| panic!("add_finding: no analyzer named {analyzer_name}"))
    }

    /// The analyzer's findings in creation order; empty if it does not exist.
    pub fn findings(&self, analyzer_name: &str) -> Vec<Finding> {
        self.state.findings(analyzer_name)
    }

    /// Changes a finding's status behind the API's back, e.g. to RESOLVED as the analyzer does
    /// when the access goes away. Returns false if there is no such finding.
    pub fn set_finding_status(&self, analyzer_name: &str, id: &str, status: FindingStatus) -> bool {
        self.state.set_finding_status(analyzer_name, id, status)
    }

    /// The analyzer's archive rules in creation order; empty if it does not exist.
    pub fn archive_rules(&self, analyzer_name: &str) -> Vec<ArchiveRule> {
        self.state.archive_rules(analyzer_name)
    }

    /// Creates or replaces a rule directly, without a request record and without touching
    /// findings (as CreateArchiveRule does not).
    ///
    /// # Panics
    /// If the analyzer does not exist or CreateArchiveRule would refuse the filter (a key the
    /// analyzer's type does not accept, `status`, `id`): mistakes in the test's setup.
    pub fn put_archive_rule(&self, analyzer_name: &str, rule_name: &str, filter: Value) {
        self.state
            .put_archive_rule(analyzer_name, rule_name, filter);
    }

    /// Every request so far, in arrival order, including failed and faulted ones.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let inner = self.state.lock();
        inner.requests.iter().map(|(_, r)| r.clone()).collect()
    }

    /// The recorded requests of one operation, e.g. `"ApplyArchiveRule"`.
    pub fn requests_for(&self, operation: &str) -> Vec<RecordedRequest> {
        self.state
            .lock()
            .requests
            .iter()
            .map(|(_, request)| request)
            .filter(|request| request.operation == operation)
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.state.lock().requests.clear();
    }

    /// Answers the next `count` calls of `operation` with `fault` instead of handling them.
    /// Faults queue: a second `fail_next` for the same operation takes effect after the first.
    pub fn fail_next(&self, operation: &str, count: usize, fault: Fault) {
        self.state.fail_next(operation, count, fault);
    }

    /// Handles the next `answered` calls of `operation` normally, then answers `count` calls with
    /// `fault`: to fault a later call of an operation an event makes more than once (the read of
    /// `ListFindingsV2` after the apply, not the count before it).
    pub fn fail_after(&self, operation: &str, answered: usize, count: usize, fault: Fault) {
        self.state.fail_after(operation, answered, count, fault);
    }

    /// Answers `ListArchiveRules` of an analyzer that does not exist with an empty list instead of
    /// `ResourceNotFoundException` (the service model lists no such error for the operation, so
    /// either answer is possible).
    pub fn answer_empty_rule_lists_for_missing_analyzers(&self) {
        self.state.answer_empty_rule_lists_for_missing_analyzers();
    }

    /// Delays every answer by `latency` (operations with their own latency excepted).
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    /// Delays every answer to `operation` by `latency`, instead of the global latency.
    pub fn set_operation_latency(&self, operation: &str, latency: Duration) {
        self.state
            .lock()
            .operation_latency
            .insert(operation.to_owned(), latency);
    }

    /// How long after ApplyArchiveRule returns its findings are archived (the service does not
    /// promise the apply is synchronous).
    pub fn set_apply_delay(&self, delay: Duration) {
        self.state.set_apply_delay(delay);
    }

    /// Stops the server now; requests in flight (a hanging one included) are dropped.
    pub fn shutdown(&self) {
        self.server.stop();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(name: &str, trusted: &str) -> FindingSeed {
        FindingSeed::new(
            "AWS::IAM::Role",
            format!("arn:aws:iam::123456789012:role/{name}"),
        )
        .principal("AWS", format!("arn:aws:iam::{trusted}:root"))
        .action("sts:AssumeRole")
    }

    #[tokio::test]
    async fn faults_are_consumed_one_per_call_in_queue_order() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.fail_next("CreateArchiveRule", 2, Fault::Internal);
        emulator.fail_next("CreateArchiveRule", 1, Fault::Hang);
        emulator.fail_next("GetArchiveRule", 0, Fault::Internal);
        let mut inner = emulator.state.lock();
        assert_eq!(inner.take_fault("GetArchiveRule"), None);
        assert_eq!(inner.take_fault("CreateArchiveRule"), Some(Fault::Internal));
        assert_eq!(inner.take_fault("UpdateArchiveRule"), None);
        assert_eq!(inner.take_fault("CreateArchiveRule"), Some(Fault::Internal));
        assert_eq!(inner.take_fault("CreateArchiveRule"), Some(Fault::Hang));
        assert_eq!(inner.take_fault("CreateArchiveRule"), None);
    }

    #[tokio::test]
    async fn a_fault_after_answered_calls_lets_those_calls_through_first() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.fail_after("ListFindingsV2", 1, 2, Fault::Internal);
        let mut inner = emulator.state.lock();
        assert_eq!(inner.take_fault("ListFindingsV2"), None);
        assert_eq!(inner.take_fault("ListFindingsV2"), Some(Fault::Internal));
        assert_eq!(inner.take_fault("ListFindingsV2"), Some(Fault::Internal));
        assert_eq!(inner.take_fault("ListFindingsV2"), None);
    }

    #[tokio::test]
    async fn rules_archive_findings_on_arrival_but_not_existing_ones() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.add_analyzer("account", "ACCOUNT");
        let before = emulator.add_finding("account", role("before", "111111111111"));
        emulator.put_archive_rule(
            "account",
            "partner",
            json!({"principal.AWS": {"contains": ["111111111111"]}}),
        );
        let after = emulator.add_finding("account", role("after", "111111111111"));
        let other = emulator.add_finding("account", role("other", "222222222222"));

        assert_eq!(before.status, FindingStatus::Active);
        assert_eq!(after.status, FindingStatus::Archived);
        assert_eq!(after.archived_by.as_deref(), Some("partner"));
        assert_eq!(other.status, FindingStatus::Active);
        let statuses: Vec<FindingStatus> = emulator
            .findings("account")
            .iter()
            .map(|finding| finding.status)
            .collect();
        assert_eq!(
            statuses,
            [
                FindingStatus::Active,
                FindingStatus::Archived,
                FindingStatus::Active
            ]
        );
    }

    #[tokio::test]
    async fn ids_are_deterministic_and_defaults_follow_the_analyzer() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.add_analyzer("account", "ACCOUNT");
        emulator.add_analyzer("unused", "ACCOUNT_UNUSED_ACCESS");
        emulator.add_analyzer("internal", "ORGANIZATION_INTERNAL_ACCESS");
        let first = emulator.add_finding("account", role("a", "111111111111"));
        let second = emulator.add_finding(
            "unused",
            FindingSeed::new("AWS::IAM::Role", "r").finding_type("UnusedIAMRole"),
        );
        let third = emulator.add_finding("internal", FindingSeed::new("AWS::S3::Bucket", "b"));
        assert_eq!(first.id, "00000000-0000-4000-8000-000000000001");
        assert_eq!(second.id, "00000000-0000-4000-8000-000000000002");
        assert_eq!(third.id, "00000000-0000-4000-8000-000000000003");
        assert_eq!(first.finding_type.as_deref(), Some("ExternalAccess"));
        assert_eq!(second.finding_type.as_deref(), Some("UnusedIAMRole"));
        assert_eq!(third.finding_type.as_deref(), Some("InternalAccess"));
        assert_eq!(first.resource_owner_account, "123456789012");
        assert_eq!(
            emulator.analyzer_arn("account"),
            "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/account"
        );
    }

    #[tokio::test]
    async fn seeding_refuses_what_the_analyzer_type_cannot_have() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.add_analyzer("unused", "ACCOUNT_UNUSED_ACCESS");
        let state = &emulator.state;
        assert_eq!(
            state.try_add_analyzer("x", "UNUSED"),
            Err("UNUSED is not an analyzer type".to_owned())
        );
        let untyped = FindingSeed::new("AWS::IAM::Role", "r");
        assert!(state.try_add_finding("unused", untyped.clone()).is_err());
        assert_eq!(state.try_add_finding("missing", untyped), Ok(None));
        assert_eq!(
            state.try_put_archive_rule("unused", "r", json!({"isPublic": {"eq": ["true"]}})),
            Err(
                "invalid filter: filter key 'isPublic' is not supported for analyzers of type \
                 ACCOUNT_UNUSED_ACCESS"
                    .to_owned()
            )
        );
        assert_eq!(
            state.try_put_archive_rule("unused", "r", json!({"status": {"eq": ["ACTIVE"]}})),
            Err("invalid filter: filter key 'status' is not supported in archive rules".to_owned())
        );
        assert!(emulator.archive_rules("unused").is_empty());
        let typed = emulator.add_finding(
            "unused",
            FindingSeed::new("AWS::IAM::User", "u").finding_type("UnusedIAMUserPassword"),
        );
        assert_eq!(
            typed.id, "00000000-0000-4000-8000-000000000001",
            "the refused seed used up no id"
        );
        state
            .try_put_archive_rule(
                "unused",
                "r",
                json!({"findingType": {"eq": ["UnusedIAMRole"]}}),
            )
            .expect("an unused-access key");
    }

    #[tokio::test]
    async fn removing_an_analyzer_removes_its_rules_and_findings() {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.add_analyzer("account", "ACCOUNT");
        emulator.put_archive_rule("account", "r", json!({"isPublic": {"eq": ["false"]}}));
        emulator.add_finding("account", role("a", "111111111111"));
        emulator.remove_analyzer("account");
        assert!(emulator.findings("account").is_empty());
        assert!(emulator.archive_rules("account").is_empty());
    }
}
