//! Errors a stack operator reads in the `Reason` of a FAILED response. Each message says what
//! failed, on which rule and analyzer, and carries the AWS error code, message and request id;
//! none is built from a guess about what went wrong.

use std::fmt;

use thiserror::Error;

use crate::arn::Location;

/// A property that cannot be used as given. `property` is the path the operator wrote
/// (`Filter.resourceType.Eq`), so the template line is easy to find.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("property {property} {problem}")]
pub struct PropertyError {
    pub property: String,
    pub problem: String,
}

impl PropertyError {
    pub fn new(property: impl Into<String>, problem: impl Into<String>) -> Self {
        PropertyError {
            property: property.into(),
            problem: problem.into(),
        }
    }
}

/// What an Access Analyzer call answered when it did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub operation: &'static str,
    /// The service's error code (`ConflictException`), or `None` when no answer arrived
    /// (timeout, connection refused).
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }

    pub fn is_conflict(&self) -> bool {
        self.code.as_deref() == Some("ConflictException")
    }

    /// Throttling, a server error or no answer at all (a timeout): worth running again later.
    /// Access denied, validation and the like will not change on a retry.
    pub fn is_transient(&self) -> bool {
        match self.code.as_deref() {
            None => true,
            Some(code) => matches!(
                code,
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "InternalServerException"
                    | "InternalFailure"
                    | "ServiceUnavailableException"
                    | "ServiceUnavailable"
                    | "RequestTimeout"
                    | "RequestTimeoutException"
            ),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned ", self.operation)?;
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message)?,
            None => write!(f, "no answer: {}", self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (AWS request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AwsError {}

/// Why an operation on a `Custom::AppliedArchiveRule` failed.
#[derive(Debug, Error)]
pub enum ProviderError {
    #[error("invalid {0}")]
    Property(#[from] PropertyError),

    #[error("StackId {0:?} is not a CloudFormation stack ARN")]
    BadStackId(String),

    #[error("the stack is in {stack}, but this provider runs in {provider}; the provider only acts in its own account and region, so deploy one in the stack's account and region")]
    ForeignStack { stack: Location, provider: Location },

    #[error("analyzer {analyzer} was not found in {location}; create the analyzer first or fix AnalyzerName/AnalyzerArn ({source})")]
    AnalyzerNotFound {
        analyzer: String,
        location: Location,
        source: AwsError,
    },

    #[error("archive rule {rule} already exists on analyzer {analyzer} with a different filter and was left unchanged (existing filter {existing}, declared filter {declared}); set AdoptExisting to true to take it over, or choose another RuleName")]
    ForeignRule {
        rule: String,
        analyzer: String,
        existing: String,
        declared: String,
    },

    #[error("{count} ACTIVE findings match the filter of archive rule {rule} on analyzer {analyzer}, more than MaxFindingsToArchive ({limit}); nothing was changed")]
    TooManyFindings {
        rule: String,
        analyzer: String,
        count: u64,
        limit: u64,
    },

    #[error("{count} ACTIVE findings match the {rules} archive rules of analyzer {analyzer}, more than MaxFindingsToArchive ({limit}); nothing was applied")]
    TooManyFindingsAcrossRules {
        analyzer: String,
        rules: usize,
        count: u64,
        limit: u64,
    },

    #[error("analyzer {analyzer} was not found ({source})")]
    AnalyzerMissing { analyzer: String, source: AwsError },

    #[error("archive rule {rule} does not exist on analyzer {analyzer} ({source})")]
    RuleNotFound {
        rule: String,
        analyzer: String,
        source: AwsError,
    },

    #[error("existing archive rule {rule} on analyzer {analyzer} has a filter this provider cannot use: {problem}")]
    UnusableRule {
        rule: String,
        analyzer: String,
        problem: PropertyError,
    },

    #[error("{action} archive rule {rule} on analyzer {analyzer} failed: {source}")]
    Aws {
        action: &'static str,
        rule: String,
        analyzer: String,
        source: AwsError,
    },

    #[error(
        "archive rule {rule} on analyzer {analyzer} vanished while it was being applied ({source})"
    )]
    RuleVanished {
        rule: String,
        analyzer: String,
        source: AwsError,
    },
}

impl ProviderError {
    /// The AWS error behind this one, if an Access Analyzer call failed.
    pub fn aws_source(&self) -> Option<&AwsError> {
        match self {
            ProviderError::AnalyzerNotFound { source, .. }
            | ProviderError::AnalyzerMissing { source, .. }
            | ProviderError::RuleNotFound { source, .. }
            | ProviderError::Aws { source, .. }
            | ProviderError::RuleVanished { source, .. } => Some(source),
            _ => None,
        }
    }

    /// An Access Analyzer call that failed while `action` on `rule` of `analyzer`.
    pub fn aws(action: &'static str, rule: &str, analyzer: &str, source: AwsError) -> Self {
        ProviderError::Aws {
            action,
            rule: rule.to_owned(),
            analyzer: analyzer.to_owned(),
            source,
        }
    }
}

/// Why an invocation returns an error to Lambda: no response reached CloudFormation. Lambda may then
/// run the event again, which is safe because every mutating call is idempotent per event.
#[derive(Debug, Error)]
pub enum InvocationError {
    #[error("the event has no ResponseURL, so CloudFormation cannot be answered")]
    NoResponseUrl,
    #[error("the ResponseURL was refused and no response was sent: {0}")]
    ResponseUrlRefused(String),
    #[error("no response could be delivered to CloudFormation: {0}")]
    NotDelivered(String),
    /// Auto-apply met a transient failure (throttling, a server error, a timeout) before its
    /// apply stood: Lambda's asynchronous retry runs the event again, idempotently.
    #[error("auto-apply did not finish and should be retried: {0}")]
    RetryLater(String),
}
