//! The slice of IAM Access Analyzer the provider calls, as a trait, and its implementation on the
//! AWS SDK: every call logged with its outcome and duration (SPEC §5). It decides nothing about
//! rules or stacks; it only makes the calls it is asked to make.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Instant;

use aws_sdk_accessanalyzer::config::retry::RetryConfig;
use aws_sdk_accessanalyzer::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_accessanalyzer::operation::RequestId;
use aws_sdk_accessanalyzer::types::Criterion as SdkCriterion;
use aws_sdk_accessanalyzer::Client;

use crate::error::AwsError;
use crate::filter::{Criteria, Criterion, Filter};

/// Page size for `ListFindingsV2`; the service's maximum keeps the number of round trips low.
const FINDINGS_PAGE_SIZE: i32 = 100;
/// Attempts of a read-only call. A read that fails after `ApplyArchiveRule` costs the stack its
/// verification, and repeating a read is always safe, so reads are more patient than writes.
pub const READ_ATTEMPTS: u32 = 5;

/// How read-only calls are retried: adaptive (the client also slows down its own send rate after
/// throttling), [`READ_ATTEMPTS`] attempts. Writes keep the client's own retry configuration.
pub fn read_retry() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(READ_ATTEMPTS)
}

/// The Access Analyzer operations the provider calls. Mutating calls take a client token derived
/// from the CloudFormation event, so that a redelivered event repeats, not duplicates, its work.
pub trait AccessAnalyzer: Send + Sync {
    fn create_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        filter: &Filter,
        client_token: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn update_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        filter: &Filter,
        client_token: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Every analyzer of the account and region, of every type, across all pages.
    fn list_analyzers(&self)
        -> impl Future<Output = Result<Vec<AnalyzerListing>, AwsError>> + Send;

    /// The analyzer as `GetAnalyzer` reports it; `ResourceNotFoundException` when it does not exist.
    fn get_analyzer(
        &self,
        analyzer_name: &str,
    ) -> impl Future<Output = Result<AnalyzerListing, AwsError>> + Send;

    /// The filter of an existing rule.
    fn get_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
    ) -> impl Future<Output = Result<Criteria, AwsError>> + Send;

    /// Every rule of an analyzer with its filter, across all pages. The service model lists no
    /// `ResourceNotFoundException` for it: an empty answer may also mean "no such analyzer".
    fn list_archive_rules(
        &self,
        analyzer_name: &str,
    ) -> impl Future<Output = Result<Vec<(String, Criteria)>, AwsError>> + Send;

    fn delete_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        client_token: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `ApplyArchiveRule` takes the analyzer's ARN where the other archive-rule calls take its name.
    fn apply_archive_rule(
        &self,
        analyzer_arn: &str,
        rule_name: &str,
        client_token: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Ids of the ACTIVE findings that match `filter`, across all pages. `ListFindingsV2` serves
    /// every analyzer type, where `ListFindings` serves external-access analyzers only.
    fn list_active_finding_ids(
        &self,
        analyzer_arn: &str,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// An analyzer as `ListAnalyzers` reports it: enough to tell which ones a reconcile may apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerListing {
    pub name: String,
    pub arn: String,
    /// `ACTIVE`, `CREATING`, `DISABLED` or `FAILED`.
    pub status: String,
    /// The managing service's principal; the service model has it "only present for
    /// service-linked analyzers", whose rules are that service's, not ours.
    pub managed_by: Option<String>,
}

impl AnalyzerListing {
    /// An analyzer whose rules may be applied: ACTIVE and not service-linked.
    pub fn is_applicable(&self) -> bool {
        self.status == "ACTIVE" && self.managed_by.is_none()
    }
}

fn listing(summary: &aws_sdk_accessanalyzer::types::AnalyzerSummary) -> AnalyzerListing {
    AnalyzerListing {
        name: summary.name().to_owned(),
        arn: summary.arn().to_owned(),
        status: summary.status().as_str().to_owned(),
        managed_by: summary.managed_by().map(str::to_owned),
    }
}

/// [`AccessAnalyzer`] on the AWS SDK. The clients are built once per process and shared.
#[derive(Clone, Debug)]
pub struct SdkAccessAnalyzer {
    /// Calls that change state, with the retry configuration the client was built with.
    client: Client,
    /// Read-only calls: the same configuration (and HTTP client) with a more patient retry.
    reads: Client,
}

impl SdkAccessAnalyzer {
    /// Writes retry as `client` is configured; reads retry with [`read_retry`].
    pub fn new(client: Client) -> Self {
        Self::with_read_retry(client, read_retry())
    }

    pub fn with_read_retry(client: Client, read_retry: RetryConfig) -> Self {
        let reads = Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(read_retry)
                .build(),
        );
        SdkAccessAnalyzer { client, reads }
    }

    /// The retry configuration of read-only calls.
    pub fn read_retry_config(&self) -> Option<&RetryConfig> {
        self.reads.config().retry_config()
    }
}

