// The rules `meshlight iptables` installs in a pod's network namespace: istio-iptables' nat rules under
// meshlight's chain names. The app's outbound TCP goes to the outbound listener, inbound TCP to the
// inbound listener; the proxy's own traffic (its uid and gid), loopback and the excluded ports and
// CIDRs pass untouched. Written as one iptables-restore input, so it applies atomically.

export interface InterceptOptions {
  readonly proxyUid: number;
  readonly proxyGid: number;
  readonly outboundPort: number;
  readonly inboundPort: number;
  /** Inbound ports captured: a list, or '*' for every port but the excluded ones; empty: no inbound capture. */
  readonly includeInboundPorts: readonly number[] | '*';
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: readonly string[];
}

export const CHAINS = { inbound: 'MESHLIGHT_INBOUND', inRedirect: 'MESHLIGHT_IN_REDIRECT', output: 'MESHLIGHT_OUTPUT', redirect: 'MESHLIGHT_REDIRECT' } as const;

/** The `iptables-restore --noflush` input. */
export function interceptRules(o: InterceptOptions): string {
  const { inbound, inRedirect, output, redirect } = CHAINS;
  const lines = ['*nat', ...Object.values(CHAINS).map((c) => `:${c} - [0:0]`)];
  lines.push(`-A ${inRedirect} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`, `-A ${redirect} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);

  lines.push(`-A PREROUTING -p tcp -j ${inbound}`);
  if (o.includeInboundPorts === '*') {
    // The proxy's own inbound port too: a packet already for it must not loop.
    for (const p of new Set([o.inboundPort, ...o.excludeInboundPorts])) lines.push(`-A ${inbound} -p tcp --dport ${p} -j RETURN`);
    lines.push(`-A ${inbound} -p tcp -j ${inRedirect}`);
  } else {
    const excluded = new Set(o.excludeInboundPorts);
    for (const p of o.includeInboundPorts) if (!excluded.has(p)) lines.push(`-A ${inbound} -p tcp --dport ${p} -j ${inRedirect}`);
  }

  lines.push(`-A OUTPUT -p tcp -j ${output}`);
  for (const [match, id] of [['--uid-owner', o.proxyUid], ['--gid-owner', o.proxyGid]] as const) {
    // The proxy calling its own pod's address over lo is a call into the pod: through inbound.
    lines.push(`-A ${output} -o lo ! -d 127.0.0.1/32 -m owner ${match} ${id} -j ${inRedirect}`);
    // The app talking to itself over lo is left alone.
    lines.push(`-A ${output} -o lo -m owner ! ${match} ${id} -j RETURN`);
    // The proxy's own calls go out as they are.
    lines.push(`-A ${output} -m owner ${match} ${id} -j RETURN`);
  }
  lines.push(`-A ${output} -d 127.0.0.1/32 -j RETURN`);
  for (const cidr of o.excludeOutboundCidrs) lines.push(`-A ${output} -d ${cidr} -j RETURN`);
  for (const p of o.excludeOutboundPorts) lines.push(`-A ${output} -p tcp --dport ${p} -j RETURN`);
  lines.push(`-A ${output} -j ${redirect}`, 'COMMIT', '');
  return lines.join('\n');
}

/** iptables argument lists that remove the rules again; each may fail when its rule or chain is not there. */
export function cleanupCommands(): string[][] {
  const t = ['-t', 'nat'];
  return [
    [...t, '-D', 'PREROUTING', '-p', 'tcp', '-j', CHAINS.inbound],
    [...t, '-D', 'OUTPUT', '-p', 'tcp', '-j', CHAINS.output],
    ...Object.values(CHAINS).map((c) => [...t, '-F', c]),
    ...Object.values(CHAINS).map((c) => [...t, '-X', c]),
  ];
}
