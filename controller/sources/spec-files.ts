// The spec-file source: a directory of YAML files (often a git checkout or a ConfigMap mount),
// listed and watched. Each file is loaded on its own; a spec whose document turns invalid keeps
// its last good version (also across restarts, from the state directory) with the error shown.
// File work runs on its own small queue, so two events for one file never load it twice at once.
import { stat } from 'node:fs/promises';
import { relative, resolve as resolvePath } from 'node:path';
import type { CastSpec } from '../../specs/schema.js';
import { checkSpecData, listSpecFiles, loadSpecFile, type Diagnostic } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';
import { resolveSpec } from '../../specs/resolve.js';
import { generationOf } from '../../specs/identity.js';
import type { Logger } from '../../machines/log.js';
import { RepeatedWarning } from '../../machines/repeated-warning.js';
import { WorkQueue } from '../reconcile/queue.js';
import { TreeWatch } from './tree-watch.js';
import type { StateDir } from './state-dir.js';
import { matchesSelector, type SourcedSpec } from './sourced-spec.js';

export interface SpecFilesOptions {
  dir: string;
  state: StateDir;
  log: Logger;
  selector?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Watch for changes (default true). */
  watch?: boolean;
  /** These specs changed (added, edited, removed, or their error changed). */
  onChange(names: string[]): void;
}

/** How long a spec file may be gone (a save by rename) before its specs are dropped. */
const MISSING_GRACE_MS = 150;

type FileKey = { kind: 'scan' } | { kind: 'file'; path: string };
const fileKeyId = (k: FileKey) => (k.kind === 'scan' ? 'scan' : `file:${k.path}`);

interface FileState {
  /** inode, size, mtime and ctime when loaded: unchanged means not written since. */
  stamp: string;
  contentKey: string;
  names: string[]; // names of good specs from this file
  diagnostics: Diagnostic[];
}

export class SpecFiles {
  /** The spec version each name runs: the file's, or its last good version. */
  readonly specs = new Map<string, SourcedSpec>();
  /** A spec file's current error, by spec name, while its last good version keeps running. */
  readonly errors = new Map<string, string>();
  private readonly files = new Map<string, FileState>();
  private readonly queue: WorkQueue<FileKey>;
  private tree?: TreeWatch;
  /** Files found gone once, to be looked at again before their specs are dropped. */
  private readonly missing = new Map<string, number>();
  /** The first listing is done (every directory it reached was new then, and read after its watch began). */
  private listed = false;
  /** Names changed by the current piece of work, reported once it is done. */
  private changed = new Set<string>();
  /** 'spec file work failed' per file (or the scan): logged when it starts, at each backoff step, when it ends. */
  private readonly warnings = new Map<string, RepeatedWarning>();

  constructor(private readonly opts: SpecFilesOptions) {
    this.queue = new WorkQueue<FileKey>((key) => this.work(key), {
      idOf: fileKeyId,
      onError: (key, err, retry) => this.warningFor(key).failed(retry, { key, err: err instanceof Error ? err.message : String(err) }),
    });
  }

  private warningFor(key: FileKey): RepeatedWarning {
    const id = fileKeyId(key);
    let w = this.warnings.get(id);
    if (!w) this.warnings.set(id, (w = new RepeatedWarning(this.opts.log, 'spec file work failed')));
    return w;
  }

  /**
   * Starts watching and loads every file (reporting nothing: the caller reconciles all after).
   * Each directory is watched as the first listing reaches it, before it is read, so no edit
   * made after start() began can be missed.
   */
  async start(): Promise<void> {
    if (this.opts.watch !== false) this.watch();
    await this.scan();
    this.changed.clear();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    this.tree?.close();
  }

  /** Lists the directory again (a periodic resync, in case a watcher event was missed). */
  rescan(): void {
    this.queue.add({ kind: 'scan' });
  }

