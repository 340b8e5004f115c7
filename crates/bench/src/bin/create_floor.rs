//! The least a Rust provider can do for a Create, the cold-Create floor: the SDK client and the
//! HTTP client built at init with `aws-config` defaults (as `bootstrap` does), then per event
//! `CreateArchiveRule`, `ApplyArchiveRule` and one PUT of a minimal SUCCESS body with an empty
//! `Content-Type`. No validation, no count, no waiting, no logging, no deadline guard.

use std::collections::HashMap;

use aws_config::BehaviorVersion;
use aws_sdk_accessanalyzer::types::Criterion;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};

type Error = lambda_runtime::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_accessanalyzer::Client::new(&config);
    let http = reqwest::Client::new();
    let (client, http) = (&client, &http);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed for the same reason as in `bootstrap`: the SDK's futures are deeply nested.
        Box::pin(create(client, http, event.payload)).await
    }))
    .await
}

async fn create(
    client: &aws_sdk_accessanalyzer::Client,
    http: &reqwest::Client,
    event: Value,
) -> Result<Value, Error> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let properties = &event["ResourceProperties"];
    let analyzer = text(&properties["AnalyzerName"]);
    let rule = text(&properties["RuleName"]);
    let request_id = text(&event["RequestId"]);
    // StackId: arn:aws:cloudformation:<region>:<account>:stack/...
    let stack_id = text(&event["StackId"]);
    let mut arn_parts = stack_id.split(':').skip(3);
    let (region, account) = (
        arn_parts.next().unwrap_or_default(),
        arn_parts.next().unwrap_or_default(),
    );
    let analyzer_arn = format!("arn:aws:access-analyzer:{region}:{account}:analyzer/{analyzer}");

    client
        .create_archive_rule()
        .analyzer_name(&analyzer)
        .rule_name(&rule)
        .set_filter(Some(filter(&properties["Filter"])))
        .client_token(format!("{request_id}-create"))
        .send()
        .await?;
    client
        .apply_archive_rule()
        .analyzer_arn(&analyzer_arn)
        .rule_name(&rule)
        .client_token(format!("{request_id}-apply"))
        .send()
        .await?;

    let body = json!({
        "Status": "SUCCESS",
        "Reason": "",
        "PhysicalResourceId": format!("{analyzer_arn}/archive-rule/{rule}"),
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": text(&event["LogicalResourceId"]),
        "NoEcho": false,
        "Data": {},
    });
    http.put(text(&event["ResponseURL"]))
        // Empty, not absent: a presigned URL's signature breaks with any other content type.
        .header(reqwest::header::CONTENT_TYPE, "")
        .body(body.to_string())
        .send()
        .await?
        .error_for_status()?;
    Ok(json!({}))
}

/// The map-shaped `Filter` with PascalCase operators, as the bench sends it; nothing else.
fn filter(filter: &Value) -> HashMap<String, Criterion> {
    let strings = |value: &Value| -> Option<Vec<String>> {
        value.as_array().map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    filter
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, criterion)| {
            let criterion = Criterion::builder()
                .set_eq(strings(&criterion["Eq"]))
                .set_neq(strings(&criterion["Neq"]))
                .set_contains(strings(&criterion["Contains"]))
                .set_exists(criterion["Exists"].as_bool())
                .build();
            (key.clone(), criterion)
        })
        .collect()
}
