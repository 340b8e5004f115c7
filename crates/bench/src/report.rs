//! The Markdown report: the machine, a table per latency, the ratios and the targets.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::run::{Contestant, ContestantResults, Error, EventSample, LatencyResults};
use crate::stats::{millis, Summary};
use crate::Options;

pub const BEGIN: &str = "<!-- bench:results:begin (written by `make bench`) -->";
pub const END: &str = "<!-- bench:results:end -->";

/// Round trips on the critical path of the least any provider can do, per request type.
const FLOOR_CREATE: u32 = 4; // create (the count beside it), apply, one verification read, PUT
const FLOOR_CREATE_NO_WAIT: u32 = 3; // create (the count beside it), apply, PUT
const FLOOR_DELETE: u32 = 2; // delete, PUT
/// An auto-apply event: the reads side by side (GetAnalyzer, GetArchiveRule, and the count with the
/// event's own filter, kept only if the rule still has it), then the apply, then one verification
/// read. The invocation's response goes to the Runtime API in the execution environment: no trip.
const FLOOR_AUTO_APPLY: u32 = 3;

const MIB: f64 = 1024.0;
const ZIP_LIMIT_BYTES: u64 = 3 * 1024 * 1024;

pub struct Machine {
    lines: Vec<(String, String)>,
}

impl Machine {
    pub fn describe(python: Option<&Path>, load_before: &str) -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| format!("{:.1} GiB", kib / MIB / MIB))
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "unknown".to_owned());
        let command = |program: &Path, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .ok()
                .map(|out| {
                    let text = if out.stdout.is_empty() {
                        out.stderr
                    } else {
                        out.stdout
                    };
                    String::from_utf8_lossy(&text).trim().to_owned()
                })
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let mut lines = vec![
            ("CPU".to_owned(), format!("{model}, {cores} cores (nproc)")),
            ("memory".to_owned(), memory),
            (
                "kernel".to_owned(),
                format!(
                    "{} {}",
                    read("/proc/sys/kernel/ostype").trim(),
                    read("/proc/sys/kernel/osrelease").trim()
                ),
            ),
            (
                "rustc".to_owned(),
                command(Path::new("rustc"), &["--version"]),
            ),
        ];
        if let Some(python) = python {
            lines.push(("python".to_owned(), command(python, &["--version"])));
        }
        lines.push((
            "load average (1, 5, 15 min)".to_owned(),
            format!("{load_before} before, {} after", load_average()),
        ));
        lines.push((
            "date".to_owned(),
            command(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ));
        Machine { lines }
    }
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `median (p10–p90)`, or just the median when the spread is nil.
fn cell(summary: Option<Summary>, digits: usize) -> String {
    match summary {
        None => "—".to_owned(),
        Some(s) if s.p10 == s.p90 => format!("{:.digits$}", s.median),
        Some(s) => format!(
            "{:.digits$} ({:.digits$}–{:.digits$})",
            s.median, s.p10, s.p90
        ),
    }
}

fn summary_of(samples: &[EventSample], value: impl Fn(&EventSample) -> f64) -> Option<Summary> {
    Summary::of(&samples.iter().map(value).collect::<Vec<_>>())
}

struct Measures {
    init: Option<Summary>,
    cold_create: Option<Summary>,
    cold_auto_apply: Option<Summary>,
    warm_create: Option<Summary>,
    warm_create_no_wait: Option<Summary>,
    warm_delete: Option<Summary>,
    warm_auto_apply: Option<Summary>,
    /// The most any of its processes held, cold or warm.
    peak_rss_mib: Option<f64>,
    cold_rss_mib: Option<Summary>,
    calls: Option<Summary>,
    round_trips: Option<Summary>,
    round_trips_no_wait: Option<Summary>,
    round_trips_delete: Option<Summary>,
    auto_apply_calls: Option<Summary>,
    auto_apply_round_trips: Option<Summary>,
}

