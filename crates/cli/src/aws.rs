//! AWS configuration: the caller's session, roles assumed into member accounts (once per account,
//! reused until near expiry), and clients per (account, region). It applies nothing itself.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use aws_sdk_accessanalyzer::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_http_client::tls;

use applied_archive_rule::arn::Location;

use crate::{AwsArgs, CliError};

/// Credentials are refreshed this long before they expire, so no call starts with credentials that
/// run out mid-flight.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Throttled calls are retried with the SDK's exponential backoff (and `Retry-After`); a sweep runs
/// many calls at once, so it allows more attempts than the default 3.
const MAX_ATTEMPTS: u32 = 8;
/// A call with its retries may take this many times `--call-timeout`: room for the SDK's backoff
/// between throttled attempts (at most 20 s each), and a bound on a call whose attempts all hang.
const OPERATION_TIMEOUT_ATTEMPTS: u32 = 4;
/// Connecting gets at most this long (or `--call-timeout`, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The caller: its configuration, account, partition and region.
#[derive(Clone, Debug)]
pub struct Session {
    pub config: SdkConfig,
    pub account: String,
    pub partition: String,
    pub region: String,
    pub timeouts: Timeouts,
}

/// How long one HTTP request may take (`--call-timeout`), and a whole call with its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Timeouts {
    pub fn from_call_timeout(seconds: u64) -> Timeouts {
        let attempt = Duration::from_secs(seconds);
        Timeouts {
            connect: CONNECT_TIMEOUT.min(attempt),
            attempt,
            operation: attempt * OPERATION_TIMEOUT_ATTEMPTS,
        }
    }

    /// The SDK's form: every client built from the session's configuration inherits it.
    fn sdk(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

pub async fn session(args: &AwsArgs) -> Result<Session, CliError> {
    // One HTTPS client for every SDK client of the run: without it each per-target client builds
    // its own, with its own connection pool (a TLS handshake per target) and its own parse of
    // the system root certificates.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    // Without timeouts a hung connection keeps its call waiting for ever (the SDK sets only a
    // connect timeout by default), and in a sweep it keeps a concurrency permit with it.
    let timeouts = Timeouts::from_call_timeout(args.call_timeout);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts.sdk());
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| CliError::Usage("no region: pass --region or set AWS_REGION".to_owned()))?;
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot tell who the caller is (sts:GetCallerIdentity): {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let account = identity.account().unwrap_or_default().to_owned();
    let partition = identity
        .arn()
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or("aws")
        .to_owned();
    Ok(Session {
        config,
        account,
        partition,
        region,
        timeouts,
    })
}

impl Session {
    /// An account and region of the caller's partition.
    pub fn location(&self, account: &str, region: &str) -> Location {
        Location {
            partition: self.partition.clone(),
            region: region.to_owned(),
            account: account.to_owned(),
        }
    }
}

/// Why an account's credentials could not be had (AssumeRole refused, none configured).
#[derive(Clone, Debug)]
pub struct AssumeError {
    /// The AWS error code, when AWS answered.
    pub code: Option<String>,
    pub message: String,
}

/// A role in a member account, assumed at first use and reused until it nears expiry.
#[derive(Clone, Debug)]
pub struct AssumedRole(Arc<AssumedRoleState>);

#[derive(Debug)]
struct AssumedRoleState {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl AssumedRole {
    pub fn new(session: &Session, account: &str, role_name: &str) -> Self {
        AssumedRole(Arc::new(AssumedRoleState {
            sts: aws_sdk_sts::Client::new(&session.config),
            role_arn: format!("arn:{}:iam::{account}:role/{role_name}", session.partition),
            cached: tokio::sync::Mutex::new(None),
        }))
    }

    pub async fn credentials(&self) -> Result<Credentials, AssumeError> {
        let mut cached = self.0.cached.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let fresh = credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let output = self
            .0
            .sts
            .assume_role()
            .role_arn(&self.0.role_arn)
            .role_session_name("applied-archive-rule-sweep")
            .send()
            .await
            .map_err(|e| AssumeError {
                code: e.code().map(str::to_owned),
                message: format!(
                    "sts:AssumeRole {}: {}",
                    self.0.role_arn,
                    e.message()
                        .map(str::to_owned)
                        .unwrap_or_else(|| DisplayErrorContext(&e).to_string())
                ),
            })?;
        let issued = output.credentials().ok_or_else(|| AssumeError {
            code: None,
            message: format!("sts:AssumeRole {} returned no credentials", self.0.role_arn),
        })?;
        let expiry = SystemTime::try_from(*issued.expiration()).ok();
        let credentials = Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            expiry,
            "applied-archive-rule-sweep",
        );
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(|e| CredentialsError::provider_error(e.message))
        })
    }
}

/// Which credentials act in an account: the caller's own, or a role assumed into it.
#[derive(Clone, Debug)]
pub enum AccountCredentials {
    Caller,
    Role(AssumedRole),
}

impl AccountCredentials {
    pub fn provider(&self, session: &Session) -> Option<SharedCredentialsProvider> {
        match self {
            AccountCredentials::Caller => session.config.credentials_provider(),
            AccountCredentials::Role(role) => Some(SharedCredentialsProvider::new(role.clone())),
        }
    }

    pub async fn resolve(&self, session: &Session) -> Result<Credentials, AssumeError> {
        match self {
            AccountCredentials::Role(role) => role.credentials().await,
            AccountCredentials::Caller => {
                let provider =
                    session
                        .config
                        .credentials_provider()
                        .ok_or_else(|| AssumeError {
                            code: None,
                            message: "no credentials configured".to_owned(),
                        })?;
                provider
                    .provide_credentials()
                    .await
                    .map_err(|e| AssumeError {
                        code: None,
                        message: DisplayErrorContext(&e).to_string(),
                    })
            }
        }
    }
}

/// An Access Analyzer client for one account and region.
pub fn access_analyzer(
    session: &Session,
    credentials: &AccountCredentials,
    region: &str,
) -> aws_sdk_accessanalyzer::Client {
    let mut builder = aws_sdk_accessanalyzer::config::Builder::from(&session.config)
        .region(Region::new(region.to_owned()));
    if let AccountCredentials::Role(_) = credentials {
        builder =
            builder.credentials_provider(credentials.provider(session).expect("role provider"));
    }
    aws_sdk_accessanalyzer::Client::from_conf(builder.build())
}

/// The message of an SDK error, with its code when there is one.
pub fn describe_error<E>(e: &E) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().map(str::to_owned);
    let message = match (&code, e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => DisplayErrorContext(e).to_string(),
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_with_its_retries_gets_four_attempts_worth_and_connecting_at_most_five_seconds() {
        let default = Timeouts::from_call_timeout(30);
        assert_eq!(default.attempt, Duration::from_secs(30));
        assert_eq!(default.operation, Duration::from_secs(120));
        assert_eq!(default.connect, Duration::from_secs(5));
        let short = Timeouts::from_call_timeout(1);
        assert_eq!(short.connect, Duration::from_secs(1));
        assert_eq!(short.operation, Duration::from_secs(4));
        let sdk = short.sdk();
        assert_eq!(sdk.operation_timeout(), Some(Duration::from_secs(4)));
        assert_eq!(
            sdk.operation_attempt_timeout(),
            Some(Duration::from_secs(1))
        );
    }
}
