// `npm run fake-device -- --name "Fake TV" --port 8009`: a fake Cast device by hand, printing
// every message it receives. Ctrl-C stops it.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeCastDevice } from './device.js';

export interface FakeDeviceCliOptions {
  name: string;
  port: number;
  host: string;
  level: number;
  id?: string;
  model?: string;
  /** Answer mDNS on loopback (127.255.255.255:<port>), as the discovery tests do. */
  mdnsPort?: number;
}

const USAGE = 'usage: fake-device --name "Fake TV" [--port 8009] [--host 127.0.0.1] [--level 41] [--id <32 hex>] [--model Chromecast] [--mdns-port N]';

/** Reads the command line; an error message instead of options for bad input. */
export function parseFakeDeviceArgs(argv: string[]): FakeDeviceCliOptions | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        name: { type: 'string' },
        port: { type: 'string', default: '8009' },
        host: { type: 'string', default: '127.0.0.1' },
        level: { type: 'string', default: '41' },
        id: { type: 'string' },
        model: { type: 'string' },
        'mdns-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    return { error: `${(err as Error).message}\n${USAGE}` };
  }
  if (values.help) return { error: USAGE };
  if (!values.name) return { error: `--name is required\n${USAGE}` };
  const int = (v: string | undefined, what: string, min: number, max: number): number | string => {
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max ? n : `--${what}: expected an integer ${min}–${max}, got "${v}"`;
  };
  const port = int(values.port, 'port', 0, 65535);
  const level = int(values.level, 'level', 10, 62);
  const mdnsPort = values['mdns-port'] === undefined ? undefined : int(values['mdns-port'], 'mdns-port', 1, 65535);
  for (const v of [port, level, mdnsPort]) if (typeof v === 'string') return { error: v };
  if (values.id !== undefined && !/^[0-9a-f]{32}$/i.test(values.id)) return { error: '--id: expected 32 hex digits' };
  return { name: values.name, port: port as number, host: values.host!, level: level as number, id: values.id, model: values.model, mdnsPort: mdnsPort as number | undefined };
}

/** Starts the device, printing each received message and player event with `print`. */
export async function runFakeDevice(opts: FakeDeviceCliOptions, print: (line: string) => void): Promise<FakeCastDevice> {
  const device = new FakeCastDevice({
    name: opts.name,
    id: opts.id,
    model: opts.model,
    port: opts.port,
    host: opts.host,
    maxLevel: opts.level,
    mdns: opts.mdnsPort !== undefined ? { port: opts.mdnsPort } : undefined,
    log: (line) => print(`${new Date().toISOString()} ${line}`),
  });
  await device.start();
  print(`fake Cast device "${device.name}" (${device.model}, id ${device.id}, H.264 level ≤ ${opts.level / 10}) listening on ${opts.host}:${device.port}`);
  return device;
}

async function main(): Promise<void> {
  const opts = parseFakeDeviceArgs(process.argv.slice(2));
  if ('error' in opts) {
    process.stderr.write(`${opts.error}\n`);
    process.exitCode = 2;
    return;
  }
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const device = await runFakeDevice(opts, print);
  const shutdown = () => {
    print('stopping');
    device.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main().catch((err: unknown) => {
    process.stderr.write(`fake-device: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
