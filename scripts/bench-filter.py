#!/usr/bin/env python3
"""Benchmark of `pathproof filter RULESET --packets FILE`, end to end to a file
(docs/performance.md, "filter --packets, streamed").

    scripts/bench-filter.py PATHPROOF [BASELINE] [--rules R] [--packets P] [--runs 5] [--baseline-runs N]

Runs `PATHPROOF filter R --packets P > OUT` (OUT a file in a temporary folder),
RUNS times, and prints the median wall time per packet, the median CPU time
(user + system) per packet and the largest peak memory (the child's own
rusage, from os.wait4). With BASELINE (another build of pathproof, e.g. the
one before the change), its runs alternate with PATHPROOF's in the same run,
the outputs are compared byte for byte, and the ratios are printed.

The inputs (ClassBench acl1_10k as iptables-save, 1,000,000 packets) come from

    cargo run --release -p pathproof-rulesets --example classbench_files -- \\
        /work/shared/data/classbench/acl1_10k /tmp/fb 1000000

Standard library only.
"""

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, out_path):
    """Wall seconds, CPU seconds (user + system) and peak memory (MiB) of one run."""
    with open(out_path, "wb") as out:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def count_packets(path):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith(b"#"):
                n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pathproof")
    ap.add_argument("baseline", nargs="?")
    ap.add_argument("--rules", default="/tmp/fb/rules.iptables")
    ap.add_argument("--packets", default="/tmp/fb/packets.txt")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-runs", type=int, help="runs of BASELINE (default: --runs); the old build takes minutes")
    ap.add_argument("--format", default="text", choices=["text", "json"])
    a = ap.parse_args()
    n = count_packets(a.packets)
    builds = [("pathproof", a.pathproof)] + ([("baseline", a.baseline)] if a.baseline else [])
    figures = {name: [] for name, _ in builds}
    with tempfile.TemporaryDirectory() as tmp:
        base_runs = a.runs if a.baseline_runs is None else a.baseline_runs
        for i in range(a.runs):
            for name, binary in builds:
                if name == "baseline" and i >= base_runs:
                    continue
                out = os.path.join(tmp, f"{name}.out")
                cmd = [binary, "filter", a.rules, "--packets", a.packets, "--format", a.format]
                figures[name].append(run(cmd, out))
        if a.baseline:
            same = filecmp.cmp(os.path.join(tmp, "pathproof.out"), os.path.join(tmp, "baseline.out"), shallow=False)
            print(f"outputs identical: {'yes' if same else 'NO'}")
        load = os.getloadavg()[0]
    print(f"{n:,} packets, {a.runs} runs ({len(figures.get('baseline', []))} of the baseline), load average {load:.1f}, {os.cpu_count()} CPUs")
    print("| build | wall µs/packet (median) | CPU µs/packet (median) | peak MiB (max) |")
    print("|---|---:|---:|---:|")
    med = {}
    for name, _ in builds:
        runs = figures[name]
        wall = statistics.median(r[0] for r in runs) / n * 1e6
        cpu = statistics.median(r[1] for r in runs) / n * 1e6
        peak = max(r[2] for r in runs)
        med[name] = (wall, cpu, peak)
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {peak:.1f} |")
    if a.baseline:
        (w, c, m), (bw, bc, bm) = med["pathproof"], med["baseline"]
        print(f"ratio baseline / pathproof: wall {bw / w:.1f}x, CPU {bc / c:.1f}x, peak memory {bm / m:.1f}x")


if __name__ == "__main__":
    main()
