// deploy/kubernetes/, checked against the image and the API: everything parses, what the manifests
// name exists (files, volumes, the image's user and paths, the API's probe paths and ports), and
// the ConfigMap's specs are valid spec files.
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_API_PORT, matchRoute } from '../../controller/http/api.js';
import { loadSpecText } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';
import { execForm, exists, instructions, read, runFlags } from './deploy-files.js';

type Obj = Record<string, any>;

function docs(path: string): Obj[] {
  const parsed = parseAllDocuments(read(path));
  for (const d of parsed) expect(d.errors.map(String), path).toEqual([]);
  return parsed.map((d) => d.toJS() as Obj);
}

const DIR = 'deploy/kubernetes';
const kustomization = docs(`${DIR}/kustomization.yaml`)[0]!;
const objects = (kustomization.resources as string[]).flatMap((r) => docs(`${DIR}/${r}`));
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const deployment = byKind('Deployment')[0]!;
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const image = instructions(read('Containerfile'));

describe('the Kubernetes manifests', () => {
  it('parse, and the kustomization lists files that exist', () => {
    expect(kustomization.kind).toBe('Kustomization');
    for (const r of kustomization.resources as string[]) expect(exists(`${DIR}/${r}`), r).toBe(true);
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PersistentVolumeClaim']);
    for (const o of objects) expect(o.apiVersion, o.kind).toBeTruthy();
  });

  it('one pagecast at a time, on the host network for mDNS and the TVs', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('specs from the ConfigMap (mounted whole, for its ..data swaps) and state on the volume, at the image’s paths', () => {
    const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name, v]));
    const mounts = new Map((container.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
    const args = container.args as string[];
    const specsDir = args[1]!;
    expect(args[0]).toBe('run');
    const specs = mounts.get(specsDir)!;
    expect(specs.subPath).toBeUndefined();
    expect(specs.readOnly).toBe(true);
    expect(volumes.get(specs.name)!.configMap.name).toBe(byKind('ConfigMap')[0]!.metadata.name);
    // The state directory is where the image says it is.
    const stateDir = /PAGECAST_STATE_DIR=(\S+)/.exec(image.find((i) => i.keyword === 'ENV' && i.args.includes('PAGECAST_STATE_DIR'))!.args)![1]!;
    expect(volumes.get(mounts.get(stateDir)!.name)!.persistentVolumeClaim.claimName).toBe(byKind('PersistentVolumeClaim')[0]!.metadata.name);
    // A read-only root: Xvfb's sockets and keymaps and Chromium's files go to /tmp, its frames to /dev/shm.
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(volumes.get(mounts.get('/tmp')!.name)!.emptyDir).toBeDefined();
    expect(volumes.get(mounts.get('/dev/shm')!.name)!.emptyDir.medium).toBe('Memory');
    // The image's own command, as the Containerfile has it.
    expect(args).toEqual(execForm(image.filter((i) => i.keyword === 'CMD').at(-1)!.args));
  });

  it('runs as the image’s user, not root', () => {
    const useradd = image.find((i) => i.keyword === 'RUN' && i.args.includes('useradd'))!.args;
    const uid = Number(/--uid (\d+)/.exec(useradd)![1]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, fsGroup: uid });
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('probes /healthz (liveness) and /readyz (readiness) where the API listens; ports agree with the flags', () => {
    const probes = { livenessProbe: 'healthz', readinessProbe: 'readyz', startupProbe: 'healthz' } as const;
    for (const [probe, kind] of Object.entries(probes)) {
      const get = container[probe].httpGet;
      expect(matchRoute('GET', get.path), probe).toMatchObject({ ok: true, route: { kind } });
      expect(get.port, probe).toBe(DEFAULT_API_PORT);
      // The API's default address is loopback; the kubelet shares the host's network with the pod.
      expect(get.host, probe).toBe('127.0.0.1');
    }
    const flags = runFlags(container.args as string[]);
    expect(flags.has('api')).toBe(false);
    const ports = new Map((container.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    expect(ports.get('api')).toBe(DEFAULT_API_PORT);
    expect(String(ports.get('stream'))).toBe(flags.get('stream')!.split(':')[1]);
  });

  it('requests what the README’s benchmarks measured, with no CPU limit to throttle the encoder', () => {
    const { requests, limits } = container.resources;
    // One 720p stream of a still page: 0.16 of a core and about 570 MiB, plus the controller's 130 MiB.
    expect(requests.cpu).toBe('250m');
    expect(requests.memory).toBe('768Mi');
    expect(limits.cpu).toBeUndefined();
    expect(limits.memory).toBe('2Gi');
  });

  it('ConfigMap holds valid spec files', () => {
    const data = byKind('ConfigMap')[0]!.data as Record<string, string>;
    expect(Object.keys(data).length).toBeGreaterThan(0);
    for (const [file, text] of Object.entries(data)) {
      expect(file).toMatch(/\.ya?ml$/);
      const r = loadSpecText(text, file);
      expect(r.diagnostics.map(formatDiagnostic), file).toEqual([]);
      expect(r.specs).toHaveLength(1);
    }
  });
});
