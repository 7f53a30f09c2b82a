// Spec files → validated specs plus diagnostics with file:line:col. Never throws on user input:
// a broken document is a diagnostic, and the good documents beside it still load.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { stableHash } from './hash.js';
import { CastSpecSchema, type CastSpec } from './schema.js';
import { errorMap, formatPath, GROUP_REPORT_ONCE, issuesToProblems, listText, place, valueAt, type Diagnostic, type LoadedSpec, type Problem } from './diagnostics.js';

export type { Diagnostic, LoadedSpec } from './diagnostics.js';

export interface LoadResult {
  specs: LoadedSpec[];
  diagnostics: Diagnostic[];
  /** Names of documents that failed but whose metadata.name was readable (keep their last good version). */
  invalidNames: string[];
}

export interface DirLoadResult extends LoadResult {
  /** The spec files read, in order. */
  files: string[];
}

/** Spec files are small; anything larger is a mistake (or an attack), not a spec. */
export const MAX_SPEC_FILE_BYTES = 1024 * 1024;

type Doc = Document.Parsed;
type Pos = { line: number; column: number };

// ── positions ──────────────────────────────────────────────────────────────────────────────

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  return r ? r[0] : undefined;
}

const isEmptyScalar = (node: unknown) => isScalar(node) && node.value === null && node.source === '';
const isBlockCollection = (node: unknown) => isCollection(node) && !(node as { flow?: boolean }).flow;

/**
 * The offset a problem at `path` should point at: the value (a scalar or flow collection), the
 * key (for a block collection or an empty value), the key itself (an unknown field), or the
 * parent's key when the field is missing.
 */
function offsetFor(doc: Doc, path: ReadonlyArray<string | number>, pointAtKey: boolean): number {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (!pair) break; // missing: point at the parent
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      keyNode = undefined;
      node = node.items[seg];
    } else break;
  }
  const target = pointAtKey || node == null || isEmptyScalar(node) || isBlockCollection(node) ? (keyNode ?? node) : node;
  return rangeStart(target) ?? rangeStart(doc.contents) ?? 0;
}

/** The path of the deepest node containing `offset`, for syntax errors. */
function pathAt(doc: Doc, offset: number): string {
  const path: Array<string | number> = [];
  let node: unknown = doc.contents;
  const within = (n: unknown) => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r !== undefined && r[0] <= offset && offset <= r[2];
  };
  for (let depth = 0; depth < 64; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key) || within(p.value));
      const k = pair && keyText(pair.key);
      if (!pair || k === undefined) break;
      path.push(k);
      if (within(pair.key)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex(within);
      if (i < 0) break;
      path.push(i);
      node = node.items[i];
    } else break;
  }
  return formatPath(path);
}

/** Duplicate keys in any mapping, each pointing at the later occurrence. */
function duplicateKeys(doc: Doc, lc: LineCounter): Array<{ path: string; offset: number; message: string }> {
  const out: Array<{ path: string; offset: number; message: string }> = [];
  const walk = (node: unknown, path: Array<string | number>, depth: number) => {
    if (depth > 64) return;
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const k = keyText(pair.key);
        if (k === undefined) continue;
        const at = rangeStart(pair.key) ?? 0;
        const first = seen.get(k);
        if (first !== undefined) {
          out.push({ path: formatPath([...path, k]), offset: at, message: `duplicate field "${k}" (first at line ${lc.linePos(first).line})` });
        } else seen.set(k, at);
        walk(pair.value, [...path, k], depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i], depth + 1));
    } else if (isPair(node)) {
      walk(node.value, path, depth + 1);
    }
  };
  walk(doc.contents, [], 0);
  return out;
}

// ── guards ─────────────────────────────────────────────────────────────────────────────────

/** A spec nests about five levels; anything past this is a mistake or an attack. */
export const MAX_NESTING = 64;
/** Beyond this many problems in one file, the rest are counted, not listed. */
export const MAX_DIAGNOSTICS_PER_FILE = 50;

/**
 * The offset where nesting first goes deeper than `max`, counting flow brackets ([ and { outside
 * quotes and comments), block indentation levels and sequence dashes on one line ("- - - x").
 */
