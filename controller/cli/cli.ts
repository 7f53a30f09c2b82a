#!/usr/bin/env node
// pagecast: run the controller, validate specs, and talk to a running instance.
import { parseArgs } from 'node:util';
import { stat } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSpecDir, loadSpecFile, checkNames, type LoadedSpec, type Diagnostic } from '../../specs/load.js';
import { formatDiagnostic, formatGithub, validateConflicts } from '../../specs/diagnostics.js';
import { castSpecJsonSchema } from '../../specs/json-schema.js';
import { escapeControl } from '../../specs/escape.js';
import { ApiClient, ApiClientError, DEFAULT_API_URL } from './api-client.js';
import { defaultTokenPath, readToken } from '../http/auth.js';
import { defaultStateDir } from '../sources/state-dir.js';
import { formatPage, formatStatusDetail, formatStatusTable } from './status-format.js';

const USAGE = `pagecast — keeps web pages playing on Chromecast and Google TV

Usage:
  pagecast run [DIR]                  run the controller on the spec files in DIR (default: .)
  pagecast validate FILE|DIR...       check spec files; non-zero exit on errors (--format github)
  pagecast status [NAME] [--json]     what each spec is doing (a table, or one spec in detail)
  pagecast suspend NAME | resume NAME leave a device alone / take it back
  pagecast page NAME N                show page N of a spec with pages now (0-based, as
                                      in status) and restart its turn
  pagecast cast --device D --url U [--for 10m] [--quality 720p] [--priority N] [--name N]
  pagecast uncast NAME                end an ephemeral cast
  pagecast devices [--timeout 3s]     list Cast devices found over mDNS
  pagecast report [--since 24h] [--json] [--state-dir DIR]
                                      proof of play: uptime per spec and device from
                                      <state-dir>/play.jsonl (default: the whole log)
  pagecast schema                     print the JSON Schema for spec files

Options for run:
  --state-dir DIR        state directory (default $PAGECAST_STATE_DIR or ~/.local/state/pagecast)
  --api HOST:PORT        status/control API address (default 127.0.0.1:8780)
  --stream HOST:PORT     stream server address devices fetch from (default 0.0.0.0:8181)
  --advertise-host HOST  address put in stream URLs (default: the local address routing to the device)
  --selector K=V[,K=V]   run only specs whose labels match
  --chromium PATH        Chromium executable (default: /usr/bin/chromium or chromium on PATH)
  --log-level LEVEL      trace|debug|info|warn|error (default info)
Options for status, suspend, resume, page, cast, uncast:
  --api-url URL          default ${DEFAULT_API_URL}
  --token-file FILE      default <state-dir>/api-token`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return (await import('./run.js')).runCommand(rest);
    case 'validate':
      return validateCommand(rest);
    case 'schema':
      process.stdout.write(`${JSON.stringify(castSpecJsonSchema(), null, 2)}\n`);
      return 0;
    case 'status':
    case 'suspend':
    case 'resume':
    case 'page':
    case 'cast':
    case 'uncast':
      return clientCommand(command, rest);
    case 'devices':
      return (await import('./devices.js')).devicesCommand(rest);
    case 'report':
      return (await import('./report.js')).reportCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`pagecast: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function validateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string', default: 'text' } } });
  if (positionals.length === 0) {
    process.stderr.write('pagecast validate: name at least one file or directory\n');
    return 2;
  }
  if (values.format !== 'text' && values.format !== 'github') {
    process.stderr.write(`pagecast validate: --format must be text or github\n`);
    return 2;
  }
  const diagnostics: Diagnostic[] = [];
  const specs: LoadedSpec[] = [];
  for (const target of positionals) {
    const st = await stat(target).catch(() => undefined);
    if (!st) {
      diagnostics.push({ file: target, line: 1, column: 1, path: '', message: 'no such file or directory', severity: 'error' });
      continue;
    }
    const r = st.isDirectory() ? await loadSpecDir(target, { checkNames: false }) : await loadSpecFile(target);
    // One by one: spreading a large array into a call overflows the stack.
    for (const d of r.diagnostics) diagnostics.push(d);
    for (const x of r.specs) specs.push(x);
  }
  for (const d of [checkNames(specs), validateConflicts(specs)].flat()) diagnostics.push(d);
  const print = values.format === 'github' ? formatGithub : formatDiagnostic;
  for (const d of diagnostics) process.stdout.write(`${print(d)}\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  if (values.format === 'text') {
    process.stderr.write(`${specs.length} spec(s) checked: ${errors} error(s), ${warnings} warning(s)\n`);
  }
  return errors > 0 ? 1 : 0;
}

