import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAMAGE_GRAB_SCRIPT, checkDamageGrab, damageGrabArgs, defaultPython, keptUp, parseGrabCounts } from '../../../machines/media/damage-grab.js';

const o = { display: ':7', width: 1280, height: 720, fps: 30, floorSeconds: 0.25, regrabSeconds: 2 };

describe('damage-grab helper', () => {
  it('is found beside its module, and takes display, size, rate, floor and re-grab period', () => {
    expect(existsSync(DAMAGE_GRAB_SCRIPT)).toBe(true);
    expect(damageGrabArgs(o)).toEqual(['-I', '-S', DAMAGE_GRAB_SCRIPT, ':7', '1280', '720', '30', '0.25', '2']);
  });

  it('its counts line is read; anything else is not a count', () => {
    expect(parseGrabCounts('grabs=12 frames=40 dropped=3\n')).toEqual({ grabs: 12, frames: 40, dropped: 3 });
    expect(parseGrabCounts('damage-grab: cannot open display :7')).toBeUndefined();
    expect(parseGrabCounts('grabs=1')).toBeUndefined();
  });

  it('how much the encoder kept up with: the share of due frames it took', () => {
    const a = { grabs: 10, frames: 100, dropped: 0 };
    expect(keptUp(a, { grabs: 40, frames: 130, dropped: 0 })).toBe(1);
    expect(keptUp(a, { grabs: 40, frames: 115, dropped: 15 })).toBe(0.5);
    expect(keptUp(a, a)).toBe(1); // nothing due: nothing to keep up with
  });

  it('the check says why it cannot run: a display that is not there, a python that is not there', async () => {
    expect(await checkDamageGrab(defaultPython(), { ...o, display: ':239' })).toMatch(/cannot open display :239/);
    expect(await checkDamageGrab('/nonexistent/python3', o)).toMatch(/ENOENT/);
    // A check that hangs (a display that does not answer) is cut off, and says so.
    expect(await checkDamageGrab(defaultPython(), o, 1)).toBe('the check took longer than 1 ms');
  });
});
