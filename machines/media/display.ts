// DisplayDriver: one Xvfb per stream. Xvfb picks a free display number itself and writes it to
// the fd given by -displayfd; its arrival is the readiness signal (no polling for a socket).
// The display gets a backdrop: a window under every other, with no background, that nothing
// paints. When the browser's window goes (a crash, a restart) the screen keeps its last picture
// instead of showing the black root window, so the encoder never captures the gap.
import type { Readable } from 'node:stream';
import { PagecastError } from '../errors.js';
import { componentLogger } from '../log.js';
import { DEFAULT_STOP, describeExit, lastLines, spawnRegistered, tailOf, type ProcessRegistry } from '../processes/registry.js';
import type { DisplayDriver, DisplayHandle, ExitInfo, StartContext } from '../components.js';
import { X11Connection } from './x11.js';

export interface XvfbDisplayOptions {
  registry: ProcessRegistry;
  xvfbPath?: string; // /usr/bin/Xvfb
  readyTimeoutMs?: number; // 10 s
}

/** Parses what Xvfb writes to -displayfd: a display number and a newline. */
export function parseDisplayFd(text: string): number | undefined {
  const m = /^(\d+)\n/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export class XvfbDisplayDriver implements DisplayDriver {
  constructor(private readonly opts: XvfbDisplayOptions) {}

  async start(size: { width: number; height: number }, ctx: StartContext): Promise<DisplayHandle> {
    if (ctx.signal.aborted) throw abortError();
    const log = componentLogger(ctx.log, 'display');
    const args = ['-displayfd', '3', '-screen', '0', `${size.width}x${size.height}x24`, '-nolisten', 'tcp', '-noreset', '-nocursor'];
    const child = spawnRegistered(this.opts.registry, 'Xvfb', this.opts.xvfbPath ?? 'Xvfb', args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      stopSteps: DEFAULT_STOP,
    });
    const stderr = tailOf(child.subprocess.stderr);
    let stopping = false;
    let backdrop: X11Connection | undefined; // the window lives as long as this connection

    const exited: Promise<ExitInfo> = child.exited.then((e) => describeExit('Xvfb', e, stopping, stderr()));
    const stop = async () => {
      stopping = true;
      backdrop?.close();
      await child.stop();
    };

    const fd = child.subprocess.stdio[3] as Readable | undefined;
    const display = await new Promise<number>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => fail(new PagecastError('PROCESS_FAILED', `Xvfb: no display number within ${this.opts.readyTimeoutMs ?? 10_000} ms`, { timedOut: true, source: 'Xvfb' })), this.opts.readyTimeoutMs ?? 10_000);
      const onAbort = () => fail(abortError());
      const done = () => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        fd?.removeAllListeners('data');
      };
      function fail(err: Error) {
        done();
        reject(err);
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      fd?.setEncoding('utf8');
      fd?.on('data', (chunk: string) => {
        text += chunk;
        const n = parseDisplayFd(text);
        if (n !== undefined) {
          done();
          resolve(n);
        } else if (text.length > 64) fail(new PagecastError('PROCESS_FAILED', `Xvfb: unexpected -displayfd output ${JSON.stringify(text.slice(0, 64))}`, { source: 'Xvfb' }));
      });
      void child.exited.then((e) =>
        fail(new PagecastError('PROCESS_FAILED', `Xvfb exited before it was ready (${e.signal ?? `code ${e.code}`}): ${lastLines(stderr())}`, { exitCode: e.code, signal: e.signal, source: 'Xvfb' })),
      );
    }).catch(async (err: unknown) => {
      await stop();
      throw err;
    });

    const name = `:${display}`;
    try {
      backdrop = await X11Connection.open(name);
      await backdrop.createBackdrop({ x: 0, y: 0, width: size.width, height: size.height });
      await backdrop.sync();
    } catch (err) {
      await stop();
      throw new PagecastError('PROCESS_FAILED', `Xvfb: could not make the display's backdrop: ${(err as Error).message}`, { source: 'Xvfb' });
    }
    log.info({ display: name, pid: child.pid }, 'Xvfb ready');
    ctx.report({ type: 'DisplayReady', status: 'True', reason: 'Started', message: `Xvfb on ${name}` });
    void exited.then((e) => {
      if (e.reason !== 'stopped') ctx.report({ type: 'DisplayReady', status: 'False', reason: 'XvfbExited', message: e.message ?? e.reason });
    });
    return { display: name, exited, stop };
  }
}

function abortError(): PagecastError {
  return new PagecastError('ABORTED', 'display start aborted');
}