impl Measures {
    fn of(contestant: Contestant, results: &ContestantResults) -> Measures {
        let cold_events: Vec<EventSample> = results
            .cold
            .iter()
            .filter_map(|s| s.event.clone())
            .collect();
        let (cold_creates, cold_auto_applies) = if contestant == Contestant::AutoApply {
            (&[][..], &cold_events[..])
        } else {
            (&cold_events[..], &[][..])
        };
        let init: Vec<f64> = results.cold.iter().map(|s| s.init_millis).collect();
        let cold_rss: Vec<f64> = results
            .cold
            .iter()
            .filter_map(|s| s.peak_rss_kib)
            .map(|kib| kib as f64 / MIB)
            .collect();
        let warm = &results.warm;
        let peak_rss_mib = cold_rss
            .iter()
            .copied()
            .chain(warm.peak_rss_kib.map(|kib| kib as f64 / MIB))
            .reduce(f64::max);
        // Calls and round trips of warm events: cold ones are the same calls, with init ahead.
        let creates = warm_or_cold(&warm.create, cold_creates);
        let auto_applies = warm_or_cold(&warm.auto_apply, cold_auto_applies);
        Measures {
            init: Summary::of(&init),
            cold_create: summary_of(cold_creates, |s| s.millis),
            cold_auto_apply: summary_of(cold_auto_applies, |s| s.millis),
            warm_create: summary_of(&warm.create, |s| s.millis),
            warm_create_no_wait: summary_of(&warm.create_no_wait, |s| s.millis),
            warm_delete: summary_of(&warm.delete, |s| s.millis),
            warm_auto_apply: summary_of(&warm.auto_apply, |s| s.millis),
            peak_rss_mib,
            cold_rss_mib: Summary::of(&cold_rss),
            calls: summary_of(creates, |s| s.calls as f64),
            round_trips: summary_of(creates, |s| s.round_trips as f64),
            round_trips_no_wait: summary_of(&warm.create_no_wait, |s| s.round_trips as f64),
            round_trips_delete: summary_of(&warm.delete, |s| s.round_trips as f64),
            auto_apply_calls: summary_of(auto_applies, |s| s.calls as f64),
            auto_apply_round_trips: summary_of(auto_applies, |s| s.round_trips as f64),
        }
    }
}

/// The event's time, then each call as `sent → answered  operation`.
fn write_timeline(out: &mut String, contestant: Contestant, event: &EventSample) {
    let _ = writeln!(out, "{} — {:.1} ms", contestant.label(), event.millis);
    for (operation, sent, answered) in &event.timeline {
        let _ = writeln!(out, "  {sent:7.1} → {answered:7.1}  {operation}");
    }
}

/// Warm events when there are any, else the cold ones.
fn warm_or_cold<'a>(warm: &'a [EventSample], cold: &'a [EventSample]) -> &'a [EventSample] {
    if warm.is_empty() {
        cold
    } else {
        warm
    }
}

/// The event whose time is the median (the lower middle one of an even count).
fn median_event(samples: &[EventSample]) -> Option<&EventSample> {
    let mut sorted: Vec<&EventSample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.millis.total_cmp(&b.millis));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

fn median(summary: Option<Summary>) -> Option<f64> {
    summary.map(|s| s.median)
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
        _ => None,
    }
}

fn ratio_cell(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |r| format!("{r:.2} ×"))
}

