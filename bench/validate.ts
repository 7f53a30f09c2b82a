// bench/validate: `pagecast validate` on one directory of 10,000 spec files (goal: under 5 s and
// under 300 MB), with a third of them naming one device and a hundred sharing one name, so the
// cross-spec checks have large groups to report. Runs the real CLI in a child process and reads
// its peak RSS from inside it. Ends with one JSON line.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const SPECS = Number(process.env.BENCH_SPECS ?? 10_000);

const spec = (i: number) => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${i % 100 === 0 ? 'shared-name' : `screen-${i}`}
  labels: { site: store-${i % 20} }
spec:
  device: ${i % 3 === 0 ? 'Lobby TV' : `{ host: 10.1.${Math.floor(i / 250)}.${i % 250}, port: 8009 }`}
  url: https://signage.example/board/${i}
  quality: 720p
${i % 7 === 0 ? `  schedule:\n    timezone: Europe/Berlin\n    windows:\n      - { days: [mon, tue, wed], start: "${String(i % 24).padStart(2, '0')}:00", end: "24:00" }\n` : ''}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-bench-validate-'));
  try {
    for (let i = 0; i < SPECS; i++) {
      const sub = join(dir, `site-${i % 20}`);
      if (i < 20) mkdirSync(sub);
      writeFileSync(join(sub, `screen-${i}.yaml`), spec(i));
    }
    const cli = pathToFileURL(resolve('dist/controller/cli/cli.js')).href;
    const code = `const { main } = await import(${JSON.stringify(cli)});
const code = await main(['validate', ${JSON.stringify(dir)}]);
process.stderr.write('RUSAGE ' + JSON.stringify({ maxRssKB: process.resourceUsage().maxRSS }) + '\\n');
process.exitCode = code;`;
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let outBytes = 0;
    let outLines = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      for (const b of d) if (b === 10) outLines++;
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    const ms = performance.now() - t0;
    const rusage = /RUSAGE (.*)/.exec(err);
    if (!rusage) throw new Error(`validate did not report (exit ${exit}): ${err.slice(-500)}`);
    const peakMB = JSON.parse(rusage[1]!).maxRssKB / 1024;
    console.log(err.split('\n').find((l) => l.includes('spec(s) checked')));
    console.log(`${SPECS} spec files validated in ${ms.toFixed(0)} ms, peak RSS ${peakMB.toFixed(0)} MB, ${outLines} lines (${outBytes} bytes) of diagnostics, exit ${exit}`);
    console.log(JSON.stringify({ bench: 'validate', specs: SPECS, ms: Math.round(ms), peakRssMB: Math.round(peakMB), outputLines: outLines, outputBytes: outBytes, exitCode: exit }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
