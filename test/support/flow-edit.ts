// Test support: small edits of preset flows (remove a node and wire around it, find nodes).
type N = Record<string, unknown> & { id?: string; wires?: string[][] };

/** Removes every node of `type` and connects whatever fed it to whatever it fed (output 1). */
export function bypass(nodes: N[], type: string): void {
  for (let i = nodes.length - 1; i >= 0; i--) {
    const victim = nodes[i];
    if (victim.type !== type) continue;
    const next = (victim.wires?.[0] ?? []) as string[];
    for (const n of nodes) {
      if (!n.wires) continue;
      n.wires = n.wires.map((port) => port.flatMap((target) => (target === victim.id ? next : [target])));
    }
    nodes.splice(i, 1);
  }
}
