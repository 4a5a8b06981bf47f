/**
 * Liberty `function` / `when` / `next_state` expressions ("(A&B)|!C", "A^B", "A'", "(A B)").
 * Precedence, highest first (Liberty reference): postfix ' and prefix !, then ^, then AND
 * (& * or juxtaposition), then OR (| +). Constants 0/1. The parsed tree compiles either to a
 * scalar evaluator or to a JS expression over 32-bit words (bit-parallel simulation).
 */
export type BoolExpr =
  | { op: 'var'; name: string }
  | { op: 'const'; value: 0 | 1 }
  | { op: 'not'; a: BoolExpr }
  | { op: 'and' | 'or' | 'xor'; a: BoolExpr; b: BoolExpr };

export class BoolExprError extends Error {}

export function parseBoolExpr(src: string): BoolExpr {
  const toks: string[] = [];
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      toks.push(' ');
      while (i < src.length && /\s/.test(src[i]!)) i++;
      continue;
    }
    if ("()!'&*|+^".includes(c)) {
      toks.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < src.length && /[\w.[\]]/.test(src[j]!)) j++;
    if (j === i) throw new BoolExprError(`bad character '${c}' in expression "${src}"`);
    toks.push(src.slice(i, j));
    i = j;
  }
  // Drop spaces that are not implicit ANDs (only between two operands they mean AND).
  const t: string[] = [];
  for (let k = 0; k < toks.length; k++) {
    const x = toks[k]!;
    if (x !== ' ') {
      t.push(x);
      continue;
    }
    const prev = t[t.length - 1];
    const nxt = toks[k + 1];
    const endsOperand = prev !== undefined && (prev === ')' || prev === "'" || /^[\w.[\]]+$/.test(prev));
    const startsOperand = nxt !== undefined && (nxt === '(' || nxt === '!' || /^[\w.[\]]+$/.test(nxt));
    if (endsOperand && startsOperand) t.push('&');
  }
  let p = 0;
  const fail = (msg: string): never => {
    throw new BoolExprError(`${msg} in expression "${src}"`);
  };
  const parseOr = (): BoolExpr => {
    let a = parseAnd();
    while (t[p] === '|' || t[p] === '+') {
      p++;
      a = { op: 'or', a, b: parseAnd() };
    }
    return a;
  };
  const parseAnd = (): BoolExpr => {
    let a = parseXor();
    for (;;) {
      if (t[p] === '&' || t[p] === '*') {
        p++;
        a = { op: 'and', a, b: parseXor() };
      } else if (t[p] !== undefined && (t[p] === '(' || t[p] === '!' || /^[\w.[\]]+$/.test(t[p]!))) {
        a = { op: 'and', a, b: parseXor() };
      } else return a;
    }
  };
  const parseXor = (): BoolExpr => {
    let a = parseUnary();
    while (t[p] === '^') {
      p++;
      a = { op: 'xor', a, b: parseUnary() };
    }
    return a;
  };
  const parseUnary = (): BoolExpr => {
    const x = t[p];
    if (x === undefined) return fail('unexpected end');
    let e: BoolExpr;
    if (x === '!') {
      p++;
      e = { op: 'not', a: parseUnary() };
    } else if (x === '(') {
      p++;
      e = parseOr();
      if (t[p] !== ')') fail("missing ')'");
      p++;
    } else if (/^[\w.[\]]+$/.test(x)) {
      p++;
      e = x === '0' || x === '1' ? { op: 'const', value: x === '1' ? 1 : 0 } : { op: 'var', name: x };
    } else return fail(`unexpected '${x}'`);
    while (t[p] === "'") {
      p++;
      e = { op: 'not', a: e };
    }
    return e;
  };
  if (t.length === 0) fail('empty');
  const e = parseOr();
  if (p !== t.length) fail(`unexpected '${t[p]}'`);
  return e;
}

export function exprVars(e: BoolExpr, out = new Set<string>()): Set<string> {
  switch (e.op) {
    case 'var':
      out.add(e.name);
      break;
    case 'const':
      break;
    case 'not':
      exprVars(e.a, out);
      break;
    default:
      exprVars(e.a, out);
      exprVars(e.b, out);
  }
  return out;
}

/** Scalar evaluation with a variable lookup returning 0/1. */
export function evalBoolExpr(e: BoolExpr, v: (name: string) => number): number {
  switch (e.op) {
    case 'var':
      return v(e.name) & 1;
    case 'const':
      return e.value;
    case 'not':
      return evalBoolExpr(e.a, v) ^ 1;
    case 'and':
      return evalBoolExpr(e.a, v) & evalBoolExpr(e.b, v);
    case 'or':
      return evalBoolExpr(e.a, v) | evalBoolExpr(e.b, v);
    case 'xor':
      return evalBoolExpr(e.a, v) ^ evalBoolExpr(e.b, v);
  }
}

/** A compiled evaluator: values by variable name (0/1). */
export function compileBoolExpr(e: BoolExpr): (vars: Record<string, number>) => number {
  return (vars) =>
    evalBoolExpr(e, (n) => {
      const x = vars[n];
      if (x === undefined) throw new BoolExprError(`variable ${n} has no value`);
      return x;
    });
}

/** JS source computing the expression over 32-bit words; `ref(name)` gives each variable's word. */
export function wordExprSource(e: BoolExpr, ref: (name: string) => string): string {
  switch (e.op) {
    case 'var':
      return ref(e.name);
    case 'const':
      return e.value ? '-1' : '0';
    case 'not':
      return `~(${wordExprSource(e.a, ref)})`;
    case 'and':
      return `(${wordExprSource(e.a, ref)} & ${wordExprSource(e.b, ref)})`;
    case 'or':
      return `(${wordExprSource(e.a, ref)} | ${wordExprSource(e.b, ref)})`;
    case 'xor':
      return `(${wordExprSource(e.a, ref)} ^ ${wordExprSource(e.b, ref)})`;
  }
}

export function formatBoolExpr(e: BoolExpr): string {
  switch (e.op) {
    case 'var':
      return e.name;
    case 'const':
      return String(e.value);
    case 'not':
      return `!${formatBoolExpr(e.a)}`;
    default:
      return `(${formatBoolExpr(e.a)} ${e.op === 'and' ? '&' : e.op === 'or' ? '|' : '^'} ${formatBoolExpr(e.b)})`;
  }
}

/** Verilog source of the expression over 1-bit nets; `ref(name)` gives each variable's net. */
export function verilogExprSource(e: BoolExpr, ref: (name: string) => string): string {
  switch (e.op) {
    case 'var':
      return ref(e.name);
    case 'const':
      return e.value ? "1'b1" : "1'b0";
    case 'not':
      return `~(${verilogExprSource(e.a, ref)})`;
    case 'and':
      return `(${verilogExprSource(e.a, ref)} & ${verilogExprSource(e.b, ref)})`;
    case 'or':
      return `(${verilogExprSource(e.a, ref)} | ${verilogExprSource(e.b, ref)})`;
    case 'xor':
      return `(${verilogExprSource(e.a, ref)} ^ ${verilogExprSource(e.b, ref)})`;
  }
}
