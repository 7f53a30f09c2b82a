// The MQTT bridge: each spec as a Home Assistant device (discovery.ts), kept up to date from the
// control plane's change feed, and Home Assistant's commands sent back through the same control
// plane as the API's. The controller never waits for it: start() returns at once, every publish
// goes through a bounded queue (outbox.ts), and a broker that is down costs a timer.
//
// Level-triggered, like the reconciler: on every connect it publishes the whole current set
// (the broker may have restarted without its retained messages), and it reads its own retained
// states back to clear the devices of specs deleted while it was away.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../../machines/log.js';
import { RepeatedWarning } from '../../../machines/repeated-warning.js';
import { redactUrl } from '../../status/redact.js';
import type { ControlPlane, SpecStatus } from '../../status/types.js';
import { parseCommand, type Command } from './commands.js';
import type { MqttCredentials } from './config.js';
import {
  commandFilter,
  deviceConfig,
  discoveryTopic,
  OFFLINE,
  ONLINE,
  specState,
  stateFilter,
  stateTopic,
  withoutComponent,
  type Topics,
} from './discovery.js';
import { Outbox } from './outbox.js';

export interface MqttBridgeOptions {
  control: ControlPlane;
  /** mqtt://, mqtts://, ws:// or wss:// (credentials in it work, and are never logged). */
  url: string;
  credentials?: MqttCredentials;
  log: Logger;
  /** This controller's name in its availability topic and state messages (default: the host name). */
  node?: string;
  /** Home Assistant's discovery prefix (default: homeassistant). */
  discoveryPrefix?: string;
  /** The root of pagecast's state and command topics (default: pagecast). */
  base?: string;
  /** Reconnect waits: from `initialMs`, doubling, up to `maxMs`, ±20 % (default 1 s to 60 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Seconds of silence after which the broker publishes the last will (default 30: within 45 s). */
  keepaliveS?: number;
  /** How long a connect may take before it counts as failed (default 10 s). */
  connectTimeoutMs?: number;
  /** Most messages waiting for the broker (default 5000; the newest per topic only). */
  queueLimit?: number;
  /** How long stop() waits for the broker to take the offline message (default 2 s). */
  stopTimeoutMs?: number;
  /** mqtt.connect; a test passes one that keeps the client. */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
}

/** Topic levels and client ids take these safely; a host name may have others. */
function topicSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'pagecast';
}

interface Published {
  config: string;
  state: string;
  hasPages: boolean;
}

export class MqttBridge {
  readonly topics: Topics;
  readonly node: string;
  private readonly log: Logger;
  private readonly broker: string;
  private readonly outbox: Outbox;
  private readonly unreachable: RepeatedWarning;
  /** What this process last queued per spec: only changes are sent between connects. */
  private readonly published = new Map<string, Published>();
  private client?: MqttClient;
  private unsubscribe?: () => void;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private lastError?: string;
  private stopping = false;
  private dropped = 0;
  private readonly clientId: string;
  /** Where Home Assistant says it is online (its birth message) or offline. */
  private readonly homeAssistantStatus: string;

  constructor(private readonly o: MqttBridgeOptions) {
    this.log = o.log.child({ component: 'mqtt' });
    this.node = topicSafe(o.node ?? hostname());
    const base = o.base ?? 'pagecast';
    this.topics = { discoveryPrefix: o.discoveryPrefix ?? 'homeassistant', base, availability: `${base}/${this.node}/availability` };
    this.broker = redactUrl(o.url);
    this.homeAssistantStatus = `${this.topics.discoveryPrefix}/status`;
    this.clientId = `pagecast-${this.node}-${randomBytes(3).toString('hex')}`;
    this.unreachable = new RepeatedWarning(this.log, 'MQTT broker unreachable');
    this.outbox = new Outbox({
      limit: o.queueLimit ?? 5000,
      inflight: 16,
      onDrop: () => {
        if (this.dropped++ === 0) this.log.warn({ broker: this.broker }, 'MQTT queue full: dropping the oldest messages until the broker takes them');
      },
    });
  }

  /** Follows the control plane and connects in the background; returns at once. */
  start(): void {
    this.unsubscribe = this.o.control.subscribe((names) => this.changed(names));
    this.log.info({ broker: this.broker, node: this.node, discoveryPrefix: this.topics.discoveryPrefix }, 'connecting to the MQTT broker');
    this.dial();
  }

  /** One connection attempt, with a client of its own: nothing of a dead connection carries over. */
  private dial(): void {
    let client: MqttClient;
    try {
      client = this.newClient();
    } catch (err) {
      // Not expected after parseMqttUrl; a retry is still better than a controller that crashes.
      this.lastError = err instanceof Error ? err.message : String(err);
      this.retryLater();
      return;
    }
    this.client = client;
    client.on('connect', () => this.connected(client));
    client.on('close', () => this.closed(client));
    client.on('error', (err) => (this.lastError = err.message));
    client.on('message', (topic, payload) => this.received(topic, payload));
  }

