// A real broker for the MQTT tests: Debian's mosquitto on a free loopback port, with its config,
// password file and nothing else in a temp dir (no persistence), started and stopped by pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { freePort, waitUntil } from '../../../helpers.js';

export { freePort };

export class Mosquitto {
  readonly dir = mkdtempSync(join(tmpdir(), 'pc-mosquitto-'));
  readonly url: string;
  private proc?: ChildProcess;
  private stderr = '';

  /** `users`: a password file with these logins, and no anonymous clients. */
  constructor(readonly port: number, private readonly users?: Record<string, string>) {
    this.url = `mqtt://127.0.0.1:${port}`;
    const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning'];
    // As root mosquitto would switch to its own user, which cannot read this private temp dir.
    if (process.getuid?.() === 0) lines.push('user root');
    if (users) {
      const file = join(this.dir, 'passwd');
      writeFileSync(file, '', { mode: 0o600 });
      for (const [user, password] of Object.entries(users)) {
        const r = spawnSync('mosquitto_passwd', ['-b', file, user, password], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.error?.message ?? r.stderr}`);
      }
      lines.push('allow_anonymous false', `password_file ${file}`);
    } else lines.push('allow_anonymous true');
    writeFileSync(join(this.dir, 'mosquitto.conf'), lines.join('\n') + '\n');
  }

  static async start(users?: Record<string, string>): Promise<Mosquitto> {
    const m = new Mosquitto(await freePort(), users);
    await m.start();
    return m;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the broker; resolves once it takes connections. */
  async start(): Promise<void> {
    const proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let failed: Error | undefined;
    proc.on('error', (err) => (failed = new Error(`cannot run mosquitto (apt-get install mosquitto): ${err.message}`)));
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    await waitUntil(
      async () => {
        if (failed) throw failed;
        if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}): ${this.stderr}`);
        return new Promise<boolean>((resolve) => {
          const s = tcpConnect(this.port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        });
      },
      5000,
      () => `mosquitto on port ${this.port}: ${failed?.message ?? this.stderr}`,
    );
  }

  /** Stops the broker by its pid: SIGTERM, then SIGKILL after 3 s. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    process.kill(proc.pid!, 'SIGTERM');
    const timer = setTimeout(() => proc.pid && process.kill(proc.pid, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the broker and removes its temp dir. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

/** A client that records everything under `filters`, as Home Assistant would see it. */
export class Observer {
  readonly messages: Seen[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, payload: payload.toString(), retain: packet.retain, at: Date.now() }));
  }

  static async connect(url: string, filters: string[], opts: IClientOptions = {}): Promise<Observer> {
    const client = await connectAsync(url, { reconnectPeriod: 0, ...opts });
    const o = new Observer(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return o;
  }

  on(topic: string): Seen[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  last(topic: string): Seen | undefined {
    return this.on(topic).at(-1);
  }

  /** The newest JSON payload on `topic`, parsed (undefined when none or empty). */
  json<T = Record<string, unknown>>(topic: string): T | undefined {
    const m = this.last(topic);
    return m?.payload ? (JSON.parse(m.payload) as T) : undefined;
  }

  publish(topic: string, payload: string): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * The retained messages under `filter` as a new subscriber gets them. The broker sends them right
 * after the subscription; a marker published afterwards on the same connection arrives after them.
 */
export async function retained(url: string, filter: string): Promise<Map<string, string>> {
  const marker = `pagecast-test/marker/${Math.random().toString(36).slice(2)}`;
  const o = await Observer.connect(url, [filter, marker]);
  try {
    await o.publish(marker, 'end');
    await waitUntil(() => o.on(marker).length > 0, 5000, 'the marker');
    return new Map(o.messages.filter((m) => m.retain && m.topic !== marker).map((m) => [m.topic, m.payload]));
  } finally {
    await o.close();
  }
}
