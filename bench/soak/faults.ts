// The soak's faults: what a process, a device, a person editing specs, an API client and the
// machine itself do to pagecast. Each picks a target that no other fault is working on, starts
// the fault and says which devices it touches and when its window ends (after which the system
// must recover within the kind's bound).
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type { FakeCastDevice } from '../../test/fake-device/device.js';
import { between } from './stats.js';
import { EPHEMERAL_PRIORITY, type Model } from './model.js';
import { pipelineProcesses, descendsFrom, type Kind, type Proc } from './procs.js';
import { SPECS, specText, type ControllerProcess, type PageServer, type SpecDef, type SpecDir, type SpecVersion } from './world.js';

export interface Soak {
  rand: () => number;
  devices: FakeCastDevice[];
  pages: PageServer;
  specDir: SpecDir;
  controller: ControllerProcess;
  model: Model;
  /** Stream id → the devices showing it, from the controller's status. */
  streamDevices(streamId: string): number[] | undefined;
  restartController(sig: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** No earlier fault on this device is still unrecovered: a new one is measured on its own. */
  settled(device: number): boolean;
  violation(what: string): void;
}

export interface Injected {
  devices: number[];
  /** Resolves when the fault's window ends (the device is back, the edit restored, …). */
  end: Promise<void>;
  note: string;
}

export interface FaultKind {
  kind: string;
  weight: number;
  /** Run time the fault needs left (long windows). */
  needsMs?: number;
  /** How long after its window the system may take to be back. */
  boundMs: number;
  inject(s: Soak): Promise<Injected | undefined>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ALL = (s: Soak) => s.devices.map((_, i) => i);
const DEFAULT_BOUND = 45_000;

function pick<T>(s: Soak, xs: readonly T[]): T | undefined {
  return xs.length ? xs[Math.floor(s.rand() * xs.length)] : undefined;
}

// ── processes ────────────────────────────────────────────────────────────────────────────────

function ours(s: Soak, kind: Kind): Proc[] {
  const ctl = s.controller.pid;
  return ctl === undefined ? [] : pipelineProcesses().filter((p) => p.kind === kind && descendsFrom(p.pid, ctl));
}

/** The devices a process's stream reaches: FFmpeg's working directory is its stream's (and its
 *  damage-grab helper's), and Chromium shares its DISPLAY with that FFmpeg (x11grab names it after
 *  -i) or helper (its first argument). Xvfb does not say its display: all devices. */
function devicesOf(s: Soak, p: Proc): number[] {
  try {
    let ff: Proc | undefined = p.kind === 'ffmpeg' || p.kind === 'damage-grab' ? p : undefined;
    if (p.kind === 'chromium' || p.kind === 'renderer') {
      const display = /(?:^|\0)DISPLAY=([^\0]*)/.exec(readFileSync(`/proc/${p.pid}/environ`, 'utf8'))?.[1];
      ff = display
        ? (ours(s, 'ffmpeg').find((f) => f.cmdline.includes(` -i ${display} `)) ?? ours(s, 'damage-grab').find((g) => g.cmdline.includes(`damage-grab.py ${display} `)))
        : undefined;
    }
    if (ff) return s.streamDevices(basename(readlinkSync(`/proc/${ff.pid}/cwd`))) ?? ALL(s);
  } catch {
    // gone
  }
  return ALL(s);
}

function killKind(kind: Kind, name: string): FaultKind {
  return {
    kind: name,
    weight: 1,
    boundMs: DEFAULT_BOUND,
    async inject(s) {
      const p = pick(s, ours(s, kind));
      if (!p) return undefined;
      const devices = devicesOf(s, p);
      if (!devices.every((d) => s.settled(d))) return undefined;
      process.kill(p.pid, 'SIGKILL');
      return { devices, end: Promise.resolve(), note: `SIGKILL ${p.comm} ${p.pid}` };
    },
  };
}

const hangPage: FaultKind = {
  kind: 'page-hang',
  weight: 1,
  boundMs: 60_000, // the renderer watchdog needs 10 s to call it hung
  async inject(s) {
    const playing = SPECS.filter((d) => s.model.winner(d.device) === d.name && !s.model.busyDevices.has(d.device));
    const def = pick(s, playing);
    if (!def) return undefined;
    const devices = ALL(s).filter((d) => {
      const w = s.model.winner(d);
      return w !== undefined && !s.model.ephemeral.has(d) && s.model.def(w).page === def.page;
    });
    if (!devices.every((d) => s.settled(d))) return undefined;
    s.pages.hang(def.page);
    return { devices, end: Promise.resolve(), note: `page ${def.page} spins` };
  },
};

// ── devices ──────────────────────────────────────────────────────────────────────────────────

/** A device fault: the device is the fault's until `run` resolves. */
function deviceFault(kind: string, weight: number, run: (d: FakeCastDevice, s: Soak) => Promise<{ end: Promise<void>; note: string }>, extra: Partial<FaultKind> = {}): FaultKind {
  return {
    kind,
    weight,
    boundMs: DEFAULT_BOUND,
    ...extra,
    async inject(s) {
      const free = ALL(s).filter((i) => !s.model.busyDevices.has(i) && s.settled(i) && s.model.winner(i) !== undefined);
      const i = pick(s, free);
      if (i === undefined) return undefined;
      s.model.busyDevices.add(i);
      const r = await run(s.devices[i]!, s);
      const end = r.end.finally(() => s.model.busyDevices.delete(i));
      return { devices: [i], end, note: `${s.devices[i]!.name}: ${r.note}` };
    },
  };
}

const deviceFaults: FaultKind[] = [
  deviceFault('stop-pressed', 1, async (d) => (await d.remoteStop(), { end: Promise.resolve(), note: 'stop pressed' })),
  deviceFault('other-app', 1, async (d, s) => {
    await d.takeover();
    const ms = between(s.rand, 10_000, 20_000);
    return { end: sleep(ms).then(() => d.remoteStop()), note: `YouTube for ${ms} ms` };
  }),
  deviceFault('other-sender', 1, async (d) => {
    await d.otherSenderLoad('http://127.0.0.1:9/other.mp4').catch(() => undefined);
    return { end: Promise.resolve(), note: 'another sender loaded media' };
  }),
  deviceFault('connection-dropped', 1, async (d) => (await d.dropConnections(), { end: Promise.resolve(), note: 'connections dropped' })),
  deviceFault('heartbeat-silence', 1, async (d, s) => {
    await d.freeze(true);
    const ms = between(s.rand, 20_000, 30_000);
    return { end: sleep(ms).then(() => d.freeze(false)), note: `silent for ${ms} ms` };
  }),
  deviceFault('reboot', 1, async (d, s) => {
    const ms = between(s.rand, 5_000, 15_000);
    return { end: d.reboot({ downMs: ms }), note: `reboot, down ${ms} ms` };
  }),
  deviceFault('ambient', 1, async (d) => (await d.idleScreen(), { end: Promise.resolve(), note: 'ambient screen' })),
  deviceFault('standby', 1, async (d, s) => {
    await d.standby(true);
    const ms = between(s.rand, 20_000, 60_000);
    return { end: sleep(ms).then(() => d.standby(false)), note: `standby for ${ms} ms` };
  }),
  deviceFault(
    'offline',
    1,
    async (d, s) => {
      const ms = between(s.rand, 120_000, 300_000);
      return { end: d.reboot({ downMs: ms }), note: `offline for ${Math.round(ms / 1000)} s` };
    },
    { needsMs: 330_000, boundMs: 45_000 },
  ),
];

// ── specs ────────────────────────────────────────────────────────────────────────────────────

function write(s: Soak, def: SpecDef, v: SpecVersion): void {
  s.model.versions.set(def.name, v);
  s.specDir.write(def, specText(def, s.devices[def.device]!.port, s.pages.url(def.page), v));
}

/** A spec fault: the spec (and its device) are the fault's until it ends. */
function specFault(kind: string, run: (def: SpecDef, s: Soak) => Promise<{ end: Promise<void>; note: string }>, filter: (def: SpecDef, s: Soak) => boolean = () => true): FaultKind {
  return {
    kind,
    weight: 1,
    boundMs: DEFAULT_BOUND,
    async inject(s) {
      const free = SPECS.filter((d) => s.model.present.has(d.name) && !s.model.busySpecs.has(d.name) && !s.model.busyDevices.has(d.device) && s.settled(d.device) && filter(d, s));
      const def = pick(s, free);
      if (!def) return undefined;
      s.model.busySpecs.add(def.name);
      s.model.busyDevices.add(def.device);
      const r = await run(def, s);
      const end = r.end.finally(() => {
        s.model.busySpecs.delete(def.name);
        s.model.busyDevices.delete(def.device);
      });
      return { devices: [def.device], end, note: `${def.name}: ${r.note}` };
    },
  };
}

const specFaults: FaultKind[] = [
  specFault('valid-edit', async (def, s) => {
    const v = s.model.versions.get(def.name)!;
    const title = `${def.name} ${v.rev + 1}`;
    write(s, def, { rev: v.rev + 1, title });
    return { end: Promise.resolve(), note: `title "${title}"` };
  }),
  specFault('invalid-edit', async (def, s) => {
    const good = s.model.versions.get(def.name)!;
    s.specDir.write(def, specText(def, s.devices[def.device]!.port, s.pages.url(def.page), { ...good, broken: true }));
    const ms = between(s.rand, 10_000, 20_000);
    const end = (async () => {
      await sleep(ms);
      // The last good version still plays, and the status says what is wrong with the file.
      const st = (await s.controller.specs())?.find((x) => x.name === def.name);
      if (st && !st.error) s.violation(`invalid edit of ${def.name}: no error in its status after ${ms} ms`);
      if (st && s.model.winner(def.device) === def.name && st.phase !== 'Playing') s.violation(`invalid edit of ${def.name}: phase ${st.phase}, not the last good version playing`);
      write(s, def, good);
    })();
    return { end, note: `broken for ${ms} ms` };
  }),
  specFault('delete-recreate', async (def, s) => {
    s.specDir.remove(def);
    s.model.present.delete(def.name);
    s.model.suspended.delete(def.name);
    const ms = between(s.rand, 5_000, 15_000);
    const end = sleep(ms).then(() => {
      s.model.present.add(def.name);
      write(s, def, s.model.versions.get(def.name)!);
    });
    return { end, note: `deleted for ${ms} ms` };
  }),
];

/** Every file of a kind changes at once: git pull for the plain files, one swap for the ConfigMap. */
function bulk(kind: string, configMap: boolean): FaultKind {
  return {
    kind,
    weight: 1,
    boundMs: DEFAULT_BOUND,
    async inject(s) {
      const defs = SPECS.filter((d) => d.configMap === configMap && s.model.present.has(d.name) && !s.model.busySpecs.has(d.name) && s.settled(d.device));
      if (defs.length === 0) return undefined;
      const texts: Record<string, string> = {};
      for (const def of defs) {
        const v = { ...s.model.versions.get(def.name)!, rev: s.model.versions.get(def.name)!.rev + 1 };
        s.model.versions.set(def.name, v);
        texts[def.name] = specText(def, s.devices[def.device]!.port, s.pages.url(def.page), v);
      }
      if (configMap) s.specDir.swapConfigMap(texts);
      else for (const def of defs) s.specDir.writePlain(def.name, texts[def.name]!);
      return { devices: [...new Set(defs.map((d) => d.device))], end: Promise.resolve(), note: defs.map((d) => d.name).join(', ') };
    },
  };
}

// ── control ──────────────────────────────────────────────────────────────────────────────────

const suspendResume = specFault(
  'suspend-resume',
  async (def, s) => {
    const r = await s.controller.post(`/api/v1/specs/${def.name}/suspend`);
    if (!r.ok) s.violation(`suspend ${def.name}: HTTP ${r.status}`);
    s.model.suspended.add(def.name);
    const ms = between(s.rand, 10_000, 20_000);
    const end = (async () => {
      await sleep(ms);
      const back = await s.controller.post(`/api/v1/specs/${def.name}/resume`);
      if (!back.ok) s.violation(`resume ${def.name}: HTTP ${back.status}`);
      s.model.suspended.delete(def.name);
    })();
    return { end, note: `suspended for ${ms} ms` };
  },
  (def, s) => s.model.winner(def.device) === def.name,
);

let casts = 0;
const ephemeralCast: FaultKind = {
  kind: 'ephemeral-cast',
  weight: 1,
  boundMs: DEFAULT_BOUND,
  async inject(s) {
    const free = ALL(s).filter((i) => !s.model.busyDevices.has(i) && s.settled(i));
    const i = pick(s, free);
    if (i === undefined) return undefined;
    const ms = between(s.rand, 15_000, 25_000);
    const name = `soak-cast-${++casts}`;
    const r = await s.controller.post('/api/v1/casts', {
      name,
      device: { host: '127.0.0.1', port: s.devices[i]!.port },
      url: s.pages.url(4),
      quality: '480p',
      duration: `${Math.round(ms / 1000)}s`,
      priority: EPHEMERAL_PRIORITY,
    });
    if (!r.ok) {
      s.violation(`ephemeral cast: HTTP ${r.status} ${await r.text()}`);
      return undefined;
    }
    s.model.busyDevices.add(i);
    s.model.ephemeral.set(i, name);
    const end = sleep(ms).then(() => {
      s.model.ephemeral.delete(i);
      s.model.busyDevices.delete(i);
    });
    return { devices: [i], end, note: `${name} on ${s.devices[i]!.name} for ${ms} ms` };
  },
};

// ── the controller itself ────────────────────────────────────────────────────────────────────

function controllerFault(kind: string, sig: 'SIGTERM' | 'SIGKILL'): FaultKind {
  return {
    kind,
    weight: 1,
    boundMs: 90_000, // a cold start of every pipeline on two cores
    async inject(s) {
      // An expiry during the restart is its own story; so is a device still recovering.
      if (s.model.ephemeral.size > 0 || !ALL(s).every((d) => s.settled(d))) return undefined;
      const end = s.restartController(sig);
      return { devices: ALL(s), end, note: sig };
    },
  };
}

export const FAULTS: FaultKind[] = [
  killKind('ffmpeg', 'kill-ffmpeg'),
  killKind('damage-grab', 'kill-capture'),
  killKind('chromium', 'kill-chromium'),
  killKind('renderer', 'crash-renderer'),
  killKind('xvfb', 'kill-xvfb'),
  hangPage,
  ...deviceFaults,
  ...specFaults,
  bulk('git-pull', false),
  bulk('configmap-swap', true),
  suspendResume,
  ephemeralCast,
  controllerFault('controller-sigterm', 'SIGTERM'),
  controllerFault('controller-sigkill', 'SIGKILL'),
];
