//! The init floor of any Rust Lambda: `lambda_runtime` answering every event with `{}`, no client
//! built. Same runtime flavour as `bootstrap`, so the difference is what the provider sets up.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<Value, lambda_runtime::Error>(json!({}))
    }))
    .await
}
