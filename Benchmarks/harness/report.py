"""Turns the measurements into latest.json and latest.md, and the performance table of docs/benchmarks.md."""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess


def median(values):
    return statistics.median(values) if values else None


def _version(command):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine(venv):
    cpu = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memoryGiB": round(memory / (1 << 20), 1),
        "kernel": platform.release(), "os": _os_name(),
        "curl": _version(["curl", "--version"]), "nginx": _version(["nginx", "-v"]),
        "mitmproxy": _version([os.path.join(venv, "bin", "mitmdump"), "--version"]),
        "openssl": _version(["openssl", "version"]),
        "peers": "; ".join(_version(command) for command in (["squid", "-v"], ["sslsplit", "-V"], ["go", "version"])),
        "loadAverage": load_average(),
    }


def load_average():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _os_name():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _fmt(value, unit):
    if value is None:
        return "n/a"
    if unit in ("us",):
        return f"{value:.1f} µs"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def _ratio(a, b, higher_is_better):
    if a is None or b is None or a == 0 or b == 0:
        return None
    return a / b if higher_is_better else b / a


OURS = "intercept-proxy"
# Column order of the tables: whoever is in the run, in this order, then anyone else.
ORDER = ("intercept-proxy", "mitmproxy", "direct", "intercept-proxy@baseline", "squid", "sslsplit", "goproxy")


def contenders(results):
    seen = {name for row in results["scenarios"] for name in row["values"]}
    return [name for name in ORDER if name in seen] + sorted(seen - set(ORDER))


def _cost_summary(costs):
    """Median CPU µs per work unit over the rounds; RSS before the first round and after the last."""
    per_unit = [1e6 * c["cpuSeconds"] / c["work"] for c in costs if c["work"]]
    switches = [c["contextSwitches"] / c["work"] for c in costs if c["work"]]
    return {"cpuMicrosPerUnit": median(per_unit), "contextSwitchesPerUnit": median(switches),
            "rssBeforeKiB": costs[0]["rssBeforeKiB"], "rssAfterKiB": costs[-1]["rssAfterKiB"]}


def summarize(results):
    """Adds medians, costs and ratios (intercept-proxy over each other contender, oriented so that > 1 is better)."""
    for row in results["scenarios"]:
        med = {name: median(values) for name, values in row["values"].items()}
        row["median"] = med
        row["cost"] = {name: _cost_summary(costs) for name, costs in row.get("costs", {}).items() if costs}
        ours = med.get(OURS)
        row["vs"] = {name: _ratio(ours, value, row["higherIsBetter"]) for name, value in med.items() if name != OURS}
        row["vsMitmproxy"] = row["vs"].get("mitmproxy")
        row["vsDirect"] = row["vs"].get("direct")
        checks = _checks(row)
        row["met"] = None if not checks or any(c is None for c in checks) else all(checks)
    return results


def _checks(row):
    """One entry per part of the target: True/False, or None when this run cannot tell (a contender absent)."""
    target, ours = row["target"], row["median"].get(OURS)
    checks = [None if row["vs"].get(name) is None else row["vs"][name] >= bound for name, bound in target.get("vs", {}).items()]
    if "atMost" in target:
        checks.append(None if ours is None else ours <= target["atMost"])
    cost = row["cost"].get(OURS)
    if "cpuAtMost" in target:
        checks.append(None if cost is None or cost["cpuMicrosPerUnit"] is None else cost["cpuMicrosPerUnit"] <= target["cpuAtMost"])
    if "rssGrowthAtMost" in target:
        checks.append(None if cost is None else cost["rssAfterKiB"] - cost["rssBeforeKiB"] <= target["rssGrowthAtMost"])
    return checks


def _x(ratio):
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def table(results):
    names = contenders(results)
    others = [name for name in names if name != OURS]
    lines = ["| scenario | " + " | ".join(names) + " | " + " | ".join(f"vs {name}" for name in others) + " | target | met |",
             "|---|" + "---:|" * (len(names) + len(others)) + "---|---|"]
    for row in results["scenarios"]:
        med, unit = row["median"], row["unit"]
        met = "—" if row["met"] is None else "yes" if row["met"] else "**no**"
        lines.append(f"| {row['title']} | " + " | ".join(_fmt(med.get(name), unit) if name in med else "—" for name in names) + " | "
                     + " | ".join(_x(row["vs"].get(name)) if name in med else "—" for name in others)
                     + f" | {row['target']['text']} | {met} |")
    return "\n".join(lines)


