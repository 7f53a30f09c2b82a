// A stand-in for the strict HLS player: PLAYING at once, currentTime from the wall clock.
import type { Player, PlayerStatus, StartPlayer } from '../../fake-device/player-types.js';

export interface StubPlayerOptions {
  /** currentTime never advances (to provoke STALLED). */
  frozenTime?: boolean;
  /** Fail before the first frame with this detailed error code. */
  failWith?: number;
}

export function stubPlayer(opts: StubPlayerOptions = {}): StartPlayer & { started: Array<Parameters<StartPlayer>[0]> } {
  const started: Array<Parameters<StartPlayer>[0]> = [];
  const start: StartPlayer = (load, _options, onStatus) => {
    started.push(load);
    const t0 = Date.now();
    let stopped = false;
    let state: PlayerStatus = { playerState: 'BUFFERING', currentTime: 0, segmentsDecoded: 0, framesDecoded: 0, beforeFirstFrame: true };
    const status = (): PlayerStatus =>
      state.playerState === 'PLAYING' ? { ...state, currentTime: opts.frozenTime ? 1 : (Date.now() - t0) / 1000, framesDecoded: 30 } : state;
    setImmediate(() => {
      if (stopped) return;
      state = opts.failWith !== undefined
        ? { ...state, playerState: 'IDLE', idleReason: 'ERROR', detailedErrorCode: opts.failWith, message: 'stub failure' }
        : { ...state, playerState: 'PLAYING', beforeFirstFrame: false, segmentsDecoded: 1 };
      onStatus(status());
    });
    const player: Player = {
      status,
      stop() {
        stopped = true;
      },
    };
    return player;
  };
  return Object.assign(start, { started });
}
