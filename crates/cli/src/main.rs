//! `applied-archive-rule`: apply IAM Access Analyzer archive rules to the findings that already
//! exist — in one account and region, or across a whole AWS Organization.

mod accounts;
mod aws;
mod commands;
mod output;
mod regions;
mod report;
mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit status for bad usage (what clap uses for argument errors too).
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "applied-archive-rule",
    version,
    about = "Apply IAM Access Analyzer archive rules to the findings that already exist",
    long_about = "Apply IAM Access Analyzer archive rules to the findings that already exist.\n\n\
        An archive rule only archives findings that arrive after it is created; ApplyArchiveRule \
        archives the ACTIVE findings it matches today. This tool previews what a filter would \
        archive, applies existing rules in one account and region, and sweeps a whole AWS \
        Organization concurrently with a per-target report.\n\n\
        Credentials and region follow the standard AWS environment and profiles.",
    after_help = "Exit status: 0 when everything was applied or had nothing to apply, 1 when any \
        target was denied or ended in error, 2 for bad usage."
)]
struct Cli {
    #[command(flatten)]
    aws: AwsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// Named profile from the AWS config files
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Region to work in (and, for sweep, the region of the Organizations and STS calls)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Seconds one attempt of an AWS call may take, connecting included; a call with its retries
    /// may take four times as long, then ends as an error instead of hanging
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=900))]
    pub call_timeout: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the ACTIVE findings a filter would archive, without changing anything
    Preview(PreviewArgs),
    /// Apply existing archive rules in the current account and region, and verify
    Apply(ApplyArgs),
    /// Apply archive rules in every account and region of an Organization, concurrently
    Sweep(SweepArgs),
    /// Run the CloudFormation provider's handler once on an event file, against the configured account
    Invoke(InvokeArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// Analyzer name or ARN
    #[arg(long)]
    pub analyzer: String,
    /// Filter as JSON (map or list shape, as in the templates), or @FILE to read it from a file
    #[arg(long)]
    pub filter: String,
    /// `table` for people, `json` for pipelines
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
#[group(id = "rule_choice", required = true, multiple = false, args = ["rule", "all_rules"])]
pub struct RuleSelection {
    /// Archive rule to apply (repeat for several)
    #[arg(long = "rule", value_name = "NAME")]
    pub rule: Vec<String>,
    /// Apply every archive rule of the analyzer
    #[arg(long)]
    pub all_rules: bool,
}

impl RuleSelection {
    pub fn names(&self) -> Option<&[String]> {
        (!self.all_rules).then_some(self.rule.as_slice())
    }
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Analyzer name or ARN
    #[arg(long)]
    pub analyzer: String,
    #[command(flatten)]
    pub rules: RuleSelection,
    /// Count what would be archived; apply nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for the matched findings to read ARCHIVED (0: do not verify)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=900))]
    pub archive_timeout: u64,
    /// `table` for people, `json` for pipelines
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
#[group(id = "analyzer_choice", required = true, multiple = false, args = ["analyzer", "analyzer_type"])]
pub struct AnalyzerSelection {
    /// Analyzer name, the same in every account and region
    #[arg(long)]
    pub analyzer: Option<String>,
    /// Every ACTIVE analyzer of this type in each region (console-made analyzers have generated
    /// names); service-linked ones, which an AWS service manages, are skipped
    #[arg(long, value_name = "TYPE", value_parser = ["ACCOUNT", "ORGANIZATION", "ACCOUNT_UNUSED_ACCESS", "ORGANIZATION_UNUSED_ACCESS", "ACCOUNT_INTERNAL_ACCESS", "ORGANIZATION_INTERNAL_ACCESS"])]
    pub analyzer_type: Option<String>,
}

#[derive(Args, Debug)]
#[group(id = "account_choice", multiple = false, args = ["accounts", "ou", "all_accounts"])]
pub struct AccountSelection {
    /// Account ids, comma-separated (default: the caller's own account)
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub accounts: Vec<String>,
    /// Every active account under this organizational unit, its child OUs included (repeatable)
    #[arg(long, value_name = "OU-ID")]
    pub ou: Vec<String>,
    /// Every active account of the Organization
    #[arg(long)]
    pub all_accounts: bool,
}

#[derive(Args, Debug)]
#[group(id = "region_choice", multiple = false, args = ["regions", "all_regions"])]
pub struct RegionSelection {
    /// Regions, comma-separated (default: the configured region)
    #[arg(long, value_delimiter = ',', value_name = "R,...")]
    pub regions: Vec<String>,
    /// Every region enabled in each account
    #[arg(long)]
    pub all_regions: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Role to assume in each member account (the caller's own account uses the caller's credentials)
    #[arg(long, value_name = "NAME")]
    pub role_name: String,
    #[command(flatten)]
    pub accounts: AccountSelection,
    #[command(flatten)]
    pub regions: RegionSelection,
    #[command(flatten)]
    pub analyzers: AnalyzerSelection,
    #[command(flatten)]
    pub rules: RuleSelection,
    /// How many (account, region) targets run at once. Each target is its own account and region,
    /// so they do not share an API rate limit; each waits for about four calls in sequence.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub concurrency: u32,
    /// Count what would be archived; apply nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait in each target for the matched findings to read ARCHIVED (0: do not verify)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=900))]
    pub archive_timeout: u64,
    /// `table` for people, `json` for pipelines
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// A CloudFormation custom resource event (JSON), e.g. examples/events/create.json
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // stdout is the report (tables, JSON for pipelines), not CloudWatch Logs: no EMF lines in it.
    applied_archive_rule::metrics::set_enabled(false);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("APPLIED_ARCHIVE_RULE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("applied-archive-rule: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Preview(args) => commands::preview(&cli.aws, args).await,
            Command::Apply(args) => commands::apply(&cli.aws, args).await,
            Command::Sweep(args) => sweep::run(&cli.aws, args).await,
            Command::Invoke(args) => commands::invoke(&cli.aws, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("applied-archive-rule: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A command that could not run at all (as opposed to targets that failed, which are reported).
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sweep_needs_one_analyzer_choice_and_one_rule_choice() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.kind());
        let base = ["applied-archive-rule", "sweep", "--role-name", "r"];
        let ok = [&base[..], &["--analyzer", "a", "--all-rules"]].concat();
        assert!(parse(&ok).is_ok());
        let neither = [&base[..], &["--all-rules"]].concat();
        assert!(parse(&neither).is_err());
        let both = [
            &base[..],
            &[
                "--analyzer",
                "a",
                "--analyzer-type",
                "ACCOUNT",
                "--all-rules",
            ],
        ]
        .concat();
        assert!(parse(&both).is_err());
        let rule_and_all = [
            &base[..],
            &["--analyzer", "a", "--rule", "x", "--all-rules"],
        ]
        .concat();
        assert!(parse(&rule_and_all).is_err());
    }
}