async function clientCommand(command: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'api-url': { type: 'string' },
      'token-file': { type: 'string' },
      'state-dir': { type: 'string' },
      device: { type: 'string' },
      url: { type: 'string' },
      for: { type: 'string' },
      quality: { type: 'string' },
      priority: { type: 'string' },
      name: { type: 'string' },
      mode: { type: 'string' },
    },
  });
  const stateDir = values['state-dir'] ?? defaultStateDir();
  const tokenFile = values['token-file'] ?? defaultTokenPath(stateDir);
  const needsToken = command !== 'status';
  const token = needsToken ? await readToken(tokenFile).catch((err: Error) => {
    throw new ApiClientError(`cannot read the API token from ${tokenFile}: ${err.message}`, 'UNAUTHORIZED');
  }) : await readToken(tokenFile).catch(() => undefined);
  const client = new ApiClient({ baseUrl: values['api-url'] ?? process.env.PAGECAST_API_URL ?? DEFAULT_API_URL, token });
  try {
    switch (command) {
      case 'status': {
        const name = positionals[0];
        if (name) {
          const s = await client.get(name);
          process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatusDetail(s)}\n`);
        } else {
          const all = await client.list();
          process.stdout.write(values.json ? `${JSON.stringify(all, null, 2)}\n` : `${formatStatusTable(all)}\n`);
        }
        return 0;
      }
      case 'suspend':
      case 'resume': {
        const name = positionals[0];
        if (!name) throw new ApiClientError('name a spec', 'USAGE');
        await (command === 'suspend' ? client.suspend(name) : client.resume(name));
        process.stdout.write(`${name} ${command === 'suspend' ? 'suspended' : 'resumed'}\n`);
        return 0;
      }
      case 'page': {
        const [name, n] = positionals;
        if (!name || n === undefined) throw new ApiClientError('name a spec and a page, e.g. pagecast page kitchen 0 (pages are numbered from 0)', 'USAGE');
        if (!/^\d{1,9}$/.test(n)) throw new ApiClientError(`"${n}" is not a page index: expected a whole number from 0`, 'USAGE');
        const r = await client.showPage(name, Number(n));
        process.stdout.write(`${escapeControl(`${name}: ${formatPage(r.page)}`)}\n`);
        return 0;
      }
      case 'cast': {
        if (!values.device || !values.url) throw new ApiClientError('--device and --url are required', 'USAGE');
        const device = /^[\d.]+(:\d+)?$/.test(values.device)
          ? { host: values.device.split(':')[0]!, port: Number(values.device.split(':')[1] ?? 8009) }
          : values.device;
        const r = await client.createCast({
          device,
          url: values.url,
          ...(values.quality ? { quality: values.quality } : {}),
          ...(values.mode ? { mode: values.mode } : {}),
          ...(values.for ? { duration: values.for } : {}),
          ...(values.priority !== undefined ? { priority: Number(values.priority) } : {}),
          ...(values.name ? { name: values.name } : {}),
        });
        process.stdout.write(`${escapeControl(`${r.name}${r.expiresAt ? ` (until ${r.expiresAt})` : ''}`, { oneLine: true })}\n`);
        return 0;
      }
      case 'uncast': {
        const name = positionals[0];
        if (!name) throw new ApiClientError('name a cast', 'USAGE');
        await client.deleteCast(name);
        process.stdout.write(`${name} ended\n`);
        return 0;
      }
    }
    return 2;
  } catch (err) {
    if (err instanceof ApiClientError) {
      process.stderr.write(`pagecast ${command}: ${escapeControl(err.message)}\n`);
      return err.code === 'USAGE' ? 2 : 1;
    }
    throw err;
  }
}

// Run when executed directly (the bin), not when imported by tests.
const invokedAs = process.argv[1] ? realpathSync(resolve(process.argv[1])) : '';
if (import.meta.url === pathToFileURL(invokedAs).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`pagecast: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
