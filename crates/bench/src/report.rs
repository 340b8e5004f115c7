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
    warm_create: Option<Summary>,
    warm_create_no_wait: Option<Summary>,
    warm_delete: Option<Summary>,
    /// The most any of its processes held, cold or warm.
    peak_rss_mib: Option<f64>,
    cold_rss_mib: Option<Summary>,
    calls: Option<Summary>,
    round_trips: Option<Summary>,
    round_trips_no_wait: Option<Summary>,
    round_trips_delete: Option<Summary>,
}

impl Measures {
    fn of(results: &ContestantResults) -> Measures {
        let cold_creates: Vec<EventSample> = results
            .cold
            .iter()
            .filter_map(|s| s.create.clone())
            .collect();
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
        // Calls and round trips of warm Creates: cold ones are the same calls, with init ahead.
        let creates = if warm.create.is_empty() {
            &cold_creates
        } else {
            &warm.create
        };
        Measures {
            init: Summary::of(&init),
            cold_create: summary_of(&cold_creates, |s| s.millis),
            warm_create: summary_of(&warm.create, |s| s.millis),
            warm_create_no_wait: summary_of(&warm.create_no_wait, |s| s.millis),
            warm_delete: summary_of(&warm.delete, |s| s.millis),
            peak_rss_mib,
            cold_rss_mib: Summary::of(&cold_rss),
            calls: summary_of(creates, |s| s.calls as f64),
            round_trips: summary_of(creates, |s| s.round_trips as f64),
            round_trips_no_wait: summary_of(&warm.create_no_wait, |s| s.round_trips as f64),
            round_trips_delete: summary_of(&warm.delete, |s| s.round_trips as f64),
        }
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
            .map(|(c, r)| (*c, Measures::of(r)))
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
                "peak RSS (any process), MiB",
                Box::new(|m| m.peak_rss_mib.map_or("—".to_owned(), |v| format!("{v:.1}"))),
                None,
            ),
            (
                "peak RSS after a cold Create, MiB",
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
                let _ = writeln!(out, "{} — {:.1} ms", contestant.label(), event.millis);
                for (operation, sent, answered) in &event.timeline {
                    let _ = writeln!(out, "  {sent:7.1} → {answered:7.1}  {operation}");
                }
            }
        }
        let _ = writeln!(out, "```");
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
            let speedup = ratio(
                get(Contestant::Python).and_then(|p| median(p.cold_create)),
                median(ours.cold_create),
            );
            targets.push(Target {
                what: "cold Create ≥ 20 × faster than the Python handler (0 ms)".to_owned(),
                measured: speedup.map_or("—".to_owned(), |s| format!("{s:.1} × faster")),
                met: speedup.map(|s| s >= 20.0),
            });
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

    // Memory: the most any process of ours held, at any latency.
    let peak = results
        .iter()
        .filter_map(|r| r.by_contestant.get(&Contestant::Bootstrap))
        .filter_map(|r| Measures::of(r).peak_rss_mib)
        .reduce(f64::max);
    targets.insert(
        targets.len().min(3),
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

    #[test]
    fn cells_show_the_spread_only_when_there_is_one() {
        let flat = Summary::of(&[4.0, 4.0]);
        assert_eq!(cell(flat, 0), "4");
        let spread = Summary::of(&[1.0, 2.0, 3.0]);
        assert_eq!(cell(spread, 1), "2.0 (1.0–3.0)");
        assert_eq!(cell(None, 1), "—");
    }
}
