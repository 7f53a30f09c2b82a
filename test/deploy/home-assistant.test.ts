// The Home Assistant add-on, checked against the Supervisor's documented manifest format
// (developers.home-assistant.io, "Add-on configuration"; the option types as the Supervisor's
// validator reads them) and against pagecast: every file it names exists, every option the start
// script reads is in the schema, every flag it passes `pagecast run` accepts.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_API_PORT, matchRoute } from '../../controller/http/api.js';
import { ROOT, VA_API_DRIVERS, aptInstalls, execForm, exists, installShPackages, instructions, read, repoFiles, runFlags, sourceOf } from './deploy-files.js';

const ADDON = 'deploy/home-assistant/pagecast';
type Obj = Record<string, any>;
const config = parse(read(`${ADDON}/config.yaml`)) as Obj;
const runSh = read(`${ADDON}/run.sh`);

// The option types, as the Supervisor's validator matches a schema element (supervisor
// addons/options.py RE_SCHEMA_ELEMENT): str/int/float with optional bounds, bool, email, url,
// password, port, match(REGEX), list(a|b|…), device(filter); a trailing ? makes it optional.
const SCHEMA_ELEMENT = new RegExp(
  '^(?:' +
    '|bool|email|url|port' +
    '|device(?:\\((?<filter>subsystem=[a-z]+)\\))?' +
    '|str(?:\\((?<s_min>\\d+)?,(?<s_max>\\d+)?\\))?' +
    '|password(?:\\((?<p_min>\\d+)?,(?<p_max>\\d+)?\\))?' +
    '|int(?:\\((?<i_min>-?\\d+)?,(?<i_max>-?\\d+)?\\))?' +
    '|float(?:\\((?<f_min>-?\\d*\\.?\\d+)?,(?<f_max>-?\\d*\\.?\\d+)?\\))?' +
    '|match\\((?<match>.*)\\)' +
    '|list\\((?<list>.+)\\)' +
    ')\\??$',
);
const SLUG = /^[-_.A-Za-z0-9]+$/;
const SERVICE = /^(?:mqtt|mysql):(?:provide|want|need)$/;
const WATCHDOG = /^(?:https?|\[PROTO:\w+\]|tcp):\/\/\[HOST\]:(\[PORT:\d+\]|\d+).*$/;
const ARCHES = ['armhf', 'armv7', 'aarch64', 'amd64', 'i386'];
const MAP_TYPES = ['homeassistant_config', 'addon_config', 'ssl', 'addons', 'backup', 'share', 'media', 'all_addon_configs', 'data'];

