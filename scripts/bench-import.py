#!/usr/bin/env python3
"""Benchmark of `pathproof import k8s` and the connectivity of what it imports
(docs/performance.md, "Kubernetes import").

    scripts/bench-import.py PATHPROOF [NCA] [--sizes 400:100,5000:1000] [--runs 3] [--before OLD]

For each size (pods:policies) scripts/nca-compare.py writes a cluster; the
figure is the median wall time of `import k8s` and of `reach --format csv`
(every pod-to-socket journey, written to /dev/null), with the peak memory of
each. The baseline, measured in the same run: NCA 2.1.0's connectivity map of
the 100-pod, 25-policy cluster (when NCA is given); with `--before OLD`, also
another build's connectivity of the same clusters, its runs alternating with
this build's, and the ratio of the medians. Standard library only.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    """Wall seconds and the child's peak memory (MiB) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pathproof")
    ap.add_argument("nca", nargs="?")
    ap.add_argument("--sizes", default="400:100,5000:1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="an earlier build of pathproof to compare with, in the same run")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.nca:
            d = os.path.join(tmp, "nca100")
            subprocess.run([sys.executable, os.path.join(HERE, "nca-compare.py"), d, "--pods", "100", "--policies", "25"],
                           check=True, capture_output=True)
            wall, _ = run([a.nca, "--connectivity", f"{d}/policies.yaml", "-p", f"{d}/pods.yaml", "-n",
                           f"{d}/namespaces.yaml", "-o", "txt_no_fw_rules", "--output_endpoints", "pods"])
            print(f"baseline: NCA 2.1.0 connectivity, 100 pods / 25 policies: {wall:.2f} s")
        for size in a.sizes.split(","):
            pods, pols = size.split(":")
            d = os.path.join(tmp, f"c{pods}")
            subprocess.run([sys.executable, os.path.join(HERE, "nca-compare.py"), d, "--pods", pods, "--policies", pols],
                           check=True, capture_output=True)
            scn = os.path.join(d, "imported.yaml")
            files = [f"{d}/namespaces.yaml", f"{d}/pods.yaml", f"{d}/policies.yaml"]
            imp = [run([a.pathproof, "import", "k8s", *files, "-o", scn]) for _ in range(a.runs)]
            rch, old = [], []
            for _ in range(a.runs):
                rch.append(run([a.pathproof, "reach", scn, "--format", "csv"]))
                if a.before:
                    old.append(run([a.before, "reach", scn, "--format", "csv"]))
            med = lambda xs: statistics.median(x[0] for x in xs)  # noqa: E731
            print(f"{pods} pods / {pols} policies: import {med(imp):.3f} s, connectivity (reach) {med(rch):.3f} s "
                  f"(runs: {', '.join(f'{x[0]:.3f}' for x in rch)}), peak memory {max(x[1] for x in imp + rch):.0f} MiB")
            if old:
                print(f"    the build before: connectivity {med(old):.3f} s (runs: {', '.join(f'{x[0]:.3f}' for x in old)}), "
                      f"{med(old) / med(rch):.2f}x this build's time")


if __name__ == "__main__":
    main()
