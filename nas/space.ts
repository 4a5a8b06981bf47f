import { UserError } from '../core/errors.ts';
import { readJsonFile, z } from '../core/validate.ts';

/**
 * The search space of `axtpu nas` (docs/nas.md, Search space): stages of convolutions, each with
 * choices for depth, width, kernel, stride and residual, then a dense head with choices for its
 * hidden width (0 = no hidden layer). An architecture is one choice per gene; the genes are, per
 * stage in order, depth, width, kernel, stride, residual, then the head's hidden width.
 *
 * `networkOf` is the one meaning of an architecture: every layer's name and size. The training
 * script (scripts/train/nas_train.py) only instantiates what it describes.
 */
const choices = <T extends z.ZodTypeAny>(t: T) => z.array(t).min(1, 'a gene needs at least one choice');
const stageSchema = z
  .object({
    depth: choices(z.number().int().min(1).max(6)),
    width: choices(z.number().int().min(1).max(256)),
    // Odd kernels: 'same' padding k // 2 keeps the size at stride 1.
    kernel: choices(
      z
        .number()
        .int()
        .min(1)
        .max(7)
        .refine((k) => k % 2 === 1, 'kernel sizes must be odd (same padding k // 2)'),
    ),
    stride: choices(z.number().int().min(1).max(3)),
    residual: choices(z.boolean()),
  })
  .strict();
export const spaceSchema = z
  .object({
    /** Input channels, height, width and classes the networks are built for (the dataset must match). */
    input: z.tuple([z.number().int().min(1).max(16), z.number().int().min(1).max(512), z.number().int().min(1).max(512)]).default([1, 28, 28]),
    classes: z.number().int().min(2).max(1000).default(10),
    stages: z.array(stageSchema).min(1, 'the space needs at least one stage').max(6),
    hidden: choices(z.number().int().min(0).max(1024)),
  })
  .strict();
export type Space = z.infer<typeof spaceSchema>;

export interface StageArch {
  depth: number;
  width: number;
  kernel: number;
  stride: number;
  /** Identity skip over the stage's later convs; always false for depth 1 (nothing to skip). */
  residual: boolean;
}
export interface Architecture {
  stages: StageArch[];
  hidden: number;
}

export const GENES_PER_STAGE = 5;

/** Choices per gene (what NSGA-II draws from). */
export function geneChoices(s: Space): number[] {
  return [...s.stages.flatMap((st) => [st.depth.length, st.width.length, st.kernel.length, st.stride.length, st.residual.length]), s.hidden.length];
}

/** The architecture a genome picks; canonical (a depth-1 stage is never residual), so equal networks compare equal. */
export function decode(s: Space, genome: number[]): Architecture {
  const stages = s.stages.map((st, i) => {
    const g = genome.slice(i * GENES_PER_STAGE, (i + 1) * GENES_PER_STAGE);
    const depth = st.depth[g[0]!]!;
    return { depth, width: st.width[g[1]!]!, kernel: st.kernel[g[2]!]!, stride: st.stride[g[3]!]!, residual: depth > 1 && st.residual[g[4]!]! };
  });
  return { stages, hidden: s.hidden[genome[s.stages.length * GENES_PER_STAGE]!]! };
}

export interface ConvSpec {
  name: string;
  cin: number;
  cout: number;
  kernel: number;
  stride: number;
  pad: number;
  /** Output height and width. */
  oh: number;
  ow: number;
}
export interface Network {
  stages: { convs: ConvSpec[]; residual: boolean }[];
  dense: { name: string; in: number; out: number }[];
  /** Multiply-accumulates per image of the conv and dense layers (what `axtpu eval` counts). */
  macs: number;
}

const outSize = (n: number, k: number, s: number) => Math.floor((n + 2 * Math.floor(k / 2) - k) / s) + 1;

/** Every layer of an architecture: names (readable ONNX node names /s1c1/Conv, /fc1/Gemm, /out/Gemm) and sizes. */
export function networkOf(a: Architecture, input: [number, number, number], classes: number): Network {
  let [c, h, w] = input;
  let macs = 0;
  const stages = a.stages.map((st, si) => {
    const convs: ConvSpec[] = [];
    for (let d = 0; d < st.depth; d++) {
      const stride = d === 0 ? st.stride : 1;
      const oh = outSize(h, st.kernel, stride);
      const ow = outSize(w, st.kernel, stride);
      convs.push({ name: `s${si + 1}c${d + 1}`, cin: c, cout: st.width, kernel: st.kernel, stride, pad: Math.floor(st.kernel / 2), oh, ow });
      macs += oh * ow * st.width * c * st.kernel * st.kernel;
      [c, h, w] = [st.width, oh, ow];
    }
    return { convs, residual: st.residual };
  });
  const flat = c * h * w;
  const dense =
    a.hidden > 0
      ? [
          { name: 'fc1', in: flat, out: a.hidden },
          { name: 'out', in: a.hidden, out: classes },
        ]
      : [{ name: 'out', in: flat, out: classes }];
  for (const d of dense) macs += d.in * d.out;
  return { stages, dense, macs };
}

/**
 * Refuse a space any of whose architectures would be an invalid network: a kernel larger than the
 * feature map it slides over (checked where the map is smallest: every earlier stage at its
 * largest stride). One line naming the stage.
 */
export function checkSpace(s: Space, source: string): void {
  let [h, w] = [s.input[1], s.input[2]];
  const strided: number[] = [];
  for (const [i, st] of s.stages.entries()) {
    const k = Math.max(...st.kernel);
    const stride = Math.max(...st.stride);
    const after = (n: number) => outSize(n, k, stride);
    const where = strided.length ? ` (after stride ${strided.join(', ')} in stages 1-${strided.length})` : '';
    if (k > Math.min(h, w))
      throw new UserError(`${source}: stage ${i + 1} kernel ${k} does not fit its ${h}x${w} input${where}; that architecture is not a valid network`);
    const [oh, ow] = [after(h), after(w)];
    if (Math.max(...st.depth) > 1 && k > Math.min(oh, ow))
      throw new UserError(
        `${source}: stage ${i + 1} kernel ${k} does not fit the ${oh}x${ow} map after its stride ${stride}${where}; that architecture is not a valid network`,
      );
    [h, w] = [oh, ow];
    strided.push(stride);
  }
}

export function readSpace(path: string): Space {
  const s = readJsonFile(spaceSchema, path, '--space');
  checkSpace(s, `--space ${path}`);
  return s;
}

/** A short readable name: s1 d2 w16 k3 s1 r, ... h64. */
export function archLabel(a: Architecture): string {
  const st = a.stages.map((s) => `${s.depth}x${s.width}k${s.kernel}${s.stride > 1 ? `s${s.stride}` : ''}${s.residual ? 'r' : ''}`);
  return `${st.join('-')}${a.hidden ? `-h${a.hidden}` : ''}`;
}

/** MACs per image of the smallest and largest architecture of the space (every gene at its extreme). */
export function macRange(s: Space): [number, number] {
  const min = (xs: number[]) => Math.min(...xs);
  const max = (xs: number[]) => Math.max(...xs);
  const pick = (small: boolean) => {
    const [f, g] = small ? [min, max] : [max, min]; // the largest stride gives the fewest MACs
    return {
      stages: s.stages.map((st) => ({ depth: f(st.depth), width: f(st.width), kernel: f(st.kernel), stride: g(st.stride), residual: false })),
      hidden: f(s.hidden),
    };
  };
  return [networkOf(pick(true), s.input, s.classes).macs, networkOf(pick(false), s.input, s.classes).macs];
}
