// The `castv2` package loads its .proto asynchronously and lets parse errors escape from stream
// callbacks (CAST.md §7.3–7.4). These helpers make it safe to use on Node 20.
import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';
import { PagecastError } from '../errors.js';

interface ProtoCodec {
  serialize(data: object): Uint8Array;
  parse(data: Buffer): Record<string, unknown>;
  __pagecastHardened?: boolean;
}

/** Largest CastMessage body a real device sends or accepts (openscreen message_framer.cc). */
export const MAX_FRAME_BYTES = 65_536;

const require = createRequire(import.meta.url);

function castMessageCodec(): ProtoCodec {
  return (require('castv2/lib/proto') as { CastMessage: ProtoCodec }).CastMessage;
}

/**
 * Resolves once castv2 can (de)serialize CastMessages; call before the first send or listen.
 * Also hardens parsing: a frame that is not a valid CastMessage decodes to protocolVersion -1,
 * which castv2 already handles by closing that one connection instead of throwing out of a
 * socket callback and crashing the process.
 */
export async function castv2Ready(timeoutMs = 5_000): Promise<void> {
  const codec = castMessageCodec();
  const probe = { protocolVersion: 0, sourceId: 's', destinationId: 'd', namespace: 'n', payloadType: 0, payloadUtf8: '' };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      codec.serialize(probe);
      break;
    } catch {
      if (Date.now() > deadline) throw new PagecastError('CONFIG', `castv2 protocol definitions did not load within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  hardenParse(codec);
}

function hardenParse(codec: ProtoCodec): void {
  // Patching the shared codec object is idempotent and only turns a process crash into a
  // per-connection close, for every user of castv2 in this process.
  if (codec.__pagecastHardened) return;
  const parse = codec.parse.bind(codec);
  codec.parse = (data: Buffer) => {
    try {
      return parse(data);
    } catch {
      return { protocolVersion: -1, sourceId: '', destinationId: '', namespace: '', payloadType: 0 };
    }
  };
  codec.__pagecastHardened = true;
}

/**
 * castv2's framer reads `length` bytes for any length header; Node throws out of the socket's
 * 'readable' handler for a length above 1 GiB (a crash), waits forever for a few MiB that never
 * come, and never gets past a zero length (`read(0)` returns nothing, so every later frame is
 * stuck behind it). Refuse a header of 0 or above MAX_FRAME_BYTES (openscreen refuses both) by
 * destroying that socket instead. Call right after the socket exists (before data is read).
 */
export function guardFrameSize(socket: TLSSocket, onRefused?: (bytes: number) => void): void {
  const read = socket.read.bind(socket);
  const refuse = (bytes: number) => {
    onRefused?.(bytes);
    socket.destroy(new Error(bytes === 0 ? 'empty Cast frame' : `Cast frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES}`));
    return null;
  };
  // castv2's framer (packet-stream-wrapper.js) alternates read(4) for a header and read(n) for
  // the body it announced; Node's own read(0) calls return nothing and do not count.
  let header = true;
  socket.read = ((size?: number) => {
    if (typeof size === 'number' && size > MAX_FRAME_BYTES + 4) return refuse(size);
    const chunk = read(size) as Buffer | null;
    if (chunk === null || typeof size !== 'number' || size === 0) return chunk;
    if (header && size === 4) {
      const bytes = chunk.readUInt32BE(0);
      if (bytes === 0 || bytes > MAX_FRAME_BYTES) return refuse(bytes);
      header = false;
    } else header = true;
    return chunk;
  }) as typeof socket.read;
}
