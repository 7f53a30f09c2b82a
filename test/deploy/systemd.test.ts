// deploy/systemd/pagecast.service, checked against what pagecast does: the notify protocol it
// speaks, the file it starts, the flags it passes, the state directory it makes writable.
import { describe, expect, it } from 'vitest';
import { HELPER_SOURCE } from '../../controller/service/sd-notify.js';
import { exists, installShPackages, read, runFlags, sourceOf, unitSettings } from './deploy-files.js';

const unit = unitSettings(read('deploy/systemd/pagecast.service'));
const service = unit.get('Service')!;
const value = (key: string) => {
  const v = service.get(key);
  expect(v, key).toHaveLength(1);
  return v![0]!;
};

describe('the systemd unit', () => {
  it('is Type=notify with a watchdog, restarted on failure; the notify helper can send and is installed', () => {
    expect(value('Type')).toBe('notify');
    expect(value('WatchdogSec')).toMatch(/^\d+s$/);
    expect(value('Restart')).toBe('on-failure');
    // The messages come from the helper (a child), not the main process.
    expect(value('NotifyAccess')).toBe('all');
    expect(HELPER_SOURCE).toContain('NOTIFY_SOCKET');
    expect(installShPackages()).toContain('python3');
    // SIGTERM to pagecast alone, so that it stops its pipelines in order.
    expect(value('KillMode')).toBe('mixed');
  });

  it('starts the built CLI with flags `pagecast run` accepts, on the state directory systemd makes', () => {
    const argv = value('ExecStart').split(/\s+/);
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/env', 'node']);
    const [script, command, specsDir, ...rest] = argv.slice(2);
    // The checkout lives in /opt/pagecast; tsc's output comes from this source.
    expect(script).toBe('/opt/pagecast/dist/controller/cli/cli.js');
    expect(exists(sourceOf(script!))).toBe(true);
    expect(command).toBe('run');
    expect(specsDir).toBe(`/etc/${value('ConfigurationDirectory')}`);
    const flags = runFlags(rest);
    expect(flags.get('state-dir')).toBe(`/var/lib/${value('StateDirectory')}`);
  });

  it('runs as a dedicated user, sandboxed, with the GPU and /dev/shm still usable', () => {
    expect(value('User')).toBe('pagecast');
    expect(value('User')).not.toBe('root');
    expect(value('ProtectSystem')).toBe('strict');
    expect(value('NoNewPrivileges')).toBe('yes');
    expect(value('PrivateTmp')).toBe('yes');
    expect(value('ProtectHome')).toBe('yes');
    // StateDirectory= is the writable path under ProtectSystem=strict; nothing else is.
    expect(service.has('ReadWritePaths')).toBe(false);
    expect(value('StateDirectoryMode')).toBe('0700');
    // DRM render nodes for VA-API/QSV; hiding /dev (PrivateDevices) would take them away.
    expect(service.get('DeviceAllow')).toContain('char-drm rw');
    expect(service.get('SupplementaryGroups')![0]!.split(' ')).toContain('render');
    expect(service.has('PrivateDevices')).toBe(false);
    // V8 writes code, and Chromium's sandbox makes user namespaces.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    expect(service.has('RestrictNamespaces')).toBe(false);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });
});