export function nestingBeyond(text: string, max: number): number | undefined {
  let flow = 0;
  const indents: number[] = [];
  let i = 0;
  while (i < text.length) {
    // Start of a line: block structure (only outside flow collections).
    let col = 0;
    while (text[i + col] === ' ') col++;
    const c0 = text[i + col];
    if (flow === 0 && c0 !== undefined && c0 !== '\n' && c0 !== '\r' && c0 !== '#') {
      while (indents.length && indents[indents.length - 1]! >= col) indents.pop();
      indents.push(col);
      let dashes = 0;
      let k = i + col;
      while ((text[k] === '-' || text[k] === '?') && (text[k + 1] === ' ' || text[k + 1] === '\t')) {
        dashes++;
        k += 2;
        while (text[k] === ' ') k++;
      }
      if (indents.length + dashes > max) return k;
    }
    // The rest of the line: flow brackets outside quotes and comments.
    let j = i + col;
    for (; j < text.length && text[j] !== '\n'; j++) {
      const c = text[j];
      if (c === '"' || c === "'") {
        const q = c;
        for (j++; j < text.length && text[j] !== q; j++) if (q === '"' && text[j] === '\\') j++;
      } else if (c === '#' && (j === 0 || text[j - 1] === ' ' || text[j - 1] === '\t')) {
        while (j < text.length && text[j] !== '\n') j++;
        break;
      } else if (c === '[' || c === '{') {
        if (++flow + indents.length > max) return j;
      } else if (c === ']' || c === '}') {
        if (flow > 0) flow--;
      }
    }
    i = j + 1;
  }
  return undefined;
}

/** Spec files are UTF-8: anything else gets an error saying so, with where it went wrong. */
export function decodeUtf8(bytes: Uint8Array): { text: string } | { error: string; line: number; column: number } {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { error: 'not UTF-8: the file starts with a UTF-16 byte order mark; save it as UTF-8', line: 1, column: 1 };
  }
  const nul = bytes.indexOf(0);
  const checkUpTo = nul === -1 ? bytes.length : nul;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, checkUpTo));
  } catch {
    // Find the first bad byte for the position: decode leniently and look for U+FFFD.
    const lenient = new TextDecoder('utf-8').decode(bytes.subarray(0, checkUpTo));
    const at = lenient.indexOf('\ufffd');
    const before = lenient.slice(0, Math.max(0, at));
    const line = before.split('\n').length;
    return { error: 'not UTF-8: invalid byte sequence (save the file as UTF-8)', line, column: before.length - before.lastIndexOf('\n') };
  }
  if (nul !== -1) {
    const line = text.split('\n').length;
    return { error: `not UTF-8 text: it contains a NUL byte${bytes[1] === 0 || bytes[0] === 0 ? ' (UTF-16 without a byte order mark?)' : ''}`, line, column: text.length - text.lastIndexOf('\n') };
  }
  return { text };
}

// ── hashing ────────────────────────────────────────────────────────────────────────────────

/** A stable hash of a normalised spec: equal specs hash equal whatever their key order or defaults. */
export function specHash(spec: CastSpec): string {
  return stableHash(spec);
}

/**
 * A loaded spec whose hash is made when first asked for (it walks the whole spec; validate never
 * asks). Built outside loadSpecText so that the getter keeps only the spec alive, not the parsed
 * YAML document that the loader's other closures hold.
 */
function loadedSpec(spec: CastSpec, file: string, line: number, column: number, docIndex: number, data: unknown): LoadedSpec {
  let hash: string | undefined;
  return {
    spec,
    file,
    line,
    column,
    docIndex,
    data,
    get hash() {
      return (hash ??= specHash(spec));
    },
  };
}

// ── loading ────────────────────────────────────────────────────────────────────────────────

function readableName(data: unknown): string | undefined {
  const name = valueAt(data, ['metadata', 'name']);
  return typeof name === 'string' && name.length > 0 && name.length <= 253 ? name : undefined;
}

function tryToJS(doc: Doc): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
}

const isEmptyDoc = (doc: Doc) => doc.contents == null || isEmptyScalar(doc.contents);

/** Validates parsed data against the CastSpec schema; the problems carry data paths, no positions. */
export function checkSpecData(data: unknown): { spec: CastSpec; problems: [] } | { spec?: undefined; problems: Problem[] } {
  const r = CastSpecSchema.safeParse(data, { error: errorMap });
  if (r.success) return { spec: r.data, problems: [] };
  return { problems: issuesToProblems(r.error.issues, data, CastSpecSchema) };
}

