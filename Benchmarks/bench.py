#!/usr/bin/env python3
"""intercept-proxy against mitmproxy and a direct connection, on one machine, in one run.

    python3 Benchmarks/bench.py --proxy-binary B --forge-bench F --venv V [--smoke] [--rounds N] [--out DIR]

Started by `make bench` (which installs nginx, curl and mitmproxy first); `--smoke` is the few-second
run that `make test` uses so the harness cannot rot.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import report  # noqa: E402
from harness.contenders import (Direct, InterceptProxy, Mitmproxy, context_switches, cpu_seconds, switches_since,  # noqa: E402
                                 tree_rss_kib)
from harness.load import forge_bench, mitmproxy_forge  # noqa: E402
from harness.origin import Origin  # noqa: E402
from harness.peers import PEERS, PeerMissing  # noqa: E402
from harness.verify import check_intercepts  # noqa: E402
from harness.scenarios import (BulkDownload, H2Requests, IdleTunnels, KeepAliveRequests, NewHostTunnels,  # noqa: E402
                               RepeatHostTunnels, StartTime)

FULL = {"new_hosts": 2000, "repeat_hosts": 2000, "keepalive_requests": 20000, "h2_requests": 20000, "bulk_bytes": 1 << 30,
        "idle_tunnels": 5000, "start_samples": 5, "forge_hosts": 500, "parallel": 16, "mitmproxy_divisor": 10}
SMOKE = {"new_hosts": 24, "repeat_hosts": 24, "keepalive_requests": 200, "h2_requests": 200, "bulk_bytes": 8 << 20,
         "idle_tunnels": 40, "start_samples": 1, "forge_hosts": 20, "parallel": 8, "mitmproxy_divisor": 4}

# The two scenarios whose targets sit closest to the machine's noise take more rounds in a full run:
# a bulk round takes seconds, and direct alone moves 580-1,100 MiB/s between rounds; a keep-alive
# round takes about two seconds per contender, and sslsplit alone moved 9,000-15,000 requests/s
# between rounds (#16).
EXTRA_ROUNDS = {"keep-alive": 7, "bulk": 7}

# "vs": intercept-proxy's rate over each named contender's, at least; "cpuAtMost": proxy CPU µs per work
# unit; "rssGrowthAtMost": KiB the proxy's RSS may grow from before the first round to after the last.
TARGETS = {
    "new-host-rsa2048": {"vs": {"sslsplit": 1.3}, "text": ">= 1.3x sslsplit"},
    "new-host-p256": {"vs": {"mitmproxy": 30}, "text": ">= 30x mitmproxy"},
    "repeat-host": {"vs": {"sslsplit": 1.3}, "text": ">= 1.3x sslsplit"},
    "keep-alive": {"vs": {"sslsplit": 1, "direct": 0.5}, "cpuAtMost": 100, "rssGrowthAtMost": 10 << 10,
                   "text": ">= sslsplit, >= 0.5x direct, <= 100 µs CPU/request, RSS growth <= 10 MiB"},
    "bulk": {"vs": {"sslsplit": 1, "goproxy": 1, "direct": 0.6}, "text": ">= sslsplit, >= goproxy, >= 0.6x direct"},
    "h2-requests": {"text": "—"},
    "idle": {"atMost": 25, "text": "<= 25 KiB/tunnel"},
    "start": {"atMost": 100, "text": "<= 100 ms"},
    "forge-rsa2048-new-p50": {"atMost": 1500, "text": "<= 1.5 ms"},
    "forge-rsa2048-new-p99": {"text": "—"},
    "forge-p256-new-p50": {"atMost": 300, "text": "<= 0.3 ms"},
    "forge-p256-new-p99": {"text": "—"},
    "forge-hit-p50": {"atMost": 20, "text": "<= 20 µs"},
}


# Why a target is missed, from profiling this machine (perf record and strace -c on the proxy during each
# scenario); the report adds this run's figures beside it.
_HANDSHAKES = ("each tunnel costs the proxy a TLS handshake with the client (one signature with the leaf key) "
               "and a second TLS handshake to the origin, on the same two cores as curl and nginx; forging is not "
               "the cost (new P-256 leaf ~45 µs, cache hit ~2 µs). Returning clients resume (TLS 1.2 sessions and TLS 1.3 "
               "tickets, OpenSSL's server defaults), and the upstream leg resumes its sessions to the origin (per name).")
_KERNEL = ("a socket event costs one wake-up of the loop's epoll thread (SocketPoller), with writes held to the "
           "end of the event so a response leaves in one send; perf shows the kernel's TCP send and receive over "
           "loopback (which also wakes curl and nginx) as about half of the proxy's CPU, TLS about 15%, and HTTP "
           "parsing and flow recording most of the rest.")
WHY = {
    "new-host-rsa2048": _HANDSHAKES,
    "new-host-p256": _HANDSHAKES,
    "repeat-host": _HANDSHAKES,
    "keep-alive": ("every request crosses two TLS sessions and two sockets in the proxy (two reads, two sends, under one "
                   "context switch); " + _KERNEL + " sslsplit parses and records nothing (it is not an HTTP proxy)."),
    "bulk": ("each byte is decrypted and re-encrypted (AES-GCM both ways) and crosses four sockets, on the two cores "
             "curl and nginx share; AES-GCM and the kernel's socket copies are most of the proxy's profile, and its "
             "CPU per MiB bounds the rate."),
}


def row_for(results, scenario_id, title, unit, higher_is_better):
    for row in results["scenarios"]:
        if row["id"] == scenario_id:
            return row
    row = {"id": scenario_id, "title": title, "unit": unit, "higherIsBetter": higher_is_better,
           "target": TARGETS[scenario_id], "values": {}}
    results["scenarios"].append(row)
    return row


SELECTED = None
BASELINE = "intercept-proxy@baseline"


def wanted(scenario_id):
    return SELECTED is None or any(scenario_id.startswith(prefix) for prefix in SELECTED)


def measure_with_cost(scenario, contender):
    """One measurement, with the proxy's CPU time and RSS (its whole process tree) around it."""
    if contender.pid is None or not scenario.measures_cost:
        return scenario.measure(contender), None
    cpu, rss, switches = cpu_seconds(contender.pid), tree_rss_kib(contender.pid), context_switches(contender.pid)
    value = scenario.measure(contender)
    cost = {"cpuSeconds": cpu_seconds(contender.pid) - cpu, "work": scenario.work(contender),
            "contextSwitches": switches_since(switches, contender.pid),
            "rssBeforeKiB": rss, "rssAfterKiB": tree_rss_kib(contender.pid)}
    return value, cost