fn to_sdk_criterion(c: &Criterion) -> SdkCriterion {
    SdkCriterion::builder()
        .set_eq(c.eq.clone())
        .set_neq(c.neq.clone())
        .set_contains(c.contains.clone())
        .set_exists(c.exists)
        .build()
}

/// The filter as the SDK takes it.
pub fn to_sdk_filter<'a>(
    criteria: impl Iterator<Item = (&'a str, &'a Criterion)>,
) -> HashMap<String, SdkCriterion> {
    criteria
        .map(|(key, c)| (key.to_owned(), to_sdk_criterion(c)))
        .collect()
}

fn from_sdk_filter(filter: &HashMap<String, SdkCriterion>) -> Criteria {
    filter
        .iter()
        .map(|(key, c)| {
            let criterion = Criterion {
                eq: c.eq.clone(),
                neq: c.neq.clone(),
                contains: c.contains.clone(),
                exists: c.exists,
            };
            (key.clone(), criterion)
        })
        .collect::<BTreeMap<_, _>>()
}

fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    SdkError<E, R>: ProvideErrorMetadata + RequestId,
{
    let code = err.code().map(str::to_owned);
    let message = match (&code, err.message()) {
        (Some(_), Some(message)) => message.to_owned(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        request_id: err.request_id().map(str::to_owned),
        code,
        message,
    }
}

/// Awaits one SDK call, logs its outcome and duration (SPEC §5), and turns its error into an
/// [`AwsError`]: the one wrapper every call goes through.
async fn call<T, E, R>(
    operation: &'static str,
    resource: &str,
    call: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    SdkError<E, R>: ProvideErrorMetadata + RequestId,
{
    let started = Instant::now();
    let result = call.await.map_err(|e| aws_error(operation, e));
    let millis = started.elapsed().as_millis() as u64;
    match &result {
        Ok(_) => tracing::info!(
            operation,
            resource,
            duration_ms = millis,
            "Access Analyzer call succeeded"
        ),
        Err(e) => tracing::warn!(
            operation,
            resource,
            duration_ms = millis,
            error_code = e.code.as_deref().unwrap_or("none"),
            request_id = e.request_id.as_deref().unwrap_or("none"),
            error = %e.message,
            "Access Analyzer call failed"
        ),
    }
    result
}

impl AccessAnalyzer for SdkAccessAnalyzer {
    async fn create_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        filter: &Filter,
        client_token: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .create_archive_rule()
            .analyzer_name(analyzer_name)
            .rule_name(rule_name)
            .set_filter(Some(to_sdk_filter(filter.criteria())))
            .client_token(client_token);
        call("CreateArchiveRule", rule_name, request.send()).await?;
        Ok(())
    }

    async fn update_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        filter: &Filter,
        client_token: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_archive_rule()
            .analyzer_name(analyzer_name)
            .rule_name(rule_name)
            .set_filter(Some(to_sdk_filter(filter.criteria())))
            .client_token(client_token);
        call("UpdateArchiveRule", rule_name, request.send()).await?;
        Ok(())
    }

    async fn list_analyzers(&self) -> Result<Vec<AnalyzerListing>, AwsError> {
        let mut pages = self.reads.list_analyzers().into_paginator().send();
        let mut analyzers = Vec::new();
        while let Some(page) = call("ListAnalyzers", "(all)", async {
            pages.next().await.transpose()
        })
        .await?
        {
            analyzers.extend(page.analyzers().iter().map(listing));
        }
        Ok(analyzers)
    }

    async fn get_analyzer(&self, analyzer_name: &str) -> Result<AnalyzerListing, AwsError> {
        let request = self.reads.get_analyzer().analyzer_name(analyzer_name);
        let output = call("GetAnalyzer", analyzer_name, request.send()).await?;
        Ok(output
            .analyzer()
            .map(listing)
            .unwrap_or_else(|| AnalyzerListing {
                name: analyzer_name.to_owned(),
                arn: String::new(),
                status: String::new(),
                managed_by: None,
            }))
    }

    async fn get_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
    ) -> Result<Criteria, AwsError> {
        let request = self
            .reads
            .get_archive_rule()
            .analyzer_name(analyzer_name)
            .rule_name(rule_name);
        let output = call("GetArchiveRule", rule_name, request.send()).await?;
        Ok(output
            .archive_rule()
            .map(|rule| from_sdk_filter(rule.filter()))
            .unwrap_or_default())
    }

    async fn list_archive_rules(
        &self,
        analyzer_name: &str,
    ) -> Result<Vec<(String, Criteria)>, AwsError> {
        let mut pages = self
            .reads
            .list_archive_rules()
            .analyzer_name(analyzer_name)
            .into_paginator()
            .send();
        let mut rules = Vec::new();
        // Each page is a call of its own, logged as one.
        while let Some(page) = call("ListArchiveRules", analyzer_name, async {
            pages.next().await.transpose()
        })
        .await?
        {
            rules.extend(
                page.archive_rules()
                    .iter()
                    .map(|rule| (rule.rule_name().to_owned(), from_sdk_filter(rule.filter()))),
            );
        }
        Ok(rules)
    }

    async fn delete_archive_rule(
        &self,
        analyzer_name: &str,
        rule_name: &str,
        client_token: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .delete_archive_rule()
            .analyzer_name(analyzer_name)
            .rule_name(rule_name)
            .client_token(client_token);
        call("DeleteArchiveRule", rule_name, request.send()).await?;
        Ok(())
    }

    async fn apply_archive_rule(
        &self,
        analyzer_arn: &str,
        rule_name: &str,
        client_token: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .apply_archive_rule()
            .analyzer_arn(analyzer_arn)
            .rule_name(rule_name)
            .client_token(client_token);
        call("ApplyArchiveRule", rule_name, request.send()).await?;
        Ok(())
    }

    async fn list_active_finding_ids(
        &self,
        analyzer_arn: &str,
        filter: &Filter,
    ) -> Result<Vec<String>, AwsError> {
        let query = filter.with_active_status();
        let mut pages = self
            .reads
            .list_findings_v2()
            .analyzer_arn(analyzer_arn)
            .set_filter(Some(to_sdk_filter(
                query.iter().map(|(k, c)| (k.as_str(), c)),
            )))
            .max_results(FINDINGS_PAGE_SIZE)
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = call("ListFindingsV2", analyzer_arn, async {
            pages.next().await.transpose()
        })
        .await?
        {
            ids.extend(page.findings().iter().map(|f| f.id().to_owned()));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_accessanalyzer::config::retry::RetryMode;
    use aws_sdk_accessanalyzer::config::{BehaviorVersion, Region};

    use super::*;

    #[test]
    fn reads_retry_adaptively_and_more_patiently_than_writes() {
        let config = aws_sdk_accessanalyzer::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        let aa = SdkAccessAnalyzer::new(Client::from_conf(config));

        let reads = aa
            .read_retry_config()
            .expect("reads have a retry configuration");
        assert_eq!(reads.mode(), RetryMode::Adaptive);
        assert!(reads.max_attempts() >= 5, "{reads:?}");
        let writes = aa.client.config().retry_config().expect("writes too");
        assert_eq!(writes.mode(), RetryMode::Standard);
        assert_eq!(writes.max_attempts(), 3);
    }
}
