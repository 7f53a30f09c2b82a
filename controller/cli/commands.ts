// Every subcommand's arguments, summary and options, in one table that both parsing and --help
// read: what `pagecast X --help` lists is exactly what `pagecast X` accepts. Light on purpose
// (no controller code): `pagecast --help` loads nothing else.
import { parseArgs } from 'node:util';
import { PagecastError } from '../../machines/errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in help: --api-url URL. */
  value?: string;
  help: string;
}

export interface CommandSpec {
  /** After the command's name in usage: "[NAME]", "NAME N". */
  args: string;
  /** Most positional arguments the command takes (undefined: any number). */
  maxArgs?: number;
  /** One line, for `pagecast --help`. */
  summary: string;
  /** More, for the command's own --help. */
  about?: string;
  options: Record<string, OptionSpec>;
  examples?: string[];
}

const API_URL_DEFAULT = 'http://127.0.0.1:8780';
const STATE_DIR_DEFAULT = '$PAGECAST_STATE_DIR, else $XDG_STATE_HOME/pagecast, else ~/.local/state/pagecast';

/** How the API commands find a running pagecast and its token. */
const CLIENT_OPTIONS = {
  'api-url': { type: 'string', value: 'URL', help: `the API of a running pagecast (default: $PAGECAST_API_URL, else ${API_URL_DEFAULT})` },
  'token-file': { type: 'string', value: 'FILE', help: 'the API token (default: <state-dir>/api-token, which pagecast run writes)' },
  'state-dir': { type: 'string', value: 'DIR', help: `where the token is (default: ${STATE_DIR_DEFAULT})` },
} as const satisfies Record<string, OptionSpec>;

