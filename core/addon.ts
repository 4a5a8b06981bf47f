import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from './cache.ts';
import { runTool } from './runner.ts';
import { toolVersions } from './tools.ts';

/**
 * Native N-API addons compiled from one rendered C++ source with g++ (through runTool), cached by
 * content: source, flags, Node and N-API versions, compiler version and, for -march=native code,
 * the CPU. Used by the DNN engine's kernels (nn/native.ts) and the timed simulator
 * (synth/timed-native.ts); each keeps its JS kernels as the reference and the fallback.
 */
export const NODE_HEADERS = '/usr/include/node';

/** -march=native code depends on the CPU: key the cache on its model and feature flags. */
export function cpuSignature(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    const flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    return `${model} | ${flags}`;
  } catch {
    return 'unknown';
  }
}

export async function buildAddon(o: { kind: string; name: string; source: string; flags: string[]; version: number }): Promise<{ path: string; hit: boolean }> {
  if (!existsSync(join(NODE_HEADERS, 'node_api.h'))) throw new Error(`Node-API headers not found in ${NODE_HEADERS} (they ship with the nodejs package)`);
  const res = await cached(
    {
      kind: o.kind,
      inputs: {
        v: o.version,
        source: o.source,
        flags: o.flags,
        node: process.versions.node,
        napi: process.versions.napi,
        tools: toolVersions(['c++']),
        cpu: cpuSignature(),
      },
    },
    async (dir) => {
      writeFileSync(join(dir, `${o.name}.cpp`), o.source);
      await runTool({
        tool: 'g++',
        args: [...o.flags, `-I${NODE_HEADERS}`, '-o', `${o.name}.node`, `${o.name}.cpp`],
        cwd: dir,
        logFile: join(dir, 'build.log'),
        timeoutMs: 180_000,
      });
    },
  );
  return { path: join(res.dir, `${o.name}.node`), hit: res.hit };
}

/** Load a built addon into this thread. */
export function loadAddon<T>(path: string): T {
  const mod = { exports: {} as T };
  process.dlopen(mod, path);
  return mod.exports;
}
