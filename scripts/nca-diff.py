#!/usr/bin/env python3
"""Differential test: pathproof's imported Kubernetes connectivity against IBM's
network-config-analyzer (NCA), pair by pair and port by port.

    scripts/nca-diff.py PATHPROOF NCA [--seeds 1-20] [--pods 40] [--policies 12] [--plain]

For each seed, scripts/nca-compare.py writes a cluster (`--rich` unless
`--plain`: named ports, endPort, protocol-only ports, UDP, matchExpressions,
ipBlock with except over pod addresses, empty peers, deny-all policies,
egress); NCA prints its pod-to-pod connectivity (`--connectivity -o
txt_no_fw_rules --output_endpoints pods`); pathproof imports the same files
(`import k8s`) and lists every journey (`reach --format csv`). For every
ordered pair of distinct pods and every port the destination pod declares,
both must say the same: connected or not. Exits 1 on the first seed that
differs, printing the differences. Standard library only.
"""

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def nca_pairs(nca, d):
    out = subprocess.run(
        [nca, "--connectivity", f"{d}/policies.yaml", "-p", f"{d}/pods.yaml", "-n", f"{d}/namespaces.yaml",
         "-o", "txt_no_fw_rules", "--output_endpoints", "pods"],
        capture_output=True, text=True, check=False).stdout
    conns = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+) => (\S+) : (.*)$", line)
        if not m or "/" not in m.group(1) or "/" not in m.group(2):
            continue
        # A pair may have several lines (one per protocol).
        key = (m.group(1), m.group(2))
        conns[key] = conns[key] + " " + m.group(3) if key in conns else m.group(3)
    return conns


def nca_allows(conn, proto, port):
    if conn is None or conn.startswith("No connections"):
        return False
    if "All connections" in conn:
        return True
    for block in re.findall(r"\{([^}]*)\}", conn):
        protos = re.search(r"protocols:([A-Z,]+)", block)
        if not protos or proto.upper() not in protos.group(1).split(","):
            continue
        ports = re.search(r"dst_ports:([0-9,\-]+)", block)
        if not ports:
            return True
        for part in ports.group(1).split(","):
            lo, _, hi = part.partition("-")
            if int(lo) <= port <= int(hi or lo):
                return True
    return False


def pod_ports(d):
    """(ns/name) -> [(proto, port)] from pods.yaml (the generator's shape)."""
    pods, cur, ns = {}, None, None
    for line in open(f"{d}/pods.yaml"):
        s = line.strip()
        if s.startswith("name: ") and line.startswith("    name:"):
            cur = s[6:]
        elif s.startswith("namespace: "):
            ns = s[11:]
            pods[f"{ns}/{cur}"] = []
        elif s.startswith("- containerPort: "):
            port = int(s[17:])
            pods[f"{ns}/{cur}"].append(["?", port])
        elif s.startswith("protocol: ") and line.startswith("        protocol"):
            pods[f"{ns}/{cur}"][-1][0] = s[10:].lower()
    return {k: [tuple(x) for x in v] for k, v in pods.items()}


def pathproof_pairs(pp, d, tmp):
    scn = os.path.join(tmp, "imported.yaml")
    subprocess.run([pp, "import", "k8s", f"{d}/namespaces.yaml", f"{d}/pods.yaml", f"{d}/policies.yaml", "-o", scn],
                   check=True, capture_output=True)
    out = subprocess.run([pp, "reach", scn, "--format", "csv"], check=True, capture_output=True, text=True).stdout
    # The compact answer (a row per class and path): every source of the
    # class reaches every target of it (`HOST:SOCKET`), but a host never its
    # own socket; expanded here to the pairs NCA lists.
    got = set()
    for row in csv.DictReader(io.StringIO(out)):
        if row["source_kind"] != "host":
            continue
        hosts = [t.split(":", 1)[0] for t in row["targets"].split(" ")]
        for src in row["sources"].split(" "):
            for host in hosts:
                if "/" in src and "/" in host and src != host:
                    got.add((src, host, row["proto"], int(row["port"])))
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pathproof")
    ap.add_argument("nca")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--pods", type=int, default=40)
    ap.add_argument("--policies", type=int, default=12)
    ap.add_argument("--plain", action="store_true")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    total_pairs = total_checks = 0
    for seed in range(int(lo), int(hi or lo) + 1):
        with tempfile.TemporaryDirectory() as tmp:
            d = os.path.join(tmp, "cluster")
            gen = [sys.executable, os.path.join(HERE, "nca-compare.py"), d, "--pods", str(a.pods),
                   "--policies", str(a.policies), "--seed", str(seed)]
            if not a.plain:
                gen.append("--rich")
            subprocess.run(gen, check=True, capture_output=True)
            nca = nca_pairs(a.nca, d)
            ports = pod_ports(d)
            got = pathproof_pairs(a.pathproof, d, tmp)
            diffs = []
            checks = 0
            for src in ports:
                for dst, dports in ports.items():
                    if src == dst:
                        continue
                    for proto, port in dports:
                        checks += 1
                        want = nca_allows(nca.get((src, dst)), proto, port)
                        have = (src, dst, proto, port) in got
                        if want != have:
                            diffs.append(f"  {src} -> {dst} {proto}/{port}: NCA {'allows' if want else 'denies'} "
                                         f"({nca.get((src, dst), 'no line')}), pathproof {'allows' if have else 'denies'}")
            total_checks += checks
            total_pairs += len(ports) * (len(ports) - 1)
            if diffs:
                print(f"seed {seed}: {len(diffs)} of {checks} (pair, port) answers differ")
                print("\n".join(diffs[:40]))
                sys.exit(1)
            print(f"seed {seed}: {checks} (pair, port) answers agree, {sum(1 for g in got)} connected")
    print(f"all seeds agree: {total_pairs} ordered pod pairs, {total_checks} (pair, port) answers")


if __name__ == "__main__":
    main()
