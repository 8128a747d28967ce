// The map's layout, computed by elkjs (the Eclipse Layout Kernel) in a web
// worker: networks are boxes holding their single-homed hosts, packed in
// rows; routers and hosts on several networks sit between the boxes; layers
// run from the untrusted networks down, so the internet is on top and each
// tier is one router further away.
import ELK from "elkjs/lib/elk-api.js";

// Made at the first layout: its worker's script (1.6 MB to read) is not
// fetched before the page has a scenario to lay out.
let elk = null;

export const FONT = "13px system-ui, 'DejaVu Sans', sans-serif";
export const HOST_H = 46;
const PAD_TOP = 34;

let measurer = null;
function textWidth(text, font = FONT) {
  if (!measurer) measurer = document.createElement("canvas").getContext("2d");
  measurer.font = font;
  return measurer.measureText(text).width;
}

function hostWidth(host) {
  const name = (host.sensitive ? "★ " : "") + host.name;
  return Math.ceil(Math.max(96, textWidth(name, `600 ${FONT}`) + 26, textWidth(subLabel(host), "12px system-ui, 'DejaVu Sans', sans-serif") + 20));
}

/** The second line of a host's node: its kind, or its first address. */
export function subLabel(host) {
  if (host.kind === "firewall") return "firewall";
  if (host.kind === "router") return "router";
  return host.interfaces.flatMap((i) => i.addrs)[0] || "";
}

/**
 * Lays out a scenario: resolves to `{ width, height, nets, nodes }` in
 * absolute coordinates, `nets` the network boxes and `nodes` each host's box
 * by name.
 */
export async function layout(scn) {
  const netIdx = new Map(scn.networks.map((n, i) => [n.name, i]));
  const members = scn.networks.map(() => []);
  const connectors = [];
  const loose = [];
  for (const host of scn.hosts) {
    const nets = [...new Set(host.interfaces.map((i) => i.network))];
    if (nets.length > 1 || host.kind !== "host") connectors.push({ host, nets });
    else if (nets.length === 1) members[netIdx.get(nets[0])].push(host);
    else loose.push(host);
  }
  // Levels: a breadth-first walk from the untrusted networks over networks
  // and the devices joining them; edges point away from the untrusted side.
  const level = new Map();
  const start = scn.networks.filter((n) => n.trust === "untrusted").map((n) => `net:${n.name}`);
  if (!start.length && scn.networks.length) start.push(`net:${scn.networks[0].name}`);
  const adj = new Map();
  const link = (a, b) => {
    if (!adj.has(a)) adj.set(a, []);
    if (!adj.has(b)) adj.set(b, []);
    adj.get(a).push(b);
    adj.get(b).push(a);
  };
  for (const c of connectors) for (const n of c.nets) link(`host:${c.host.name}`, `net:${n}`);
  let frontier = start;
  for (const id of frontier) level.set(id, 0);
  while (frontier.length) {
    const next = [];
    for (const id of frontier) {
      for (const m of adj.get(id) || []) {
        if (!level.has(m)) {
          level.set(m, level.get(id) + 1);
          next.push(m);
        }
      }
    }
    frontier = next;
  }
  const lv = (id) => (level.has(id) ? level.get(id) : 1e6);

  const children = [];
  scn.networks.forEach((n, i) => {
    const hosts = members[i];
    children.push({
      id: `net:${n.name}`,
      layoutOptions: {
        "elk.algorithm": "rectpacking",
        "elk.aspectRatio": hosts.length > 6 ? "2.4" : "8",
        "elk.padding": `[top=${PAD_TOP},left=12,bottom=12,right=12]`,
        "elk.spacing.nodeNode": "12",
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${Math.ceil(Math.max(150, textWidth(n.name + "  ⚠ untrusted", `700 ${FONT}`) + 30))},${PAD_TOP + 26})`,
      },
      children: hosts.map((h) => ({ id: `host:${h.name}`, width: hostWidth(h), height: HOST_H })),
    });
  });
  if (loose.length) {
    children.push({
      id: "net:(no network)",
      layoutOptions: { "elk.algorithm": "rectpacking", "elk.padding": `[top=${PAD_TOP},left=12,bottom=12,right=12]`, "elk.spacing.nodeNode": "12" },
      children: loose.map((h) => ({ id: `host:${h.name}`, width: hostWidth(h), height: HOST_H })),
    });
  }
  for (const c of connectors) children.push({ id: `host:${c.host.name}`, width: hostWidth(c.host), height: HOST_H + 4 });
  const edges = [];
  for (const c of connectors) {
    for (const n of c.nets) {
      const a = `host:${c.host.name}`, b = `net:${n}`;
      const [src, dst] = lv(a) <= lv(b) ? [a, b] : [b, a];
      edges.push({ id: `e:${c.host.name}:${n}`, sources: [src], targets: [dst] });
    }
  }
  const graph = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.padding": "[top=14,left=14,bottom=14,right=14]",
      "elk.spacing.nodeNode": "22",
      "elk.layered.spacing.nodeNodeBetweenLayers": "30",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
      "elk.separateConnectedComponents": "false",
    },
    children,
    edges,
  };
  elk ??= new ELK({ workerUrl: "vendor/elk-worker.min.js" });
  const done = await elk.layout(graph);
  const nets = [];
  const nodes = new Map();
  const byName = new Map(scn.hosts.map((h) => [h.name, h]));
  const netByName = new Map(scn.networks.map((n) => [n.name, n]));
  for (const c of done.children) {
    const [kind, name] = [c.id.slice(0, c.id.indexOf(":")), c.id.slice(c.id.indexOf(":") + 1)];
    if (kind === "net") {
      nets.push({ name, x: c.x, y: c.y, w: c.width, h: c.height, net: netByName.get(name) || { name, prefixes: [], trust: "trusted" } });
      for (const k of c.children || []) {
        const hn = k.id.slice(5);
        nodes.set(hn, { x: c.x + k.x, y: c.y + k.y, w: k.width, h: k.height, host: byName.get(hn), net: name });
      }
    } else {
      nodes.set(name, { x: c.x, y: c.y, w: c.width, h: c.height, host: byName.get(name), net: null });
    }
  }
  return { width: Math.ceil(done.width), height: Math.ceil(done.height), nets, nodes };
}
