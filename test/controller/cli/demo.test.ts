// What `npm run demo` prints once the fake TV plays.
import { describe, expect, it } from 'vitest';
import { demoAddresses } from '../../../controller/cli/demo.js';

describe('demo', () => {
  it('prints the console’s address (the API’s, with its /) first, then the stream, status, report and how to stop', () => {
    expect(demoAddresses({ apiUrl: 'http://127.0.0.1:8780', streamUrl: 'http://127.0.0.1:8181/s/abc/index.m3u8', stateDir: '/tmp/demo-state' })).toBe(
      [
        'Console:      http://127.0.0.1:8780/',
        'The stream:   ffplay http://127.0.0.1:8181/s/abc/index.m3u8',
        'Status:       node dist/controller/cli/cli.js status --watch',
        'Proof:        node dist/controller/cli/cli.js report --state-dir /tmp/demo-state',
        'Stop:         Ctrl-C',
      ].join('\n'),
    );
    expect(demoAddresses({ apiUrl: 'http://127.0.0.1:8780/', stateDir: 'x' }).split('\n')[0]).toBe('Console:      http://127.0.0.1:8780/');
  });
});