def _mib(kib):
    return f"{kib / 1024:.0f}"


def cost_table(results):
    """CPU per request, tunnel or MiB and RSS before → after, for every proxy in every traffic scenario."""
    names = [name for name in contenders(results) if any(name in row.get("cost", {}) for row in results["scenarios"])]
    if not names:
        return ""
    lines = ["| scenario | " + " | ".join(f"{name} CPU | {name} switches | {name} RSS MiB" for name in names) + " |",
             "|---|" + "---:|---:|---:|" * len(names)]
    for row in results["scenarios"]:
        if not row.get("cost"):
            continue
        cells = []
        for name in names:
            cost = row["cost"].get(name)
            if cost is None:
                cells += ["—", "—", "—"]
                continue
            cpu, switches = cost["cpuMicrosPerUnit"], cost.get("contextSwitchesPerUnit")
            cells += ["n/a" if cpu is None else f"{cpu:,.0f} µs/{row['workUnit']}",
                      "n/a" if switches is None else f"{switches:,.1f}/{row['workUnit']}",
                      f"{_mib(cost['rssBeforeKiB'])} → {_mib(cost['rssAfterKiB'])}"]
        lines.append(f"| {row['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peer_settings(results):
    lines = []
    for name, peer in results.get("peers", {}).items():
        if not peer.get("checked"):
            lines.append(f"- **{name}**: not run ({peer.get('why', '')}).")
            continue
        lines.append(f"- **{name}** (leaf issued by `{peer['leafIssuer']}`): " + "; ".join(f"`{item}`" for item in peer["settings"]))
    return ("\n## Peers' settings other than defaults\n\n" + "\n".join(lines) + "\n") if lines else ""


def markdown(results):
    m = results["machine"]
    notes = "\n".join(f"- {note}" for note in results["notes"])
    return f"""# Benchmark results

Run {results['date']} with `make bench` ({results['mode']} mode, {results['rounds']} rounds{_extra_rounds(results)}, contenders alternating
each round; medians shown; ratios are intercept-proxy over the other, oriented so that above 1 is better).

Machine: {m['cpu']}, {m['cores']} cores, {m['memoryGiB']} GiB, {m['os']}, Linux {m['kernel']}.
Peers: {m['curl'].split(' (')[0]}; {m['nginx']}; mitmproxy ({m['mitmproxy']}); {m['openssl']}; {m.get('peers', '')}.
Load average at the start: {m.get('loadAverage', 'n/a')}; at the end: {results.get('loadAverageEnd', 'n/a')}.

{table(results)}

Proxy cost (CPU time and context switches per request, tunnel or MiB, medians of the rounds; RSS of the process
tree before the first and after the last round):

{cost_table(results)}

{notes}
{peer_settings(results)}{_why(results)}"""


def _extra_rounds(results):
    extra = {id: rounds for id, rounds in results.get("extraRounds", {}).items() if rounds != results["rounds"]}
    if not extra:
        return ""
    by_count = {}
    for id, rounds in extra.items():
        by_count.setdefault(rounds, []).append(id)
    return " (" + "; ".join(f"{rounds} for {' and '.join(ids)}" for rounds, ids in by_count.items()) + ")"


def _why(results):
    missed = [row for row in results["scenarios"] if row["met"] is False]
    if not missed:
        return ""
    lines = ["", "## Targets not met, and why", ""]
    for row in missed:
        med = row["median"]
        context = ""
        if med.get("direct") and row["vsDirect"] is not None:
            context = f" (this run: intercept-proxy {row['vsDirect']:.2f}x direct)"
        lines.append(f"- **{row['title']}**{context}: {results.get('why', {}).get(row['id'], 'not analysed yet.')}")
    return "\n".join(lines) + "\n"


def write(results, out_dir, readme=None):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(markdown(results))
    if readme:
        _update_readme(readme, results)


def _update_readme(path, results):
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = open(path).read()
    m = results["machine"]
    block = (f"{begin}\nFrom `Benchmarks/results/latest.md` ({results['date']}, {m['cpu']}, {m['cores']} cores):\n\n"
             f"{table(results)}\n{end}")
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n## Performance\n\n{block}\n"
    with open(path, "w") as f:
        f.write(text)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
