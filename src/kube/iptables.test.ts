import { describe, expect, test } from 'vitest';
import { interceptRules } from './iptables.js';

const base = { proxyUid: 1337, proxyGid: 1337, outboundPort: 15001, inboundPort: 15006, excludeOutboundPorts: [], excludeOutboundCidrs: [] };

describe('the interception rules', () => {
  test("'*' captures every inbound port but the proxy's own and the excluded ones", () => {
    const rules = interceptRules({ ...base, includeInboundPorts: '*', excludeInboundPorts: [15020, 15006] }).split('\n');
    expect(rules.filter((l) => l.startsWith('-A MESHLIGHT_INBOUND'))).toEqual([
      '-A MESHLIGHT_INBOUND -p tcp --dport 15006 -j RETURN',
      '-A MESHLIGHT_INBOUND -p tcp --dport 15020 -j RETURN',
      '-A MESHLIGHT_INBOUND -p tcp -j MESHLIGHT_IN_REDIRECT',
    ]);
  });

  test('a list captures those ports only, less the excluded; none captures nothing inbound', () => {
    const listed = interceptRules({ ...base, includeInboundPorts: [8080, 15020], excludeInboundPorts: [15020] });
    expect(listed.split('\n').filter((l) => l.startsWith('-A MESHLIGHT_INBOUND'))).toEqual(['-A MESHLIGHT_INBOUND -p tcp --dport 8080 -j MESHLIGHT_IN_REDIRECT']);
    expect(interceptRules({ ...base, includeInboundPorts: [], excludeInboundPorts: [] })).not.toContain('-A MESHLIGHT_INBOUND');
  });

  test('outbound: the proxy uid and gid, loopback, excluded CIDRs and ports return before the redirect', () => {
    const out = interceptRules({ ...base, proxyGid: 2000, includeInboundPorts: [], excludeInboundPorts: [], excludeOutboundCidrs: ['169.254.169.254/32'], excludeOutboundPorts: [5432] })
      .split('\n').filter((l) => l.startsWith('-A MESHLIGHT_OUTPUT'));
    expect(out.at(-1)).toBe('-A MESHLIGHT_OUTPUT -j MESHLIGHT_REDIRECT');
    expect(out).toContain('-A MESHLIGHT_OUTPUT -m owner --uid-owner 1337 -j RETURN');
    expect(out).toContain('-A MESHLIGHT_OUTPUT -m owner --gid-owner 2000 -j RETURN');
    expect(out).toContain('-A MESHLIGHT_OUTPUT -d 127.0.0.1/32 -j RETURN');
    expect(out).toContain('-A MESHLIGHT_OUTPUT -d 169.254.169.254/32 -j RETURN');
    expect(out).toContain('-A MESHLIGHT_OUTPUT -p tcp --dport 5432 -j RETURN');
  });
});