def run_rounds(results, scenario, contenders, rounds, restart_each=False):
    if not wanted(scenario.id):
        return
    row = row_for(results, scenario.id, scenario.title, scenario.unit, scenario.higher_is_better)
    row["workUnit"] = scenario.work_unit
    chosen = [c for c in contenders if scenario.runs(c)]
    if hasattr(scenario, "warm_up") and chosen:
        scenario.warm_up(chosen)  # unmeasured: what the first contender alone would otherwise pay
    for round_index in range(rounds):
        for contender in chosen:
            if restart_each:
                contender.start()
            try:
                value, cost = measure_with_cost(scenario, contender)
            finally:
                if restart_each:
                    contender.stop()
            row["values"].setdefault(contender.name, []).append(value)
            if cost:
                row.setdefault("costs", {}).setdefault(contender.name, []).append(cost)
            extra = (f" (CPU {1e6 * cost['cpuSeconds'] / cost['work']:,.0f} µs, "
                     f"{cost['contextSwitches'] / cost['work']:,.1f} context switches per {scenario.work_unit})") if cost else ""
            print(f"  {scenario.title}: round {round_index + 1} {contender.name}: {value:,.2f} {scenario.unit}{extra}", flush=True)


def start_peers(results, args, origin, workdir):
    """The peers of the full run, each checked to intercept (its CA issued the leaf) before it is measured.
    The smoke run only checks the installed ones and measures none of them."""
    started = []
    for name in args.peers:
        peer = PEERS[name](origin, workdir)
        try:
            peer.start()
        except PeerMissing as missing:
            if args.smoke:
                results["peers"][name] = {"checked": False, "why": str(missing)}
                print(f"  {name}: not installed; skipped in the smoke run ({missing})", flush=True)
                continue
            raise
        try:
            issuer = check_intercepts(peer)
        except Exception:
            peer.stop()
            raise
        results["peers"][name] = {"checked": True, "leafIssuer": issuer, "settings": peer.settings()}
        print(f"  {name}: intercepts (leaf issued by '{issuer}')", flush=True)
        if args.smoke:
            peer.stop()
        else:
            started.append(peer)
    return started


