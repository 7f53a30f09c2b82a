// The CLI's side of the control API. Errors are sentences a user can act on, not stack traces.
// The token is read by the caller (default location: `<stateDir>/api-token`, see defaultTokenPath
// in api-token.ts; `pagecast run` creates it there with mode 0600).
import { request } from 'undici';
import type { EphemeralCastRequest, HealthReport, PageStatus, SpecStatus } from '../status/types.js';
import { DEFAULT_API_PORT } from '../http/api.js';

export const DEFAULT_API_URL = `http://127.0.0.1:${DEFAULT_API_PORT}`;

export type ApiClientErrorCode = 'UNREACHABLE' | 'UNAUTHORIZED' | 'BAD_RESPONSE' | string;

/** What went wrong talking to pagecast; `code` is the API's error code when it answered one. */
export class ApiClientError extends Error {
  constructor(
    message: string,
    readonly code: ApiClientErrorCode,
    readonly status?: number,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiClientError';
  }
}

export interface ApiClientOptions {
  baseUrl?: string;
  token?: string;
  /** Per request, connect to last byte. */
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'DELETE';

export class ApiClient {
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ApiClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async list(): Promise<SpecStatus[]> {
    const body = (await this.call('GET', '/api/v1/specs')) as { specs?: unknown };
    if (!Array.isArray(body?.specs)) throw this.badResponse('/api/v1/specs', 'no "specs" list');
    return body.specs as SpecStatus[];
  }

  async get(name: string): Promise<SpecStatus> {
    return (await this.call('GET', `/api/v1/specs/${encodeURIComponent(name)}`)) as SpecStatus;
  }

  async suspend(name: string): Promise<{ name: string; suspended: boolean }> {
    return (await this.call('POST', `/api/v1/specs/${encodeURIComponent(name)}/suspend`)) as { name: string; suspended: boolean };
  }

  async resume(name: string): Promise<{ name: string; suspended: boolean }> {
    return (await this.call('POST', `/api/v1/specs/${encodeURIComponent(name)}/resume`)) as { name: string; suspended: boolean };
  }

  /** Brings page `index` (0-based) of a spec with pages to the front; answers the rotation after it. */
  async showPage(name: string, index: number): Promise<{ name: string; page: PageStatus }> {
    const body = (await this.call('POST', `/api/v1/specs/${encodeURIComponent(name)}/page`, { index })) as { name?: unknown; page?: unknown };
    if (typeof body?.page !== 'object' || body.page === null) throw this.badResponse(`/api/v1/specs/${name}/page`, 'no "page" object');
    return body as { name: string; page: PageStatus };
  }

  async createCast(req: EphemeralCastRequest): Promise<{ name: string; expiresAt?: string }> {
    return (await this.call('POST', '/api/v1/casts', req)) as { name: string; expiresAt?: string };
  }

  async deleteCast(name: string): Promise<void> {
    await this.call('DELETE', `/api/v1/casts/${encodeURIComponent(name)}`);
  }

  /** The report even when it says not ok (503): the caller decides what unhealthy means. */
  async health(): Promise<HealthReport> {
    return (await this.call('GET', '/healthz', undefined, [503])) as HealthReport;
  }

  private async call(method: Method, path: string, body?: unknown, alsoOk: number[] = []): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await request(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw new ApiClientError(`pagecast at ${this.baseUrl} stopped answering mid-response: ${(err as Error).message}`, 'BAD_RESPONSE', res.statusCode, undefined, {
        cause: err,
      });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw this.badResponse(path, `not JSON (HTTP ${res.statusCode})`, res.statusCode);
    }
    if ((res.statusCode >= 200 && res.statusCode < 300) || alsoOk.includes(res.statusCode)) return parsed;

    const apiError = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    if (res.statusCode === 401) {
      const message = this.token
        ? 'token rejected: check --token-file'
        : 'this needs the API token: pass --token-file (pagecast run keeps it in <stateDir>/api-token)';
      throw new ApiClientError(message, 'UNAUTHORIZED', 401);
    }
    if (apiError && typeof apiError.message === 'string') {
      throw new ApiClientError(apiError.message, typeof apiError.code === 'string' ? apiError.code : `HTTP_${res.statusCode}`, res.statusCode, apiError.details);
    }
    throw this.badResponse(path, `HTTP ${res.statusCode} without an error message`, res.statusCode);
  }

  private unreachable(err: unknown): ApiClientError {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT') {
      return new ApiClientError(`pagecast is not running at ${this.baseUrl} (start it with pagecast run)`, 'UNREACHABLE', undefined, undefined, { cause: err });
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new ApiClientError(`pagecast at ${this.baseUrl} did not answer within ${this.timeoutMs} ms`, 'UNREACHABLE', undefined, undefined, { cause: err });
    }
    const why = (err as Error)?.message ?? String(err);
    return new ApiClientError(`cannot reach pagecast at ${this.baseUrl}: ${why}`, 'UNREACHABLE', undefined, undefined, { cause: err });
  }

  private badResponse(path: string, why: string, status?: number): ApiClientError {
    return new ApiClientError(`unexpected answer from pagecast at ${this.baseUrl}${path}: ${why}`, 'BAD_RESPONSE', status);
  }
}
