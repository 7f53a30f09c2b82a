// Diagnostics: what is wrong, where, in words a spec author can act on. Zod issues become
// short `path: message` pairs here (shared by the YAML loader and the API's request checks);
// load.ts adds the file positions.
import type { z } from 'zod';
import { escapeControl } from './escape.js';
import { deviceKeyOf } from './identity.js';
import { stableJson } from './hash.js';
import { firstOverlap } from './schedule.js';
import { specIntervals, specScheduleKey } from './rotation.js';
import type { CastSpec, DeviceRef } from './schema.js';

export interface Diagnostic {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
  path: string; // e.g. "spec.quality"; "" for a whole document or file
  message: string;
  severity: 'error' | 'warning';
  spec?: string; // metadata.name when known
}

/** A spec that loaded cleanly, with where it came from. */
export interface LoadedSpec {
  spec: CastSpec;
  file: string;
  /** Position of metadata.name (the document start when it has none). */
  line: number;
  column: number;
  docIndex: number;
  /** Stable hash of the normalised spec (defaults applied, keys sorted). */
  hash: string;
  /** The document as written (before defaults and transforms): what a last good copy keeps. */
  data: unknown;
}

/** A problem found in data, before it is placed in a file. */
export interface Problem {
  path: Array<string | number>;
  message: string;
  /** Set when the problem is an unknown field: the path above ends at that key. */
  unknownKey?: boolean;
}

// ── formatting ──────────────────────────────────────────────────────────────────────────────

/** `kitchen.yaml:12:5 spec.quality: expected 480p, ...` (warnings say so before the path). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.column}`;
  const what = d.path ? `${d.path}: ${d.message}` : d.message;
  // One line, whatever the file, key or value held: control characters are escaped.
  return escapeControl(d.severity === 'warning' ? `${where} warning: ${what}` : `${where} ${what}`, { oneLine: true });
}

// Workflow-command escaping: data escapes %, CR, LF; property values also ':' and ','.
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** A GitHub Actions annotation, so a pull request that breaks a spec is marked on its line. */
export function formatGithub(d: Diagnostic): string {
  const props = [`file=${escapeProperty(d.file)}`, `line=${d.line}`, `col=${d.column}`, `title=${escapeProperty('pagecast')}`];
  const text = d.path ? `${d.path}: ${d.message}` : d.message;
  return `::${d.severity === 'warning' ? 'warning' : 'error'} ${props.join(',')}::${escapeData(text)}`;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

// ── zod issues → problems ──────────────────────────────────────────────────────────────────

type RawIssue = z.core.$ZodRawIssue;

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return v.length > 40 ? 'a long string' : JSON.stringify(v);
  return String(v);
}

const TYPE_WORDS: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false' };

