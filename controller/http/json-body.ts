// JSON request bodies, with the line and column of a syntax error. JSON.parse decides what is
// valid (so nothing but JSON gets in); when it refuses, the `yaml` package finds where: YAML 1.2
// parses JSON with positions, and since it also accepts what JSON does not (bare words, single
// quotes, comments, trailing commas), the first node JSON would not accept is looked up in its
// document. V8's own message quotes the input, and a cast body may hold a URL with a secret in
// it, so messages here name at most one character of the body.
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser, type CST, type Node } from 'yaml';

export interface JsonSyntaxError {
  message: string;
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
  /** 0-based offset in the text (UTF-16 code units) */
  position: number;
}

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; error: JsonSyntaxError };

/**
 * Deeper than this, the error is "nested too deeply" without composing a document: yaml composes
 * recursively, and a stack overflow there can abort the process instead of throwing.
 */
export const MAX_JSON_DEPTH = 512;

/** Parses `text` as JSON; never throws. */
export function parseJson(text: string): JsonParseResult {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    const lines = new LineCounter();
    const found = syntaxErrorIn(text, lines);
    const { line, col } = lines.linePos(found.offset);
    return { ok: false, error: { message: found.message, line, column: col, position: found.offset } };
  }
}

interface Found {
  offset: number;
  message: string;
}

function syntaxErrorIn(json: string, lines: LineCounter): Found {
  // JSON reads a lone CR as whitespace, YAML as text; a LF in its place is the same to JSON
  // (whitespace outside strings, a control character inside) and keeps every offset.
  const text = json.replace(/\r(?!\n)/g, '\n');
  // parseDocument() in two steps, to refuse deep nesting before yaml composes it recursively (a
  // stack overflow there can abort the process instead of throwing); its parser is iterative.
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  const deep = tooDeep(tokens);
  if (deep !== undefined) return { offset: deep, message: 'nested too deeply' };
  const [doc] = new Composer({ prettyErrors: false, uniqueKeys: false }).compose(tokens, true, text.length);
  const walked = new JsonWalk(text).document(doc?.contents ?? null);
  if (walked) return walked;
  // yaml saw an error JSON.parse also saw, but the document it recovered looks like JSON.
  const first = doc?.errors[0];
  if (first) return at(text, first.pos[0], first.code === 'BAD_DQ_ESCAPE' ? 'invalid escape in string' : undefined);
  return at(text, text.length);
}

