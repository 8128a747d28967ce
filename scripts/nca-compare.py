#!/usr/bin/env python3
"""A seeded Kubernetes cluster for IBM's network-config-analyzer (NCA), and the
same cluster as a pathproof scenario (docs/comparison-nca.md).

    scripts/nca-compare.py OUTDIR [--pods 400] [--policies 100] [--seed 1]

writes OUTDIR/namespaces.yaml, OUTDIR/pods.yaml and OUTDIR/policies.yaml (the
cluster, for `nca --connectivity` and `nca --sanity`) and OUTDIR/cluster.yaml
(the pathproof scenario). Standard library only; the same arguments give
byte-identical files.

The cluster: 10 namespaces, 8 apps per namespace, each app of one tier (web,
api, db, cache) with its ports; every pod runs its app's ports. Each
NetworkPolicy selects the pods of one app (or one tier) in its namespace and
allows, on one or two of the selected pods' ports, ingress from pods chosen by
pod labels in the same namespace, by namespace labels, or by both; one in five
also restricts egress the same way.

The scenario: one flat pod network (Kubernetes' model: every pod reaches every
pod unless a policy says otherwise), one host per pod at its pod address, a
socket per port of its app. A pod selected by an ingress policy gets an input
filter (stateful, default drop) whose rules are the union of those policies'
rules, their selectors resolved to the pods' addresses; egress alike with an
output filter. Pods with the same set of selecting policies share a filter.
"""

import argparse
import os
import random

TIERS = {
    "web": [("TCP", 80), ("TCP", 443)],
    "api": [("TCP", 8080), ("TCP", 9090)],
    "db": [("TCP", 5432)],
    "cache": [("TCP", 6379)],
}
# --rich: the same tiers with named ports and a UDP port, for the differential
# test (scripts/nca-diff.py): named ports, port ranges, protocol-only ports,
# matchExpressions, ipBlock with except over pod addresses, empty selectors,
# deny-all policies, egress.
RICH_TIERS = {
    "web": [("TCP", 80, "http"), ("TCP", 443, "https")],
    "api": [("TCP", 8080, "http"), ("TCP", 9090, "metrics")],
    "db": [("TCP", 5432, "pg")],
    "cache": [("TCP", 6379, "redis"), ("UDP", 53, "dns")],
}
RICH = False
NAMESPACES = 10
APPS_PER_NS = 8


def tier_ports(tier):
    if RICH:
        return [(proto, port) for proto, port, _ in RICH_TIERS[tier]]
    return TIERS[tier]


def build(pods_n, policies_n, seed):
    rng = random.Random(seed)
    namespaces = [f"ns-{i}" for i in range(NAMESPACES)]
    ns_labels = {ns: {"name": ns, "env": rng.choice(["prod", "staging", "dev"])} for ns in namespaces}
    apps = []  # (ns, app, tier)
    for ns in namespaces:
        for a in range(APPS_PER_NS):
            apps.append((ns, f"app-{a}", list(TIERS)[a % len(TIERS)]))
    pods = []  # dict(name, ns, app, tier, ip)
    for i in range(pods_n):
        ns, app, tier = apps[i % len(apps)]
        ns_i = int(ns.split("-")[1])
        # Unique addresses: 10.NS.x.y from the pod's index.
        pods.append(
            {
                "name": f"{app}-{i // len(apps)}",
                "ns": ns,
                "app": app,
                "tier": tier,
                "ip": f"10.{ns_i}.{i // 250}.{i % 250 + 2}",
            }
        )

    def pods_matching(ns_sel, pod_sel, policy_ns):
        """Pods a peer selects: namespaces by labels (or the policy's own), pods by labels."""
        out = []
        for p in pods:
            if ns_sel is None:
                if p["ns"] != policy_ns:
                    continue
            elif any(ns_labels[p["ns"]].get(k) != v for k, v in ns_sel.items()):
                continue
            if pod_sel is not None and any(p[k] != v for k, v in pod_sel.items()):
                continue
            out.append(p)
        return out

    def random_peer(ns):
        kind = rng.choice(["pod", "pod", "ns", "both"])
        pod_sel = None
        ns_sel = None
        if kind in ("pod", "both"):
            if rng.random() < 0.5:
                pod_sel = {"tier": rng.choice(list(TIERS))}
            else:
                pod_sel = {"app": f"app-{rng.randrange(APPS_PER_NS)}"}
        if kind in ("ns", "both"):
            if rng.random() < 0.5:
                ns_sel = {"name": rng.choice(namespaces)}
            else:
                ns_sel = {"env": rng.choice(["prod", "staging", "dev"])}
        return ns_sel, pod_sel

    policies = []
    for n in range(policies_n):
        ns = namespaces[n % NAMESPACES]
        if rng.random() < 0.7:
            a = rng.randrange(APPS_PER_NS)
            tier = list(TIERS)[a % len(TIERS)]
            select = {"app": f"app-{a}"}
        else:
            tier = rng.choice(list(TIERS))
            select = {"tier": tier}
        ports = tier_ports(tier)
        ingress = []
        for _ in range(rng.randint(1, 3)):
            peers = [random_peer(ns) for _ in range(rng.randint(1, 2))]
            rule_ports = rng.sample(ports, rng.randint(1, len(ports)))
            ingress.append((peers, rule_ports))
        egress = None
        if rng.random() < 0.2:
            egress = []
            for _ in range(rng.randint(1, 2)):
                peers = [random_peer(ns)]
                t = rng.choice(list(TIERS))
                egress.append((peers, rng.sample(tier_ports(t), 1)))
        if RICH:
            rich_extras(rng, ingress, egress, ports, namespaces, pods)
            if rng.random() < 0.1:
                ingress = []  # isolates: an empty rule list denies all ingress
        policies.append({"name": f"np-{n}", "ns": ns, "select": select, "ingress": ingress, "egress": egress})
    return namespaces, ns_labels, pods, policies, pods_matching