  private newClient(): MqttClient {
    const credentials = this.o.credentials;
    return (this.o.connect ?? mqttConnect)(this.o.url, {
      clientId: this.clientId,
      ...(credentials ? { username: credentials.username, ...(credentials.password === undefined ? {} : { password: credentials.password }) } : {}),
      will: { topic: this.topics.availability, payload: Buffer.from(OFFLINE), qos: 1, retain: true },
      clean: true,
      keepalive: this.o.keepaliveS ?? 30,
      connectTimeout: this.o.connectTimeoutMs ?? 10_000,
      // Reconnects are ours, with backoff (mqtt.js would retry at a fixed period).
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
    });
  }

  /** Marks this controller offline (when connected), disconnects and stops following. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribe?.();
    clearTimeout(this.retryTimer);
    this.outbox.close();
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      const timeout = this.o.stopTimeoutMs ?? 2000;
      const graceful = new Promise<void>((resolve) => {
        // QoS 1: end() waits for the broker's acknowledgement before it disconnects.
        client.publish(this.topics.availability, OFFLINE, { qos: 1, retain: true }, () => client.end(false, {}, () => resolve()));
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeout)));
      const outcome = await Promise.race([graceful, late]);
      clearTimeout(timer);
      if (outcome !== 'late') return;
      this.log.warn({ broker: this.broker, timeoutMs: timeout }, 'MQTT broker slow to take the offline message: disconnecting anyway (its last will says offline)');
    }
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  // ── connection ────────────────────────────────────────────────────────────────────────────

  private connected(client: MqttClient): void {
    if (this.stopping) return;
    this.attempt = 0;
    this.dropped = 0;
    this.lastError = undefined;
    if (this.unreachable.active) this.unreachable.recovered('MQTT broker reachable again', { broker: this.broker });
    else this.log.info({ broker: this.broker }, 'connected to the MQTT broker');
    client.subscribe(
      [commandFilter(this.topics), stateFilter(this.topics), this.homeAssistantStatus],
      { qos: 1 },
      (err) => err && this.log.warn({ broker: this.broker, err: err.message }, 'MQTT subscribe failed: Home Assistant commands will not arrive'),
    );
    // Everything again: the broker may have lost its retained messages (a restart without persistence).
    this.publishAll();
    this.outbox.open((m, done) => client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => done(err)));
  }

  /** A connection ended or an attempt failed: this client is done; another one later. */
  private closed(client: MqttClient): void {
    if (client !== this.client) return;
    this.outbox.close();
    if (this.stopping) return;
    client.removeAllListeners();
    client.on('error', () => {});
    client.end(true);
    this.retryLater();
  }