struct Target {
    what: String,
    measured: String,
    met: Option<bool>,
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

pub fn render(
    machine: &Machine,
    results: &[LatencyResults],
    zip_bytes: Option<u64>,
    options: &Options,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Machine\n");
    for (name, value) in &machine.lines {
        let _ = writeln!(out, "- {name}: {value}");
    }
    let _ = writeln!(
        out,
        "- runs: {} cold starts per contestant and latency (after one discarded start), \
         {} warm events through one process (after one discarded event); median (p10–p90)",
        options.cold_runs, options.warm_events
    );

    let mut targets: Vec<Target> = Vec::new();
    // The memory target follows the 0 ms ones.
    let mut memory_at = 0;
    let mut ratio_rows: Vec<(String, Vec<String>)> = Vec::new();
    let latencies: Vec<String> = results
        .iter()
        .map(|r| format!("{} ms", r.latency.as_millis()))
        .collect();

    for result in results {
        let latency_ms = result.latency.as_millis();
        let contestants: Vec<Contestant> = result.by_contestant.keys().copied().collect();
        let measures: Vec<(Contestant, Measures)> = result
            .by_contestant
            .iter()
            .map(|(c, r)| (*c, Measures::of(*c, r)))
            .collect();
        let get = |c: Contestant| measures.iter().find(|(k, _)| *k == c).map(|(_, m)| m);

        let _ = writeln!(
            out,
            "\n### {latency_ms} ms per Access Analyzer call (and per response PUT)\n"
        );
        let _ = write!(out, "| measure |");
        for c in &contestants {
            let _ = write!(out, " {} |", c.label());
        }
        let floor = |round_trips: u32| {
            (latency_ms > 0).then(|| format!("{:.0}", millis(result.latency * round_trips)))
        };
        let _ = writeln!(out, " critical-path floor |");
        let _ = writeln!(out, "|---|{}---|", "---|".repeat(contestants.len()));
        type Row<'r> = (&'r str, Box<dyn Fn(&Measures) -> String>, Option<String>);
        let rows: Vec<Row> = vec![
            (
                "init: spawn → first `/next`, ms",
                Box::new(|m| cell(m.init, 1)),
                None,
            ),
            (
                "cold Create: spawn → response answered, ms",
                Box::new(|m| cell(m.cold_create, 1)),
                None,
            ),
            (
                "cold auto-apply event: spawn → invocation response, ms",
                Box::new(|m| cell(m.cold_auto_apply, 1)),
                None,
            ),
            (
                "warm Create, ms",
                Box::new(|m| cell(m.warm_create, 1)),
                floor(FLOOR_CREATE),
            ),
            (
                "warm Create, `ArchiveTimeoutSeconds: 0`, ms",
                Box::new(|m| cell(m.warm_create_no_wait, 1)),
                floor(FLOOR_CREATE_NO_WAIT),
            ),
            (
                "warm Delete, ms",
                Box::new(|m| cell(m.warm_delete, 1)),
                floor(FLOOR_DELETE),
            ),
            (
                "warm auto-apply event, ms",
                Box::new(|m| cell(m.warm_auto_apply, 1)),
                floor(FLOOR_AUTO_APPLY),
            ),
            (
                "peak RSS (any process), MiB",
                Box::new(|m| m.peak_rss_mib.map_or("—".to_owned(), |v| format!("{v:.1}"))),
                None,
            ),
            (
                "peak RSS after a cold start's event, MiB",
                Box::new(|m| cell(m.cold_rss_mib, 1)),
                None,
            ),
            (
                "Access Analyzer calls per Create",
                Box::new(|m| cell(m.calls, 0)),
                None,
            ),
            (
                "sequential round trips per Create (PUT included)",
                Box::new(|m| cell(m.round_trips, 0)),
                Some(FLOOR_CREATE.to_string()),
            ),
            (
                "… with `ArchiveTimeoutSeconds: 0`",
                Box::new(|m| cell(m.round_trips_no_wait, 0)),
                Some(FLOOR_CREATE_NO_WAIT.to_string()),
            ),
            (
                "… per Delete",
                Box::new(|m| cell(m.round_trips_delete, 0)),
                Some(FLOOR_DELETE.to_string()),
            ),
            (
                "Access Analyzer calls per auto-apply event",
                Box::new(|m| cell(m.auto_apply_calls, 0)),
                None,
            ),
            (
                "sequential round trips per auto-apply event",
                Box::new(|m| cell(m.auto_apply_round_trips, 0)),
                Some(FLOOR_AUTO_APPLY.to_string()),
            ),
        ];
        for (name, value, floor) in &rows {
            let _ = write!(out, "| {name} |");
            for (_, m) in &measures {
                let _ = write!(out, " {} |", value(m));
            }
            let _ = writeln!(out, " {} |", floor.as_deref().unwrap_or("—"));
        }
        let _ = writeln!(
            out,
            "\nWhere a warm Create's time goes (its median event; ms from the event's queueing, \
             each Access Analyzer call from its arrival at the emulator to its answer):\n\n```"
        );
        for (contestant, results) in &result.by_contestant {
            if let Some(event) = median_event(&results.warm.create) {
                write_timeline(&mut out, *contestant, event);
            }
        }
        let _ = writeln!(out, "```");
        let auto_apply_results = result.by_contestant.get(&Contestant::AutoApply);
        if let Some(event) = auto_apply_results.and_then(|r| median_event(&r.warm.auto_apply)) {
            let _ = writeln!(
                out,
                "\nWhere a warm auto-apply event's time goes (its median event; ms from the event's \
                 queueing, the last line its response's arrival at the Runtime API):\n\n```"
            );
            write_timeline(&mut out, Contestant::AutoApply, event);
            let _ = writeln!(out, "  {:17.1}  invocation response\n```", event.millis);
        }
        if latency_ms == 0 {
            let _ = writeln!(
                out,
                "\nAt 0 ms, calls that run side by side on the wire may still finish before the \
                 next starts, so round trips are read at 50 ms."
            );
        }

        // Ratios, ours / each baseline, on medians.
        let Some(ours) = get(Contestant::Bootstrap) else {
            continue;
        };
        let mut add_ratio = |name: String, value: Option<f64>| {
            let index = results
                .iter()
                .position(|r| r.latency == result.latency)
                .unwrap_or(0);
            let row = match ratio_rows.iter_mut().find(|(n, _)| *n == name) {
                Some(row) => row,
                None => {
                    ratio_rows.push((name, vec!["—".to_owned(); results.len()]));
                    ratio_rows.last_mut().expect("just pushed")
                }
            };
            row.1[index] = ratio_cell(value);
        };
        for c in [
            Contestant::Hello,
            Contestant::CreateFloor,
            Contestant::Python,
        ] {
            if let Some(theirs) = get(c) {
                add_ratio(
                    format!("init / {}", c.label()),
                    ratio(median(ours.init), median(theirs.init)),
                );
            }
        }
        for c in [Contestant::CreateFloor, Contestant::Python] {
            if let Some(theirs) = get(c) {
                add_ratio(
                    format!("cold Create / {}", c.label()),
                    ratio(median(ours.cold_create), median(theirs.cold_create)),
                );
                add_ratio(
                    format!("warm Create / {}", c.label()),
                    ratio(median(ours.warm_create), median(theirs.warm_create)),
                );
                add_ratio(
                    format!("peak RSS / {}", c.label()),
                    ratio(ours.peak_rss_mib, theirs.peak_rss_mib),
                );
            }
        }
        let floor_ms =
            |round_trips: u32| (latency_ms > 0).then(|| millis(result.latency * round_trips));
        add_ratio(
            "warm Create / critical-path floor (4 round trips)".to_owned(),
            ratio(median(ours.warm_create), floor_ms(FLOOR_CREATE)),
        );
        add_ratio(
            "warm Create, no waiting / critical-path floor (3 round trips)".to_owned(),
            ratio(
                median(ours.warm_create_no_wait),
                floor_ms(FLOOR_CREATE_NO_WAIT),
            ),
        );
        add_ratio(
            "warm Delete / critical-path floor (2 round trips)".to_owned(),
            ratio(median(ours.warm_delete), floor_ms(FLOOR_DELETE)),
        );
        let auto_apply = get(Contestant::AutoApply);
        let create_floor = get(Contestant::CreateFloor);
        // The least a Rust Lambda does for one apply, cold: the create floor's cold Create.
        let auto_apply_cold_ratio = ratio(
            auto_apply.and_then(|a| median(a.cold_auto_apply)),
            create_floor.and_then(|f| median(f.cold_create)),
        );
        if let Some(auto_apply) = auto_apply {
            add_ratio(
                format!(
                    "cold auto-apply event / {}'s cold Create",
                    Contestant::CreateFloor.label()
                ),
                auto_apply_cold_ratio,
            );
            add_ratio(
                format!(
                    "cold auto-apply event / critical-path floor ({FLOOR_AUTO_APPLY} round trips)"
                ),
                ratio(
                    median(auto_apply.cold_auto_apply),
                    floor_ms(FLOOR_AUTO_APPLY),
                ),
            );
            add_ratio(
                format!(
                    "warm auto-apply event / critical-path floor ({FLOOR_AUTO_APPLY} round trips)"
                ),
                ratio(
                    median(auto_apply.warm_auto_apply),
                    floor_ms(FLOOR_AUTO_APPLY),
                ),
            );
            // What it adds between the calls it makes, one after another.
            let own_chain_ms = median(auto_apply.auto_apply_round_trips)
                .filter(|_| latency_ms > 0)
                .map(|round_trips| round_trips * millis(result.latency));
            add_ratio(
                "warm auto-apply event / its own sequential round trips × latency".to_owned(),
                ratio(median(auto_apply.warm_auto_apply), own_chain_ms),
            );
        }

        if latency_ms == 0 {
            let limit = |value: Option<f64>, at_most: f64| value.map(|v| v <= at_most);
            let floor = get(Contestant::CreateFloor);
            let init_ratio = ratio(median(ours.init), floor.and_then(|f| median(f.init)));
            targets.push(Target {
                what: "init ≤ 1.3 × the Rust create floor's init (0 ms)".to_owned(),
                measured: ratio_cell(init_ratio),
                met: limit(init_ratio, 1.3),
            });
            let cold_ratio = ratio(
                median(ours.cold_create),
                floor.and_then(|f| median(f.cold_create)),
            );
            targets.push(Target {
                what: "cold Create ≤ 1.3 × the Rust create floor (0 ms)".to_owned(),
                measured: ratio_cell(cold_ratio),
                met: limit(cold_ratio, 1.3),
            });
            if auto_apply.is_some() {
                targets.push(Target {
                    what:
                        "cold auto-apply event ≤ 1.3 × the Rust create floor's cold Create (0 ms)"
                            .to_owned(),
                    measured: ratio_cell(auto_apply_cold_ratio),
                    met: limit(auto_apply_cold_ratio, 1.3),
                });
            }
            let speedup = ratio(
                get(Contestant::Python).and_then(|p| median(p.cold_create)),
                median(ours.cold_create),
            );
            targets.push(Target {
                what: "cold Create ≥ 20 × faster than the Python handler (0 ms)".to_owned(),
                measured: speedup.map_or("—".to_owned(), |s| format!("{s:.1} × faster")),
                met: speedup.map(|s| s >= 20.0),
            });
            memory_at = targets.len();
        }
        if latency_ms == 50 {
            let warm_ratio = ratio(median(ours.warm_create), floor_ms(FLOOR_CREATE));
            targets.push(Target {
                what: "warm Create ≤ 1.1 × the critical-path floor, 4 × 50 ms (50 ms)".to_owned(),
                measured: ratio_cell(warm_ratio),
                met: warm_ratio.map(|r| r <= 1.1),
            });
        }
    }