  /** Resolves when queued file work is done. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async work(key: FileKey): Promise<void> {
    if (key.kind === 'scan') await this.scan();
    else await this.loadFile(key.path);
    const id = fileKeyId(key);
    const warning = this.warnings.get(id);
    if (warning) {
      warning.recovered('spec file work recovered', { key });
      this.warnings.delete(id);
    }
    const names = [...this.changed];
    this.changed.clear();
    if (names.length) this.opts.onChange(names);
  }

  private watch(): void {
    this.tree = new TreeWatch({
      file: (path) => {
        this.queue.add({ kind: 'file', path });
        // File events can coalesce (two saves in one watcher tick): look once more a little later.
        this.queue.addAfter({ kind: 'file', path }, 300);
      },
      tree: () => this.queue.add({ kind: 'scan' }),
      error: (err, path) => this.opts.log.warn({ err: err.message, path }, 'watcher error'),
    });
  }

  /** Lists spec files (following symlinks, skipping dot entries) and reloads what changed. */
  private async scan(): Promise<void> {
    const found = new Set(await listSpecFiles(this.opts.dir, this.tree?.visitor()));
    // A directory first watched now may have gained files after it was read: list once more.
    if (this.tree?.endListing() && this.listed) this.queue.add({ kind: 'scan' });
    this.listed = true;
    for (const f of this.files.keys()) if (!found.has(f)) await this.loadFile(f);
    await Promise.all([...found].map((f) => this.loadFile(f)));
  }

  private async loadFile(path: string): Promise<void> {
    // A deleted file is told apart from an unreadable one (which keeps its last good specs).
    const st = await stat(path).catch(() => undefined);
    const exists = st?.isFile() === true;
    if (exists) this.missing.delete(path);
    const prev = this.files.get(path);
    // A file not written since it was loaded is not parsed again (a resync reads every file).
    const stamp = st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : '';
    if (exists && prev?.stamp === stamp && !this.hasResolveErrors(prev)) return;
    if (!exists) {
      if (!prev) return;
      // A save by rename (vim's backup, some editors' atomic saves) leaves no file for a moment:
      // a file found gone is looked at once more before its specs are dropped.
      const since = this.missing.get(path) ?? performance.now();
      const wait = since + MISSING_GRACE_MS - performance.now();
      if (wait > 0) {
        this.missing.set(path, since);
        this.queue.addAfter({ kind: 'file', path }, Math.ceil(wait));
        return;
      }
      this.missing.delete(path);
      this.files.delete(path);
      for (const name of prev.names) this.drop(name, this.displayPath(path));
      return;
    }
    const result = await loadSpecFile(path);
    const relFile = this.displayPath(path);
    const diagnostics = result.diagnostics.map((d) => ({ ...d, file: relFile }));
    const contentKey = result.specs.map((s) => `${s.spec.metadata.name}:${s.hash}`).join('|') + `#${diagnostics.map(formatDiagnostic).join('|')}`;
    if (prev && prev.contentKey === contentKey && !this.hasResolveErrors(prev)) {
      prev.stamp = stamp;
      return;
    }

    const names: string[] = [];
    const newErrors = new Map<string, string>();
    for (const loaded of result.specs) {
      if (!matchesSelector(loaded.spec, this.opts.selector)) continue;
      const name = loaded.spec.metadata.name;
      const owner = this.specs.get(name);
      if (owner && owner.source.file !== relFile && this.files.get(this.absPath(owner.source.file))?.names.includes(name)) {
        newErrors.set(name, `${relFile}:${loaded.line}:${loaded.column} metadata.name: ${name} is also used at ${owner.source.file}:${owner.source.line}:${owner.source.column}`);
        continue;
      }
      const resolved = await this.resolve(loaded.spec, path);
      if ('error' in resolved) {
        newErrors.set(name, `${relFile}:${loaded.line}:${loaded.column} ${resolved.error}`);
        if (this.specs.has(name)) names.push(name);
        continue;
      }
      names.push(name);
      if (this.errors.delete(name)) this.changed.add(name);
      const generation = generationOf(resolved.spec);
      if (owner?.generation !== generation || owner.source.file !== relFile) this.changed.add(name);
      this.specs.set(name, { spec: resolved.spec, source: { file: relFile, line: loaded.line, column: loaded.column }, generation, ephemeral: false });
      void this.opts.state.saveLastGood(name, { file: relFile, line: loaded.line, column: loaded.column, hash: generation, spec: loaded.data });
    }
    // A spec whose document is now invalid keeps its last good version, with the error shown.
    // On the first load after a restart, the last good versions come from the state directory.
    const invalid = new Set(result.invalidNames);
    const unreadable = diagnostics.length > 0 && result.specs.length === 0 && invalid.size === 0;
    const before = prev?.names ?? (diagnostics.length ? await this.restoreLastGood(relFile, path) : []);
    for (const name of before) {
      if (names.includes(name)) continue;
      const keep = invalid.has(name) || unreadable || diagnostics.some((d) => d.spec === name);
      if (keep && this.specs.has(name)) {
        names.push(name);
        const ds = diagnostics.filter((d) => d.spec === name || d.spec === undefined);
        newErrors.set(name, (ds.length ? ds : diagnostics).map(formatDiagnostic).join('\n'));
      } else {
        this.drop(name, relFile);
      }
    }
    // Invalid documents naming a spec we have never run: report it (no actor to attach to).
    for (const d of diagnostics) this.opts.log.warn({ file: relFile }, formatDiagnostic(d));
    for (const [name, msg] of newErrors) {
      if (this.errors.get(name) !== msg) this.changed.add(name);
      this.errors.set(name, msg);
    }
    this.files.set(path, { stamp, contentKey, names, diagnostics });
    this.queue.forget({ kind: 'file', path });
  }

