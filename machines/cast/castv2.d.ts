// Types for the untyped `castv2` package (0.1.10), read from its source. See CAST.md §7.2.
declare module 'castv2' {
  import { EventEmitter } from 'node:events';
  import type * as tls from 'node:tls';

  /** string → payload_utf8 (STRING), Buffer → payload_binary (BINARY). */
  export type Payload = string | Buffer;

  export class Client extends EventEmitter {
    /** null before connect and after 'close'. */
    socket: tls.TLSSocket | null;
    ps: unknown;
    constructor();
    /** Forces rejectUnauthorized=false (and writes it into `options`). `cb` is a once('connect'). */
    connect(options: string | (tls.ConnectionOptions & { host: string; port?: number }), cb?: () => void): void;
    /** Throws before the proto has loaded, and if any id is undefined. */
    send(sourceId: string, destinationId: string, namespace: string, data: Payload): void;
    /** Throws when the socket is already gone (not idempotent). */
    close(): void;
    on(event: 'connect' | 'close', listener: () => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'message', listener: (sourceId: string, destinationId: string, namespace: string, data: Payload) => void): this;
  }

  export interface ServerClient {
    socket: tls.TLSSocket;
    ps: unknown;
  }

  export class Server extends EventEmitter {
    server: tls.Server;
    /** Keyed by `${remoteAddress}:${remotePort}`. */
    clients: Record<string, ServerClient | undefined>;
    constructor(options: tls.TlsOptions);
    listen(port: number, host?: string, cb?: () => void): void;
    /** Throws if `clientId` has disconnected. */
    send(clientId: string, sourceId: string, destinationId: string, namespace: string, data: Payload): void;
    close(): void;
    on(event: 'message', listener: (clientId: string, sourceId: string, destinationId: string, namespace: string, data: Payload) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export const DeviceAuthMessage: { serialize(o: object): Uint8Array; parse(b: Buffer): unknown };
}