function orList(values: readonly unknown[]): string {
  const words = values.map((v) => String(v));
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/**
 * Messages for zod's built-in checks, used as the per-parse error map: the schema's own messages
 * win over it, so this only replaces zod's generic wording.
 */
export const errorMap = (iss: RawIssue): string | undefined => {
  const i = iss as RawIssue & Record<string, unknown>;
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${TYPE_WORDS[String(i.expected)] ?? String(i.expected)}, got ${describeValue(iss.input)}`;
    case 'invalid_value':
      return `expected ${orList(i.values as unknown[])}, got ${describeValue(iss.input)}`;
    case 'too_small': {
      const min = Number(i.minimum);
      if (i.origin === 'string') return min <= 1 ? 'must not be empty' : `must be at least ${min} characters`;
      if (i.origin === 'array') return `needs at least ${min} ${min === 1 ? 'entry' : 'entries'}`;
      return i.inclusive === false ? `must be above ${min}` : `must be at least ${min}`;
    }
    case 'too_big': {
      const max = Number(i.maximum);
      if (i.origin === 'string') return `must be at most ${max} characters`;
      if (i.origin === 'array') return `must have at most ${max} entries`;
      return i.inclusive === false ? `must be below ${max}` : `must be at most ${max}`;
    }
    case 'invalid_format':
      return i.pattern ? `expected text matching ${String(i.pattern)}` : `expected a valid ${String(i.format)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(i.divisor)}`;
    default:
      return undefined;
  }
};

/** The value at a path in parsed data, or undefined. */
export function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}

function isPresent(data: unknown, path: ReadonlyArray<PropertyKey>): boolean {
  if (path.length === 0) return data !== undefined;
  const parent = valueAt(data, path.slice(0, -1));
  return parent !== null && typeof parent === 'object' && Object.prototype.hasOwnProperty.call(parent, path[path.length - 1] as string);
}

const TYPE_MISMATCH = new Set(['invalid_type', 'invalid_value']);
// Paths whose values may be secrets: never echoed back in a message.
const SECRET_PATH = /^(url|urlFrom|headers|storageState|css|userAgent)$/;

/**
 * For a union that failed, the branch whose shape the input matched (fewest problems), so that
 * `quality: {width: 1000, ...}` reports `quality.width`, not the list of presets. Undefined
 * when no branch even matched the input's type: then the union's own message is the best one.
 */
function bestBranch(branches: ReadonlyArray<ReadonlyArray<z.core.$ZodIssue>>): ReadonlyArray<z.core.$ZodIssue> | undefined {
  let best: ReadonlyArray<z.core.$ZodIssue> | undefined;
  for (const issues of branches) {
    if (issues.some((i) => i.path.length === 0 && TYPE_MISMATCH.has(i.code))) continue;
    if (!best || issues.length < best.length) best = issues;
  }
  return best;
}

/** Turns zod issues on `data` into problems with readable paths and specific messages. */
export function issuesToProblems(
  issues: ReadonlyArray<z.core.$ZodIssue>,
  data: unknown,
  schema?: z.ZodType,
  prefix: PropertyKey[] = [],
  unionMessage?: string,
): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path] as Array<string | number>;
    if (issue.code === 'unrecognized_keys') {
      const known = schema ? knownKeysAt(schema, path) : [];
      for (const key of issue.keys) {
        // A key another form of a union accepts: the forms were mixed ({env, file}).
        const hint = known.includes(key) ? undefined : closest(key, known);
        const message = known.includes(key)
          ? `field "${key}" does not go with the others here${unionMessage ? `: ${unionMessage}` : ''}`
          : `unknown field "${key}"${hint ? ` (did you mean ${hint}?)` : ''}`;
        out.push({ path: [...path, key], message, unknownKey: true });
      }
      continue;
    }
    if (issue.code === 'invalid_type' && issue.expected === 'never') {
      // A field the schema names only to refuse it (a page's maxMemory): at its key, like an unknown one.
      out.push({ path, message: issue.message, unknownKey: true });
      continue;
    }
    if (issue.code === 'invalid_key') {
      out.push({ path, message: issue.issues[0]?.message ?? 'invalid key', unknownKey: true });
      continue;
    }
    if (issue.code === 'invalid_union' && isPresent(data, path)) {
      const branch = bestBranch(issue.errors);
      if (branch) {
        out.push(...issuesToProblems(branch, data, schema, path, issue.message));
        continue;
      }
    }
    let message = issue.message;
    if (!isPresent(data, path)) {
      // A cross-field rule (url or urlFrom) already words it; other checks say the field is missing.
      if (message !== 'required' && issue.code !== 'custom') message = `missing, ${message}`;
    } else if (issue.code === 'custom' || issue.code === 'invalid_format') {
      // The schema's own words; say what was given when it is short and cannot be a secret.
      const v = valueAt(data, path);
      const secret = path.some((seg) => typeof seg === 'string' && SECRET_PATH.test(seg));
      if (!secret && !/\bgot\b/.test(message) && message.startsWith('expected') && (typeof v === 'string' || typeof v === 'number')) {
        message = `${message}, got ${describeValue(v)}`;
      }
    }
    out.push({ path, message });
  }
  return out;
}

// ── schema introspection for "did you mean" ────────────────────────────────────────────────

type AnyDef = { type: string; innerType?: z.ZodType; in?: z.ZodType; options?: z.ZodType[]; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType };
const defOf = (s: z.ZodType): AnyDef => (s as unknown as { _zod: { def: AnyDef } })._zod.def;

/** The concrete schemas behind wrappers (optional, default, pipes, unions). */
function unwrap(s: z.ZodType): z.ZodType[] {
  const def = defOf(s);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? unwrap(def.innerType) : [];
    case 'pipe':
      return def.in ? unwrap(def.in) : [];
    case 'union':
      return (def.options ?? []).flatMap(unwrap);
    default:
      return [s];
  }
}

/** The field names the schema allows at `path` (empty when unknown). */
export function knownKeysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let current = unwrap(schema);
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      const def = defOf(s);
      if (def.type === 'object' && typeof seg === 'string' && def.shape?.[seg]) next.push(...unwrap(def.shape[seg]));
      else if (def.type === 'array' && typeof seg === 'number' && def.element) next.push(...unwrap(def.element));
      else if (def.type === 'record' && def.valueType) next.push(...unwrap(def.valueType));
    }
    current = next;
  }
  return [...new Set(current.flatMap((s) => (defOf(s).type === 'object' ? Object.keys(defOf(s).shape ?? {}) : [])))];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = word.length <= 3 ? 1 : Math.max(2, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d <= bestScore && (best === undefined || d < bestScore)) {
      best = c;
      bestScore = d;
    }
  }
  return best;
}

// ── cross-spec checks ──────────────────────────────────────────────────────────────────────

function describeDevice(d: DeviceRef): string {
  if (typeof d === 'string') return `"${d}"`;
  if ('id' in d) return d.id;
  return `${d.host}:${d.port}`;
}

/** How far ahead overlapping windows are looked for: a year and a week covers every DST pairing. */
const CONFLICT_HORIZON_MS = 373 * 86_400_000;

/** Groups this large and larger are reported once, not on every member (output stays bounded). */
export const GROUP_REPORT_ONCE = 4;

/** `a, b, c and 9,996 more`. */
export function listText(items: ReadonlyArray<string>, named = 3): string {
  const shown = items.slice(0, named).join(', ');
  return items.length > named ? `${shown} and ${(items.length - named).toLocaleString('en-US')} more` : shown;
}

export const place = (s: { file: string; line: number; column: number }): string => `${s.file}:${s.line}:${s.column}`;

/** At most this many window comparisons per device group: a large group is summarised. */
const MAX_PAIR_CHECKS = 400;

/**
 * Warnings for specs that name one device at equal priority with windows that overlap (a pages
 * spec whose every page has windows is on only while one of them is): at run
 * time the one already playing keeps the device and the other reports DeviceConflict. A pair (or
 * a trio) is reported on each spec; a larger group once, on its first member, with a count.
 */
export function validateConflicts(specs: ReadonlyArray<LoadedSpec>, opts: { now?: Date } = {}): Diagnostic[] {
  const from = (opts.now ?? new Date()).getTime();
  const to = from + CONFLICT_HORIZON_MS;
  const groups = new Map<string, LoadedSpec[]>();
  for (const s of specs) {
    const key = `${deviceKeyOf(s.spec.spec.device)}|${s.spec.spec.priority}`;
    const group = groups.get(key);
    if (group) group.push(s);
    else groups.set(key, [s]);
  }
  const out: Diagnostic[] = [];
  const warn = (self: LoadedSpec, message: string): Diagnostic => ({
    file: self.file,
    line: self.line,
    column: self.column,
    path: 'spec.device',
    severity: 'warning',
    spec: self.spec.metadata.name,
    message,
  });
  const at = (t: number) => new Date(t).toISOString().replace(/:\d\d\.\d+Z$/, 'Z');
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    if (group.length < GROUP_REPORT_ONCE) {
      for (let i = 0; i < group.length; i++) {
        for (let j = i + 1; j < group.length; j++) {
          const a = group[i]!;
          const b = group[j]!;
          if (a.spec.metadata.name === b.spec.metadata.name) continue; // checkNames reports that
          const overlap = firstOverlap(specIntervals(a.spec.spec, from, to), specIntervals(b.spec.spec, from, to), from, to);
          if (!overlap) continue;
          for (const [self, other] of [[a, b], [b, a]] as const) {
            out.push(warn(self, `device ${describeDevice(self.spec.spec.device)} is also used by ${other.spec.metadata.name} (${other.file}:${other.line}:${other.column}) at the same priority ${self.spec.spec.priority}, with overlapping windows (first at ${at(overlap.start)}); give one a higher priority`));
          }
        }
      }
      continue;
    }
    const found = groupOverlaps(group, from, to);
    if (found.members.length < 2) continue;
    const [first, ...rest] = found.members;
    const places = listText(rest.map((o) => `${o.spec.metadata.name} (${place(o)})`));
    out.push(
      warn(
        first!,
        `device ${describeDevice(first!.spec.spec.device)} is shared by ${first!.spec.metadata.name} and ${rest.length.toLocaleString('en-US')} others at the same priority ${first!.spec.spec.priority}, with overlapping windows (first at ${at(found.firstAt)}): ${places}${found.complete ? '' : ' (a large group: not every pair of windows was compared)'}; give them different priorities`,
      ),
    );
  }
  return out;
}

/**
 * The members of one device group whose windows overlap another member's. Specs with the same
 * schedule are compared once, as a class; comparisons between classes stop at MAX_PAIR_CHECKS.
 */
function groupOverlaps(group: LoadedSpec[], from: number, to: number): { members: LoadedSpec[]; firstAt: number; complete: boolean } {
  const classes = new Map<string, LoadedSpec[]>();
  for (const s of group) {
    const key = stableJson(specScheduleKey(s.spec.spec) ?? null);
    const c = classes.get(key);
    if (c) c.push(s);
    else classes.set(key, [s]);
  }
  const list = [...classes.values()];
  // Each schedule's active time over the horizon, computed once per class.
  const active = list.map((c) => specIntervals(c[0]!.spec.spec, from, to));
  const hit = new Set<number>();
  let firstAt = Infinity;
  // Two specs with one schedule overlap wherever that schedule is on.
  list.forEach((c, i) => {
    if (c.length < 2 || new Set(c.map((s) => s.spec.metadata.name)).size < 2) return;
    const o = firstOverlap(active[i]!, active[i]!, from, to);
    if (o) {
      hit.add(i);
      firstAt = Math.min(firstAt, o.start);
    }
  });
  let checks = 0;
  let complete = true;
  for (let i = 0; i < list.length && complete; i++) {
    for (let j = i + 1; j < list.length; j++) {
      if (++checks > MAX_PAIR_CHECKS) {
        complete = false;
        break;
      }
      const o = firstOverlap(active[i]!, active[j]!, from, to);
      if (!o) continue;
      hit.add(i).add(j);
      firstAt = Math.min(firstAt, o.start);
    }
  }
  const members: LoadedSpec[] = [];
  list.forEach((c, i) => {
    if (hit.has(i)) for (const s of c) members.push(s);
  });
  const order = new Map(group.map((s, i) => [s, i]));
  members.sort((a, b) => order.get(a)! - order.get(b)!);
  return { members, firstAt, complete };
}
