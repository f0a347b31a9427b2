"""Turns the measurements into latest.json and latest.md, and the README's performance table."""
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
    }


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


def summarize(results):
    """Adds medians and ratios (intercept-proxy over the other, oriented so that > 1 is better)."""
    for row in results["scenarios"]:
        med = {name: median(values) for name, values in row["values"].items()}
        row["median"] = med
        ours = med.get("intercept-proxy")
        row["vsMitmproxy"] = _ratio(ours, med.get("mitmproxy"), row["higherIsBetter"])
        row["vsDirect"] = _ratio(ours, med.get("direct"), row["higherIsBetter"])
        checks = _checks(row)
        row["met"] = all(check(row) for check in checks) if checks else None
    return results


def _checks(row):
    target = row["target"]
    checks = []
    if "vsMitmproxy" in target:
        checks.append(lambda r: r["vsMitmproxy"] is not None and r["vsMitmproxy"] >= target["vsMitmproxy"])
    if "vsDirect" in target:
        checks.append(lambda r: r["vsDirect"] is not None and r["vsDirect"] >= target["vsDirect"])
    if "atMost" in target:
        checks.append(lambda r: r["median"]["intercept-proxy"] is not None and r["median"]["intercept-proxy"] <= target["atMost"])
    return checks


def table(results):
    lines = ["| scenario | intercept-proxy | mitmproxy | direct | vs mitmproxy | vs direct | target | met |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for row in results["scenarios"]:
        med, unit = row["median"], row["unit"]
        ratio = lambda r: "n/a" if r is None else f"{r:.2f}x"
        lines.append(f"| {row['title']} | {_fmt(med.get('intercept-proxy'), unit)} | {_fmt(med.get('mitmproxy'), unit)} | "
                     f"{_fmt(med.get('direct'), unit)} | {ratio(row['vsMitmproxy'])} | {ratio(row['vsDirect'])} | "
                     f"{row['target']['text']} | {'—' if row['met'] is None else 'yes' if row['met'] else '**no**'} |")
    return "\n".join(lines)


def markdown(results):
    m = results["machine"]
    notes = "\n".join(f"- {note}" for note in results["notes"])
    return f"""# Benchmark results

Run {results['date']} with `make bench` ({results['mode']} mode, {results['rounds']} rounds, contenders alternating
each round; medians shown; ratios are intercept-proxy over the other, oriented so that above 1 is better).

Machine: {m['cpu']}, {m['cores']} cores, {m['memoryGiB']} GiB, {m['os']}, Linux {m['kernel']}.
Peers: {m['curl'].split(' (')[0]}; {m['nginx']}; mitmproxy ({m['mitmproxy']}); {m['openssl']}.

{table(results)}

{notes}
{_why(results)}"""


def _why(results):
    missed = [row for row in results["scenarios"] if row["met"] is False]
    if not missed:
        return ""
    lines = ["", "## Targets not met, and why", ""]
    for row in missed:
        med = row["median"]
        context = ""
        if med.get("direct") and med.get("mitmproxy"):
            context = (f" (this run: direct reaches {_ratio(med['direct'], med['mitmproxy'], row['higherIsBetter']):.1f}x "
                       f"mitmproxy; intercept-proxy {row['vsDirect']:.2f}x direct)")
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
