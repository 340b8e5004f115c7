"""`make bench-sweep`: `applied-archive-rule sweep` against the seed's sequential boto3 script.

Both run against the same emulated Organization (`emulator --organization N`, every account with 17
enabled regions, each (account, region) seeded with `account-analyzer`, its rule `vendor-roles` and
two ACTIVE role findings the rule has not archived yet), with the same added latency on every Access
Analyzer answer. The emulator is restarted before every run, so every run starts from the same
state. The driver builds nothing: it takes the release CLI and emulator binaries as arguments.

For each run it records the wall time (process spawn to exit), the calls the emulator received
(`GET /_emulator/requests`, with arrival and answer times) and checks the result: every role
finding ARCHIVED afterwards (`GET /_emulator/findings`), the bucket finding still ACTIVE.

    .venv/bin/python crates/bench/sweep/bench_sweep.py \\
        --cli target/release/applied-archive-rule --emulator target/release/emulator

prints a table and rewrites the block between `<!-- bench-sweep:start -->` and
`<!-- bench-sweep:end -->` of docs/benchmarks.md (appending it when absent; nothing else in the file
is touched). `--doc none` leaves the file alone.
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEQUENTIAL = HERE / "sequential_sweep.py"
START = "<!-- bench-sweep:start -->"
END = "<!-- bench-sweep:end -->"
ROLE = "OrganizationAccountAccessRole"
SPEEDUP_TARGET = 20.0
BOUND_FACTOR = 1.3


def parse_args():
    workspace = HERE.parent.parent.parent
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cli", type=Path, help="target/release/applied-archive-rule")
    p.add_argument("--emulator", type=Path, help="target/release/emulator")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter with boto3 that runs the sequential script (default: this one)")
    p.add_argument("--members", default="20,100",
                   help="member accounts per organization, comma-separated (each has 17 regions; "
                        "the management account comes on top)")
    p.add_argument("--latency-ms", type=int, default=50,
                   help="added to every Access Analyzer answer (STS, Organizations, EC2: none)")
    p.add_argument("--concurrency", type=int, default=128, help="the sweep's --concurrency for the headline (the CLI default)")
    p.add_argument("--also-concurrency", default="32,64,256",
                   help="other --concurrency values measured at every size ('' for none)")
    p.add_argument("--repeats", type=int, default=3, help="runs per sweep measurement (median reported)")
    p.add_argument("--sequential-repeats", type=int, default=3,
                   help="runs of the sequential script at the smallest size")
    p.add_argument("--sequential-repeats-large", type=int, default=1,
                   help="runs of the sequential script at the larger sizes (100 × 17 takes ~2 min)")
    p.add_argument("--doc", default=str(workspace / "docs" / "benchmarks.md"),
                   help="the Markdown file whose marked block is rewritten, or 'none'")
    p.add_argument("--save", default=str(workspace / "target" / "bench-sweep" / "results.json"),
                   help="where the measurements are saved as JSON ('' for nowhere)")
    p.add_argument("--from-results", metavar="JSON",
                   help="render a saved run (--save) instead of measuring; --cli and --emulator are unused")
    args = p.parse_args()
    if not args.from_results and not (args.cli and args.emulator):
        p.error("--cli and --emulator are required unless --from-results is given")
    return args


# --- the emulator -------------------------------------------------------------------------------

class Emulator:
    """One `emulator --organization N` process, its JSON line, and its control plane."""

    def __init__(self, binary, members, latency_ms):
        self.process = subprocess.Popen(
            [str(binary), "--organization", str(members), "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={"PATH": os.environ.get("PATH", "")},
        )
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the emulator exited with {self.process.wait()} before printing its endpoints")
        self.info = json.loads(line)
        url = urllib.parse.urlparse(self.info["endpoint"])
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    def get(self, path):
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)

    def env(self):
        """Management credentials and the endpoint; nothing of this machine's AWS setup."""
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": "/nonexistent",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": self.info["accessKeyId"],
            "AWS_SECRET_ACCESS_KEY": self.info["secretAccessKey"],
            "AWS_REGION": "us-east-1",
            # boto3 reads AWS_DEFAULT_REGION, the Rust SDK AWS_REGION.
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.info["endpoint"],
        }

    def cpu_seconds(self):
        """User + system CPU the emulator has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return float("nan")

    def stop(self):
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- one run ------------------------------------------------------------------------------------

def run_once(args, members, contestant, concurrency=None):
    """Starts a fresh emulator, runs one contestant against it, returns its measurements."""
    emulator = Emulator(args.emulator, members, args.latency_ms)
    try:
        if contestant == "sweep":
            command = [
                str(args.cli), "sweep", "--role-name", ROLE, "--all-accounts", "--all-regions",
                "--analyzer", emulator.info["analyzer"], "--rule", emulator.info["rule"],
                "--concurrency", str(concurrency), "--output", "json",
            ]
        else:
            command = [args.python, str(SEQUENTIAL), "--role-name", ROLE,
                       "--analyzer", emulator.info["analyzer"], "--rule", emulator.info["rule"]]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=emulator.env(), capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited with {done.returncode}:\n"
                             f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        output = json.loads(done.stdout)
        requests = emulator.get("/_emulator/requests")["requests"]
        assume_calls = emulator.get("/_emulator/assume-role-calls")
        emulator_cpu = emulator.cpu_seconds()
        check_archived(emulator, requests)
        return dict(measure(wall, requests, assume_calls, output, emulator.info),
                    cpu=cpu, emulator_cpu=emulator_cpu)
    finally:
        emulator.stop()


def check_archived(emulator, requests):
    """Every seeded target ends with its role findings ARCHIVED and the bucket finding ACTIVE."""
    applied = {(r["account"], r["region"]) for r in requests
               if r["operation"] == "ApplyArchiveRule" and r["status"] == 200}
    if len(applied) != emulator.info["targets"]:
        raise SystemExit(f"{len(applied)} targets applied of {emulator.info['targets']}")
    analyzer = emulator.info["analyzer"]
    for account, region in sorted(applied):
        query = urllib.parse.urlencode({"account": account, "region": region, "analyzer": analyzer})
        findings = emulator.get(f"/_emulator/findings?{query}")["findings"]
        for finding in findings:
            expected = "ARCHIVED" if finding["resourceType"] == "AWS::IAM::Role" else "ACTIVE"
            if finding["status"] != expected:
                raise SystemExit(f"{account} {region}: {finding['resourceType']} reads "
                                 f"{finding['status']}, expected {expected}")


def measure(wall, requests, assume_calls, output, info):
    aa = [r for r in requests if r["service"] == "access-analyzer"]
    per_target = defaultdict(list)
    for r in aa:
        per_target[(r["account"], r["region"])].append(r)
    # The longest chain of calls in one target where each starts after the previous one answered:
    # the round trips a target must wait for one after another.
    chains = []
    for calls in per_target.values():
        calls.sort(key=lambda r: r["receivedMicros"])
        chain, last_answer = 0, -1
        for r in calls:
            if r["receivedMicros"] >= last_answer:
                chain += 1
                last_answer = r["answeredMicros"]
            else:
                last_answer = max(last_answer, r["answeredMicros"])
        chains.append(chain)
    # The most Access Analyzer calls in flight at once.
    events = sorted([(r["receivedMicros"], 1) for r in aa] + [(r["answeredMicros"], -1) for r in aa])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    first = min(r["receivedMicros"] for r in requests)
    assume = [r for r in requests if r["operation"] == "AssumeRole"]
    assume_rtt = statistics.median(r["answeredMicros"] - r["receivedMicros"] for r in assume) / 1e6 if assume else 0.0
    return {
        "wall": wall,
        "targets": len(per_target),
        "accounts": info["accounts"],
        "aa_calls": len(aa),
        "aa_by_operation": dict(Counter(r["operation"] for r in aa)),
        "assume_role_calls": sum(assume_calls.values()),
        "other_calls": dict(Counter(f"{r['service']}:{r['operation']}" for r in requests
                                    if r["service"] != "access-analyzer")),
        "chain": max(Counter(chains).items(), key=lambda kv: kv[1])[0],
        "peak_in_flight": peak,
        "setup": (min(r["receivedMicros"] for r in aa) - first) / 1e6,
        "aa_span": (max(r["answeredMicros"] for r in aa) - min(r["receivedMicros"] for r in aa)) / 1e6,
        "record_span": (max(r["answeredMicros"] for r in requests) - first) / 1e6,
        "assume_rtt": assume_rtt,
        "output": output,
    }


def summarize(runs):
    """The run with the median wall time stands for the measurement; the counts must agree."""
    for key in ("aa_calls", "assume_role_calls", "targets"):
        values = {r[key] for r in runs}
        if len(values) != 1:
            raise SystemExit(f"{key} differs between repeats: {sorted(values)}")
    walls = sorted(r["wall"] for r in runs)
    median = statistics.median(walls)
    chosen = min(runs, key=lambda r: abs(r["wall"] - median))
    return dict(chosen, wall=median, walls=walls)


# --- the targets --------------------------------------------------------------------------------

def waves(sweep, concurrency, latency):
    """The same work in whole waves: a target's calls cannot be split, so ⌈targets ÷ concurrency⌉
    waves of chain × latency each is the least a bounded sweep can take."""
    return math.ceil(sweep["targets"] / concurrency) * sweep["chain"] * latency


def bound(sweep, concurrency, latency):
    """(targets × sequential AA calls per target ÷ concurrency) × latency + the role assumptions
    (ceil(AssumeRole calls ÷ concurrency) × their measured round trip)."""
    work = sweep["targets"] * sweep["chain"] / concurrency * latency
    roles = math.ceil(sweep["assume_role_calls"] / concurrency) * sweep["assume_rtt"]
    return work + roles


# --- the report ---------------------------------------------------------------------------------

def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "memory": memory,
            "kernel": f"{platform.system()} {platform.release()}"}


def versions(args):
    cli = subprocess.run([str(args.cli), "--version"], capture_output=True, text=True).stdout.strip()
    boto = subprocess.run([args.python, "-c", "import boto3, sys; print(boto3.__version__, sys.version.split()[0])"],
                          capture_output=True, text=True).stdout.split()
    return {"cli": cli, "boto3": boto[0] if boto else "?", "python": boto[1] if len(boto) > 1 else "?"}


def fmt_s(seconds):
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def render(args, results, headline, machine_info, version_info, load_before, load_after, elapsed, date):
    latency = args.latency_ms / 1000
    smallest = min(results)
    lines = [
        START,
        "## Organization sweep (`make bench-sweep`)",
        "",
        "`applied-archive-rule sweep` against a transcription of the seed's sequential approach "
        "([`crates/bench/sweep/sequential_sweep.py`](../crates/bench/sweep/sequential_sweep.py): boto3, "
        "list the accounts, assume the role in each, list its regions, a new client and one "
        "`ApplyArchiveRule` per region, one after another), on the same emulated Organization with "
        f"{args.latency_ms} ms added to every Access Analyzer answer (STS, Organizations and EC2 answer "
        "without added latency). Every account has 17 enabled regions; every (account, region) holds "
        "`account-analyzer`, its rule `vendor-roles` and two ACTIVE role findings the rule has not "
        "archived yet (plus one bucket finding it does not match). The emulator is restarted before "
        "every run; after every run the driver checks that every role finding reads ARCHIVED and every "
        "bucket finding ACTIVE.",
        "",
        "### Reproduce",
        "",
        "```sh",
        "make bench-sweep",
        "# which is:",
        "cargo build --release -p applied-archive-rule-cli -p testkit --bin applied-archive-rule --bin emulator",
        "python3 -m venv .venv && .venv/bin/pip install -r crates/bench/sweep/requirements.txt",
        ".venv/bin/python crates/bench/sweep/bench_sweep.py \\",
        "    --cli target/release/applied-archive-rule --emulator target/release/emulator",
        "```",
        "",
        "The sweep runs as `applied-archive-rule sweep --role-name OrganizationAccountAccessRole "
        "--all-accounts --all-regions --analyzer account-analyzer --rule vendor-roles --concurrency C "
        "--output json`; the script as `python sequential_sweep.py`. Both get only the management "
        "credentials, `AWS_REGION`/`AWS_DEFAULT_REGION=us-east-1` and `AWS_ENDPOINT_URL`, with "
        "`HOME=/nonexistent`, `AWS_CONFIG_FILE=/dev/null`, `AWS_SHARED_CREDENTIALS_FILE=/dev/null`, "
        "`AWS_EC2_METADATA_DISABLED=true`. `bench_sweep.py --help` lists the knobs (sizes, latency, "
        "concurrency values, repeats, `--doc none`). Not part of `make test`.",
        "",
        "### Machine",
        "",
        f"- CPU: {machine_info['cpu']}, {machine_info['nproc']} cores (nproc)",
        f"- memory: {machine_info['memory']}",
        f"- kernel: {machine_info['kernel']}",
        f"- python {version_info['python']}, boto3 {version_info['boto3']}; {version_info['cli']}",
        f"- load average (1, 5, 15 min): {load_before} before, {load_after} after",
        f"- date: {date} UTC; the whole run took "
        f"{elapsed / 60:.1f} min",
        f"- runs: each sweep measurement {args.repeats} times, the sequential script "
        f"{args.sequential_repeats} times at {smallest} members and {args.sequential_repeats_large} "
        "time(s) above; median wall time (all runs in brackets)",
        "",
        "### Results",
        "",
        "Wall time is process spawn → exit. *AA calls* are the Access Analyzer requests the emulator "
        "received, *chain* the longest run of them in one target where each waits for the previous "
        "answer, *peak* the most Access Analyzer calls in flight at once. The bound is "
        f"(targets × chain ÷ concurrency) × {args.latency_ms} ms + ⌈AssumeRole calls ÷ concurrency⌉ × "
        f"the measured AssumeRole round trip; *whole waves* is the same work in ⌈targets ÷ concurrency⌉ "
        f"waves of chain × {args.latency_ms} ms (a target's calls cannot be split, so no bounded sweep "
        f"can beat it); the targets: wall time ≤ {BOUND_FACTOR} × bound, and with {smallest} member "
        f"accounts (+ management) × 17 regions a speed-up ≥ {SPEEDUP_TARGET:.0f} × over the script.",
        "",
        "| organization | contestant | wall time | AA calls (per target) | chain | peak | AssumeRole | "
        "speed-up | bound | whole waves | wall ÷ bound | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for members in sorted(results):
        result = results[members]
        seq = result["sequential"]
        label = f"{members} members + management = {members + 1} accounts × 17 = {seq['targets']} targets"
        lines.append(
            f"| {label} | sequential boto3 script | {fmt_s(seq['wall'])} "
            f"[{', '.join(fmt_s(w) for w in seq['walls'])}] | {seq['aa_calls']} "
            f"({seq['aa_calls'] / seq['targets']:g}) | {seq['chain']} | {seq['peak_in_flight']} | "
            f"{seq['assume_role_calls']} | 1 × | — | — | — | — |")
        for concurrency in sorted(result["sweep"]):
            sw = result["sweep"][concurrency]
            ratio = seq["wall"] / sw["wall"]
            b = bound(sw, concurrency, latency)
            within = sw["wall"] / b
            verdicts = [f"{'**met**' if within <= BOUND_FACTOR else '**missed**'} (≤ {BOUND_FACTOR} ×)"]
            if members == smallest:
                verdicts.append(f"{'**met**' if ratio >= SPEEDUP_TARGET else '**missed**'} "
                                f"(≥ {SPEEDUP_TARGET:.0f} ×)")
            name = f"sweep `--concurrency {concurrency}`" + (" (headline)" if concurrency == headline else "")
            lines.append(
                f"| {label} | {name} | {fmt_s(sw['wall'])} "
                f"[{', '.join(fmt_s(w) for w in sw['walls'])}] | {sw['aa_calls']} "
                f"({sw['aa_calls'] / sw['targets']:g}) | {sw['chain']} | {sw['peak_in_flight']} | "
                f"{sw['assume_role_calls']} | {ratio:.1f} × | {fmt_s(b)} | "
                f"{fmt_s(waves(sw, concurrency, latency))} | {within:.2f} × | "
                f"{'; '.join(verdicts)} |")
    lines += [
        "",
        "Per target the script makes one Access Analyzer call (`ApplyArchiveRule`); the sweep makes four, "
        "one after another: `GetArchiveRule` (the rule's filter), `ListFindingsV2` (count the ACTIVE "
        "findings it matches), `ApplyArchiveRule`, `ListFindingsV2` (verify they read ARCHIVED). The "
        "script assumes the role in every account, the management account included; the sweep uses the "
        "caller's own credentials there, hence one AssumeRole fewer. Calls besides Access Analyzer "
        "(headline, largest organization): "
        + ", ".join(f"sweep {k} {v}" for k, v in sorted(results[max(results)]["sweep"][headline]["other_calls"].items()))
        + "; " + ", ".join(f"script {k} {v}" for k, v in sorted(results[max(results)]["sequential"]["other_calls"].items()))
        + ".",
        "",
        "Where the sweep's time goes (headline runs): before the first Access Analyzer call "
        "(GetCallerIdentity, ListAccounts pages, AssumeRole and DescribeRegions of the first accounts) / "
        "first to last Access Analyzer call:",
        "",
    ]
    for members in sorted(results):
        sw = results[members]["sweep"][headline]
        ideal = sw["targets"] * sw["chain"] / headline * latency
        lines.append(f"- {members + 1} accounts: {fmt_s(sw['setup'])} / {fmt_s(sw['aa_span'])} "
                     f"(the calls alone at full concurrency: {fmt_s(ideal)}); process wall "
                     f"{fmt_s(sw['wall'])}, peak {sw['peak_in_flight']} calls in flight of {headline}")
    lines += [
        "",
        "CPU (user + system) of the sweep process and of the emulator, per run, against the wall time "
        "(the machine has " + str(machine_info["nproc"]) + " cores for both):",
        "",
    ]
    for members in sorted(results):
        for concurrency in sorted(results[members]["sweep"]):
            sw = results[members]["sweep"][concurrency]
            lines.append(f"- {members + 1} accounts, `--concurrency {concurrency}`: sweep {fmt_s(sw['cpu'])} "
                         f"({sw['cpu'] / sw['targets'] * 1000:.2f} ms per target), emulator "
                         f"{fmt_s(sw['emulator_cpu'])}, wall {fmt_s(sw['wall'])}")
        seq = results[members]["sequential"]
        lines.append(f"- {members + 1} accounts, sequential script: {fmt_s(seq['cpu'])} "
                     f"({seq['cpu'] / seq['targets'] * 1000:.2f} ms per target), emulator "
                     f"{fmt_s(seq['emulator_cpu'])}, wall {fmt_s(seq['wall'])}")
    lines += ["", "### Reading the results", ""]
    for members in sorted(results):
        met_bound = [c for c in sorted(results[members]["sweep"])
                     if results[members]["sweep"][c]["wall"] <= BOUND_FACTOR * bound(results[members]["sweep"][c], c, latency)]
        met_ratio = [c for c in sorted(results[members]["sweep"])
                     if results[members]["sequential"]["wall"] / results[members]["sweep"][c]["wall"] >= SPEEDUP_TARGET]
        both = [c for c in met_bound if c in met_ratio]
        lines.append(f"- {members} members: wall ≤ {BOUND_FACTOR} × bound at `--concurrency` "
                     f"{', '.join(map(str, met_bound)) or 'none'}; ≥ {SPEEDUP_TARGET:.0f} × the script at "
                     f"{', '.join(map(str, met_ratio)) or 'none'}"
                     + (f"; both at {', '.join(map(str, both)) or 'none'}." if members == smallest else "."))
    seq_small = results[smallest]["sequential"]
    per_target = seq_small["wall"] / seq_small["targets"]
    needed = SPEEDUP_TARGET * 4 * latency / per_target
    lines += [
        "",
        "The script waits for one Access Analyzer round trip per target; the sweep for four (it reads the "
        "rule, counts what it matches, applies, verifies), so its own floor at a given concurrency C is "
        "targets × 4 ÷ C × latency, and its speed-up over the script is at most C ÷ 4 × (the script's time "
        f"per target ÷ the latency) = C ÷ 4 × {per_target * 1000:.0f} ms ÷ {args.latency_ms} ms. "
        f"The {SPEEDUP_TARGET:.0f} × target therefore needs C ≥ {needed:.0f} even with no overhead at all; "
        "at `--concurrency 32` the sweep cannot be more than about "
        f"{32 / 4 * per_target / latency:.0f} × faster, which is why the CLI's default is 128 "
        "(every target is its own account and region, so they share no API rate limit).",
        "",
        "Above the bound, two things. The work comes in whole waves: a target's four calls run in order, "
        "so 357 targets at C = 128 take 3 waves of 200 ms, not 2.8 (the *whole waves* column). And CPU: "
        "about a millisecond per target in the sweep process (the SDK client per target, signing, JSON), "
        "all SDK clients of a run sharing one HTTPS client and so one connection pool and one parse of "
        "the root certificates (`crates/cli/src/aws.rs`, `session`). On "
        f"{machine_info['nproc']} cores shared with the emulator, CPU per target delays the calls as C grows; "
        + "; ".join(
            f"at {members} members and the highest C ({top}) the wall time is "
            f"{results[members]['sweep'][top]['wall'] / waves(results[members]['sweep'][top], top, latency):.2f} × "
            f"the whole-wave floor (peak {results[members]['sweep'][top]['peak_in_flight']} in flight)"
            for members in sorted(results)
            for top in [max(results[members]['sweep'])])
        + ".",
        "",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_doc(path, block):
    # Re-read right before writing: another tool owns the rest of this file.
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        text = before + block.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


SETTINGS = ("latency_ms", "concurrency", "repeats", "sequential_repeats", "sequential_repeats_large")


def clean(run):
    return {k: v for k, v in run.items() if k != "output"}


def render_saved(args, saved):
    for key, value in saved.get("settings", {}).items():
        setattr(args, key, value)
    results = {int(m): {"sequential": r["sequential"], "sweep": {int(c): v for c, v in r["sweep"].items()}}
               for m, r in saved["results"].items()}
    return render(args, results, args.concurrency, saved["machine"], saved["versions"], saved["load_before"],
                  saved["load_after"], saved["elapsed"], saved["date"])


def main():
    args = parse_args()
    if args.from_results:
        block = render_saved(args, json.loads(Path(args.from_results).read_text()))
        print(block)
        if args.doc != "none":
            write_doc(Path(args.doc), block)
        return
    for binary in (args.cli, args.emulator):
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{binary} is not an executable (build it first, see --help)")
    sizes = sorted(int(m) for m in args.members.split(",") if m.strip())
    concurrencies = sorted({args.concurrency} | {int(c) for c in args.also_concurrency.split(",") if c.strip()})
    began = time.perf_counter()
    load_before = loadavg()
    results = {}
    for members in sizes:
        results[members] = {"sweep": {}}
        repeats = args.sequential_repeats if members == sizes[0] else args.sequential_repeats_large
        sequential_runs = []
        sweep_runs = defaultdict(list)
        # Interleaved, so a disturbance on the machine spreads over all contestants.
        for round_index in range(max(repeats, args.repeats)):
            for concurrency in concurrencies:
                if round_index < args.repeats:
                    run = run_once(args, members, "sweep", concurrency)
                    sweep_runs[concurrency].append(run)
                    print(f"{members + 1:>4} accounts  sweep C={concurrency:<4} {run['wall']:7.2f} s  "
                          f"AA calls {run['aa_calls']}  peak {run['peak_in_flight']}", flush=True)
            if round_index < repeats:
                run = run_once(args, members, "sequential")
                sequential_runs.append(run)
                print(f"{members + 1:>4} accounts  sequential   {run['wall']:7.2f} s  "
                      f"AA calls {run['aa_calls']}", flush=True)
        results[members]["sequential"] = summarize(sequential_runs)
        for concurrency, runs in sweep_runs.items():
            results[members]["sweep"][concurrency] = summarize(runs)
    saved = {"results": {str(m): {"sequential": clean(r["sequential"]),
                                  "sweep": {str(c): clean(v) for c, v in r["sweep"].items()}}
                         for m, r in results.items()},
             "machine": machine(), "versions": versions(args), "load_before": load_before,
             "load_after": loadavg(), "elapsed": time.perf_counter() - began,
             "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}",
             "settings": {k: getattr(args, k) for k in SETTINGS}}
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        Path(args.save).write_text(json.dumps(saved, indent=1))
    block = render_saved(args, saved)
    print()
    print(block)
    if args.doc != "none":
        write_doc(Path(args.doc), block)
        print(f"wrote the block between {START} and {END} in {args.doc}")


if __name__ == "__main__":
    main()
