// Reading the deployment files as their tools would: the Debian packages a Containerfile or shell
// script installs, a Containerfile's instructions, a systemd unit's settings, and what `pagecast
// run` accepts. No container engine, kubelet or systemd runs here: these checks keep the files true.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../controller/cli/commands.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** The lines of a shell script or Containerfile with backslash continuations joined and comments dropped. */
export function logicalLines(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && current === '') continue;
    if (/^\s*#/.test(raw)) continue; // a comment inside a continued RUN
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) current += `${line.slice(0, -1)} `;
    else {
      out.push(current + line);
      current = '';
    }
  }
  if (current) out.push(current);
  return out;
}

/** The packages of each `apt-get install` in the text, one list per command, in order. */
export function aptInstalls(text: string): string[][] {
  const installs: string[][] = [];
  for (const line of logicalLines(text)) {
    for (const command of line.split(/&&|;/)) {
      const m = /apt-get\s+install\s+(.*)$/.exec(command.trim());
      if (m) installs.push(m[1]!.split(/\s+/).filter((w) => w && !w.startsWith('-')));
    }
  }
  return installs;
}

/** A Containerfile's instructions: keyword and argument text, continuations joined. */
export function instructions(text: string): Array<{ keyword: string; args: string }> {
  return logicalLines(text)
    .map((l) => /^\s*([A-Z]+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ keyword: m[1]!, args: m[2]!.trim() }));
}

/** The JSON array form of ENTRYPOINT, CMD or HEALTHCHECK … CMD. */
export function execForm(args: string): string[] {
  return JSON.parse(args.slice(args.indexOf('['))) as string[];
}

/** A systemd unit's settings by section; a key given twice keeps every value. */
export function unitSettings(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const line of logicalLines(text)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      sections.set(header[1]!, (section = new Map()));
      continue;
    }
    const eq = trimmed.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit setting: ${trimmed}`);
    const key = trimmed.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), trimmed.slice(eq + 1)]);
  }
  return sections;
}

/**
 * The options a `pagecast run` command line gives (`--flag value` or `--flag=value`), checked
 * against what `pagecast run` accepts; returns them by name.
 */
export function runFlags(argv: readonly string[]): Map<string, string> {
  const accepted = COMMANDS.run.options as Record<string, { type: string }>;
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) continue;
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const spec = accepted[name];
    if (!spec) throw new Error(`pagecast run has no option --${name} (it has ${Object.keys(accepted).map((k) => `--${k}`).join(', ')})`);
    flags.set(name, spec.type === 'boolean' ? 'true' : (inline ?? argv[++i]!));
  }
  return flags;
}

/** The source file tsc compiles to a dist/ path (rootDir "." → outDir "dist"). */
export function sourceOf(distPath: string): string {
  const m = /(?:^|\/)dist\/(.+)\.js$/.exec(distPath);
  if (!m) throw new Error(`not a path under dist/: ${distPath}`);
  return `${m[1]}.ts`;
}

/**
 * The repository's files under `dir` as a clone hands them over: without installed dependencies,
 * build output or dot-folders (.git, .ci).
 */
export function repoFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'dist') continue;
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...repoFiles(path));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

export function exists(path: string): boolean {
  return existsSync(join(ROOT, path));
}

/**
 * install.sh's runtime packages, its first `apt-get install`: what pagecast needs on a host, and so
 * in every image. (A later install in it may add tools that only the tests need.)
 */
export function installShPackages(): string[] {
  const first = aptInstalls(read('scripts/install.sh'))[0];
  if (!first) throw new Error('scripts/install.sh installs no Debian packages');
  return first;
}

/** Debian's VA-API drivers an image carries for a GPU passed in (/dev/dri); a host has its own. */
export const VA_API_DRIVERS: Record<string, string> = {
  'intel-media-va-driver': 'VA-API for an Intel GPU',
  'mesa-va-drivers': 'VA-API for an AMD GPU',
};
