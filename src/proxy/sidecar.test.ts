import { isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { reachableAddress } from './sidecar.js';

describe('the address a sidecar gives the control plane for /api/v1/sidecars', () => {
  it('is the bind address itself, IPv6 in brackets, when that names one', () => {
    expect(reachableAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(reachableAddress('10.1.2.3')).toBe('10.1.2.3');
    expect(reachableAddress('::1')).toBe('[::1]');
  });

  it('is a real IPv4 address of the host, never the wildcard, for 0.0.0.0 and ::', () => {
    for (const wildcard of ['0.0.0.0', '::']) {
      const a = reachableAddress(wildcard);
      expect(isIPv4(a), a).toBe(true);
      expect(a).not.toBe('0.0.0.0');
    }
  });
});