/** Offset of the first collection nested deeper than MAX_JSON_DEPTH. */
function tooDeep(tokens: CST.Token[]): number | undefined {
  const todo = tokens.map((token) => ({ token: token as CST.Token | null | undefined, depth: -1 }));
  let found: number | undefined;
  for (let next = todo.pop(); next; next = todo.pop()) {
    const { token, depth } = next;
    if (!token) continue;
    if (token.type === 'document') todo.push({ token: token.value, depth });
    else if (token.type === 'flow-collection' || token.type === 'block-map' || token.type === 'block-seq') {
      const offset = token.type === 'flow-collection' ? token.start.offset : token.offset;
      if (depth + 1 > MAX_JSON_DEPTH) {
        found = Math.min(found ?? offset, offset);
        continue;
      }
      for (const item of token.items) {
        if ('key' in item) todo.push({ token: item.key, depth: depth + 1 });
        todo.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return found;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

function at(text: string, offset: number, message?: string): Found {
  if (offset >= text.length) return { offset: text.length, message: 'unexpected end of input' };
  return { offset, message: message ?? (text[offset] === '-' ? 'invalid number' : `unexpected character ${JSON.stringify(text[offset])}`) };
}

type Step = { end: number } | { error: Found };

/** Walks a document yaml parsed and stops at the first thing JSON's grammar would not accept. */
class JsonWalk {
  constructor(private readonly text: string) {}

  document(contents: Node | null): Found | undefined {
    const start = this.skipWs(0);
    if (!contents?.range || start < contents.range[0]) return at(this.text, start); // a BOM, a comment, a directive, an anchor...
    const step = this.value(contents, 0, undefined);
    if ('error' in step) return step.error;
    const rest = this.skipWs(step.end);
    return rest < this.text.length ? { offset: rest, message: 'unexpected content after the JSON value' } : undefined;
  }

  private value(node: unknown, depth: number, close: '}' | ']' | undefined): Step {
    if (!isScalar(node) && !isMap(node) && !isSeq(node) && !isAlias(node)) return { error: at(this.text, this.text.length) };
    const [start, end] = node.range as [number, number, number];
    if (isScalar(node)) {
      if (node.type === 'QUOTE_DOUBLE') return this.string(start, end);
      if (node.type !== 'PLAIN') return { error: at(this.text, start) };
      LITERAL.lastIndex = start;
      if (!LITERAL.test(this.text)) return { error: at(this.text, start) };
      if (LITERAL.lastIndex === end) return { end };
      // A bare word that starts like a number or a literal: JSON ends the value there.
      return { error: this.afterValue(this.skipWs(LITERAL.lastIndex), close) };
    }
    if (isAlias(node) || (isSeq(node) && !node.flow)) return { error: at(this.text, start) };
    if (depth > MAX_JSON_DEPTH) return { error: { offset: start, message: 'nested too deeply' } };
    const isObject = isMap(node);
    // A map without braces of its own: its first key starts where it starts.
    const firstKey = isObject ? (node.items[0]?.key as Node | null | undefined) : undefined;
    if (isObject && (!node.flow || this.text[start] !== '{' || firstKey?.range?.[0] === start)) return this.keyAsValue(node, depth, close);
    const myClose = isObject ? '}' : ']';
    let pos = start + 1;
    for (const [i, item] of (node.items as unknown[]).entries()) {
      let g = this.skipWs(pos);
      if (i > 0) {
        if (this.text[g] !== ',') return { error: this.afterValue(g, myClose) };
        g = this.skipWs(g + 1);
      }
      const step = isObject ? this.member(item, g, depth) : this.element(item, g, depth);
      if ('error' in step) return step;
      pos = step.end;
    }
    let g = this.skipWs(pos);
    if (this.text[g] === ',' && node.items.length > 0) return { error: this.expectedMember(this.skipWs(g + 1), isObject) };
    if (node.items.length === 0 && this.text[g] !== myClose) return { error: this.expectedMember(g, isObject) };
    if (this.text[g] !== myClose) return { error: this.afterValue(g, myClose) };
    return { end: g + 1 };
  }

  /** An object member starting at `g`: "key" ws : ws value. */
  private member(item: unknown, g: number, depth: number): Step {
    if (!isPair(item) || !isScalar(item.key) || item.key.type !== 'QUOTE_DOUBLE' || item.key.range![0] !== g) {
      return { error: this.expectedMember(g, true) };
    }
    const key = this.string(item.key.range![0], item.key.range![1]);
    if ('error' in key) return key;
    const colon = this.skipWs(key.end);
    if (this.text[colon] !== ':') return { error: at(this.text, colon, "expected ':' after the property name") };
    const v = this.skipWs(colon + 1);
    if (!item.value || (item.value as Node).range![0] !== v) return { error: at(this.text, v) };
    return this.value(item.value, depth + 1, '}');
  }

  /** An array element starting at `g`. */
  private element(item: unknown, g: number, depth: number): Step {
    const start = (item as Node | null)?.range?.[0];
    if (start !== g) return { error: at(this.text, g) };
    return this.value(item, depth + 1, ']');
  }

  /** `["a": 1]`, `"a": 1` or `{"a": "b" "c": 1}`: yaml reads a map without braces; JSON ends the value after its first key. */
  private keyAsValue(node: Node & { items: unknown[] }, depth: number, close: '}' | ']' | undefined): Step {
    const pair = node.items[0];
    if (!isPair(pair) || !pair.key || (pair.key as Node).range?.[0] !== node.range![0]) return { error: at(this.text, node.range![0]) };
    const key = this.value(pair.key, depth, close);
    if ('error' in key) return key;
    return { error: this.afterValue(this.skipWs(key.end), close) };
  }

  /** A double-quoted string from `start` (its opening quote) up to `end` at most, by JSON's rules. */
  private string(start: number, end: number): Step {
    const t = this.text;
    for (let i = start + 1; i < end; i++) {
      const c = t[i]!;
      if (c === '"') return { end: i + 1 };
      if (c.charCodeAt(0) < 0x20) return { error: { offset: i, message: 'control character in string' } };
      if (c !== '\\') continue;
      const e = t[i + 1];
      if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 1;
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) i += 5;
      else return { error: { offset: i, message: 'invalid escape in string' } };
    }
    return { error: { offset: end, message: 'unterminated string' } };
  }

  private afterValue(g: number, close: '}' | ']' | undefined): Found {
    if (g >= this.text.length) return at(this.text, g);
    return { offset: g, message: close ? `expected ',' or '${close}'` : 'unexpected content after the JSON value' };
  }

  private expectedMember(g: number, isObject: boolean): Found {
    return isObject ? at(this.text, g, 'expected a property name in double quotes') : at(this.text, g);
  }

  private skipWs(i: number): number {
    while (i < this.text.length && WS.has(this.text[i]!)) i++;
    return i;
  }
}