def traffic_scenarios(results, args, sizes, origin, workdir):
    for algorithm in ("rsa2048", "p256"):
        contenders = [InterceptProxy(origin, workdir, args.proxy_binary, key_algorithm=algorithm)]
        if args.baseline_binary:
            contenders.append(InterceptProxy(origin, workdir, args.baseline_binary, key_algorithm=algorithm, name=BASELINE))
        contenders += [Mitmproxy(origin, workdir, args.venv, key_algorithm=algorithm), Direct(origin)]
        for contender in contenders:
            contender.start()
        for contender in contenders:
            if contender.pid is not None:
                check_intercepts(contender)
        try:
            scenarios = [NewHostTunnels(sizes, algorithm)]
            if algorithm == "rsa2048":
                scenarios += [RepeatHostTunnels(sizes), KeepAliveRequests(sizes), H2Requests(sizes), BulkDownload(sizes)]
                if any(wanted(scenario.id) for scenario in scenarios):
                    contenders += start_peers(results, args, origin, workdir)
            for scenario in scenarios:
                print(f"{scenario.title} ...", flush=True)
                rounds = args.rounds
                if scenario.id in EXTRA_ROUNDS and not args.smoke:
                    rounds = max(rounds, EXTRA_ROUNDS[scenario.id])
                    results.setdefault("extraRounds", {})[scenario.id] = rounds
                run_rounds(results, scenario, contenders, rounds)
        finally:
            for contender in contenders:
                contender.stop()


def process_scenarios(results, args, sizes, origin, workdir):
    contenders = [InterceptProxy(origin, workdir, args.proxy_binary), Mitmproxy(origin, workdir, args.venv)]
    if args.baseline_binary:
        contenders.insert(1, InterceptProxy(origin, workdir, args.baseline_binary, name=BASELINE))
    for scenario in (IdleTunnels(sizes), StartTime(sizes)):
        print(f"{scenario.title} ...", flush=True)
        run_rounds(results, scenario, contenders, args.rounds, restart_each=isinstance(scenario, IdleTunnels))


