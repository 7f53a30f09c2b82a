// Which requests are Home Assistant's ingress proxy speaking for a user it signed in: only with
// trust on, only from the proxy's address, only naming the path it serves the console under.
import { describe, expect, it } from 'vitest';
import { SUPERVISOR_ADDRESS, ingressPath, ingressUser, isIngressRequest } from '../../../controller/http/ingress.js';

const PATH = { 'x-ingress-path': '/api/hassio_ingress/Qx9_token-1' };

describe('isIngressRequest', () => {
  it.each([
    ['trust on, the Supervisor, a path', {}, SUPERVISOR_ADDRESS, PATH, true],
    ['the Supervisor as an IPv6-mapped address', {}, `::ffff:${SUPERVISOR_ADDRESS}`, PATH, true],
    ['trust off', undefined, SUPERVISOR_ADDRESS, PATH, false],
    ['another address on the hassio network (another add-on)', {}, '172.30.32.1', PATH, false],
    ['another add-on', {}, '172.30.33.5', PATH, false],
    ['a LAN client', {}, '192.168.1.50', PATH, false],
    ['loopback', {}, '127.0.0.1', PATH, false],
    ['no socket address', {}, undefined, PATH, false],
    ['the Supervisor without X-Ingress-Path (its watchdog, say)', {}, SUPERVISOR_ADDRESS, {}, false],
    ['the Supervisor with a path that is not a plain one', {}, SUPERVISOR_ADDRESS, { 'x-ingress-path': '//evil.example' }, false],
    ['an address the test trusts', { from: ['127.0.0.1'] }, '127.0.0.1', PATH, true],
    ['the default address when others are given', { from: ['127.0.0.1'] }, SUPERVISOR_ADDRESS, PATH, false],
  ] as const)('%s → %s', (_why, trust, remote, headers, expected) => {
    expect(isIngressRequest(trust, remote, headers)).toBe(expected);
  });
});

describe('ingressPath', () => {
  it.each([
    [undefined, undefined],
    ['/api/hassio_ingress/abc', '/api/hassio_ingress/abc'],
    ['/api/hassio_ingress/abc/', '/api/hassio_ingress/abc'],
    ['/', ''],
    ['//evil.example', undefined],
    ['/a/../b', undefined],
    ['/a"><script>', undefined],
    ['https://evil.example/x', undefined],
    [`/${'a'.repeat(201)}`, undefined],
  ])('%s → %s', (header, expected) => {
    expect(ingressPath(header === undefined ? {} : { 'x-ingress-path': header })).toBe(expected);
  });
});

it('ingressUser: the name the proxy gives, else its id, cleaned for a log line', () => {
  expect(ingressUser({ 'x-remote-user-name': 'anna', 'x-remote-user-id': 'f00' })).toBe('anna');
  expect(ingressUser({ 'x-remote-user-id': 'f00d' })).toBe('f00d');
  expect(ingressUser({ 'x-remote-user-name': 'an\nna"<x>' })).toBe('annax');
  expect(ingressUser({})).toBeUndefined();
});