  /**
   * The next attempt after a backoff that doubles from `initialMs` to `maxMs`, jittered so that
   * many controllers do not come back at once; a connect resets it.
   */
  private retryLater(): void {
    if (this.stopping || this.retryTimer) return;
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const wait = Math.round(base * (0.8 + 0.4 * Math.random()));
    // Logged by the cap, not the jittered wait, so the warning quiets once the wait stops growing.
    this.unreachable.failed(base, { broker: this.broker, err: this.lastError ?? 'connection lost' });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopping) this.dial();
    }, wait);
    this.retryTimer.unref();
  }

  // ── state out ─────────────────────────────────────────────────────────────────────────────

  /** Availability, and every spec's config and state, whatever was sent before. */
  private publishAll(): void {
    this.outbox.put({ topic: this.topics.availability, payload: ONLINE, retain: true, qos: 1 });
    this.published.clear();
    for (const s of this.o.control.list()) if (mirrored(s)) this.publishSpec(s);
  }

  private changed(names: string[]): void {
    for (const name of names) {
      const s = this.o.control.get(name);
      if (s && mirrored(s)) this.publishSpec(s);
      else if (this.published.has(name)) this.removeSpec(name);
    }
  }

  /** Queues what changed of a spec's device config and state (both retained). */
  private publishSpec(s: SpecStatus): void {
    const before = this.published.get(s.name);
    const config = deviceConfig(this.topics, s);
    const hasPages = (config.components as Record<string, unknown>).page !== undefined;
    const configJson = JSON.stringify(config);
    const stateJson = JSON.stringify(specState(s, this.node));
    const topic = discoveryTopic(this.topics, s.name);
    if (before?.config !== configJson) {
      // A spec that lost its pages: Home Assistant removes a component named with its platform alone.
      if (before?.hasPages && !hasPages) this.outbox.put({ topic, payload: JSON.stringify(withoutComponent(config, 'page', 'select')), retain: true, qos: 0 }, `${topic}#without-page`);
      this.outbox.put({ topic, payload: configJson, retain: true, qos: 0 });
    }
    if (before?.state !== stateJson) this.outbox.put({ topic: stateTopic(this.topics, s.name), payload: stateJson, retain: true, qos: 0 });
    this.published.set(s.name, { config: configJson, state: stateJson, hasPages });
  }

  /** Empty retained payloads: Home Assistant removes the device, the broker forgets both. */
  private removeSpec(name: string): void {
    this.published.delete(name);
    this.outbox.put({ topic: discoveryTopic(this.topics, name), payload: '', retain: true, qos: 0 });
    this.outbox.put({ topic: stateTopic(this.topics, name), payload: '', retain: true, qos: 0 });
    this.log.info({ spec: name }, 'Home Assistant device removed: the spec is gone');
  }

  // ── messages in ───────────────────────────────────────────────────────────────────────────

  private received(topic: string, payload: Buffer): void {
    try {
      // Home Assistant's birth message: it (re)started, and asks for discovery again.
      if (topic === this.homeAssistantStatus) {
        if (payload.toString() === ONLINE) this.publishAll();
        return;
      }
      const state = this.stateSpec(topic);
      if (state !== undefined) this.sweep(state, payload);
      else this.command(topic, payload);
    } catch (err) {
      // Nothing a message holds may reach the controller as an exception.
      this.log.warn({ topic: topic.slice(0, 200), err: String(err) }, 'MQTT message ignored');
    }
  }

  /** The spec name when `topic` is one of the state topics, else undefined. */
  private stateSpec(topic: string): string | undefined {
    const prefix = `${this.topics.base}/`;
    if (!topic.startsWith(prefix) || !topic.endsWith('/state')) return undefined;
    const spec = topic.slice(prefix.length, -'/state'.length);
    return spec && !spec.includes('/') ? spec : undefined;
  }

  /**
   * A retained state read back (or our own echo): a spec of this controller's that is gone now
   * left it, so its device goes too. Before the controller's first reconcile every spec looks
   * gone, so nothing is cleared until it is ready.
   */
  private sweep(spec: string, payload: Buffer): void {
    if (payload.length === 0 || this.published.has(spec) || !this.o.control.ready()) return;
    let node: unknown;
    try {
      node = (JSON.parse(payload.toString('utf8')) as { node?: unknown }).node;
    } catch {
      return; // not a state of ours
    }
    if (node !== this.node) return;
    const s = this.o.control.get(spec);
    if (s && mirrored(s)) return;
    this.removeSpec(spec);
  }

  private command(topic: string, payload: Buffer): void {
    const parsed = parseCommand(this.topics, topic, payload);
    if (!parsed.ok) {
      this.log.warn({ topic: topic.slice(0, 200), reason: parsed.reason }, 'MQTT command ignored');
      return;
    }
    const { spec } = parsed.command;
    const s = this.o.control.get(spec);
    if (!s || !mirrored(s)) {
      // Several controllers may share a broker; each acts on its own specs only.
      this.log.info({ spec, action: parsed.command.action }, 'MQTT command for a spec this controller does not run: ignored');
      return;
    }
    this.run(parsed.command).catch((err: unknown) => this.log.warn({ spec, action: parsed.command.action, err: String(err) }, 'MQTT command failed'));
  }

  private async run(c: Command): Promise<void> {
    const from = { spec: c.spec, action: c.action, from: 'mqtt' };
    switch (c.action) {
      case 'suspend':
        if (await this.o.control.suspend(c.spec)) this.log.info(from, 'suspended from Home Assistant');
        return;
      case 'resume':
        if (!(await this.o.control.resume(c.spec))) return;
        if (this.o.control.get(c.spec)?.suspended) this.log.warn(from, 'resume from Home Assistant: the spec stays suspended (its file says suspend: true)');
        else this.log.info(from, 'resumed from Home Assistant');
        return;
      case 'recast': {
        const r = await this.o.control.recast(c.spec);
        if (!r.ok) this.log.warn({ ...from, reason: r.reason }, `cast again from Home Assistant refused: ${r.message}`);
        return;
      }
      case 'showPage': {
        const r = await this.o.control.showPage(c.spec, c.index);
        if (!r.ok) this.log.warn({ ...from, page: c.index, reason: r.reason }, `page from Home Assistant refused: ${r.message}`);
        return;
      }
    }
  }
}

/**
 * Which specs get a device: the spec files'. Ephemeral casts come and go through the API that made
 * them, often under made-up names; a device each would litter Home Assistant's registry.
 */
function mirrored(s: SpecStatus): boolean {
  return !s.source.ephemeral;
}