def forge_scenarios(results, args, sizes, workdir):
    if not wanted("forge"):
        return
    print("forge ...", flush=True)
    rows = {
        "forge-rsa2048-new-p50": ("forge: new RSA-2048 leaf p50", "rsa2048", "newP50"),
        "forge-rsa2048-new-p99": ("forge: new RSA-2048 leaf p99", "rsa2048", "newP99"),
        "forge-p256-new-p50": ("forge: new P-256 leaf p50", "ecdsap256", "newP50"),
        "forge-p256-new-p99": ("forge: new P-256 leaf p99", "ecdsap256", "newP99"),
        "forge-hit-p50": ("forge: cache hit p50 (RSA-2048)", "rsa2048", "hitP50"),
    }
    mitm_dirs = {"rsa2048": os.path.join(workdir, "mitmproxy-rsa2048"), "ecdsap256": os.path.join(workdir, "mitmproxy-p256")}
    for _ in range(args.rounds):
        ours = forge_bench(args.forge_bench, sizes["forge_hosts"])
        theirs = {name: mitmproxy_forge(args.venv, directory, 2048, sizes["forge_hosts"]) for name, directory in mitm_dirs.items()}
        for scenario_id, (title, algorithm, metric) in rows.items():
            row = row_for(results, scenario_id, title, "us", False)
            row["values"].setdefault("intercept-proxy", []).append(ours[algorithm][metric])
            row["values"].setdefault("mitmproxy", []).append(theirs[algorithm][metric] if metric in theirs[algorithm] else None)
        print(f"  forge: RSA-2048 new p50 {ours['rsa2048']['newP50']:.1f} us, P-256 new p50 {ours['ecdsap256']['newP50']:.1f} us, "
              f"hit p50 {ours['rsa2048']['hitP50']:.1f} us", flush=True)
    for row in results["scenarios"]:
        if row["id"].startswith("forge-"):
            row["values"] = {k: [v for v in vs if v is not None] for k, vs in row["values"].items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy-binary", required=True)
    parser.add_argument("--forge-bench", required=True)
    parser.add_argument("--venv", required=True, help="virtual environment with mitmproxy installed")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: proves the harness works")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    parser.add_argument("--only", action="append", help="run only scenarios whose id starts with this (repeatable; for profiling)")
    parser.add_argument("--readme", help="rewrite the performance table between the bench markers of this Markdown file "
                        "(make bench passes docs/benchmarks.md)")
    parser.add_argument("--baseline-binary", help="a second intercept-proxy build, measured as 'intercept-proxy@baseline' "
                        "in the same run (before/after comparisons)")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated peers to run (default: {','.join(PEERS)}; "
                        "empty for none)")
    args = parser.parse_args()
    # A parent (a test runner, say) may have blocked signals; children inherit the mask, and then
    # `openssl speed` (SIGALRM) never ends and proxies ignore SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    sizes = SMOKE if args.smoke else FULL
    global SELECTED
    SELECTED = args.only
    if args.only and args.out == parser.get_default("out"):
        # A partial run must not pass for the published results.
        args.out, args.readme = os.path.join(tempfile.gettempdir(), "intercept-proxy-bench-partial"), None
    args.peers = [name for name in args.peers.split(",") if name]
    unknown = [name for name in args.peers if name not in PEERS]
    if unknown:
        parser.error(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    args.rounds = args.rounds or (1 if args.smoke else 3)
    if not args.smoke and args.rounds < 3:
        parser.error("a full run needs at least 3 rounds")

    workdir = tempfile.mkdtemp(prefix="intercept-proxy-bench-")
    results = {"date": report.now(), "mode": "smoke" if args.smoke else "full", "rounds": args.rounds,
               "sizes": sizes, "machine": report.machine(args.venv), "scenarios": [], "notes": [], "peers": {}}
    origin = Origin(workdir, sizes["bulk_bytes"])
    origin.start()
    try:
        traffic_scenarios(results, args, sizes, origin, workdir)
        process_scenarios(results, args, sizes, origin, workdir)
        forge_scenarios(results, args, sizes, workdir)
    except Exception:
        traceback.print_exc()
        print(f"bench: failed; logs are kept in {workdir}", file=sys.stderr)
        origin.stop()
        return 1
    origin.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    results["notes"] = notes(sizes)
    results["loadAverageEnd"] = report.load_average()
    results["why"] = WHY
    report.summarize(results)
    report.write(results, args.out, readme=args.readme)
    print(report.table(results))
    print(f"bench: wrote {os.path.join(args.out, 'latest.md')} and latest.json")
    return 0


def notes(sizes):
    divisor = sizes["mitmproxy_divisor"]
    return [
        "Load comes from curl 7.88 (`--parallel`, one invocation per batch, connection reuse through the tunnel) and, "
        "for idle tunnels, a Python asyncio client; the origin is nginx over HTTPS on loopback.",
        f"Both proxies use their defaults otherwise: intercept-proxy with the `plain` profile (the root signs the leaf, "
        f"as mitmproxy's does), mitmdump `-q` with an addon routing every upstream to the origin. "
        f"Batches: {sizes['new_hosts']} new hosts, {sizes['repeat_hosts']} repeat-host tunnels (20 names, `Connection: close`), "
        f"{sizes['keepalive_requests']} keep-alive GETs over 8 connections, {sizes['h2_requests']} h2 GETs as 100 concurrent "
        f"streams on one connection (h2 on both legs for both proxies: one upstream connection, streams one to one), "
        f"{sizes['idle_tunnels']} idle tunnels; mitmproxy "
        f"runs 1/{divisor} of each batch so a round stays short (every figure is a rate or a per-tunnel size).",
        "P-256 for mitmproxy: its CA is an EC P-256 key, and mitmproxy signs each leaf with that key as the leaf key.",
        "Forge rows: CertForge alone (forge-bench) beside mitmproxy's CertStore.get_cert (its store keeps 100 entries; "
        "hits are measured on its newest 50).",
        "Peers (RSA-2048 scenarios only, each with its own RSA-2048 CA; each is checked to intercept before it is measured: "
        "the leaf a client sees chains to that peer's CA alone): squid-openssl with ssl-bump bumping at step 1, sslsplit "
        "reached directly (no CONNECT, no HTTP parsing; it forwards to the origin's fixed address), goproxy (Debian's "
        "golang-github-elazarl-goproxy-dev) with a per-host leaf cache; goproxy closes each intercepted client connection "
        "after its response, so its keep-alive figure counts a new tunnel per request, and it runs 1/"
        f"{divisor} of the new-host batch (a new RSA-2048 key per host). The peers speak HTTP/1.1 to the client and sit out "
        "the h2 row. Their settings other than defaults are listed below the tables.",
        "Cost columns: the proxy's CPU (utime + stime from /proc/<pid>/stat, its process and its children, e.g. squid's "
        "certificate helpers) over each measurement divided by its requests, tunnels or MiB (median of the rounds), and its "
        "RSS (process tree) before the first round and after the last round of the scenario.",
    ]


if __name__ == "__main__":
    sys.exit(main())
