// Real snapshots of the real machines in a given state (machine.resolveState), with only the
// context fields status.ts reads: phaseOf and buildStatus are tested on exactly what they match.
import type { SnapshotFrom, StateValue } from 'xstate';
import { castMachine } from '../../../machines/cast-machine.js';
import { specMachine } from '../../../machines/spec-machine.js';
import type { streamMachine } from '../../../machines/stream-machine.js';

export type SpecSnap = SnapshotFrom<typeof specMachine>;
export type CastSnap = SnapshotFrom<typeof castMachine>;
export type StreamSnap = SnapshotFrom<typeof streamMachine>;

export const specIn = (value: StateValue, assignment: Record<string, unknown> = { role: 'play' }): SpecSnap =>
  specMachine.resolveState({ value, context: { assignment } as unknown as SpecSnap['context'] });
export const castIn = (value: StateValue, context: Record<string, unknown> = {}): CastSnap =>
  castMachine.resolveState({ value, context: { restartCount: 0, ...context } as unknown as CastSnap['context'] });
/** buildStatus reads only a stream's context. */
export const streamWith = (context: Record<string, unknown>): StreamSnap =>
  ({ context: { id: 's1', restarts: 0, browserReady: false, encoderServable: false, reports: {}, ...context } }) as unknown as StreamSnap;
