// A spec file as the console shows it: every secret redacted, every line where it was, so an error
// at `kitchen.yaml:12:5` marks line 12 of what is shown.
import { isMap, isScalar, isSeq, parseAllDocuments, stringify, visit, type Node } from 'yaml';
import { redactText, redactUrl } from './redact.js';
import type { SpecSourceView } from './types.js';

/** Keys whose values are secrets: a URL keeps scheme, host and path; the others go whole. */
const URL_KEYS = new Set(['url']);
const SECRET_KEYS = new Set(['headers', 'storageState', 'token', 'password', 'authorization', 'cookie', 'cookies']);
const REDACTED = '[redacted]';

interface Cut {
  start: number;
  end: number;
  text: string;
}

/**
 * The text with the values of secret keys replaced (at any depth: a page's `url`, a header's
 * value) and any other URL redacted. Lines never move: a value over several lines (a block scalar)
 * keeps its line breaks. Text that is not YAML at all is redacted line by line.
 */
export function redactSpecYaml(text: string): string {
  const cuts: Cut[] = [];
  try {
    for (const doc of parseAllDocuments(text)) {
      if (!('contents' in doc)) continue;
      visit(doc, {
        Pair(_, pair) {
          const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
          if (key === undefined || !pair.value) return undefined;
          if (URL_KEYS.has(key) || SECRET_KEYS.has(key.toLowerCase()) || SECRET_KEYS.has(key)) {
            collectScalars(pair.value as Node, (s) => {
              const range = s.range;
              if (!range) return;
              const original = text.slice(range[0], range[1]);
              const value = URL_KEYS.has(key) && typeof s.value === 'string' ? JSON.stringify(redactUrl(s.value)) : REDACTED;
              cuts.push({ start: range[0], end: range[1], text: value + '\n'.repeat(countLines(original)) });
            });
            return visit.SKIP;
          }
          return undefined;
        },
      });
    }
  } catch {
    return text.split('\n').map(redactLine).join('\n');
  }
  cuts.sort((a, b) => b.start - a.start);
  let out = text;
  let limit = Infinity;
  for (const c of cuts) {
    if (c.end > limit) continue; // nested in one already cut
    out = out.slice(0, c.start) + c.text + out.slice(c.end);
    limit = c.start;
  }
  return redactText(out);
}

function collectScalars(node: Node, found: (s: Extract<Node, { value: unknown }> & { range?: [number, number, number] | null }) => void): void {
  if (isScalar(node)) found(node as never);
  else if (isMap(node)) for (const p of node.items) collectScalars(p.value as Node, found);
  else if (isSeq(node)) for (const item of node.items) collectScalars(item as Node, found);
}

function countLines(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '\n') n++;
  return n;
}

/** The fallback for text the YAML parser gave up on: `key: value` lines of secret keys. */
function redactLine(line: string): string {
  const m = /^(\s*-?\s*)([A-Za-z]+)(\s*:\s*)(\S.*)$/.exec(line);
  if (m && (SECRET_KEYS.has(m[2]!) || SECRET_KEYS.has(m[2]!.toLowerCase()))) return `${m[1]}${m[2]}${m[3]}${REDACTED}`;
  return redactText(line);
}

/**
 * The lines of a status error (`file:line:col message`, one a line) that are about `file`, with
 * their positions; lines about no position (or another file) keep only their message.
 */
export function errorsIn(error: string | undefined, file: string | undefined): SpecSourceView['errors'] {
  if (!error) return [];
  return error
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^(.+?):(\d+):(\d+) (.*)$/.exec(l);
      if (m && m[1] === file) return { line: Number(m[2]), column: Number(m[3]), message: redactText(m[4]!) };
      return { message: redactText(l) };
    });
}

/** A spec that has no file (an ephemeral cast) as YAML, with its secrets redacted. */
export function specAsYaml(spec: unknown): string {
  return stringify(redactValue(spec), { lineWidth: 0 });
}

function redactValue(v: unknown, key?: string): unknown {
  if (key !== undefined && URL_KEYS.has(key) && typeof v === 'string') return redactUrl(v);
  if (key !== undefined && (SECRET_KEYS.has(key) || SECRET_KEYS.has(key.toLowerCase())) && v !== undefined) return REDACTED;
  if (Array.isArray(v)) return v.map((x) => redactValue(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, redactValue(x, k)]));
  return typeof v === 'string' ? redactText(v) : v;
}
