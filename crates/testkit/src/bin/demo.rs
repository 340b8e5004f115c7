//! `make demo`: the problem and the fix, played against local stand-ins, no AWS account needed.
//!
//! Act 1 shows that a plain `CreateArchiveRule` (what the CLI and `AWS::AccessAnalyzer::ArchiveRule`
//! do) leaves existing findings ACTIVE. Act 2 runs the real `bootstrap` binary behind a fake
//! Lambda Runtime API with the Create, Update and Delete events CloudFormation would send. Act 3
//! runs it again as the auto-apply function: a rule Terraform makes with a plain
//! `CreateArchiveRule`, its CloudTrail event, and a change by a caller it does not trust.
//! Every expectation is checked, so the demo doubles as a smoke test: it exits 1 if one fails.
//!
//! ```text
//! demo --bootstrap PATH [--verbose]
//! ```

use std::{error::Error, io::IsTerminal, process::ExitCode, time::Duration};

use aws_sdk_accessanalyzer::{
    config::{Credentials, Region},
    error::DisplayErrorContext,
    types::Criterion,
    Client,
};
use serde_json::{json, Value};
use testkit::{
    access_analyzer::{Emulator, Finding, FindingSeed, FindingStatus},
    events::{Caller, RuleChange},
    receiver::ResponseReceiver,
    runtime_api::{BootstrapProcess, Deadline, FakeRuntime, InvocationOutcome},
};

const USAGE: &str = "usage: demo --bootstrap PATH [--verbose]";
const ACCOUNT: &str = "123456789012";
const ANALYZER: &str = "account-analyzer";
const VENDOR: &str = "arn:aws:iam::444455556666:root";
/// The roles the vendor may assume, `role/vendor-<name>`: what the archive rule is for.
const VENDOR_ROLES: [&str; 4] = ["audit", "billing", "deploy", "support"];
const VENDOR_BUCKET: &str = "arn:aws:s3:::vendor-exchange";
const NATIVE_RULE: &str = "native-vendor-roles";
const RULE: &str = "vendor-roles";
const FUNCTION_NAME: &str = "applied-archive-rule-provider";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/security-baseline/\
                        5b6e1e10-8a1b-11ef-b864-0242ac120002";
const LOGICAL_ID: &str = "IgnoreVendorRoles";
/// The return values `Fn::GetAtt` reads that tell what the apply did.
const DATA_KEYS: [&str; 4] = [
    "MatchedFindings",
    "ArchivedFindings",
    "PendingFindings",
    "Verified",
];
const WAIT: Duration = Duration::from_secs(60);
/// Act 3: the partner whose findings a Terraform-made rule archives, the pipeline that makes it,
/// the pattern auto-apply trusts, and a developer it does not.
const PARTNER: &str = "arn:aws:iam::777788889999:root";
const PARTNER_RULE: &str = "partner-access";
const TERRAFORM_ROLE: &str = "arn:aws:iam::123456789012:role/pipelines/terraform-security-baseline";
const PIPELINE_PATTERN: &str = "arn:aws:iam::123456789012:role/pipelines/*";
const DEVELOPER: &str = "arn:aws:iam::123456789012:user/developer";
const PROVIDER_ROLE: &str =
    "arn:aws:iam::123456789012:role/applied-archive-rule-ProviderRole-1A2B3C";
const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";