  /** The URLs read (urlFrom, the spec's or each page's) and storage states made absolute, or the error naming the field. */
  private async resolve(spec: CastSpec, path: string): Promise<{ spec: CastSpec } | { error: string }> {
    const resolved = await resolveSpec(spec, path, this.opts.env ?? process.env);
    if (resolved.error) return { error: `${resolved.error.path}: ${resolved.error.message}` };
    return { spec: resolved.spec };
  }

  /** Brings back, from the state directory, the last good specs a file held before a restart. */
  private async restoreLastGood(relFile: string, path: string): Promise<string[]> {
    const names: string[] = [];
    for (const [name, entry] of Object.entries(this.opts.state.snapshot().lastGood)) {
      if (entry.file !== relFile || this.specs.has(name)) continue;
      // The state directory checked it on open; a copy that no longer validates is never run.
      const checked = checkSpecData(entry.spec);
      if (!checked.spec || checked.spec.metadata.name !== name) continue;
      const spec = checked.spec;
      if (!matchesSelector(spec, this.opts.selector)) continue;
      const resolved = await this.resolve(spec, path);
      if ('error' in resolved) continue;
      this.specs.set(name, { spec: resolved.spec, source: { file: relFile, line: entry.line, column: entry.column }, generation: generationOf(resolved.spec), ephemeral: false });
      this.changed.add(name);
      this.opts.log.info({ spec: name, file: relFile }, 'file is invalid: running the last good version from the state directory');
      names.push(name);
    }
    return names;
  }

  private hasResolveErrors(f: FileState): boolean {
    return f.names.some((n) => /spec\.(pages\[\d+\]\.)?(urlFrom|browser\.storageState)/.test(this.errors.get(n) ?? ''));
  }

  private drop(name: string, relFile: string): void {
    const g = this.specs.get(name);
    if (!g || g.source.file !== relFile) return;
    this.specs.delete(name);
    this.errors.delete(name);
    this.changed.add(name);
    void this.opts.state.dropLastGood(name);
  }

  private displayPath(path: string): string {
    return relative(this.opts.dir, path) || path;
  }

  private absPath(file: string | undefined): string {
    return file ? resolvePath(this.opts.dir, file) : '';
  }
}