/** Whether a default value fits its schema element (the checks the Supervisor makes of options). */
function fits(element: string, value: unknown): boolean {
  const m = SCHEMA_ELEMENT.exec(element)!;
  const g = m.groups ?? {};
  const type = element.replace(/\?$/, '').replace(/\(.*$/, '');
  switch (type) {
    case 'bool':
      return typeof value === 'boolean';
    case 'port':
      return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
    case 'int':
      return Number.isInteger(value) && (g.i_min === undefined || (value as number) >= Number(g.i_min)) && (g.i_max === undefined || (value as number) <= Number(g.i_max));
    case 'str':
    case 'password':
      return typeof value === 'string';
    case 'match':
      return typeof value === 'string' && new RegExp(`^${g.match}$`).test(value);
    case 'list':
      return g.list!.split('|').includes(String(value));
    default:
      return value !== undefined;
  }
}

describe('the Home Assistant add-on manifest', () => {
  it('has the required keys, a valid slug, supported architectures and start-up values', () => {
    for (const key of ['name', 'version', 'slug', 'description', 'arch']) expect(config[key], key).toBeTruthy();
    expect(typeof config.version).toBe('string');
    expect(config.slug).toMatch(SLUG);
    for (const a of config.arch) expect(ARCHES).toContain(a);
    expect(['initialize', 'system', 'services', 'application', 'once']).toContain(config.startup);
    expect(['auto', 'manual', 'manual_only']).toContain(config.boot);
    // s6-overlay v3 in the base image is the init; the Supervisor's own init must be off for it.
    expect(config.init).toBe(false);
  });

  it('declares its options in the documented types, with defaults that fit them', () => {
    const schema = config.schema as Record<string, string>;
    const options = config.options as Record<string, unknown>;
    for (const [key, element] of Object.entries(schema)) {
      expect(typeof element, key).toBe('string');
      expect(element, key).toMatch(SCHEMA_ELEMENT);
      // An optional option has no default (a default makes it required again).
      if (element.endsWith('?')) expect(options, key).not.toHaveProperty(key);
      else {
        expect(options, key).toHaveProperty(key);
        expect(fits(element, options[key]), `${key}: ${JSON.stringify(options[key])} as ${element}`).toBe(true);
      }
    }
    for (const key of Object.keys(options)) expect(schema, key).toHaveProperty(key);
    // A match(…) is compiled by the Supervisor: it must be a regular expression here too.
    for (const element of Object.values(schema)) {
      const m = SCHEMA_ELEMENT.exec(element)!.groups!;
      if (m.match) expect(() => new RegExp(m.match!)).not.toThrow();
    }
  });

  it('ingress to the API port, host networking for mDNS, the configuration mapped, MQTT wanted', () => {
    expect(config.ingress).toBe(true);
    expect(config.ingress_port).toBe(DEFAULT_API_PORT);
    expect(config.host_network).toBe(true);
    for (const m of config.map as Obj[]) {
      expect(MAP_TYPES).toContain(m.type);
      if ('read_only' in m) expect(typeof m.read_only).toBe('boolean');
    }
    expect(config.map).toContainEqual({ type: 'homeassistant_config', read_only: true });
    for (const s of config.services) expect(s).toMatch(SERVICE);
    expect(config.services).toContain('mqtt:want');
    // The Supervisor's watchdog asks /healthz on the API port.
    expect(config.watchdog).toMatch(WATCHDOG);
    const watchdog = /^http:\/\/\[HOST\]:\[PORT:(\d+)\](\/.*)$/.exec(config.watchdog)!;
    expect(Number(watchdog[1])).toBe(DEFAULT_API_PORT);
    expect(matchRoute('GET', watchdog[2]!)).toMatchObject({ ok: true, route: { kind: 'healthz' } });
  });

  it('names the option of each translation, and each option has one', () => {
    const en = parse(read(`${ADDON}/translations/en.yaml`)) as Obj;
    expect(Object.keys(en.configuration).sort()).toEqual(Object.keys(config.schema).sort());
    for (const t of Object.values(en.configuration) as Obj[]) expect(t.name && t.description).toBeTruthy();
  });

  it('builds on Home Assistant’s Debian 12 base for each of its architectures', () => {
    const build = parse(read(`${ADDON}/build.yaml`)) as Obj;
    expect(Object.keys(build.build_from).sort()).toEqual([...config.arch].sort());
    for (const [arch, image] of Object.entries(build.build_from)) expect(image).toBe(`ghcr.io/home-assistant/${arch}-base-debian:bookworm`);
  });

  it('its Dockerfile: install.sh’s packages plus the VA-API drivers, Node 24 as in the Containerfile, files that exist', () => {
    const text = read(`${ADDON}/Dockerfile`);
    const steps = instructions(text);
    const installs = aptInstalls(text);
    expect(installs).toHaveLength(1);
    expect(installs[0]!.filter((p) => !(p in VA_API_DRIVERS))).toEqual(installShPackages());
    expect(installs[0]!.filter((p) => p in VA_API_DRIVERS).sort()).toEqual(Object.keys(VA_API_DRIVERS).sort());
    const nodeImage = (file: string) => instructions(read(file)).find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))!.args;
    expect(nodeImage(`${ADDON}/Dockerfile`)).toBe(nodeImage('Containerfile'));
    expect(steps.filter((i) => i.keyword === 'FROM').map((i) => i.args)).toEqual(['${NODE_IMAGE} AS node', '${BUILD_FROM}']);
    // pagecast from the npm registry at the add-on's version; its CLI where run.sh starts it.
    expect(steps.find((i) => i.keyword === 'RUN' && i.args.includes('npm install'))!.args).toContain('"pagecast@${BUILD_VERSION}"');
    expect(steps.some((i) => i.keyword === 'COPY' && i.args === '--from=node /usr/local/lib/node_modules/pagecast /opt/pagecast')).toBe(true);
    // Files copied from the build context (the add-on's folder) exist.
    for (const copy of steps.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      for (const s of copy.args.split(/\s+/).slice(0, -1)) expect(exists(`${ADDON}/${s}`), s).toBe(true);
    }
    expect(execForm(steps.filter((i) => i.keyword === 'CMD').at(-1)!.args)).toEqual(['/run.sh']);
  });

  it('run.sh reads only options of the schema and passes only flags `pagecast run` accepts', () => {
    expect(runSh.split('\n')[0]).toBe('#!/usr/bin/with-contenv bashio');
    expect(statSync(join(ROOT, ADDON, 'run.sh')).mode & 0o111).not.toBe(0);
    const read = [...runSh.matchAll(/bashio::config(?:\.\w+)? '([a-z_]+)'/g)].map((m) => m[1]!);
    expect(new Set(read)).toEqual(new Set(Object.keys(config.schema)));
    const flags = [...runSh.matchAll(/(--[a-z-]+)\s/g)].map((m) => m[1]!).filter((f) => !['--arg', '--global'].includes(f));
    const accepted = runFlags(flags.flatMap((f) => [f, 'x']));
    expect([...accepted.keys()]).toEqual(expect.arrayContaining(['state-dir', 'api', 'stream', 'log-level', 'mqtt', 'mqtt-credentials', 'trust-ingress']));
    // The CLI it starts is what the Dockerfile copied to /opt/pagecast, built from this source.
    const cli = /exec \/usr\/local\/bin\/node (\/opt\/pagecast\/(\S+))/.exec(runSh)!;
    expect(exists(sourceOf(cli[2]!))).toBe(true);
    // The API where ingress reaches it, on the ingress port.
    expect(runSh).toContain('--api "${api_host:-127.0.0.1}:$(bashio::addon.ingress_port)"');
  });

  it('is found by the Supervisor in a repository added by URL: repository.yaml at the root, one add-on folder below', () => {
    // The Supervisor (store/data.py) reads repository.{yaml,yml,json} at the root of the clone
    // ({name, url?, maintainer?}; nothing else is kept) and takes every config.{yaml,yml,json} below
    // it, outside dot-folders and rootfs/, as an add-on, whose folder is its build context.
    const repo = parse(read('repository.yaml')) as Obj;
    expect(typeof repo.name).toBe('string');
    for (const key of Object.keys(repo)) expect(['name', 'url', 'maintainer']).toContain(key);
    if ('url' in repo) expect(new URL(repo.url).protocol).toMatch(/^https?:$/);
    const files = repoFiles();
    expect(files.filter((f) => /(^|\/)repository\.(ya?ml|json)$/.test(f))).toEqual(['repository.yaml']);
    const addons = files.filter((f) => /(^|\/)config\.(ya?ml|json)$/.test(f) && !f.split('/').includes('rootfs'));
    expect(addons).toEqual([`${ADDON}/config.yaml`]);
    // The build: the Supervisor builds only with a Dockerfile in that folder, from build.yaml's base.
    for (const f of ['Dockerfile', 'build.yaml', 'run.sh', 'DOCS.md']) expect(exists(`${ADDON}/${f}`), f).toBe(true);
  });
});
