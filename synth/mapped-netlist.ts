import { readFileSync } from 'node:fs';
import { UserError } from '../core/errors.ts';
import type { Library } from './liberty.ts';

/**
 * A flat mapped netlist read from Yosys `write_json`: ports and library-cell instances over
 * numbered nets (Yosys bit ids). Constant connections are the strings '0'/'1' ('x'/'z' -> 0).
 * "Mapped" = after technology mapping to liberty cells; the generator's own gate IR is
 * `CellNetlist` (generators/multipliers/cell-netlist.ts), a different thing.
 */
export type NetRef = number | '0' | '1';

export interface MappedPort {
  name: string;
  direction: 'input' | 'output' | 'inout';
  /** LSB first. */
  bits: NetRef[];
}

export interface MappedInstance {
  name: string;
  type: string;
  conns: Record<string, NetRef>;
}

export interface MappedNetlist {
  top: string;
  ports: MappedPort[];
  cells: MappedInstance[];
  /** A readable name per net id (public wire name where Yosys kept one). */
  netNames: Map<number, string>;
}

interface YosysJson {
  modules?: Record<
    string,
    {
      attributes?: Record<string, unknown>;
      ports?: Record<string, { direction: string; bits: (number | string)[] }>;
      cells?: Record<string, { type: string; connections: Record<string, (number | string)[]> }>;
      netnames?: Record<string, { hide_name?: number; bits: (number | string)[] }>;
    }
  >;
}

function ref(x: number | string): NetRef {
  if (typeof x === 'number') return x;
  return x === '1' ? '1' : '0';
}

export function readNetlistJson(path: string, top: string): MappedNetlist {
  let data: YosysJson;
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as YosysJson;
  } catch (err) {
    throw new UserError(`netlist ${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const mod = data.modules?.[top];
  if (!mod) throw new UserError(`netlist ${path}: no module '${top}'`);
  const ports: MappedPort[] = Object.entries(mod.ports ?? {}).map(([name, p]) => {
    if (p.direction !== 'input' && p.direction !== 'output' && p.direction !== 'inout')
      throw new UserError(`netlist ${path}: port ${name} has direction ${p.direction}`);
    return { name, direction: p.direction, bits: p.bits.map(ref) };
  });
  const cells: MappedInstance[] = Object.entries(mod.cells ?? {}).map(([name, c]) => {
    const conns: Record<string, NetRef> = {};
    for (const [pin, bits] of Object.entries(c.connections)) {
      // Library gates have 1-bit pins; a submodule instance (hierarchical netlist) may not.
      if (bits.length === 1) conns[pin] = ref(bits[0]!);
      else for (const [i, b] of bits.entries()) conns[`${pin}[${i}]`] = ref(b);
    }
    return { name, type: c.type, conns };
  });
  const netNames = new Map<number, string>();
  for (const [name, n] of Object.entries(mod.netnames ?? {})) {
    n.bits.forEach((b, i) => {
      if (typeof b !== 'number') return;
      const label = n.bits.length > 1 ? `${name}[${i}]` : name;
      const prev = netNames.get(b);
      if (prev === undefined || (prev.startsWith('$') && !n.hide_name)) netNames.set(b, label);
    });
  }
  return { top, ports, cells, netNames };
}

/** Every instance must be a library cell with known pins; otherwise one clear UserError. */
export function checkNetlistAgainstLibrary(n: MappedNetlist, lib: Library, modules: string[] = []): void {
  const unknown = new Set<string>();
  for (const c of n.cells) {
    if (modules.includes(c.type)) continue; // a submodule of a hierarchical (unflattened) netlist
    const lc = lib.cells.get(c.type);
    if (!lc) {
      unknown.add(c.type);
      continue;
    }
    for (const pin of Object.keys(c.conns))
      if (!lc.pins.has(pin)) throw new UserError(`netlist ${n.top}: cell ${c.name} uses pin ${pin} that ${c.type} does not have in ${lib.file}`);
  }
  if (unknown.size)
    throw new UserError(
      `netlist ${n.top} has cells not in liberty ${lib.file}: ${[...unknown].sort().join(', ')}` +
        ' (the library lacks a cell the design needs, e.g. a flip-flop or a tie cell)',
    );
}

export function cellCounts(n: MappedNetlist): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of n.cells) out[c.type] = (out[c.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function netlistArea(n: MappedNetlist, lib: Library): number {
  let a = 0;
  for (const c of n.cells) a += lib.cells.get(c.type)?.area ?? 0;
  return a;
}
