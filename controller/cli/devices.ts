// `pagecast devices`: what Cast devices answer mDNS on this network.
import { parseArgs } from 'node:util';
import { discover } from '../../machines/cast/discovery.js';
import { parseDuration } from '../../specs/duration.js';
import { renderTable } from './status-format.js';

export async function devicesCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { timeout: { type: 'string', default: '3s' }, json: { type: 'boolean', default: false }, interface: { type: 'string' }, port: { type: 'string' }, address: { type: 'string' } },
  });
  const timeoutMs = parseDuration(values.timeout!);
  if (timeoutMs === undefined) {
    process.stderr.write(`pagecast devices: --timeout expects a duration like 3s\n`);
    return 2;
  }
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
    process.stdout.write(`no Cast devices answered within ${values.timeout}\n`);
    return 0;
  }
  const rows = devices.map((d) => [d.name, d.model ?? '', `${d.host}:${d.port}`, d.id, d.runningApp || (d.busy ? 'busy' : 'idle')]);
  process.stdout.write(`${renderTable(['NAME', 'MODEL', 'ADDRESS', 'ID', 'RUNNING'], rows)}\n`);
  return 0;
}
