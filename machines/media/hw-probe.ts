// Which H.264 encoder to use: `off` is libx264; a named or `auto` hardware encoder is used only if
// FFmpeg lists it, its device node exists and a real one-second test encode succeeds. The answer
// is cached per machine (keyed by FFmpeg path and version), since a test encode costs a second.
import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import type { HwAccel } from '../../specs/schema.js';
import type { Logger } from '../log.js';
import { writeFileAtomicSync } from '../atomic-file.js';
import type { VideoEncoder } from './encoder-args.js';

export interface ProbeResult {
  encoder: VideoEncoder;
  fallbackReason?: string;
}

export interface ProbeOptions {
  ffmpegPath?: string;
  cacheFile?: string;
  /** Device nodes to check (tests point them at fake files). */
  devices?: { dri?: string; nvidia?: string };
  signal?: AbortSignal;
  log?: Logger;
  timeoutMs?: number;
}

const CANDIDATES: Record<Exclude<HwAccel, 'auto' | 'off'>, VideoEncoder> = {
  nvenc: 'h264_nvenc',
  qsv: 'h264_qsv',
  vaapi: 'h264_vaapi',
};

/** Encoder names from `ffmpeg -encoders` output (lines like " V....D h264_vaapi  H.264/AVC (VAAPI)"). */
export function parseEncoderList(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line);
    if (m && m[1] !== '=') out.add(m[1]!);
  }
  return out;
}

/** The test-encode command for one hardware encoder. */
export function testEncodeArgs(encoder: VideoEncoder, dri: string): string[] {
  const src = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-t', '1'];
  switch (encoder) {
    case 'h264_vaapi':
      return [...src.slice(0, 3), '-vaapi_device', dri, ...src.slice(3), '-vf', 'format=nv12,hwupload', '-c:v', 'h264_vaapi', '-f', 'null', '-'];
    case 'h264_qsv':
      return [...src.slice(0, 3), '-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw', ...src.slice(3), '-vf', 'format=nv12,hwupload=extra_hw_frames=64,format=qsv', '-c:v', 'h264_qsv', '-f', 'null', '-'];
    case 'h264_nvenc':
      return [...src, '-c:v', 'h264_nvenc', '-f', 'null', '-'];
    case 'libx264':
      return [...src, '-c:v', 'libx264', '-f', 'null', '-'];
  }
}

export async function probeEncoder(hwAccel: HwAccel, opts: ProbeOptions = {}): Promise<ProbeResult> {
  if (hwAccel === 'off') return { encoder: 'libx264' };
  const ffmpeg = opts.ffmpegPath ?? 'ffmpeg';
  const dri = opts.devices?.dri ?? '/dev/dri/renderD128';
  const nvidia = opts.devices?.nvidia ?? '/dev/nvidia0';
  const timeout = opts.timeoutMs ?? 20_000;
  const run = (args: string[]) => execa(ffmpeg, args, { reject: false, timeout, cancelSignal: opts.signal, stdin: 'ignore' });

  const version = await run(['-hide_banner', '-version']);
  if (version.exitCode !== 0) return { encoder: 'libx264', fallbackReason: `${ffmpeg} -version failed (${version.exitCode}): ${String(version.stderr).slice(0, 200)}` };
  const key = `${ffmpeg}|${String(version.stdout).split('\n')[0]}|${hwAccel}|${dri}|${nvidia}`;
  const cached = readCache(opts.cacheFile)[key];
  if (cached) return cached;

  const result = await probeUncached();
  if (opts.cacheFile) {
    const all = readCache(opts.cacheFile);
    all[key] = result;
    try {
      writeFileAtomicSync(opts.cacheFile, JSON.stringify(all, null, 2) + '\n');
    } catch (err) {
      opts.log?.warn({ err: (err as Error).message }, 'cannot write the encoder probe cache');
    }
  }
  return result;

  async function probeUncached(): Promise<ProbeResult> {
    const list = await run(['-hide_banner', '-encoders']);
    const listed = parseEncoderList(String(list.stdout));
    const wanted: Array<keyof typeof CANDIDATES> = hwAccel === 'auto' ? ['nvenc', 'qsv', 'vaapi'] : [hwAccel as keyof typeof CANDIDATES];
    const reasons: string[] = [];
    for (const kind of wanted) {
      const encoder = CANDIDATES[kind];
      if (!listed.has(encoder)) {
        reasons.push(`${encoder}: not in ffmpeg -encoders`);
        continue;
      }
      const node = kind === 'nvenc' ? nvidia : dri;
      if (!existsSync(node)) {
        reasons.push(`${encoder}: no ${node}`);
        continue;
      }
      const test = await run(testEncodeArgs(encoder, dri));
      if (test.exitCode === 0) {
        opts.log?.info({ encoder }, 'hardware encoder passed its test encode');
        return { encoder };
      }
      const why = test.timedOut ? 'timed out' : `exit ${test.exitCode ?? test.signal}`;
      reasons.push(`${encoder}: test encode failed (${why}: ${lastLine(String(test.stderr))})`);
    }
    return { encoder: 'libx264', fallbackReason: reasons.join('; ') };
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  return (lines[lines.length - 1] ?? 'no output').slice(0, 200);
}

function readCache(file: string | undefined): Record<string, ProbeResult> {
  if (!file) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: Record<string, ProbeResult> = {};
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'object' && v !== null && typeof (v as ProbeResult).encoder === 'string') out[k] = v as ProbeResult;
    }
    return out;
  } catch {
    return {}; // missing or corrupt: probe again
  }
}
