#!/usr/bin/env python3
"""Turns benchmarks/run.sh's raw results into the tables of BENCHMARKS.md (medians of the rounds)."""
import re
import statistics
import sys
from collections import defaultdict

ORDER = [
    "bare",
    "portcullis-cookie",
    "portcullis-bearer-rs256",
    "jwt-authorizer-rs256",
    "tower-sessions-cookie",
    "portcullis-cold-rs256",
    "jwt-authorizer-cold-rs256",
    "portcullis-cold-es256",
    "jwt-authorizer-cold-es256",
    "portcullis-cold-eddsa",
    "jwt-authorizer-cold-eddsa",
]


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def main(path):
    runs = defaultdict(list)
    rss, memory, header = [], [], []
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("#"):
            header.append(line[2:])
        elif line.startswith("round="):
            f = fields(line)
            req = int(f["requests"])
            secs = int(f["duration_us"]) / 1e6
            cpu_us = int(f["server_cpu_ticks"]) / int(f["clk_tck"]) * 1e6
            runs[f["variant"]].append(
                dict(
                    rps=req / secs,
                    p50=int(f["p50_us"]),
                    p99=int(f["p99_us"]),
                    cpu=cpu_us / max(req, 1),
                    bad=int(f["non2xx"]) + int(f["socket_errors"]),
                )
            )
        elif line.startswith("peak_rss"):
            rss.append(fields(line))
        elif line.startswith("memory"):
            memory.append(fields(line))

    med = {
        v: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "cpu")}
        | {"bad": sum(r["bad"] for r in rs), "n": len(rs), "min": min(r["rps"] for r in rs), "max": max(r["rps"] for r in rs)}
        for v, rs in runs.items()
    }
    bare = med.get("bare")
    for h in header:
        print(f"<!-- {h} -->")
    print()
    print("| variant | req/s (median) | min–max req/s | × bare req/s | p50 µs | p99 µs | × bare p99 | server CPU µs/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v in ORDER + sorted(set(med) - set(ORDER)):
        if v not in med:
            continue
        m = med[v]
        ratio = f"{m['rps'] / bare['rps']:.2f}" if bare else "-"
        p99r = f"{m['p99'] / bare['p99']:.2f}" if bare else "-"
        print(
            f"| {v} | {m['rps']:,.0f} | {m['min']:,.0f}–{m['max']:,.0f} | {ratio} | {m['p50']:.0f} | {m['p99']:.0f} | {p99r} | {m['cpu']:.2f} | {m['bad']} |"
        )
    if "jwt-authorizer-rs256" in med and "portcullis-bearer-rs256" in med:
        print()
        print(
            "portcullis bearer RS256 (repeated token) / jwt-authorizer RS256: "
            f"{med['portcullis-bearer-rs256']['rps'] / med['jwt-authorizer-rs256']['rps']:.2f}x"
        )
    for alg in ("rs256", "es256", "eddsa"):
        a, b = med.get(f"portcullis-cold-{alg}"), med.get(f"jwt-authorizer-cold-{alg}")
        if a and b:
            print(f"cold {alg.upper()}: portcullis / jwt-authorizer = {a['rps'] / b['rps']:.2f}x")
    if "tower-sessions-cookie" in med and "portcullis-cookie" in med:
        print(
            "session cookie: portcullis / tower-sessions = "
            f"{med['portcullis-cookie']['rps'] / med['tower-sessions-cookie']['rps']:.2f}x"
        )
    if bare and "portcullis-cookie" in med:
        print(
            "server CPU added by the full stack on the warm cookie path: "
            f"{med['portcullis-cookie']['cpu'] - bare['cpu']:.2f} µs/request"
        )
    if rss:
        print()
        print("| server | peak RSS (VmHWM) |")
        print("|---|---:|")
        for r in sorted(rss, key=lambda r: r["server"]):
            print(f"| {r['server']} | {int(r['vmhwm_kib']) / 1024:.1f} MiB |")
    if memory:
        print()
        print("| store | sessions | RSS delta | bytes per session |")
        print("|---|---:|---:|---:|")
        for m in memory:
            delta = (int(m["rss_after_kib"]) - int(m["rss_before_kib"])) / 1024
            print(f"| {m['store']} | {int(m['sessions']):,} | {delta:,.0f} MiB | {int(m['bytes_per_session']):,} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/raw.txt")
