import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJson } from '../../../controller/http/json-body.js';

/** What a message may say: fixed words, and at most one character of the body. */
function quotesNothing(message: string): boolean {
  const quoted = /^unexpected character (".*")$/.exec(message)?.[1];
  if (quoted !== undefined) return (JSON.parse(quoted) as string).length === 1;
  return [
    'unexpected end of input',
    'unexpected content after the JSON value',
    "expected ',' or '}'",
    "expected ',' or ']'",
    "expected ':' after the property name",
    'expected a property name in double quotes',
    'control character in string',
    'invalid escape in string',
    'unterminated string',
    'invalid number',
    'nested too deeply',
  ].includes(message);
}

/** Line and column of `position` as an editor shows them (LF, CRLF or a lone CR ends a line). */
function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.replace(/\r(?!\n)/g, '\n').slice(0, position);
  return { line: before.split('\n').length, column: position - before.lastIndexOf('\n') };
}

function errorOf(text: string) {
  const r = parseJson(text);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(text)}`);
  return r.error;
}

describe('parseJson', () => {
  it('accepts what JSON.parse accepts, with the same value', () => {
    for (const t of ['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9"]} ', '"s"', '0', '{"a": 1, "a": 2}', '{"__proto__": {"x": 1}}']) {
      expect(parseJson(t), t).toEqual({ ok: true, value: JSON.parse(t) });
    }
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(parseJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
      }),
    );
  });

  it('rejects what JSON.parse rejects, at a position inside the text, quoting nothing of it', () => {
    const pieces = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '\r', '\t', 'a', '1', '-', '.', 'e', 'true', 'null', '"k":', '#', "'", '&', '*', '!', '?', '|', '- ', 'x: ', '---', '\u0001', '\ufeff'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }).map((p) => p.join('')), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const r = parseJson(text);
        expect(r.ok).toBe(valid);
        if (r.ok) return;
        expect(r.error.position).toBeGreaterThanOrEqual(0);
        expect(r.error.position).toBeLessThanOrEqual(text.length);
        expect({ line: r.error.line, column: r.error.column }).toEqual(lineAndColumn(text, r.error.position));
        expect(quotesNothing(r.error.message), r.error.message).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on any text, bytes decoded included, and agrees with JSON.parse', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b).toString('utf8')),
      fc.jsonValue({ maxDepth: 3 }).chain((v) => fc.nat({ max: 40 }).map((cut) => (JSON.stringify(v) ?? '').slice(0, cut))),
    );
    fc.assert(
      fc.property(text, (t) => {
        let valid = true;
        try {
          JSON.parse(t);
        } catch {
          valid = false;
        }
        const r = parseJson(t); // a throw here fails the property
        expect(r.ok).toBe(valid);
        if (!r.ok) {
          expect(r.error.position).toBeGreaterThanOrEqual(0);
          expect(r.error.position).toBeLessThanOrEqual(t.length);
          expect(quotesNothing(r.error.message), r.error.message).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('places each JSON mistake where JSON reads it', () => {
    const invalid: Array<[string, number, string]> = [
      ['{', 1, 'unexpected end of input'],
      ['{"a" 1}', 5, "expected ':'"],
      ['{"a":1,}', 7, 'expected a property name'],
      ['[1 2]', 3, "expected ',' or ']'"],
      ['{"a":"x\ty"}', 7, 'control character'],
      ['{"a":01}', 6, "expected ',' or '}'"],
      ['{} x', 3, 'unexpected content after'],
      ['"\\q"', 1, 'invalid escape'],
      ['['.repeat(600), 513, 'nested too deeply'],
      ['"abc', 4, 'unterminated string'],
      ['"abc\\"', 6, 'unterminated string'],
      ['{"a": [1, 2}', 11, "expected ',' or ']'"],
      ['{"a":1}}', 7, 'unexpected content after'],
      ['[-]', 1, 'invalid number'],
      ['[1.]', 2, "expected ',' or ']'"],
    ];
    for (const [t, position, msg] of invalid) {
      const e = errorOf(t);
      expect(e.position, t).toBe(position);
      expect(e.message, t).toContain(msg);
    }
  });

  it('refuses what YAML would accept and JSON does not, at the first character JSON refuses', () => {
    const yamlisms: Array<[string, number, string]> = [
      ['{"device": "TV", "url": https://cam.example/?token=SECRETQ}', 24, 'unexpected character "h"'],
      ['{a: 1}', 1, 'expected a property name in double quotes'],
      ["{'a': 1}", 1, 'expected a property name in double quotes'],
      ['{"a": \'x\'}', 6, 'unexpected character "\'"'],
      ['{"a": 1} # note', 9, 'unexpected content after the JSON value'],
      ['{"a": 1, # note\n "b": 2}', 9, 'expected a property name in double quotes'],
      ['[1, 2,]', 6, 'unexpected character "]"'],
      ['- 1', 0, 'invalid number'],
      ['a: 1', 0, 'unexpected character "a"'],
      ['{"a": &x 1}', 6, 'unexpected character "&"'],
      ['[*x]', 1, 'unexpected character "*"'],
      ['{"a": !!str 1}', 6, 'unexpected character "!"'],
      ['{"a": yes}', 6, 'unexpected character "y"'],
      ['{"a": .5}', 6, 'unexpected character "."'],
      ['{"a": 0x10}', 7, "expected ',' or '}'"],
      ['{"a": 1_000}', 7, "expected ',' or '}'"],
      ['"\\x41"', 1, 'invalid escape in string'],
      ['---\n{}', 0, 'invalid number'],
      ['%YAML 1.2\n---\n{}', 0, 'unexpected character "%"'],
      ['{"a": |\n  x\n}', 6, 'unexpected character "|"'],
      ['{? "a": 1}', 1, 'expected a property name in double quotes'],
      ['{"a": 1}\n---\n{"b": 2}', 9, 'unexpected content after the JSON value'],
      ['\ufeff{}', 0, 'unexpected character "\ufeff"'],
      ['["a": 1]', 4, "expected ',' or ']'"],
      ['{"a": "b" "c": 1}', 10, "expected ',' or '}'"],
      ['{"a": "multi\nline"}', 12, 'control character in string'],
      ['{"a": NaN}', 6, 'unexpected character "N"'],
      ['[{}: 1]', 3, "expected ',' or ']'"],
      ['? "a"', 0, 'unexpected character "?"'],
    ];
    for (const [t, position, message] of yamlisms) {
      const e = errorOf(t);
      expect([e.position, e.message], t).toEqual([position, message]);
    }
  });

  it('gives 1-based line and column across LF and CRLF line ends', () => {
    expect(errorOf('{"device": "TV",\n "url": https://cam.example/}')).toEqual({ message: 'unexpected character "h"', line: 2, column: 9, position: 25 });
    expect(errorOf('{\r\n  "a": 1,\r\n  "b": nope\r\n}')).toMatchObject({ line: 3, column: 8, position: 21 });
  });

  it(`walks ${MAX_JSON_DEPTH + 1} levels and refuses deeper nesting, block or flow, before yaml composes it`, () => {
    const deepest = '['.repeat(MAX_JSON_DEPTH + 1);
    expect(errorOf(deepest + ']'.repeat(MAX_JSON_DEPTH))).toMatchObject({ message: 'unexpected end of input', position: 2 * MAX_JSON_DEPTH + 1 });
    expect(errorOf(`${deepest}[${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toMatchObject({ message: 'nested too deeply', position: MAX_JSON_DEPTH + 1 });
    // yaml's recursive composer could overflow the stack on these; the depth guard answers first.
    expect(errorOf('['.repeat(60_000))).toMatchObject({ message: 'nested too deeply', position: MAX_JSON_DEPTH + 1 });
    expect(errorOf('- '.repeat(30_000))).toMatchObject({ message: 'nested too deeply', position: 2 * (MAX_JSON_DEPTH + 1) });
    expect(errorOf('{"a":'.repeat(20_000))).toMatchObject({ message: 'nested too deeply', position: 5 * (MAX_JSON_DEPTH + 1) });
  });
});