export const COMMANDS = {
  run: {
    args: '[DIR]',
    maxArgs: 1,
    summary: 'run the controller on the spec files in DIR (default: .)',
    about: 'Keeps every spec in DIR playing, watches the files for changes, and serves the status/control API. Stops every pipeline in order on SIGTERM or Ctrl-C.',
    options: {
      'state-dir': { type: 'string', value: 'DIR', help: `state directory (default: ${STATE_DIR_DEFAULT})` },
      api: { type: 'string', value: 'HOST:PORT', help: 'status/control API address (default: 127.0.0.1:8780)' },
      stream: { type: 'string', value: 'HOST:PORT', help: 'stream server address devices fetch from (default: 0.0.0.0:8181)' },
      'advertise-host': { type: 'string', value: 'HOST', help: 'address put in stream URLs (default: the local address routing to the device)' },
      selector: { type: 'string', value: 'K=V[,K=V]', help: 'run only specs whose labels match' },
      chromium: { type: 'string', value: 'PATH', help: 'Chromium executable (default: /usr/bin/chromium, or chromium on PATH)' },
      mqtt: { type: 'string', value: 'URL', help: 'publish every spec to Home Assistant through this MQTT broker (discovery, state, commands), e.g. mqtt://127.0.0.1:1883' },
      'mqtt-credentials': { type: 'string', value: 'FILE', help: 'the broker login: a file with "username: NAME" and "password: SECRET" lines, readable by its owner only' },
      coordinator: { type: 'string', value: 'KIND', help: 'static (default: every spec the selector matches runs here) or etcd (the instances of a site share its specs on etcd leases and take over each other\'s screens)' },
      'etcd-endpoints': { type: 'string', value: 'URL[,URL]', help: "with --coordinator etcd: the site's etcd members, e.g. http://10.0.0.2:2379,http://10.0.0.3:2379,http://10.0.0.4:2379" },
      site: { type: 'string', value: 'NAME', help: 'with --coordinator etcd: the site whose specs this instance shares' },
      capacity: { type: 'string', value: 'N', help: 'with --coordinator etcd: the most specs this instance runs (default: from its cores)' },
      'instance-id': { type: 'string', value: 'ID', help: 'with --coordinator etcd: this instance in the site (default: the host name)' },
      'lease-ttl': { type: 'string', value: 'SECONDS', help: 'with --coordinator etcd: the lease TTL; a dead instance\'s screens move after about this long (default 6)' },
      'trust-ingress': {
        type: 'boolean',
        help: "for the Home Assistant add-on: the console trusts requests from Home Assistant's ingress proxy (172.30.32.2, with X-Ingress-Path) as a signed-in user",
      },
      'log-level': { type: 'string', value: 'LEVEL', help: 'trace, debug, info, warn or error (default: $PAGECAST_LOG, else info)' },
      'log-format': {
        type: 'string',
        value: 'FORMAT',
        help: 'json, pretty or auto (default: $PAGECAST_LOG_FORMAT, else auto: pretty when stderr is a terminal, JSON otherwise)',
      },
    },
    examples: ['pagecast run /etc/pagecast', 'pagecast run . --api 0.0.0.0:8780 --log-format json'],
  },
  validate: {
    args: 'FILE|DIR...',
    summary: 'check spec files; exits 1 on errors',
    about: 'Prints every problem as file:line:col with the path in the spec, and a count on stderr.',
    options: {
      format: { type: 'string', value: 'FORMAT', help: 'text, or github for GitHub Actions annotations (default: text)' },
    },
    examples: ['pagecast validate specs/', 'pagecast validate --format github specs/'],
  },
  status: {
    args: '[NAME]',
    maxArgs: 1,
    summary: 'what each spec is doing (a table, or one spec in detail)',
    about: 'Asks a running pagecast. Reading status needs no token on loopback.',
    options: {
      json: { type: 'boolean', help: 'print the API’s answer as JSON' },
      watch: { type: 'boolean', short: 'w', help: 'redraw when it changes, until Ctrl-C (with --json: one JSON line per change)' },
      ...CLIENT_OPTIONS,
    },
    examples: ['pagecast status', 'pagecast status --watch', 'pagecast status kitchen --json'],
  },
  suspend: {
    args: 'NAME',
    maxArgs: 1,
    summary: 'leave a spec’s device alone until resume',
    options: { ...CLIENT_OPTIONS },
  },
  resume: {
    args: 'NAME',
    maxArgs: 1,
    summary: 'take a suspended spec’s device back',
    options: { ...CLIENT_OPTIONS },
  },
  page: {
    args: 'NAME N',
    maxArgs: 2,
    summary: 'show page N now (0-based, as in status) and restart its turn',
    about: 'For a spec with pages; the device is not cast again, only the page on screen changes.',
    options: {
      json: { type: 'boolean', help: 'print the API’s answer as JSON' },
      ...CLIENT_OPTIONS,
    },
    examples: ['pagecast page hall 0'],
  },
  cast: {
    args: '--device D --url U',
    maxArgs: 0,
    summary: 'cast a URL now, above the spec files (an ephemeral cast)',
    options: {
      device: { type: 'string', value: 'D', help: 'device name, or HOST[:PORT]' },
      url: { type: 'string', value: 'U', help: 'the page to show' },
      for: { type: 'string', value: 'DURATION', help: 'end it after this long, e.g. 10m (default: until pagecast uncast)' },
      quality: { type: 'string', value: 'Q', help: '480p, 720p or 1080p (default: 720p)' },
      mode: { type: 'string', value: 'MODE', help: 'hls or fmp4 (default: hls)' },
      priority: { type: 'string', value: 'N', help: 'priority against the specs on that device (default: 100, above spec files)' },
      name: { type: 'string', value: 'NAME', help: 'the cast’s name (default: one is made up)' },
      ...CLIENT_OPTIONS,
    },
    examples: ['pagecast cast --device "Kitchen TV" --url https://cam.example/door --for 2m --name doorbell'],
  },
  uncast: {
    args: 'NAME',
    maxArgs: 1,
    summary: 'end an ephemeral cast',
    options: { ...CLIENT_OPTIONS },
  },
  devices: {
    args: '',
    maxArgs: 0,
    summary: 'list the Cast devices that answer mDNS on this network',
    options: {
      timeout: { type: 'string', value: 'DURATION', help: 'how long to listen (default: 3s)' },
      json: { type: 'boolean', help: 'print them as JSON' },
      interface: { type: 'string', value: 'ADDRESS', help: 'the local IPv4 address to ask from (default: every interface)' },
      port: { type: 'string', value: 'PORT', help: 'mDNS port (default: 5353)' },
      address: { type: 'string', value: 'ADDRESS', help: 'mDNS multicast address (default: 224.0.0.251)' },
    },
  },
  report: {
    args: '',
    maxArgs: 0,
    summary: 'proof of play: uptime per spec and device',
    about: 'Reads <state-dir>/play.jsonl and its rotated files only: works with pagecast stopped, and beside a running one.',
    options: {
      since: { type: 'string', value: 'WHEN', help: 'a duration back from now (24h, 7d) or a time (2025-06-01T08:00:00Z) (default: the whole log)' },
      json: { type: 'boolean', help: 'print the figures as JSON' },
      'state-dir': { type: 'string', value: 'DIR', help: `state directory (default: ${STATE_DIR_DEFAULT})` },
    },
    examples: ['pagecast report --since 7d'],
  },
  schema: {
    args: '',
    maxArgs: 0,
    summary: 'print the JSON Schema for spec files (for editors)',
    options: {},
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };

/** A usage error (exit 2): bad flags or arguments, said as `pagecast NAME: …`. */
export function usageError(message: string): PagecastError {
  return new PagecastError('CONFIG', message, { source: 'arguments' });
}

export function isUsageError(err: unknown): err is PagecastError {
  return err instanceof PagecastError && err.code === 'CONFIG' && err.source === 'arguments';
}

/** Whether the arguments ask for help: `--help` or `-h` before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Parses a command's arguments by its table entry; a usage error names the bad flag or argument. */
export function parseCommand<N extends CommandName>(name: N, args: string[]): { values: Values<(typeof COMMANDS)[N]['options']>; positionals: string[] } {
  const spec: CommandSpec = COMMANDS[name];
  const options = Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: spec.maxArgs !== 0, strict: true });
  } catch (err) {
    throw usageError(`${describeParseError(err as Error & { code?: string })} (see pagecast ${name} --help)`);
  }
  if (spec.maxArgs !== undefined && spec.maxArgs > 0 && parsed.positionals.length > spec.maxArgs) {
    throw usageError(`unexpected argument "${parsed.positionals[spec.maxArgs]}" (see pagecast ${name} --help)`);
  }
  return { values: parsed.values as Values<(typeof COMMANDS)[N]['options']>, positionals: parsed.positionals };
}