/** Loads every spec in one file's text. `file` is used as given in diagnostics. */
export function loadSpecText(text: string, file: string): LoadResult {
  const result: LoadResult = { specs: [], diagnostics: [], invalidNames: [] };
  const lc = new LineCounter();
  const pos = (offset: number): Pos => {
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const diag = (offset: number, path: string, message: string, severity: Diagnostic['severity'] = 'error', spec?: string): Diagnostic => ({
    file,
    ...pos(offset),
    path,
    message,
    severity,
    ...(spec === undefined ? {} : { spec }),
  });

  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // The YAML parser recurses per level: refuse pathological nesting before it overflows the stack.
  const deep = nestingBeyond(src, MAX_NESTING);
  if (deep !== undefined) {
    const before = src.slice(0, deep);
    const line = before.split('\n').length;
    result.diagnostics.push({ file, line, column: deep - before.lastIndexOf('\n'), path: '', message: `nested deeper than ${MAX_NESTING} levels; a spec needs a handful`, severity: 'error' });
    return result;
  }
  let docs: Doc[];
  try {
    docs = Array.from(parseAllDocuments(src, { lineCounter: lc, uniqueKeys: false, prettyErrors: false, logLevel: 'error' }) as Iterable<Doc>);
  } catch (err) {
    result.diagnostics.push({ file, line: 1, column: 1, path: '', message: `cannot parse YAML: ${(err as Error).message}`, severity: 'error' });
    return result;
  }

  docs.forEach((doc, docIndex) => {
    try {
      loadDocument(doc, docIndex);
    } catch (err) {
      // A bug or a pathological document (alias bombs): one diagnostic, the other documents go on.
      result.diagnostics.push(diag(rangeStart(doc.contents) ?? 0, '', `cannot read this document: ${(err as Error).message}`));
    }
  });
  if (result.diagnostics.length > MAX_DIAGNOSTICS_PER_FILE) {
    const more = result.diagnostics.length - MAX_DIAGNOSTICS_PER_FILE;
    result.diagnostics.length = MAX_DIAGNOSTICS_PER_FILE;
    const last = result.diagnostics[MAX_DIAGNOSTICS_PER_FILE - 1]!;
    result.diagnostics.push({ ...last, path: '', spec: undefined, message: `${more.toLocaleString('en-US')} more problems in this file not shown` });
  }
  return result;

  function loadDocument(doc: Doc, docIndex: number): void {
    const errors = doc.errors.map((e) => ({ offset: e.pos[0], message: e.message.split('\n')[0]! }));
    for (const w of doc.warnings) result.diagnostics.push(diag(w.pos[0], pathAt(doc, w.pos[0]), w.message.split('\n')[0]!, 'warning'));
    if (errors.length === 0 && isEmptyDoc(doc)) return;

    const dups = errors.length === 0 ? duplicateKeys(doc, lc) : [];
    let data: unknown;
    if (errors.length === 0) {
      try {
        data = doc.toJS({ maxAliasCount: 100 });
      } catch (err) {
        errors.push({ offset: rangeStart(doc.contents) ?? 0, message: (err as Error).message });
      }
    }
    // A syntax error elsewhere in the document often leaves the name readable: worth a try, so
    // the spec's last good version can be kept by name.
    const name = readableName(errors.length === 0 ? data : tryToJS(doc));
    if (errors.length > 0 || dups.length > 0) {
      for (const e of errors) result.diagnostics.push(diag(e.offset, pathAt(doc, e.offset), e.message, 'error', name));
      for (const d of dups) result.diagnostics.push(diag(d.offset, d.path, d.message, 'error', name));
      if (name) result.invalidNames.push(name);
      return;
    }

    const checked = checkSpecData(data);
    if (checked.spec) {
      const at = pos(offsetFor(doc, ['metadata', 'name'], false));
      result.specs.push(loadedSpec(checked.spec, file, at.line, at.column, docIndex, data));
      return;
    }
    const found = checked.problems.map((p) => diag(offsetFor(doc, p.path, p.unknownKey === true), formatPath(p.path), p.message, 'error', name));
    for (const d of found.sort((a, b) => a.line - b.line || a.column - b.column)) result.diagnostics.push(d);
    if (name) result.invalidNames.push(name);
  }
}

/** Reads and loads one spec file. A missing or unreadable file is a diagnostic, never a throw. */
export async function loadSpecFile(path: string): Promise<LoadResult> {
  const fail = (message: string): LoadResult => ({
    specs: [],
    invalidNames: [],
    diagnostics: [{ file: path, line: 1, column: 1, path: '', message, severity: 'error' }],
  });
  try {
    const st = await stat(path);
    if (!st.isFile()) return fail('not a regular file');
    if (st.size > MAX_SPEC_FILE_BYTES) return fail(`file is ${st.size} bytes; spec files are limited to ${MAX_SPEC_FILE_BYTES}`);
    const decoded = decodeUtf8(await readFile(path));
    if ('error' in decoded) return { ...fail(decoded.error), diagnostics: [{ file: path, line: decoded.line, column: decoded.column, path: '', message: decoded.error, severity: 'error' }] };
    return loadSpecText(decoded.text, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('file not found');
    if (code === 'EACCES' || code === 'EPERM') return fail('permission denied');
    return fail(`cannot read file: ${code ?? (err as Error).message}`);
  }
}

export const SPEC_FILE = /\.ya?ml$/i;

/** Told of the tree as it is listed: a watcher watches each directory before it is read. */
export interface SpecTreeVisitor {
  /** A directory about to be read (`path` as reached from the root, through any symlink). */
  dir?(path: string): void;
  /** A spec file reached through a symlink: a change to its target is no event in this tree. */
  linkedFile?(path: string): void;
}

/**
 * Spec files under `dir`, recursively, sorted. Names starting with a dot are skipped, which also
 * skips a Kubernetes ConfigMap's `..data` and `..2024_…` directories while the visible names
 * (symlinks into `..data`) are followed. Symlinked directories are followed once (no cycles).
 */
export async function listSpecFiles(dir: string, visit: SpecTreeVisitor = {}): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 32) return;
    let real: string;
    try {
      real = await realpath(d);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    visit.dir?.(d);
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const st = await stat(p);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue; // a dangling link (a ConfigMap mid-swap): the next event or resync picks it up
        }
      }
      if (isDir) await walk(p, depth + 1);
      else if (isFile && SPEC_FILE.test(e.name)) {
        out.push(p);
        if (e.isSymbolicLink()) visit.linkedFile?.(p);
      }
    }
  };
  await walk(dir, 0);
  return out;
}

