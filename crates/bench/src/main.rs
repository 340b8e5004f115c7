//! `make bench`: the release `bootstrap` against its baselines, on the same Access Analyzer
//! emulator, fake Lambda Runtime API and response receiver, at 0 ms and at 50 ms per call.
//!
//! Contestants: `bootstrap` (ours), as the provider and as the auto-apply function given CloudTrail
//! events; `create-floor`, the least a Rust provider can do for a Create; `hello-lambda`, the init
//! floor of any Rust Lambda; a Python `crhelper` + `boto3` handler run by `awslambdaric`. Each is
//! spawned as Lambda spawns it. Every time is taken by this process from timestamps the fakes
//! record (spawn, the first `/next` poll, each Access Analyzer request's arrival and answer, the
//! response PUT's answer, the invocation response's arrival), never from a contestant's own logs.
//!
//! Prints a Markdown report and writes it into `docs/benchmarks.md` between the markers.

mod report;
mod run;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use run::{Bench, Contestant, LatencyResults};

/// What to run and how often; every path can be overridden, for a run outside the workspace.
#[derive(Debug)]
pub struct Options {
    pub bootstrap: PathBuf,
    pub hello: PathBuf,
    pub create_floor: PathBuf,
    /// The interpreter of a venv with `requirements.txt` installed; `None` skips the baseline.
    pub python: Option<PathBuf>,
    pub python_dir: PathBuf,
    pub cold_runs: usize,
    pub warm_events: usize,
    pub latencies_ms: Vec<u64>,
    pub zip: PathBuf,
    pub doc: Option<PathBuf>,
}

const USAGE: &str = "\
usage: bench [--bootstrap PATH] [--hello PATH] [--create-floor PATH] [--python PATH|none]
             [--python-dir DIR] [--cold N] [--warm N] [--latencies MS,MS] [--zip PATH]
             [--doc PATH|none]
Defaults: the binaries beside this one (target/release), the workspace's .venv/bin/python,
30 cold starts and 50 warm events per contestant and latency, latencies 0,50,
target/lambda/bootstrap/bootstrap.zip, docs/benchmarks.md.";

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let workspace = workspace.canonicalize().unwrap_or(workspace);
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| workspace.join("target/release"));
        let venv_python = workspace.join(".venv/bin/python");
        let mut options = Options {
            bootstrap: beside.join("bootstrap"),
            hello: beside.join("hello-lambda"),
            create_floor: beside.join("create-floor"),
            python: venv_python.exists().then_some(venv_python),
            python_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
            cold_runs: 30,
            warm_events: 50,
            latencies_ms: vec![0, 50],
            zip: workspace.join("target/lambda/bootstrap/bootstrap.zip"),
            doc: Some(workspace.join("docs/benchmarks.md")),
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
            let optional_path = |value: String| (value != "none").then(|| PathBuf::from(value));
            let number = |value: String| {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{flag}: not a number: {value}"))
            };
            match flag.as_str() {
                "--bootstrap" => options.bootstrap = value()?.into(),
                "--hello" => options.hello = value()?.into(),
                "--create-floor" => options.create_floor = value()?.into(),
                "--python" => options.python = optional_path(value()?),
                "--python-dir" => options.python_dir = value()?.into(),
                "--cold" => options.cold_runs = number(value()?)?.max(1),
                "--warm" => options.warm_events = number(value()?)?.max(1),
                "--latencies" => {
                    options.latencies_ms = value()?
                        .split(',')
                        .map(|ms| ms.trim().parse::<u64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| "--latencies: a comma-separated list of ms".to_owned())?
                }
                "--zip" => options.zip = value()?.into(),
                "--doc" => options.doc = optional_path(value()?),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
        }
        for binary in [&options.bootstrap, &options.hello, &options.create_floor] {
            if !binary.exists() {
                return Err(format!(
                    "{} does not exist: build it with `cargo build --release --bin bootstrap -p \
                     applied-archive-rule` and `cargo build --release -p bench`",
                    binary.display()
                ));
            }
        }
        Ok(options)
    }

    fn contestants(&self) -> Vec<Contestant> {
        let mut contestants = vec![
            Contestant::Bootstrap,
            Contestant::AutoApply,
            Contestant::CreateFloor,
            Contestant::Hello,
        ];
        if self.python.is_some() {
            contestants.push(Contestant::Python);
        }
        contestants
    }
}

#[cfg(test)]
impl Options {
    /// Paths that need not exist, for tests of what spawns nothing.
    fn for_tests(latencies_ms: Vec<u64>) -> Options {
        Options {
            bootstrap: "bootstrap".into(),
            hello: "hello-lambda".into(),
            create_floor: "create-floor".into(),
            python: None,
            python_dir: "python".into(),
            cold_runs: 3,
            warm_events: 1,
            latencies_ms,
            zip: "bootstrap.zip".into(),
            doc: None,
        }
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // Two workers on a two-core machine: the fakes answer while a contestant runs, as AWS would.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(options: &Options) -> Result<(), run::Error> {
    if options.python.is_none() {
        eprintln!(
            "bench: no Python interpreter (.venv/bin/python); the Python baseline is skipped. \
             `make bench` creates the venv."
        );
    }
    // Other work on the machine moves every number; the report says how busy it was.
    let load_before = report::load_average();
    let mut results: Vec<LatencyResults> = Vec::new();
    for &latency_ms in &options.latencies_ms {
        let latency = Duration::from_millis(latency_ms);
        eprintln!("bench: {latency_ms} ms per call");
        let bench = Bench::start(options, latency).await?;
        results.push(bench.measure(&options.contestants()).await?);
    }
    let machine = report::Machine::describe(options.python.as_deref(), &load_before);
    let zip_bytes = std::fs::metadata(&options.zip).ok().map(|m| m.len());
    let text = report::render(&machine, &results, zip_bytes, options);
    println!("{text}");
    if let Some(doc) = &options.doc {
        report::write_into_doc(doc, &text)?;
        eprintln!("bench: results written to {}", doc.display());
    }
    Ok(())
}
