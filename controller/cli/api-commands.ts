// The commands that talk to a running pagecast through its API: status, suspend, resume, page,
// cast, uncast. Output goes through status-format.ts, so every command prints times, tables and
// errors alike; an error is one line, `pagecast COMMAND: what went wrong`.
import { escapeControl } from '../../specs/escape.js';
import type { SpecStatus } from '../status/types.js';
import { defaultTokenPath, readToken } from '../http/auth.js';
import { defaultStateDir } from '../sources/state-dir.js';
import { ApiClient, ApiClientError, DEFAULT_API_URL } from './api-client.js';
import { parseCommand, usageError } from './commands.js';
import { formatPage, formatStatusDetail, formatStatusTable } from './status-format.js';
import { poll, watch } from './watch.js';

export type ApiCommandName = 'status' | 'suspend' | 'resume' | 'page' | 'cast' | 'uncast';

export interface ApiCommandIO {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: --watch clears the screen between frames. */
  stdoutIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** Calls `stop` on Ctrl-C (SIGINT) or SIGTERM until the returned function is called. */
  onInterrupt(stop: () => void): () => void;
  /** How often --watch reads the status (ms). */
  watchIntervalMs: number;
}

export function processIO(): ApiCommandIO {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    stdoutIsTTY: process.stdout.isTTY === true,
    env: process.env,
    onInterrupt(stop) {
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      return () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      };
    },
    watchIntervalMs: 1000,
  };
}

interface ClientValues {
  'api-url'?: string;
  'token-file'?: string;
  'state-dir'?: string;
}

/** Reading status needs no token on loopback; everything else does. */
async function connect(values: ClientValues, needsToken: boolean, env: NodeJS.ProcessEnv): Promise<ApiClient> {
  const tokenFile = values['token-file'] ?? defaultTokenPath(values['state-dir'] ?? defaultStateDir(env));
  const token = needsToken
    ? await readToken(tokenFile).catch((err: Error) => {
        throw new ApiClientError(`cannot read the API token from ${tokenFile}: ${err.message}`, 'UNAUTHORIZED');
      })
    : await readToken(tokenFile).catch(() => undefined);
  return new ApiClient({ baseUrl: values['api-url'] ?? env.PAGECAST_API_URL ?? DEFAULT_API_URL, token });
}

/** Runs one API command; usage errors are thrown for the caller to print, API errors printed here (exit 1). */
export async function apiCommand(command: ApiCommandName, args: string[], io: ApiCommandIO = processIO()): Promise<number> {
  try {
    switch (command) {
      case 'status':
        return await status(args, io);
      case 'suspend':
      case 'resume': {
        const { values, positionals } = parseCommand(command, args);
        const name = positionals[0];
        if (!name) throw usageError('name a spec');
        const client = await connect(values, true, io.env);
        await (command === 'suspend' ? client.suspend(name) : client.resume(name));
        io.out(`${escapeControl(name, { oneLine: true })} ${command === 'suspend' ? 'suspended' : 'resumed'}\n`);
        return 0;
      }
      case 'page': {
        const { values, positionals } = parseCommand('page', args);
        const [name, n] = positionals;
        if (!name || n === undefined) throw usageError('name a spec and a page, e.g. pagecast page kitchen 0 (pages are numbered from 0)');
        if (!/^\d{1,9}$/.test(n)) throw usageError(`"${n}" is not a page index: expected a whole number from 0`);
        const client = await connect(values, true, io.env);
        const r = await client.showPage(name, Number(n));
        io.out(values.json ? `${JSON.stringify(r, null, 2)}\n` : `${escapeControl(`${name}: ${formatPage(r.page)}`)}\n`);
        return 0;
      }
      case 'cast': {
        const { values } = parseCommand('cast', args);
        if (!values.device || !values.url) throw usageError('--device and --url are required');
        const device = /^[\d.]+(:\d+)?$/.test(values.device)
          ? { host: values.device.split(':')[0]!, port: Number(values.device.split(':')[1] ?? 8009) }
          : values.device;
        const client = await connect(values, true, io.env);
        const r = await client.createCast({
          device,
          url: values.url,
          ...(values.quality ? { quality: values.quality } : {}),
          ...(values.mode ? { mode: values.mode } : {}),
          ...(values.for ? { duration: values.for } : {}),
          ...(values.priority !== undefined ? { priority: Number(values.priority) } : {}),
          ...(values.name ? { name: values.name } : {}),
        });
        io.out(`${escapeControl(`${r.name}${r.expiresAt ? ` (until ${r.expiresAt})` : ''}`, { oneLine: true })}\n`);
        return 0;
      }
      case 'uncast': {
        const { values, positionals } = parseCommand('uncast', args);
        const name = positionals[0];
        if (!name) throw usageError('name a cast');
        const client = await connect(values, true, io.env);
        await client.deleteCast(name);
        io.out(`${escapeControl(name, { oneLine: true })} ended\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof ApiClientError) {
      io.err(`pagecast ${command}: ${escapeControl(err.message)}\n`);
      return 1;
    }
    throw err;
  }
}

/** `pagecast status [NAME] [--json] [--watch]`. */
async function status(args: string[], io: ApiCommandIO): Promise<number> {
  const { values, positionals } = parseCommand('status', args);
  const name = positionals[0];
  const client = await connect(values, false, io.env);
  const read = (): Promise<SpecStatus | SpecStatus[]> => (name ? client.get(name) : client.list());
  // A function of the answer and the clock: the same answer a second later may draw other ages.
  const render = (answer: SpecStatus | SpecStatus[]): string => {
    if (values.json) return JSON.stringify(answer, null, values.watch ? undefined : 2);
    return Array.isArray(answer) ? formatStatusTable(answer) : formatStatusDetail(answer);
  };
  if (!values.watch) {
    io.out(`${render(await read())}\n`);
    return 0;
  }
  const stop = new AbortController();
  const release = io.onInterrupt(() => stop.abort());
  try {
    await watch({
      states: poll(read, { intervalMs: io.watchIntervalMs, signal: stop.signal }),
      render,
      // Drawn where the table was, until the API answers again.
      renderError: (err) =>
        values.json
          ? JSON.stringify({ error: { code: err instanceof ApiClientError ? err.code : 'ERROR', message: err.message } })
          : `pagecast status: ${escapeControl(err.message)} (trying again every ${io.watchIntervalMs / 1000}s)`,
      out: io.out,
      tty: io.stdoutIsTTY && !values.json, // JSON lines are for programs: never cleared
      failFirst: true,
    });
  } finally {
    release();
  }
  return 0; // Ctrl-C is how a watch ends
}