/**
 * Loads every spec file under `dir` and checks names across them. Specs whose name is used more
 * than once are left out of `specs` (their names go to invalidNames, so a running last good
 * version stays), and every occurrence gets an error.
 */
export async function loadSpecDir(dir: string, opts: { checkNames?: boolean } = {}): Promise<DirLoadResult> {
  const files = await listSpecFiles(dir);
  const out: DirLoadResult = { specs: [], diagnostics: [], invalidNames: [], files };
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) out.diagnostics.push({ file: dir, line: 1, column: 1, path: '', message: 'not a directory', severity: 'error' });
  } catch {
    out.diagnostics.push({ file: dir, line: 1, column: 1, path: '', message: 'directory not found', severity: 'error' });
  }
  // Read a few files at a time (their I/O overlaps the parsing of others), kept in file order.
  const results: LoadResult[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await loadSpecFile(files[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, files.length) }, worker));
  for (const r of results) {
    // Appended one by one: spreading a large array into a call overflows the stack.
    for (const x of r.specs) out.specs.push(x);
    for (const x of r.diagnostics) out.diagnostics.push(x);
    for (const x of r.invalidNames) out.invalidNames.push(x);
  }
  if (opts.checkNames !== false) {
    const dups = checkNames(out.specs);
    if (dups.length > 0) {
      const bad = new Set(dups.map((d) => d.spec));
      out.specs = out.specs.filter((s) => !bad.has(s.spec.metadata.name));
      for (const n of bad) if (n !== undefined) out.invalidNames.push(n);
      for (const d of dups) out.diagnostics.push(d);
    }
  }
  out.invalidNames = [...new Set(out.invalidNames)];
  return out;
}

/**
 * An error for each spec whose metadata.name another spec also uses, naming the other places.
 * A large group is reported once, on its first member, with a count.
 */
export function checkNames(all: ReadonlyArray<LoadedSpec>): Diagnostic[] {
  const byName = new Map<string, LoadedSpec[]>();
  for (const s of all) {
    const group = byName.get(s.spec.metadata.name);
    if (group) group.push(s);
    else byName.set(s.spec.metadata.name, [s]);
  }
  const out: Diagnostic[] = [];
  for (const [name, group] of byName) {
    if (group.length < 2) continue;
    const at = (s: LoadedSpec) => ({ file: s.file, line: s.line, column: s.column, path: 'metadata.name', severity: 'error' as const, spec: name });
    if (group.length >= GROUP_REPORT_ONCE) {
      const [first, ...rest] = group;
      out.push({ ...at(first!), message: `name ${name} is used by ${group.length.toLocaleString('en-US')} specs: here and at ${listText(rest.map(place))}` });
      continue;
    }
    for (const s of group) out.push({ ...at(s), message: `name ${name} is also used at ${listText(group.filter((o) => o !== s).map(place))}` });
  }
  return out;
}