#[tokio::main]
async fn main() -> ExitCode {
    let Some((bootstrap, verbose)) = parse_args() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match Demo::start(&bootstrap, verbose).await {
        Ok(mut demo) => {
            let outcome = demo.run().await;
            demo.stop().await;
            outcome
        }
        Err(message) => Err(message),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--bootstrap PATH` (or `--bootstrap=PATH`) and `--verbose`; `None` on anything else.
fn parse_args() -> Option<(String, bool)> {
    let mut args = std::env::args().skip(1);
    let (mut bootstrap, mut verbose) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = Some(args.next()?),
            "--verbose" | "-v" => verbose = true,
            _ => bootstrap = Some(arg.strip_prefix("--bootstrap=")?.to_owned()),
        }
    }
    Some((bootstrap?, verbose))
}

/// A `map_err` that names what failed and keeps the whole error chain (the SDK's `Display`
/// alone says only "service error").
fn failed<E: Error>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |error| format!("{what}: {}", DisplayErrorContext(error))
}

struct Demo {
    bootstrap: String,
    emulator: Emulator,
    receiver: ResponseReceiver,
    runtime: FakeRuntime,
    provider: BootstrapProcess,
    client: Client,
    /// ANSI colors, only on a terminal: a Makefile log or a pipe gets plain text.
    color: bool,
    verbose: bool,
    /// Provider log lines already printed (`--verbose`).
    logs_shown: usize,
    events_sent: u32,
    checks: usize,
    failures: Vec<String>,
}

impl Demo {
    async fn start(bootstrap: &str, verbose: bool) -> Result<Demo, String> {
        let emulator = Emulator::start().await.map_err(failed("emulator"))?;
        seed_account(&emulator);
        let receiver = ResponseReceiver::start().await;
        let receiver = receiver.map_err(failed("receiver"))?;
        let runtime = FakeRuntime::start().await.map_err(failed("runtime API"))?;
        // The receiver is plain http on 127.0.0.1, which the provider refuses by default.
        let allow_local = "APPLIED_ARCHIVE_RULE_ALLOW_LOCAL_RESPONSE_URL";
        let env = [
            ("AWS_ENDPOINT_URL_ACCESSANALYZER", emulator.endpoint_url()),
            (allow_local, "true".to_owned()),
        ];
        let provider = BootstrapProcess::spawn(bootstrap, &runtime, FUNCTION_NAME, env)
            .map_err(failed(&format!("cannot run {bootstrap}")))?;
        // The first poll of /next marks the end of the function's init.
        if !runtime.wait_for_next_poll(1, WAIT).await {
            let output = provider.logs().join("\n");
            return Err(format!("{bootstrap} did not start:\n{output}"));
        }
        // Act 1's client: what the CLI would use, with dummy credentials the emulator accepts.
        let config = aws_sdk_accessanalyzer::Config::builder()
            .endpoint_url(emulator.endpoint_url())
            .region(Region::new(emulator.region()))
            .credentials_provider(Credentials::new("AKIDDEMO", "demo", None, None, "demo"))
            .behavior_version_latest()
            .build();
        let demo = Demo {
            bootstrap: bootstrap.to_owned(),
            client: Client::from_conf(config),
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            emulator,
            receiver,
            runtime,
            provider,
            verbose,
            logs_shown: 0,
            events_sent: 0,
            checks: 0,
            failures: Vec::new(),
        };
        demo.header("Local stand-ins (no AWS account involved)");
        let pid = demo.provider.pid().unwrap_or_default();
        demo.rows(&[
            ("Access Analyzer emulator", &demo.emulator.endpoint_url()),
            ("CloudFormation ResponseURL", &demo.receiver.base_url()),
            ("Lambda Runtime API", &demo.runtime.address()),
            ("provider", &format!("{bootstrap} (pid {pid})")),
        ]);
        Ok(demo)
    }

    async fn run(&mut self) -> Result<(), String> {
        let roles: Vec<String> = VENDOR_ROLES.iter().map(|role| role_arn(role)).collect();
        self.header(&format!("The account: analyzer {ANALYZER} (ACCOUNT)"));
        self.findings_table();

        self.header("Act 1: CreateArchiveRule, as the CLI and AWS::AccessAnalyzer::ArchiveRule do");
        let criterion = Criterion::builder().eq("AWS::IAM::Role").build();
        let create = self.client.create_archive_rule().analyzer_name(ANALYZER);
        let create = create.rule_name(NATIVE_RULE);
        let create = create.filter("resourceType", criterion);
        create.send().await.map_err(failed("CreateArchiveRule"))?;
        println!("  CreateArchiveRule {NATIVE_RULE} (resourceType eq AWS::IAM::Role): created");
        self.findings_table();
        let what = "the 4 role findings are still ACTIVE: a rule only archives later findings";
        self.check(self.archived().is_empty(), what);
        let delete = self.client.delete_archive_rule().analyzer_name(ANALYZER);
        let delete = delete.rule_name(NATIVE_RULE).send().await;
        delete.map_err(failed("DeleteArchiveRule"))?;
        let clean = self.emulator.archive_rules(ANALYZER).is_empty();
        self.check(clean, "DeleteArchiveRule: the account is clean again");

        self.header("Act 2: Custom::AppliedArchiveRule, through the provider Lambda");
        let analyzer_arn = self.emulator.analyzer_arn(ANALYZER);
        let rule_arn = format!("{analyzer_arn}/archive-rule/{RULE}");
        let create_props = self.properties(json!({"resourceType": {"Eq": ["AWS::IAM::Role"]}}));
        let created = self.send("Create", &create_props, None).await?;
        let what = "exactly the 4 role findings are ARCHIVED";
        self.expect_applied(&created, &rule_arn, 4, &roles, what);

        // Filter keys are ANDed, so "the roles or that bucket" is no filter; what they have in
        // common is the vendor they trust. The list shape is the one `Analyzer.ArchiveRules` uses.
        let update_props = self.properties(json!([{"Property": "principal.AWS", "Eq": [VENDOR]}]));
        let previous = (rule_arn.as_str(), &create_props);
        let updated = self.send("Update", &update_props, Some(previous)).await?;
        let vendor_resources = [roles.as_slice(), &[VENDOR_BUCKET.to_owned()]].concat();
        let what = "the vendor's bucket is ARCHIVED as well, the roles stay ARCHIVED";
        self.expect_applied(&updated, &rule_arn, 1, &vendor_resources, what);

        let previous = (rule_arn.as_str(), &update_props);
        let deleted = self.send("Delete", &update_props, Some(previous)).await?;
        self.check(deleted["Status"] == "SUCCESS", "Delete answered SUCCESS");
        let rules = self.emulator.archive_rules(ANALYZER);
        let names: Vec<String> = rules.into_iter().map(|rule| rule.name).collect();
        println!("  archive rules of {ANALYZER}: [{}]", names.join(", "));
        self.check(names.is_empty(), "the archive rule is gone");
        let archived = self.archived();
        let what = "the 5 findings stay ARCHIVED: deleting a rule does not reopen findings";
        self.check(archived == vendor_resources, what);

        self.act_3().await?;

        self.header("Summary");
        if self.failures.is_empty() {
            println!(
                "  A plain CreateArchiveRule left the 4 existing role findings ACTIVE. \
                 Custom::AppliedArchiveRule\n  created the same rule and archived them in the same \
                 stack operation, and told CloudFormation\n  so (MatchedFindings 4, ArchivedFindings \
                 4, Verified true). Its Update widened the filter to the\n  vendor's principal and \
                 archived the vendor's bucket too; its Delete removed the rule and left\n  the \
                 findings archived, as the service does. Auto-apply archived the existing findings of \
                 a rule\n  Terraform made with a plain CreateArchiveRule, from its CloudTrail event, \
                 and refused a change\n  by a caller outside AutoApplyPrincipals."
            );
            let passed = format!("All {} checks passed.", self.checks);
            println!("  {}", self.paint(GREEN, &passed));
        } else {
            let failed = format!("{} of {} checks failed", self.failures.len(), self.checks);
            println!("  {}:", self.paint(RED, &failed));
            for failure in &self.failures {
                println!("    - {failure}");
            }
            return Err(failed);
        }
        Ok(())
    }

    /// Act 3: a rule made the way Terraform and `AWS::AccessAnalyzer::ArchiveRule` make it, then its
    /// CloudTrail event reaching the auto-apply function; then a change by a caller outside
    /// `AutoApplyPrincipals`, refused.
    async fn act_3(&mut self) -> Result<(), String> {
        self.header("Act 3: auto-apply, for a rule Terraform made with a plain CreateArchiveRule");
        let mut auto_apply = AutoApply::start(&self.bootstrap, &self.emulator).await?;
        self.rows(&[
            (
                "auto-apply function",
                &format!(
                    "{} (pid {})",
                    auto_apply.runtime.function_arn(),
                    auto_apply.process.pid().unwrap_or_default()
                ),
            ),
            ("AutoApplyPrincipals", PIPELINE_PATTERN),
        ]);
        let partner_filter = json!({"principal.AWS": {"eq": [PARTNER]}});
        let criterion = Criterion::builder().eq(PARTNER).build();
        let create = self.client.create_archive_rule().analyzer_name(ANALYZER);
        let create = create
            .rule_name(PARTNER_RULE)
            .filter("principal.AWS", criterion);
        create.send().await.map_err(failed("CreateArchiveRule"))?;
        println!("  {TERRAFORM_ROLE} called CreateArchiveRule {PARTNER_RULE} (principal.AWS eq {PARTNER})");
        self.findings_table();
        let partner_resources: Vec<String> = self
            .emulator
            .findings(ANALYZER)
            .into_iter()
            .filter(|f| f.principal.get("AWS").map(String::as_str) == Some(PARTNER))
            .map(|f| f.resource)
            .collect();
        let still_active = partner_resources
            .iter()
            .all(|r| !self.archived().contains(r));
        self.check(
            still_active,
            "the partner's KMS key and queue are still ACTIVE after CreateArchiveRule",
        );

        let event = RuleChange::create(
            ACCOUNT,
            &self.emulator.region(),
            ANALYZER,
            PARTNER_RULE,
            partner_filter,
        )
        .by(Caller::role(TERRAFORM_ROLE))
        .event();
        println!(
            "\n{}",
            self.paint(
                BOLD,
                "-- its CloudTrail event, through EventBridge, to the auto-apply function --"
            )
        );
        let summary = auto_apply.deliver(event).await?;
        println!("  the auto-apply function logged:");
        for line in auto_apply.outcome_lines() {
            println!("    {}", self.paint(DIM, &line));
        }
        let outcome = &summary["outcomes"][0];
        let applied = outcome["outcome"] == "applied"
            && outcome["archived"] == 2
            && outcome["verified"] == true;
        self.check(
            applied,
            "outcome applied: 2 matched, 2 archived, verified, caller the Terraform role",
        );
        self.findings_table();
        let archived = self.archived();
        let both = partner_resources.iter().all(|r| archived.contains(r));
        self.check(both, "the partner's KMS key and queue are ARCHIVED");

        println!(
            "\n{}",
            self.paint(
                BOLD,
                "-- a developer widens the rule by hand; its event is refused --"
            )
        );
        let everything_s3 = Criterion::builder().eq("AWS::S3::Bucket").build();
        let update = self.client.update_archive_rule().analyzer_name(ANALYZER);
        let update = update
            .rule_name(PARTNER_RULE)
            .filter("resourceType", everything_s3);
        update.send().await.map_err(failed("UpdateArchiveRule"))?;
        println!("  {DEVELOPER} called UpdateArchiveRule {PARTNER_RULE} (resourceType eq AWS::S3::Bucket)");
        let event = RuleChange::update(
            ACCOUNT,
            &self.emulator.region(),
            ANALYZER,
            PARTNER_RULE,
            json!({"resourceType": {"eq": ["AWS::S3::Bucket"]}}),
        )
        .by(Caller::user(DEVELOPER))
        .event();
        let summary = auto_apply.deliver(event).await?;
        println!("  the auto-apply function logged:");
        for line in auto_apply.outcome_lines() {
            println!("    {}", self.paint(DIM, &line));
        }
        let refused = summary["outcomes"][0]["outcome"] == "refused";
        self.check(
            refused,
            "outcome refused: the developer matches no AutoApplyPrincipals pattern",
        );
        let public_active = !self
            .archived()
            .iter()
            .any(|r| r == "arn:aws:s3:::public-assets");
        self.check(
            public_active,
            "the public bucket's finding stays ACTIVE (AutoApplyRefused 1 feeds the alarm)",
        );
        let delete = self.client.delete_archive_rule().analyzer_name(ANALYZER);
        delete
            .rule_name(PARTNER_RULE)
            .send()
            .await
            .map_err(failed("DeleteArchiveRule"))?;
        auto_apply.stop().await;
        Ok(())
    }

    fn properties(&self, filter: Value) -> Value {
        let service_token = self.runtime.function_arn();
        json!({"ServiceToken": service_token, "AnalyzerName": ANALYZER, "RuleName": RULE, "Filter": filter})
    }

    /// Sends one event as CloudFormation would, through the fake Runtime API; prints and returns
    /// the body the provider PUT to the ResponseURL. `previous` is the (PhysicalResourceId, old
    /// properties) an Update or Delete carries.
    async fn send(
        &mut self,
        kind: &str,
        props: &Value,
        previous: Option<(&str, &Value)>,
    ) -> Result<Value, String> {
        self.events_sent += 1;
        let request_id = format!("7c1e5a2b-3d4f-4a6b-8c9d-{:012}", self.events_sent);
        let mut event = json!({
            "RequestType": kind,
            "ServiceToken": self.runtime.function_arn(),
            "ResponseURL": self.receiver.response_url(&request_id),
            "StackId": STACK_ID,
            "RequestId": request_id,
            "LogicalResourceId": LOGICAL_ID,
            "ResourceType": "Custom::AppliedArchiveRule",
            "ResourceProperties": props,
        });
        if let Some((physical_id, old_props)) = previous {
            event["PhysicalResourceId"] = json!(physical_id);
            if kind == "Update" {
                event["OldResourceProperties"] = old_props.clone();
            }
        }
        println!(
            "\n{}",
            self.paint(BOLD, &format!("-- {kind} {LOGICAL_ID} --"))
        );
        let props_line = self.paint(DIM, &props.to_string());
        println!("  sent ResourceProperties {props_line}");
        let invocation = self.runtime.queue_event(event, Deadline::In(WAIT));
        let outcome = self.runtime.wait_for_outcome(&invocation, WAIT).await;
        self.show_logs();
        match outcome {
            Some(InvocationOutcome::Response(_)) => {}
            Some(InvocationOutcome::Error { body, .. }) => return Err(format!("{kind}: {body}")),
            None => return Err(format!("{kind}: no invocation outcome within {WAIT:?}")),
        }
        let received = self.receiver.responses_for(&request_id);
        let [response] = received.as_slice() else {
            return Err(format!("{kind}: {} response PUTs, not one", received.len()));
        };
        let body = response.json.clone();
        let body = body.ok_or(format!("{kind}: the response is not JSON"))?;
        println!("  CloudFormation received:");
        let top = ["Status", "PhysicalResourceId", "Reason"].map(|key| (key, &body[key]));
        let data = DATA_KEYS.map(|key| (key, &body["Data"][key]));
        let rows: Vec<(&str, &str)> = (top.into_iter().chain(data))
            .filter_map(|(key, value)| Some((key, value.as_str()?)))
            .collect();
        self.rows(&rows);
        Ok(body)
    }

    /// A Create or Update answered SUCCESS with the rule ARN and `count` findings matched and
    /// archived, as a read after the apply verified; and the emulator agrees: the findings on
    /// exactly `resources` are ARCHIVED.
    fn expect_applied(
        &mut self,
        body: &Value,
        rule_arn: &str,
        count: usize,
        resources: &[String],
        what: &str,
    ) {
        let (data, expected) = (&body["Data"], json!(count.to_string()));
        let ok = body["Status"] == "SUCCESS"
            && body["PhysicalResourceId"] == rule_arn
            && (data["MatchedFindings"] == expected && data["ArchivedFindings"] == expected)
            && (data["PendingFindings"] == "0" && data["Verified"] == "true");
        let reported = format!("SUCCESS, rule ARN, {count} matched, {count} archived, verified");
        self.check(ok, &reported);
        self.findings_table();
        self.check(self.archived() == resources, what);
    }

    fn check(&mut self, ok: bool, what: &str) {
        self.checks += 1;
        let mark = self.paint(if ok { GREEN } else { RED }, if ok { "✓" } else { "✗" });
        println!("  {mark} {what}");
        if !ok {
            self.failures.push(what.to_owned());
        }
    }

    /// The resources of the ARCHIVED findings, in creation order.
    fn archived(&self) -> Vec<String> {
        let findings = self.emulator.findings(ANALYZER).into_iter();
        let archived = findings.filter(|finding| finding.status == FindingStatus::Archived);
        archived.map(|finding| finding.resource).collect()
    }

    fn paint(&self, code: &str, text: &str) -> String {
        match self.color {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_owned(),
        }
    }

    /// Green for what the demo wants to see, yellow for findings still open, red for failures.
    fn paint_status(&self, text: &str) -> String {
        match text {
            "ARCHIVED" | "SUCCESS" => self.paint(GREEN, text),
            "ACTIVE" => self.paint(YELLOW, text),
            "FAILED" => self.paint(RED, text),
            _ => text.to_owned(),
        }
    }

    fn header(&self, title: &str) {
        println!("\n{}", self.paint(BOLD, &format!("== {title} ==")));
    }

    /// Key and value pairs, the values in one column.
    fn rows(&self, rows: &[(&str, &str)]) {
        let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
        for (key, value) in rows {
            println!("    {key:<width$}  {}", self.paint_status(value));
        }
    }

    /// ID, type, resource and status of every finding, the columns as wide as their widest cell.
    fn findings_table(&self) {
        let findings = self.emulator.findings(ANALYZER);
        let widest = |cell: fn(&Finding) -> &str, title: &str| {
            let widths = findings.iter().map(|finding| cell(finding).len());
            widths.fold(title.len(), usize::max)
        };
        let kind = widest(|finding| &finding.resource_type, "TYPE");
        let resource = widest(|finding| &finding.resource, "RESOURCE");
        // Padded before painting: escape codes would count as width.
        let header = format!(
            "  {:<8}  {:<kind$}  {:<resource$}  STATUS",
            "ID", "TYPE", "RESOURCE"
        );
        println!("{}", self.paint(DIM, &header));
        for f in &findings {
            let (id, status) = (short_id(&f.id), self.paint_status(f.status.as_str()));
            let (kind_cell, resource_cell) = (&f.resource_type, &f.resource);
            println!("  {id:<8}  {kind_cell:<kind$}  {resource_cell:<resource$}  {status}");
        }
    }

    /// With `--verbose`, the provider's log lines written since the last call.
    fn show_logs(&mut self) {
        let logs = self.provider.logs();
        if self.verbose {
            for line in logs.iter().skip(self.logs_shown) {
                println!("  {}", self.paint(DIM, &format!("| {}", log_line(line))));
            }
        }
        self.logs_shown = logs.len();
    }

    async fn stop(&mut self) {
        // Killed and waited for here, not left to drop, so no provider outlives the demo.
        if let Err(error) = self.provider.kill().await {
            eprintln!("demo: could not stop the provider: {error}");
        }
        self.runtime.shutdown();
        self.receiver.shutdown();
        self.emulator.shutdown();
    }
}

/// A provider log line made short: Lambda's JSON lines repeat the event's identity in every line
/// (`span`), which the demo shows once already.
fn log_line(line: &str) -> String {
    let Ok(Value::Object(fields)) = serde_json::from_str(line) else {
        return line.to_owned();
    };
    let text = |value: &Value| value.as_str().map_or(value.to_string(), str::to_owned);
    let mut short = format!("{:<5} {}", text(&fields["level"]), text(&fields["message"]));
    let skipped = ["level", "message", "target", "span", "spans", "timestamp"];
    let rest = fields
        .iter()
        .filter(|(key, _)| !skipped.contains(&key.as_str()));
    for (key, value) in rest {
        short.push_str(&format!(" {key}={}", text(value)));
    }
    short
}

/// The emulator's ids differ only in their last digits (real ones are random throughout), so the
/// tail is what tells them apart.
fn short_id(id: &str) -> String {
    let tail = id.len().saturating_sub(8);
    id.get(tail..).unwrap_or(id).to_owned()
}

/// The auto-apply function of Act 3: the same `bootstrap`, deployed with
/// `APPLIED_ARCHIVE_RULE_AUTO_APPLY=true` behind its own Runtime API, as the template's second
/// function is.
struct AutoApply {
    runtime: FakeRuntime,
    process: BootstrapProcess,
    logs_shown: usize,
}

impl AutoApply {
    async fn start(bootstrap: &str, emulator: &Emulator) -> Result<AutoApply, String> {
        let runtime = FakeRuntime::start().await.map_err(failed("runtime API"))?;
        let env = [
            ("AWS_ENDPOINT_URL_ACCESSANALYZER", emulator.endpoint_url()),
            ("APPLIED_ARCHIVE_RULE_AUTO_APPLY", "true".to_owned()),
            (
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS",
                PIPELINE_PATTERN.to_owned(),
            ),
            ("APPLIED_ARCHIVE_RULE_ROLE_ARN", PROVIDER_ROLE.to_owned()),
            (
                "APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS",
                "10".to_owned(),
            ),
        ];
        let name = format!("{FUNCTION_NAME}-auto-apply");
        let process = BootstrapProcess::spawn(bootstrap, &runtime, &name, env)
            .map_err(failed(&format!("cannot run {bootstrap}")))?;
        if !runtime.wait_for_next_poll(1, WAIT).await {
            return Err(format!(
                "the auto-apply function did not start:\n{}",
                process.logs().join("\n")
            ));
        }
        Ok(AutoApply {
            runtime,
            process,
            logs_shown: 0,
        })
    }

    /// Delivers one EventBridge event; an EventBridge invocation has no response URL, its result is
    /// the invocation's own response.
    async fn deliver(&mut self, event: Value) -> Result<Value, String> {
        let invocation = self.runtime.queue_event(event, Deadline::In(WAIT));
        match self.runtime.wait_for_outcome(&invocation, WAIT).await {
            Some(InvocationOutcome::Response(summary)) => Ok(summary),
            Some(InvocationOutcome::Error { body, .. }) => Err(format!("auto-apply: {body}")),
            None => Err(format!("auto-apply: no invocation outcome within {WAIT:?}")),
        }
    }

    /// The "auto-apply outcome" lines logged since the last call, shortened as the demo prints logs.
    fn outcome_lines(&mut self) -> Vec<String> {
        let logs = self.process.logs();
        let fresh = logs.iter().skip(self.logs_shown);
        let lines = fresh
            .filter(|line| line.contains("\"auto-apply outcome\""))
            .map(|line| log_line(line))
            .collect();
        self.logs_shown = logs.len();
        lines
    }

    async fn stop(&mut self) {
        if let Err(error) = self.process.kill().await {
            eprintln!("demo: could not stop the auto-apply function: {error}");
        }
        self.runtime.shutdown();
    }
}

fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/vendor-{role}")
}

/// A typical account: roles a vendor may assume (what the rule is for), a bucket the same vendor
/// writes to (what the Update extends the rule to), and findings nobody means to archive.
fn seed_account(emulator: &Emulator) {
    emulator.add_analyzer(ANALYZER, "ACCOUNT");
    let partner = "arn:aws:iam::777788889999:root";
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let queue = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:partner-inbox");
    let public_bucket = "arn:aws:s3:::public-assets".to_owned();
    let (s3, kms, sqs) = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SQS::Queue");
    let role = |name| ("AWS::IAM::Role", role_arn(name), VENDOR, "sts:AssumeRole");
    let others = [
        (s3, VENDOR_BUCKET.to_owned(), VENDOR, "s3:PutObject"),
        (s3, public_bucket, "*", "s3:GetObject"),
        (kms, key, partner, "kms:Decrypt"),
        (sqs, queue, partner, "sqs:SendMessage"),
    ];
    let seeds = VENDOR_ROLES.map(role).into_iter().chain(others);
    for (resource_type, resource, principal, action) in seeds {
        let seed = FindingSeed::new(resource_type, resource).principal("AWS", principal);
        emulator.add_finding(ANALYZER, seed.action(action).public(principal == "*"));
    }
}
