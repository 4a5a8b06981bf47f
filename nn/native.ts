import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildAddon, cpuSignature, NODE_HEADERS } from '../core/addon.ts';
import { render } from '../core/templates.ts';
import { toolVersions } from '../core/tools.ts';
import { loadNativeAddon, type NativeStatus, nativeDisabled, setNativeStatus } from './native-load.ts';

export { loadNativeAddon, type NativeKernels, type NativeStatus, nativeDisabled, nativeKernels, nativeStatus, splitBank } from './native-load.ts';

/**
 * Native twins of the engine's hot kernels (im2col, LUT GEMM, exact GEMM, requantization): a C++ N-API
 * addon rendered from templates/nn/kernels.cpp.hbs, compiled with g++ through runTool and cached
 * by content. The JS kernels in nn/gemm.ts stay the reference and the fallback: when the addon
 * cannot be built (no g++, no node headers) the engine warns once on stderr and runs in JS.
 *
 * Lifecycle: `prepareNativeKernels()` (async, main thread) builds + loads it; worker threads get
 * the built path and call `loadNativeAddon(path)` synchronously (the module is context-aware).
 * AXTPU_NN_NATIVE=0 forces the JS kernels (reference runs, A/B measurements).
 * The loaded state lives in nn/native-load.ts (light: imported by gemm.ts and the workers).
 */
export { NODE_HEADERS };

/**
 * VBMI kernel blocking: output channels per pass x blocks of 64 positions sharing one load of a table
 * row (4 zmm accumulators each). Measured (G lookups per CPU-second, loaded machine, 3 layer
 * shapes): 4 x 1 5-10, 4 x 2 8-12, 2 x 2 9-12, 1 x 4 10-13, 1 x 5 and 2 x 3 the same as 1 x 4:
 * the 512-byte row loads from L2, not the byte permutes, were the limit.
 */
const OC_BLOCK = 1;
const POSITION_BLOCKS = 4;
const CXX_FLAGS = ['-std=c++17', '-O3', '-march=native', '-fwrapv', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wno-unused-function'];

export function kernelSource(): string {
  return render('nn/kernels.cpp', { ocBlock: OC_BLOCK, positionBlocks: POSITION_BLOCKS });
}

async function build(): Promise<{ path: string; hit: boolean }> {
  return buildAddon({ kind: 'nn-native', name: 'axtpu_nn', source: kernelSource(), flags: CXX_FLAGS, version: 1 });
}

let preparing: Promise<NativeStatus> | undefined;
let warned = false;

/**
 * Build (cached) and load the addon in this thread. Never throws: on failure it prints one
 * warning line on stderr (once per process) and the engine keeps its JS kernels.
 */
export function prepareNativeKernels(): Promise<NativeStatus> {
  if (nativeDisabled()) return Promise.resolve({ ok: false, reason: 'disabled by AXTPU_NN_NATIVE=0' });
  preparing ??= (async () => {
    let status: NativeStatus;
    try {
      const { path, hit } = await build();
      const k = loadNativeAddon(path);
      status = { ok: true, path, simd: k.simd, hit };
      setNativeStatus(status);
    } catch (err) {
      const reason = ((err as Error).message ?? String(err)).split('\n')[0]!;
      status = { ok: false, reason };
      setNativeStatus(status);
      if (!warned) {
        warned = true;
        process.stderr.write(`axtpu: warning: native DNN kernels unavailable (${reason}); using the slower JS kernels\n`);
      }
    }
    return status;
  })();
  return preparing;
}

/**
 * For `axtpu doctor` (synchronous, builds nothing): can the addon be built on this machine?
 * Informational: without it the engine still runs, on the slower JS kernels.
 */
export function nativeDoctorStatus(): { ok: boolean; detail: string } {
  if (nativeDisabled()) return { ok: false, detail: 'disabled by AXTPU_NN_NATIVE=0 (JS kernels)' };
  const cxx = toolVersions(['c++'])['c++'];
  if (!cxx || cxx === 'missing') return { ok: false, detail: 'g++ not found: the DNN engine falls back to its JS kernels' };
  if (!existsSync(join(NODE_HEADERS, 'node_api.h')))
    return { ok: false, detail: `no Node-API headers in ${NODE_HEADERS} (they ship with the nodejs package): JS kernels` };
  const simd = /\bavx512vbmi\b/.test(cpuSignature()) ? 'AVX-512 VBMI LUT kernel' : 'scalar LUT kernel';
  return { ok: true, detail: `buildable with g++ ${cxx} (${simd}); built on first use, cached` };
}