def rich_extras(rng, ingress, egress, ports, namespaces, pods):
    """Replaces some ports and peers by the richer forms (rules stay lists of
    (peers, ports); a peer may now be a dict, a port a (proto, port-spec))."""
    names = {port: name for t in RICH_TIERS.values() for _, port, name in t}
    for i, (peers, rule_ports) in enumerate(ingress):
        r = rng.random()
        if r < 0.2:
            rule_ports = [(proto, names[port]) for proto, port in rule_ports]  # named
        elif r < 0.3:
            rule_ports = [(rule_ports[0][0], (rule_ports[0][1], rule_ports[0][1] + 1000))]  # endPort
        elif r < 0.35:
            rule_ports = [(rng.choice(["TCP", "UDP"]), None)]  # protocol only
        elif r < 0.4:
            rule_ports = []  # every port
        q = rng.random()
        if q < 0.15:
            ns = rng.choice(namespaces)
            peers = peers + [{"expr": ("env", rng.choice(["In", "NotIn"]), [rng.choice(["prod", "dev"])])}]
        elif q < 0.25:
            # Outside the pod addresses: NCA lets an ipBlock match only
            # addresses outside the cluster, the spec pod addresses too
            # (docs/comparison-nca.md); the e2e data tests cover pod addresses.
            third = rng.randrange(256)
            peers = peers + [{"ipBlock": ("192.168.0.0/16", [f"192.168.{third}.0/24"])}]
        elif q < 0.3:
            peers = peers + [{"exists": rng.choice(["tier", "nolabel"])}]
        elif q < 0.33:
            peers = []  # every source
        ingress[i] = (peers, rule_ports)


def yaml_map(d):
    return "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"