/** node:util's messages, shorter and in the CLI's voice. */
function describeParseError(err: Error & { code?: string }): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(err.message) ? `${(quoted ?? '').replace(/ <value>$/, '')} needs a value` : err.message;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted ?? err.message}"`;
    default:
      return err.message;
  }
}

const WIDTH = 100;

/** Words of `text` in lines of at most `width - indent`, every line but the first indented. */
function wrap(text: string, indent: number, width = WIDTH): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** Label and text in two columns, the text wrapped under itself. */
function twoColumns(rows: Array<[string, string]>, indent = 2): string[] {
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([label, text]) => `${' '.repeat(indent)}${label.padEnd(width)}${wrap(text, indent + width)}`);
}

/** `pagecast NAME --help`. */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const optionRows: Array<[string, string]> = Object.entries(spec.options).map(([flag, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${flag}${o.value ? ` ${o.value}` : ''}`,
    o.help,
  ]);
  optionRows.push(['-h, --help', 'show this help']);
  const usage = `pagecast ${name}${spec.args ? ` ${spec.args}` : ''}${Object.keys(spec.options).length ? ' [options]' : ''}`;
  const out = [`Usage: ${usage}`, '', wrap(`${capitalise(spec.summary)}.${spec.about ? ` ${spec.about}` : ''}`, 0), '', 'Options:', ...twoColumns(optionRows)];
  if (spec.examples?.length) out.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return out.join('\n');
}

/** `pagecast --help`: every command, one line each. */
export function mainHelp(): string {
  const rows = (Object.keys(COMMANDS) as CommandName[]).map((name): [string, string] => {
    const spec: CommandSpec = COMMANDS[name];
    return [`pagecast ${name}${spec.args ? ` ${spec.args}` : ''}`, spec.summary];
  });
  return [
    'pagecast — keeps web pages playing on Chromecast and Google TV',
    '',
    'Usage: pagecast COMMAND [options]',
    '',
    'Commands:',
    ...twoColumns(rows),
    '',
    'Run "pagecast COMMAND --help" for a command’s options.',
    '',
    'Environment:',
    ...twoColumns([
      ['PAGECAST_API_URL', `the API the client commands ask (default: ${API_URL_DEFAULT})`],
      ['PAGECAST_STATE_DIR', 'the state directory (token, play log, last good specs)'],
      ['PAGECAST_LOG', 'log level of pagecast run (default: info)'],
      ['PAGECAST_LOG_FORMAT', 'json, pretty or auto (default: pretty when stderr is a terminal, else JSON)'],
      ['NO_COLOR', 'pretty logs without colour'],
    ]),
  ].join('\n');
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
