import { describe, expect, it } from 'vitest';
import { domainNames, levelNames, parseLevels } from '../cli/levels.ts';
import { UserError } from '../core/errors.ts';
import { resolveDesign } from '../generators/array/index.ts';

const levels = [
  { name: 'nominal', volts: 1.8 },
  { name: 'low', volts: 1.2 },
  { name: 'vlow', volts: 1.0 },
];
/** A 2 x 3 exact_u8 tile with these voltage domains over `levels`. */
const oneTileWith = (domains: { name: string; columns: number[] }[]) =>
  resolveDesign({ rows: 2, cols: 3, psumBits: 24, cell: 'exact_u8', domains: { levels, domains } });
const oneTile = oneTileWith([
  { name: 'hi', columns: [0] },
  { name: 'lo', columns: [1, 2] },
]);
const twoTiles = resolveDesign({
  rows: 2,
  cols: 2,
  psumBits: 24,
  tiles: [
    { name: 'ta', cell: 'exact_u8', domains: { levels, domains: [{ name: 'd0', columns: [0, 1] }] } },
    {
      name: 'tb',
      cell: 'exact_u8',
      domains: {
        levels,
        domains: [
          { name: 'd0', columns: [0] },
          { name: 'd1', columns: [1] },
        ],
      },
    },
  ],
});

function userError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a UserError');
}

describe('--levels: one grammar for sim gemm and run', () => {
  it('names the domains as the UPF supplies do: bare in one tile, <tile>_<domain> across tiles', () => {
    expect(domainNames(oneTile)).toEqual(['hi', 'lo']);
    expect(domainNames(twoTiles)).toEqual(['ta_d0', 'tb_d0', 'tb_d1']);
  });

  it('one level name sets every domain', () => {
    expect(parseLevels('low', oneTile)).toEqual([1, 1]);
    expect(parseLevels(' vlow ', twoTiles)).toEqual([2, 2, 2]);
  });

  it('domain=level pairs set those domains; the rest stay at the first level', () => {
    expect(parseLevels('lo=low', oneTile)).toEqual([0, 1]);
    expect(parseLevels('hi=vlow, lo=low', oneTile)).toEqual([2, 1]);
    expect(parseLevels('tb_d1=low', twoTiles)).toEqual([0, 0, 1]);
    expect(levelNames(twoTiles, [0, 0, 1])).toEqual({ ta_d0: 'nominal', tb_d0: 'nominal', tb_d1: 'low' });
  });

  it('@named sets every domain to the level of its own name (explore winners name domains so)', () => {
    const named = oneTileWith([
      { name: 'vlow', columns: [0, 2] },
      { name: 'nominal', columns: [1] },
    ]);
    expect(parseLevels('@named', named)).toEqual([2, 0]);
    expect(userError(() => parseLevels('@named', oneTile))).toMatch(/domain 'hi' of design .* has no level of that name/);
  });

  it('bad input is one line naming what exists', () => {
    expect(userError(() => parseLevels('mid', oneTile))).toBe(
      "--levels: no level 'mid' in design ws2x3_exact_u8 (levels: nominal (1.8 V), low (1.2 V), vlow (1 V))",
    );
    expect(userError(() => parseLevels('core=low', oneTile))).toBe("--levels: no voltage domain 'core' in design ws2x3_exact_u8 (domains: hi, lo)");
    expect(userError(() => parseLevels('hi=low,hi=vlow', oneTile))).toMatch(/domain 'hi' given twice/);
    expect(userError(() => parseLevels('hi=', oneTile))).toMatch(/'hi=' is not <domain>=<level>/);
    expect(userError(() => parseLevels('0,1', oneTile))).toMatch(/list without '='/);
    expect(userError(() => parseLevels('', oneTile))).toMatch(/--levels is empty/);
    // Indices are not names: the old `run --levels 0,1` form is refused with the valid names.
    expect(userError(() => parseLevels('1', oneTile))).toMatch(/no level '1'.*nominal/);
  });
});
