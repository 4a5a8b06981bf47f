import { UserError } from '../core/errors.ts';

/**
 * Liberty (.lib) syntax: a tree of groups `name (args) { ... }` holding simple attributes
 * `name : value ;` and complex attributes `name (v1, v2, ...) ;`. This module only builds the
 * tree; `liberty.ts` gives it meaning. Handles C comments, `//` comments, quoted strings and
 * `\`-newline line continuations. Any syntax error or truncation -> UserError with file:line.
 */
export interface LibAttr {
  name: string;
  value: string;
  line: number;
}

export interface LibComplex {
  name: string;
  args: string[];
  line: number;
}

export interface LibGroup {
  type: string;
  args: string[];
  line: number;
  attrs: LibAttr[];
  complex: LibComplex[];
  groups: LibGroup[];
}

type TokKind = 'word' | 'string' | 'punct';
interface Token {
  kind: TokKind;
  text: string;
  line: number;
}

const PUNCT = new Set(['(', ')', '{', '}', ':', ';', ',']);

function tokenize(text: string, file: string): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\\') {
      // Line continuation: backslash followed by optional spaces and a newline.
      let j = i + 1;
      while (j < n && (text[j] === ' ' || text[j] === '\t' || text[j] === '\r')) j++;
      if (j < n && text[j] === '\n') {
        i = j + 1;
        line++;
        continue;
      }
      throw new UserError(`${file}:${line}: stray backslash`);
    }
    if (c === '/' && text[i + 1] === '*') {
      const start = line;
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new UserError(`${file}:${start}: unterminated comment (file truncated?)`);
      for (let k = i; k < end; k++) if (text.charCodeAt(k) === 10) line++;
      i = end + 2;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '"') {
      const start = line;
      let j = i + 1;
      let s = '';
      while (j < n && text[j] !== '"') {
        if (text[j] === '\\' && (text[j + 1] === '\n' || text[j + 1] === '\r')) {
          // continuation inside a string (values ( "..." \ newline ...) is outside strings, but tolerate it)
          j += text[j + 1] === '\r' ? 3 : 2;
          line++;
          continue;
        }
        if (text[j] === '\n') line++;
        s += text[j];
        j++;
      }
      if (j >= n) throw new UserError(`${file}:${start}: unterminated string (file truncated?)`);
      toks.push({ kind: 'string', text: s, line: start });
      i = j + 1;
      continue;
    }
    if (PUNCT.has(c)) {
      toks.push({ kind: 'punct', text: c, line });
      i++;
      continue;
    }
    let j = i;
    while (j < n) {
      const d = text[j]!;
      if (d === ' ' || d === '\t' || d === '\n' || d === '\r' || d === '"' || PUNCT.has(d)) break;
      if (d === '/' && (text[j + 1] === '*' || text[j + 1] === '/')) break;
      if (d === '\\') break;
      j++;
    }
    toks.push({ kind: 'word', text: text.slice(i, j), line });
    i = j;
  }
  return toks;
}

/** Parse liberty text into its group tree (the top-level `library` group). */
export function parseLibertySyntax(text: string, file = 'liberty'): LibGroup {
  const toks = tokenize(text, file);
  let p = 0;
  const lastLine = toks.length ? toks[toks.length - 1]!.line : 1;
  const peek = (): Token | undefined => toks[p];
  const next = (what: string): Token => {
    const t = toks[p++];
    if (!t) throw new UserError(`${file}:${lastLine}: unexpected end of file, expected ${what} (file truncated?)`);
    return t;
  };
  const _expect = (text: string): Token => {
    const t = next(`'${text}'`);
    if (t.kind !== 'punct' || t.text !== text) throw new UserError(`${file}:${t.line}: expected '${text}', found '${t.text}'`);
    return t;
  };

  const parseArgs = (): string[] => {
    // after '(' : values separated by commas until ')'
    const args: string[] = [];
    let first = true;
    for (;;) {
      const t = next("')'");
      if (t.kind === 'punct' && t.text === ')') {
        if (first || args.length > 0) return args;
        return args;
      }
      if (t.kind === 'punct' && t.text === ',') {
        continue;
      }
      if (t.kind === 'punct') throw new UserError(`${file}:${t.line}: unexpected '${t.text}' in argument list`);
      // Words separated by spaces inside parentheses (e.g. `ff (IQ, IQN)`) are separate args.
      args.push(t.text);
      first = false;
    }
  };

  const parseBody = (group: LibGroup, closing: boolean): void => {
    for (;;) {
      const t = peek();
      if (!t) {
        if (closing)
          throw new UserError(`${file}:${lastLine}: unexpected end of file inside group '${group.type}' opened at line ${group.line} (file truncated?)`);
        return;
      }
      if (t.kind === 'punct' && t.text === '}') {
        if (!closing) throw new UserError(`${file}:${t.line}: unmatched '}'`);
        p++;
        return;
      }
      if (t.kind === 'punct' && t.text === ';') {
        p++;
        continue;
      }
      if (t.kind !== 'word') throw new UserError(`${file}:${t.line}: expected an attribute or group name, found '${t.text}'`);
      p++;
      const name = t.text;
      const sep = next(`':' or '(' after '${name}'`);
      if (sep.kind === 'punct' && sep.text === ':') {
        const v = next(`a value for '${name}'`);
        if (v.kind === 'punct') throw new UserError(`${file}:${v.line}: missing value for '${name}'`);
        // Values may be expressions of several words (e.g. `a + b`): join until ';' or newline-started name.
        let value = v.text;
        while (peek() && peek()!.kind !== 'punct' && peek()!.line === v.line) value += ` ${next('value').text}`;
        const semi = peek();
        if (semi && semi.kind === 'punct' && semi.text === ';') p++;
        else if (!semi) throw new UserError(`${file}:${v.line}: unexpected end of file after '${name}' (file truncated?)`);
        group.attrs.push({ name, value, line: t.line });
      } else if (sep.kind === 'punct' && sep.text === '(') {
        const args = parseArgs();
        const after = peek();
        if (after && after.kind === 'punct' && after.text === '{') {
          p++;
          const child: LibGroup = { type: name, args, line: t.line, attrs: [], complex: [], groups: [] };
          parseBody(child, true);
          group.groups.push(child);
        } else {
          if (after && after.kind === 'punct' && after.text === ';') p++;
          else if (!after) throw new UserError(`${file}:${t.line}: unexpected end of file after '${name}(...)' (file truncated?)`);
          group.complex.push({ name, args, line: t.line });
        }
      } else {
        throw new UserError(`${file}:${sep.line}: expected ':' or '(' after '${name}', found '${sep.text}'`);
      }
    }
  };

  const root: LibGroup = { type: '<root>', args: [], line: 1, attrs: [], complex: [], groups: [] };
  parseBody(root, false);
  const lib = root.groups.find((g) => g.type === 'library');
  if (!lib) throw new UserError(`${file}:1: no 'library (...) { }' group found (not a liberty file?)`);
  return lib;
}

export function attr(g: LibGroup, name: string): LibAttr | undefined {
  return g.attrs.find((a) => a.name === name);
}

export function groupsOf(g: LibGroup, type: string): LibGroup[] {
  return g.groups.filter((c) => c.type === type);
}