    // Memory: the most any process of ours (either function) held, at any latency.
    let peak = results
        .iter()
        .flat_map(|r| &r.by_contestant)
        .filter(|(c, _)| matches!(c, Contestant::Bootstrap | Contestant::AutoApply))
        .filter_map(|(c, r)| Measures::of(*c, r).peak_rss_mib)
        .reduce(f64::max);
    targets.insert(
        memory_at.min(targets.len()),
        Target {
            what: "peak memory ≤ 16 MiB".to_owned(),
            measured: peak.map_or("—".to_owned(), |p| format!("{p:.1} MiB")),
            met: peak.map(|p| p <= 16.0),
        },
    );
    targets.push(Target {
        what: "arm64 zip ≤ 3 MiB (`make package`)".to_owned(),
        measured: zip_bytes.map_or_else(
            || {
                // Relative to the working directory: the report is committed, machine paths are not.
                let shown = std::env::current_dir()
                    .ok()
                    .and_then(|cwd| options.zip.strip_prefix(cwd).ok().map(|p| p.to_path_buf()))
                    .unwrap_or_else(|| options.zip.clone());
                format!("not built ({} absent)", shown.display())
            },
            |bytes| format!("{:.2} MiB ({bytes} bytes)", bytes as f64 / MIB / MIB),
        ),
        met: zip_bytes.map(|bytes| bytes <= ZIP_LIMIT_BYTES),
    });

