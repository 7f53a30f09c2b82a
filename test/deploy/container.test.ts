// The Containerfile, checked for what an engine would only find out at build or run time: the
// packages, the files it copies and runs, the user, the init, the health check, ports and volumes.
import { describe, expect, it } from 'vitest';
import { DEFAULT_API_PORT, matchRoute } from '../../controller/http/api.js';
import { VA_API_DRIVERS, aptInstalls, execForm, exists, installShPackages, instructions, read, runFlags, sourceOf } from './deploy-files.js';

const text = read('Containerfile');
const all = instructions(text);
const stages = text.split(/^FROM /m).slice(1);
const final = instructions(`FROM ${stages.at(-1)!}`);
const one = (keyword: string) => {
  const found = final.filter((i) => i.keyword === keyword);
  expect(found, keyword).toHaveLength(1);
  return found[0]!.args;
};

/** What only this image needs beyond install.sh's list, and why. */
const IMAGE_EXTRAS: Record<string, string> = {
  tini: 'the init: PID 1 reaps the zombies Chromium leaves and forwards SIGTERM',
  ...VA_API_DRIVERS,
};

describe('Containerfile', () => {
  it('installs install.sh’s Debian packages, plus only the image’s own extras', () => {
    const installs = aptInstalls(text);
    expect(installs).toHaveLength(1);
    const wanted = installShPackages();
    expect(installs[0]!.filter((p) => !(p in IMAGE_EXTRAS))).toEqual(wanted);
    expect(installs[0]!.filter((p) => p in IMAGE_EXTRAS).sort()).toEqual(Object.keys(IMAGE_EXTRAS).sort());
  });

  it('runs on Node 24 LTS on Debian 12, from the same base in every stage', () => {
    const arg = all.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))!;
    expect(arg.args).toBe('NODE_IMAGE=docker.io/library/node:24-bookworm-slim');
    const froms = all.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    expect(froms).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE}']);
  });

  it('copies only what exists in the repository, and the build output it runs', () => {
    for (const copy of all.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const s of sources) expect(exists(s), `COPY ${s}`).toBe(true);
    }
    // tsc's output for the entrypoint exists in the build stage: its source is here.
    const entry = execForm(one('ENTRYPOINT'));
    expect(entry.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
    expect(entry[3]).toBe('/app/dist/controller/cli/cli.js');
    expect(exists(sourceOf(entry[3]!))).toBe(true);
    expect(final.some((i) => i.keyword === 'COPY' && i.args === '--from=build /app/dist ./dist')).toBe(true);
  });

  it('runs as an unprivileged user with a fixed uid, its home the state directory', () => {
    expect(one('USER')).toBe('pagecast');
    const useradd = final.find((i) => i.keyword === 'RUN' && i.args.includes('useradd'))!.args;
    expect(useradd).toMatch(/--uid 10001\b/);
    expect(useradd).toMatch(/--home-dir \/var\/lib\/pagecast\b/);
    expect(one('ENV')).toMatch(/PAGECAST_STATE_DIR=\/var\/lib\/pagecast\b/);
  });

  it('runs `pagecast run` on the specs volume, serving streams on the exposed port', () => {
    const cmd = execForm(one('CMD'));
    expect(cmd[0]).toBe('run');
    const flags = runFlags(cmd);
    expect(JSON.parse(one('VOLUME'))).toEqual([cmd[1], '/var/lib/pagecast']);
    expect(one('EXPOSE')).toBe(flags.get('stream')!.split(':')[1]);
  });

  it('checks health on the API’s /healthz, on its default port', () => {
    const check = execForm(one('HEALTHCHECK'));
    expect(check.slice(0, 2)).toEqual(['node', '-e']);
    const url = new URL(/fetch\('([^']+)'\)/.exec(check[2]!)![1]!);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBe(DEFAULT_API_PORT);
    expect(matchRoute('GET', url.pathname)).toMatchObject({ ok: true, route: { kind: 'healthz' } });
  });
});