def write_cluster(out, namespaces, ns_labels, pods, policies):
    with open(os.path.join(out, "namespaces.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: NamespaceList\nitems:\n")
        for ns in namespaces:
            f.write(f"- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: {ns}\n    labels: {yaml_map(ns_labels[ns])}\n")
    with open(os.path.join(out, "pods.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: PodList\nitems:\n")
        for p in pods:
            ports = RICH_TIERS[p["tier"]] if RICH else [(a, b, None) for a, b in TIERS[p["tier"]]]
            f.write(
                f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: {p['name']}\n    namespace: {p['ns']}\n"
                f"    labels: {yaml_map({'app': p['app'], 'tier': p['tier']})}\n"
                f"  spec:\n    containers:\n    - name: main\n      image: example/{p['app']}\n      ports:\n"
            )
            for proto, port, pname in ports:
                named = f"        name: {pname}\n" if pname else ""
                f.write(f"      - containerPort: {port}\n{named}        protocol: {proto}\n")
            f.write(f"  status:\n    podIP: {p['ip']}\n    podIPs:\n    - ip: {p['ip']}\n    phase: Running\n")

    def peer_yaml(ns_sel, pod_sel=None, indent=""):
        if isinstance(ns_sel, dict):
            peer = ns_sel
            if "ipBlock" in peer:
                cidr, exc = peer["ipBlock"]
                return f"{indent}- ipBlock:\n{indent}    cidr: {cidr}\n{indent}    except: [{', '.join(exc)}]\n"
            if "expr" in peer:
                key, op, vals = peer["expr"]
                return (f"{indent}- namespaceSelector:\n{indent}    matchExpressions:\n"
                        f"{indent}    - {{key: {key}, operator: {op}, values: [{', '.join(vals)}]}}\n"
                        f"{indent}  podSelector: {{}}\n")
            if "exists" in peer:
                return (f"{indent}- podSelector:\n{indent}    matchExpressions:\n"
                        f"{indent}    - {{key: {peer['exists']}, operator: Exists}}\n")
        s = ""
        first = True
        for key, sel in (("namespaceSelector", ns_sel), ("podSelector", pod_sel)):
            if sel is None:
                continue
            lead = "- " if first else "  "
            s += f"{indent}{lead}{key}:\n{indent}    matchLabels: {yaml_map(sel)}\n"
            first = False
        return s

    with open(os.path.join(out, "policies.yaml"), "w") as f:
        f.write("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicyList\nitems:\n")
        for np in policies:
            types = ["Ingress"] + (["Egress"] if np["egress"] is not None else [])
            f.write(
                f"- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata:\n    name: {np['name']}\n"
                f"    namespace: {np['ns']}\n  spec:\n    podSelector:\n      matchLabels: {yaml_map(np['select'])}\n"
                f"    policyTypes: [{', '.join(types)}]\n"
            )
            for key, rules, peer_key in (("ingress", np["ingress"], "from"), ("egress", np["egress"], "to")):
                if rules is None:
                    continue
                f.write(f"    {key}:\n" if rules else f"    {key}: []\n")
                for peers, ports in rules:
                    f.write(f"    - {peer_key}:\n" if peers else f"    - {peer_key}: []\n")
                    for peer in peers:
                        if isinstance(peer, dict):
                            f.write(peer_yaml(peer, indent="      "))
                        else:
                            f.write(peer_yaml(peer[0], peer[1], "      "))
                    f.write("      ports:\n" if ports else "      ports: []\n")
                    for proto, port in ports:
                        if port is None:
                            f.write(f"      - protocol: {proto}\n")
                        elif isinstance(port, tuple):
                            f.write(f"      - protocol: {proto}\n        port: {port[0]}\n        endPort: {port[1]}\n")
                        else:
                            f.write(f"      - protocol: {proto}\n        port: {port}\n")


def write_scenario(out, pods, policies, pods_matching, pods_n, policies_n, seed):
    selected_in = {p["name"] + "." + p["ns"]: [] for p in pods}
    selected_out = {p["name"] + "." + p["ns"]: [] for p in pods}
    key = lambda p: p["name"] + "." + p["ns"]  # noqa: E731
    for n, np in enumerate(policies):
        for p in pods:
            if p["ns"] == np["ns"] and all(p[k] == v for k, v in np["select"].items()):
                selected_in[key(p)].append(n)
                if np["egress"] is not None:
                    selected_out[key(p)].append(n)

    def rules_of(ns_list, direction):
        rules = []
        for n in ns_list:
            np = policies[n]
            for peers, ports in np[direction]:
                addrs = sorted(
                    {q["ip"] for ns_sel, pod_sel in peers for q in pods_matching(ns_sel, pod_sel, np["ns"])},
                    key=lambda a: tuple(int(x) for x in a.split(".")),
                )
                if not addrs:
                    continue
                port_list = ",".join(str(p) for _, p in ports)
                who = ",".join(addrs)
                if direction == "ingress":
                    rules.append(f"allow tcp from {who} port {port_list}")
                else:
                    rules.append(f"allow tcp to {who} port {port_list}")
        return rules

    filters = {}  # (direction, policies) -> name
    host_lines = []
    for p in pods:
        h = f"{p['name']}-{p['ns']}"
        extra = ""
        for direction, table, hook in (("ingress", selected_in, "input"), ("egress", selected_out, "output")):
            sel = tuple(table[key(p)])
            if not sel:
                continue
            name = filters.setdefault((direction, sel), f"{direction}-{len(filters)}")
            extra += f", {hook}: {name}"
        listen = ", ".join(f'"tcp/{port}"' for _, port in TIERS[p["tier"]])
        host_lines.append(f"  {h}: {{ at: pods {p['ip']}, listen: [{listen}]{extra} }}\n")
    with open(os.path.join(out, "cluster.yaml"), "w") as f:
        f.write(
            f"name: k8s-{pods_n}-{policies_n}\n"
            f"about: >-\n  Generated by scripts/nca-compare.py (seed {seed}): {pods_n} pods, {policies_n}\n"
            "  NetworkPolicies as input/output filters on one flat pod network.\n\n"
            "networks:\n  pods: { cidr: 10.0.0.0/12 }\n\nhosts:\n"
        )
        f.writelines(host_lines)
        f.write("\nfilters:\n")
        for (direction, sel), name in filters.items():
            rules = rules_of(sel, direction)
            f.write(
                f"  {name}:\n    about: \"{direction} of policies {' '.join(policies[n]['name'] for n in sel)}\"\n"
                "    stateful: true\n    default: drop\n    rules:\n"
            )
            for r in rules:
                f.write(f'      - "{r}"\n')
            if not rules:
                f.write("      []\n")
    return len(filters), sum(len(rules_of(sel, d)) for (d, sel) in filters)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--pods", type=int, default=400)
    ap.add_argument("--policies", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rich", action="store_true", help="named ports, ranges, UDP, matchExpressions, ipBlock (no cluster.yaml)")
    a = ap.parse_args()
    global RICH
    RICH = a.rich
    os.makedirs(a.outdir, exist_ok=True)
    namespaces, ns_labels, pods, policies, pods_matching = build(a.pods, a.policies, a.seed)
    write_cluster(a.outdir, namespaces, ns_labels, pods, policies)
    if RICH:
        print(f"{a.pods} pods, {a.policies} policies (rich) in {a.outdir}")
        return
    nfilters, nrules = write_scenario(a.outdir, pods, policies, pods_matching, a.pods, a.policies, a.seed)
    print(f"{a.pods} pods, {a.policies} policies -> {nfilters} filters, {nrules} rules in {a.outdir}")


if __name__ == "__main__":
    main()
