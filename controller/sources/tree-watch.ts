// Watches a spec directory tree: one fs.watch (inotify on Linux) per directory, and one per spec
// file reached through a symlink. An event names the entry that changed, so a spec file's edit
// costs one load, whatever the directory holds. (chokidar, used before, read the whole directory
// again on each event in it: an lstat of every entry, about 0.2 s of CPU at 1,000 spec files,
// which kept bench/reconcile's edits waiting ~80 ms each.)
//
// What changed is reported as `file` (a spec file's name: load that file) or `tree` (anything
// else: a directory, a symlink swap such as a ConfigMap's `..data`, a name that is not a spec:
// list the tree again). The listing calls `visitor()` so that every directory is watched before
// it is read: nothing written after it was read goes unseen. Dot entries are editors' temp files
// and ConfigMap internals; only `..data`, whose swap is a ConfigMap update, counts.
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { SPEC_FILE, type SpecTreeVisitor } from '../../specs/load.js';

export interface TreeWatchEvents {
  file(path: string): void;
  tree(): void;
  error(err: Error, path: string): void;
}

export class TreeWatch {
  private readonly dirs = new Map<string, FSWatcher>();
  private readonly links = new Map<string, FSWatcher>();
  /** What the listing in progress reached; watchers of anything else are closed when it ends. */
  private reached?: Set<string>;
  private added = false;
  private closed = false;

  constructor(private readonly events: TreeWatchEvents) {}

  /** Passed to listSpecFiles: watches each directory and linked file it reaches. */
  visitor(): SpecTreeVisitor {
    this.reached = new Set();
    this.added = false;
    return {
      dir: (path) => this.reach(path, this.dirs, (_event, name) => this.inDir(path, name)),
      linkedFile: (path) =>
        this.reach(path, this.links, (event) => {
          // The target was replaced or removed: this watch is on an inode that is gone.
          if (event === 'rename') this.drop(this.links, path);
          this.events.file(path);
          if (event === 'rename') this.events.tree();
        }),
    };
  }

  /**
   * Ends a listing: closes the watchers of what it no longer reached. Returns whether it watched
   * anything new (a directory that appeared between two listings may have gained files before
   * its watch began: the caller lists once more).
   */
  endListing(): boolean {
    const reached = this.reached;
    this.reached = undefined;
    if (!reached) return false;
    for (const map of [this.dirs, this.links]) for (const path of [...map.keys()]) if (!reached.has(path)) this.drop(map, path);
    return this.added;
  }

  /** How many watches are open (directories, linked files). */
  size(): { dirs: number; links: number } {
    return { dirs: this.dirs.size, links: this.links.size };
  }

  close(): void {
    this.closed = true;
    for (const map of [this.dirs, this.links]) for (const path of [...map.keys()]) this.drop(map, path);
  }

  private reach(path: string, map: Map<string, FSWatcher>, onEvent: (event: string, name: string | null) => void): void {
    this.reached?.add(path);
    if (this.closed || map.has(path)) return;
    let w: FSWatcher;
    try {
      w = watch(path, { persistent: false }, (event, name) => onEvent(event, name));
    } catch (err) {
      // Gone since it was listed, or no inotify watch left (ENOSPC): said, and the resync still lists it.
      this.events.error(err as Error, path);
      return;
    }
    w.on('error', (err) => {
      this.drop(map, path);
      this.events.error(err, path);
      this.events.tree();
    });
    map.set(path, w);
    this.added = true;
  }

  private inDir(dir: string, name: string | null): void {
    if (this.closed) return;
    if (name === null) return this.events.tree();
    if (name.startsWith('.')) {
      if (name === '..data') this.events.tree();
      return;
    }
    if (SPEC_FILE.test(name)) this.events.file(join(dir, name));
    else this.events.tree();
  }

  private drop(map: Map<string, FSWatcher>, path: string): void {
    const w = map.get(path);
    if (!w) return;
    map.delete(path);
    w.close();
  }
}
