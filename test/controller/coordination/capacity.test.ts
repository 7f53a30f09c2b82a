import { describe, expect, it } from 'vitest';
import { defaultCapacity } from '../../../controller/coordination/capacity.js';

describe('the default capacity', () => {
  it('budgets three quarters of the cores at the still 720p30 cost', () => {
    expect(defaultCapacity(1)).toBe(4);
    expect(defaultCapacity(2)).toBe(9);
    expect(defaultCapacity(4)).toBe(18);
    expect(defaultCapacity(8)).toBe(37);
  });

  it('uses another per-stream cost when given one (animated 720p: 0.706 of a core)', () => {
    expect(defaultCapacity(4, 0.706)).toBe(4);
  });

  it('is at least one, whatever the machine says', () => {
    expect(defaultCapacity(0)).toBe(1);
    expect(defaultCapacity(Number.NaN)).toBe(1);
    expect(defaultCapacity(1, 5)).toBe(1);
  });
});
