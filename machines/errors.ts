// One error class with a code and classifying fields, rather than a class per case (execa style).
export type ErrorCode =
  | 'SPEC_INVALID'
  | 'DEVICE_NOT_FOUND'
  | 'CONNECT_FAILED'
  | 'CAST_REQUEST_FAILED'
  | 'CAST_TIMEOUT'
  | 'PROCESS_FAILED'
  | 'NAVIGATION_FAILED'
  | 'STATE_CORRUPT'
  | 'CONFIG'
  | 'STATE_LOCKED'
  | 'ABORTED';

export class PagecastError extends Error {
  readonly code: ErrorCode;
  readonly timedOut: boolean;
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  /** Where bad input came from: a file:line:col, a device address, a process name. */
  readonly source?: string;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; timedOut?: boolean; exitCode?: number | null; signal?: string | null; source?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PagecastError';
    this.code = code;
    this.timedOut = opts.timedOut ?? false;
    this.exitCode = opts.exitCode;
    this.signal = opts.signal;
    this.source = opts.source;
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as PagecastError).code === 'ABORTED');
}
