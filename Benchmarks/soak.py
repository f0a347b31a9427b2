#!/usr/bin/env python3
"""A long run of mixed traffic through intercept-proxy, watching its memory and descriptors.

    python3 Benchmarks/soak.py --proxy-binary B [--requests N] [--max-seconds S] [--out FILE]

Started by `make soak`. The same harness as `make bench` (nginx origin, the proxy with --map-remote,
curl --parallel batches) runs cycles of keep-alive HTTP/1.1 requests (8 tunnels), h2 requests (100
streams on one connection) and new tunnels (`Connection: close`, one tunnel per request), until
`--requests` are done or `--max-seconds` have passed, whichever comes first. Every ~10 s, between two
batches (so that the descriptors of the batch just done are closed and what is counted is what
stays), it samples the proxy's RSS and open descriptors from /proc. Verdict: after the warm-up (the
first `--warm-up` requests), no sample is more than 10% above the first sample after it.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import report  # noqa: E402
from harness.contenders import InterceptProxy, rss_kib  # noqa: E402
from harness.load import curl_codes  # noqa: E402
from harness.origin import DOMAIN, Origin  # noqa: E402

# One cycle: (name, URL host, requests, curl parallelism, extra curl options).
MIX = [
    ("keep-alive", f"keepalive.{DOMAIN}", 10000, 8, []),
    ("h2", f"h2.{DOMAIN}", 10000, 100, ["--http2"]),
    ("new-tunnel", f"tunnel.{DOMAIN}", 500, 8, ["--header", "Connection: close"]),
]
TOLERANCE = 0.10


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid, timeout=5.0, steady=0.3):
    """The descriptor count once it stops falling (connections of the last batch finish closing):
    unchanged for `steady` seconds, long enough that a loaded machine's closes are not missed."""
    deadline = time.monotonic() + timeout
    last, since = open_fds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = open_fds(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= steady:
            return now
    return last


def verdict(samples, warm_up):
    after = [s for s in samples if s["requests"] >= warm_up]
    if len(after) < 3:
        return False, f"too few samples after the warm-up ({len(after)}): run longer"
    base = after[0]
    lines, ok = [], True
    for key, unit in (("rssKiB", "KiB"), ("fds", "descriptors")):
        peak = max(s[key] for s in after)
        growth = (peak - base[key]) / base[key]
        within = growth <= TOLERANCE
        ok = ok and within
        lines.append(f"{key}: first after warm-up {base[key]:,} {unit}, highest {peak:,} {unit} "
                     f"({growth:+.1%}; limit +{TOLERANCE:.0%}): {'flat' if within else 'GROWS'}")
    return ok, "; ".join(lines)


def write_report(path, data):
    m = data["machine"]
    lines = [
        "# Soak run",
        "",
        f"Run {data['started']} UTC with `make soak` ({data['requestsDone']:,} requests in {data['seconds']:.0f} s, "
        f"{data['requestsDone'] / data['seconds']:,.0f} requests/s; release build; run under `nice` on a machine shared with other work).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memoryGiB']} GiB, {m['os']}, Linux {m['kernel']}. "
        f"Peers: {m['curl'].split(' (')[0]}; {m['nginx']}.",
        "",
        "Mix per cycle: " + ", ".join(f"{n:,} {name} ({'h2, ' if '--http2' in extra else ''}{parallel} at once)"
                                      for name, _, n, parallel, extra in MIX) + ".",
        "",
        "| kind | requests | answered 200 | errors |",
        "|---|---:|---:|---:|",
    ]
    for name, counts in data["counts"].items():
        lines.append(f"| {name} | {counts['requests']:,} | {counts['ok']:,} | {counts['requests'] - counts['ok']:,} |")
    lines += ["", f"**Verdict: {'flat' if data['flat'] else 'NOT flat'}.** {data['verdictDetail']}.", "",
              f"Samples (every ~10 s, between batches; warm-up: the first {data['warmUp']:,} requests):", "",
              "| seconds | requests | RSS (KiB) | open fds |", "|---:|---:|---:|---:|"]
    for s in data["samples"]:
        lines.append(f"| {s['seconds']:.0f} | {s['requests']:,} | {s['rssKiB']:,} | {s['fds']} |")
    if data["errorSamples"]:
        lines += ["", "First curl errors:", ""] + [f"- `{e}`" for e in data["errorSamples"]]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proxy-binary", required=True)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--warm-up", type=int, default=100_000, help="requests before the baseline sample")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--only", help="comma-separated kinds of the mix to run (to find which one a growth comes from)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "soak.md"))
    args = parser.parse_args()
    if args.only:
        MIX[:] = [kind for kind in MIX if kind[0] in args.only.split(",")]
    if args.warm_up >= args.requests:
        args.warm_up = args.requests // 10

    workdir = tempfile.mkdtemp(prefix="intercept-proxy-soak-")
    origin = Origin(workdir, 1 << 20)
    origin.start()
    proxy = InterceptProxy(origin, workdir, args.proxy_binary, key_algorithm="p256")
    counts = {name: {"requests": 0, "ok": 0} for name, *_ in MIX}
    samples, error_samples = [], []
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    try:
        proxy.start()
        start = time.monotonic()
        done = 0

        def sample():
            samples.append({"seconds": time.monotonic() - start, "requests": done,
                            "fds": settled_fds(proxy.pid), "rssKiB": rss_kib(proxy.pid)})
            s = samples[-1]
            print(f"soak: {s['seconds']:6.0f} s {done:>9,} requests  RSS {s['rssKiB']:,} KiB  fds {s['fds']}", flush=True)

        sample()
        while done < args.requests and time.monotonic() - start < args.max_seconds:
            for name, host, size, parallel, extra in MIX:
                size = min(size, args.requests - done)
                if size <= 0:
                    break
                _, codes, _, status, stderr = curl_codes(proxy, [f"https://{host}/small"] * size, parallel, extra, timeout=600)
                ok = codes.count("200")
                counts[name]["requests"] += size
                counts[name]["ok"] += ok
                done += size
                if ok != size and len(error_samples) < 5:
                    error_samples.append(f"{name}: {size - ok} of {size} failed (curl exit {status}): {stderr.strip()[:200]}")
                if proxy.process.poll() is not None:
                    raise RuntimeError(f"the proxy exited with {proxy.process.returncode} during the soak")
                if time.monotonic() - start - samples[-1]["seconds"] >= args.sample_seconds:
                    sample()
        sample()
        seconds = time.monotonic() - start
    except BaseException:
        print(f"soak: failed; logs are kept in {workdir}", file=sys.stderr)
        proxy.stop() if proxy.process else None
        origin.stop()
        raise
    proxy.stop()
    origin.stop()

    flat, detail = verdict(samples, args.warm_up)
    errors = sum(c["requests"] - c["ok"] for c in counts.values())
    data = {"started": started_at, "requestsDone": done, "seconds": seconds, "counts": counts, "samples": samples,
            "warmUp": args.warm_up, "flat": flat, "verdictDetail": detail, "errors": errors, "errorSamples": error_samples,
            "machine": report.machine(os.devnull)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_report(args.out, data)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({k: v for k, v in data.items() if k != "machine"}, f, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"soak: {done:,} requests in {seconds:.0f} s, {errors:,} errors; {'flat' if flat else 'NOT flat'}: {detail}")
    print(f"soak: wrote {args.out}")
    return 0 if flat and errors == 0 and done >= args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
