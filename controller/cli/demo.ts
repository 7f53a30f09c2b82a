// `npm run demo`: pagecast on examples/demo.yaml against a fake Cast device it starts, with a
// small live page to cast. Nothing leaves this machine. A real user changes `device:`.
import { createServer, type Server } from 'node:http';
import { mkdirSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeCastDevice } from '../../test/fake-device/device.js';
import { createLogger } from '../../machines/log.js';
import { startPagecast } from './run.js';
import { formatStatusTable } from './status-format.js';

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>pagecast demo</title>
<style>
  html,body{margin:0;height:100%;background:#0b1e2d;color:#e8f1f8;font-family:"DejaVu Sans",sans-serif}
  main{display:grid;grid-template-columns:1fr 1fr;gap:4vh;padding:6vh 6vw}
  .card{background:#12324a;border-radius:2vh;padding:3vh 3vw}
  .big{font-size:12vh;font-weight:bold}.label{font-size:3vh;opacity:.7}
</style></head><body><main>
  <div class="card"><div class="label">Time</div><div class="big" id="clock">--:--:--</div></div>
  <div class="card"><div class="label">Living room</div><div class="big" id="temp">21.5°</div></div>
  <div class="card"><div class="label">Power now</div><div class="big" id="power">0 W</div></div>
  <div class="card"><div class="label">Cast by</div><div class="big" style="font-size:8vh">pagecast</div></div>
</main><script>
  setInterval(() => {
    document.getElementById('clock').textContent = new Date().toLocaleTimeString('en-GB');
    document.getElementById('power').textContent = (300 + Math.round(Math.random() * 50)) + ' W';
  }, 1000);
</script></body></html>`;

/** What the demo prints once the fake TV plays: where to look, and how to stop. */
export function demoAddresses(o: { apiUrl: string; streamUrl?: string; stateDir: string }): string {
  const cli = 'node dist/controller/cli/cli.js';
  return [
    // The API's address is the console's: a web console is served at / there.
    `Console:      ${o.apiUrl.replace(/\/*$/, '/')}`,
    ...(o.streamUrl ? [`The stream:   ffplay ${o.streamUrl}`] : []),
    `Status:       ${cli} status --watch`,
    `Proof:        ${cli} report --state-dir ${o.stateDir}`,
    'Stop:         Ctrl-C',
  ].join('\n');
}

async function main(): Promise<void> {
  const log = createLogger({ level: process.env.PAGECAST_LOG ?? 'info' });
  const page: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((r) => page.listen(8090, '127.0.0.1', r));
  const device = new FakeCastDevice({ name: 'Fake TV', host: '127.0.0.1', port: 8009 });
  await device.start();
  const stateDir = resolve(process.env.PAGECAST_STATE_DIR ?? '.pagecast-state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const running = await startPagecast({
    specsDir: resolve('examples'),
    selector: { site: 'demo' },
    stateDir,
    apiHost: '127.0.0.1',
    apiPort: 8780,
    streamHost: '127.0.0.1',
    streamPort: 8181,
    log,
  });
  const shown = setInterval(() => {
    const s = running.controller.get('demo');
    if (s?.phase !== 'Playing') return;
    clearInterval(shown);
    const lease = running.controller.actor('demo')?.getSnapshot().context.lease;
    process.stdout.write(`\n${formatStatusTable(running.controller.list())}\n\n`);
    process.stdout.write(`${demoAddresses({ apiUrl: running.api.url, streamUrl: lease?.url('127.0.0.1'), stateDir })}\n\n`);
  }, 500);
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    clearInterval(shown);
    await running.stop();
    await device.stop();
    page.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

// Run when executed (npm run demo), not when a test imports demoAddresses.
const invokedAs = process.argv[1] ? realpathSync(resolve(process.argv[1])) : '';
if (import.meta.url === pathToFileURL(invokedAs).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
