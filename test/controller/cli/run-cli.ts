// `pagecast ARGS` in this process: the exit code and what went to stderr (stdout swallowed).
import { vi } from 'vitest';
import { main } from '../../../controller/cli/cli.js';

export async function runCli(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(args), err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
