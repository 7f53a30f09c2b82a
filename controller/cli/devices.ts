// `pagecast devices`: what Cast devices answer mDNS on this network.
import { discover } from '../../machines/cast/discovery.js';
import { parseDuration } from '../../specs/duration.js';
import { parseCommand, usageError } from './commands.js';
import { renderTable } from './status-format.js';

export async function devicesCommand(args: string[]): Promise<number> {
  const { values } = parseCommand('devices', args);
  const timeout = values.timeout ?? '3s';
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined) throw usageError(`--timeout: expected a duration like 3s, got "${timeout}"`);
  if (values.port !== undefined && !/^\d{1,5}$/.test(values.port)) throw usageError(`--port: expected a port number, got "${values.port}"`);
  const devices = await discover({
    timeoutMs,
    ...(values.interface ? { interface: values.interface } : {}),
    ...(values.port ? { port: Number(values.port) } : {}),
    ...(values.address ? { address: values.address } : {}),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return 0;
  }
  if (devices.length === 0) {
    process.stdout.write(`No Cast devices answered within ${timeout}.\n`);
    return 0;
  }
  const rows = devices.map((d) => [d.name, d.model || '-', `${d.host}:${d.port}`, d.id, d.runningApp || (d.busy ? 'busy' : 'idle')]);
  process.stdout.write(`${renderTable(['NAME', 'MODEL', 'ADDRESS', 'ID', 'RUNNING'], rows)}\n`);
  return 0;
}
