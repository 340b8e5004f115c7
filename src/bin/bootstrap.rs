//! The Lambda entry point: logging, clients built once, then the runtime loop. Nothing else: every
//! decision is the library's.

use std::time::Duration;

use applied_archive_rule::access_analyzer::SdkAccessAnalyzer;
use applied_archive_rule::handler::{self, Invocation, Provider, Settings};
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

// One event at a time per process: a single-threaded runtime keeps memory and start-up small.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    // Built once per process, during init (which runs at full CPU), not per event. The endpoint
    // follows the standard settings (AWS_ENDPOINT_URL_ACCESSANALYZER, AWS_ENDPOINT_URL).
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                // A hung call is retried by the SDK instead of eating the whole budget.
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        )
        .load()
        .await;
    let provider = Provider {
        access_analyzer: SdkAccessAnalyzer::new(aws_sdk_accessanalyzer::Client::new(&sdk_config)),
        http: handler::response_client()?,
        settings: Settings::from_env(),
    };
    let provider = &provider;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation {
            deadline_epoch_ms: event.context.deadline,
            invoked_function_arn: event.context.invoked_function_arn.clone(),
        };
        // Boxed: the SDK's deeply nested futures would otherwise overflow the compiler's layout
        // recursion limit inside the runtime's own future.
        Box::pin(handler::handle(provider, event.payload, &invocation))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

/// JSON lines on Lambda (CloudWatch Logs Insights can query the fields), plain text elsewhere.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("APPLIED_ARCHIVE_RULE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() && !text {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .init();
    } else {
        builder.init();
    }
}