    let _ = writeln!(out, "\n### Ratios: ours / baseline (medians)\n");
    let _ = writeln!(out, "| ratio | {} |", latencies.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(latencies.len()));
    for (name, cells) in &ratio_rows {
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }

    let _ = writeln!(out, "\n### Targets\n");
    let _ = writeln!(out, "| target | measured | |");
    let _ = writeln!(out, "|---|---|---|");
    for target in &targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            target.what,
            target.measured,
            verdict(target.met)
        );
    }
    out
}

/// Replaces what lies between the markers (or appends the block when they are missing).
pub fn write_into_doc(path: &Path, text: &str) -> Result<(), Error> {
    let block = format!("{BEGIN}\n{text}\n{END}");
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{block}{}",
                &current[..begin],
                &current[end + END.len()..]
            )
        }
        _ => format!("{current}\n{block}\n"),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{ColdSample, WarmSamples};

    #[test]
    fn replaces_only_the_marked_block() {
        let dir = std::env::temp_dir().join(format!("bench-doc-{}", std::process::id()));
        let path = dir.join("benchmarks.md");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, format!("intro\n{BEGIN}\nold\n{END}\noutro\n")).unwrap();
        write_into_doc(&path, "new").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("intro\n{BEGIN}\nnew\n{END}\noutro\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn sample(millis: f64, calls: usize, round_trips: usize) -> EventSample {
        EventSample {
            millis,
            calls,
            round_trips,
            timeline: Vec::new(),
        }
    }

    /// Three cold starts of `cold_ms` each, and `warm` as its one warm event.
    fn results(cold_ms: f64, warm: Option<EventSample>, auto_apply: bool) -> ContestantResults {
        let event = warm.clone().unwrap_or_else(|| sample(cold_ms, 5, 5));
        let cold = ColdSample {
            init_millis: 8.0,
            event: Some(EventSample {
                millis: cold_ms,
                ..event.clone()
            }),
            peak_rss_kib: Some(9 * 1024),
        };
        let mut warm_samples = WarmSamples::default();
        let events = warm.into_iter().collect();
        if auto_apply {
            warm_samples.auto_apply = events;
        } else {
            warm_samples.create = events;
        }
        ContestantResults {
            cold: vec![cold; 3],
            warm: warm_samples,
        }
    }

    fn row<'t>(text: &'t str, name: &str) -> &'t str {
        text.lines()
            .find(|line| line.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name:?} in\n{text}"))
    }

    #[test]
    fn the_cold_auto_apply_event_is_reported_beside_the_cold_create_with_its_target() {
        let at = |latency_ms: u64, auto_apply: ContestantResults, floor: ContestantResults| {
            LatencyResults {
                latency: std::time::Duration::from_millis(latency_ms),
                by_contestant: [
                    (Contestant::Bootstrap, results(10.0, None, false)),
                    (Contestant::AutoApply, auto_apply),
                    (Contestant::CreateFloor, floor),
                ]
                .into_iter()
                .collect(),
            }
        };
        let runs = [
            at(
                0,
                results(11.0, Some(sample(1.0, 5, 5)), true),
                results(10.0, None, false),
            ),
            at(
                50,
                results(270.0, Some(sample(262.5, 5, 5)), true),
                results(160.0, None, false),
            ),
        ];
        let options = Options::for_tests(vec![0, 50]);

        let text = render(&Machine { lines: Vec::new() }, &runs, None, &options);

        // Columns: ours, auto-apply (ours), the create floor, the critical-path floor.
        let cold = "cold auto-apply event: spawn → invocation response, ms";
        assert!(text.contains(&format!("| {cold} | — | 11.0 | — | — |")));
        assert!(text.contains(&format!("| {cold} | — | 270.0 | — | — |")));
        assert!(text.contains("| warm auto-apply event, ms | — | 262.5 | — | 150 |"));
        assert!(text.contains("| sequential round trips per auto-apply event | — | 5 | — | 3 |"));
        assert_eq!(
            row(
                &text,
                "cold auto-apply event / Rust create floor's cold Create"
            ),
            "| cold auto-apply event / Rust create floor's cold Create | 1.10 × | 1.69 × |"
        );
        assert_eq!(
            row(
                &text,
                "cold auto-apply event / critical-path floor (3 round trips)"
            ),
            "| cold auto-apply event / critical-path floor (3 round trips) | — | 1.80 × |"
        );
        assert_eq!(
            row(
                &text,
                "warm auto-apply event / its own sequential round trips × latency"
            ),
            "| warm auto-apply event / its own sequential round trips × latency | — | 1.05 × |"
        );
        assert_eq!(
            row(
                &text,
                "cold auto-apply event ≤ 1.3 × the Rust create floor's cold Create (0 ms)"
            ),
            "| cold auto-apply event ≤ 1.3 × the Rust create floor's cold Create (0 ms) | 1.10 × \
             | **met** |"
        );
    }

    #[test]
    fn cells_show_the_spread_only_when_there_is_one() {
        let flat = Summary::of(&[4.0, 4.0]);
        assert_eq!(cell(flat, 0), "4");
        let spread = Summary::of(&[1.0, 2.0, 3.0]);
        assert_eq!(cell(spread, 1), "2.0 (1.0–3.0)");
        assert_eq!(cell(None, 1), "—");
    }
}
