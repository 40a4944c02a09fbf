// `meshlight iptables`: the init container's command (root with NET_ADMIN) capturing the pod's TCP
// traffic for the sidecar, or `--clean` removing it. `--dry-run` prints what would be applied.
import { execFile, spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { cleanupCommands, interceptRules } from '../kube/iptables.js';
import { PORTS, PROXY_UID } from '../kube/names.js';
import { helpText, parseFlags, portFlag, stringFlag, UsageError, type FlagSpecs, type Parsed } from './args.js';

const FLAGS: FlagSpecs = {
  'proxy-uid': { type: 'string', help: "the sidecar's uid: its traffic is not captured", default: String(PROXY_UID) },
  'proxy-gid': { type: 'string', help: "the sidecar's gid (default: --proxy-uid)" },
  'outbound-port': { type: 'string', help: "where the app's outbound TCP is redirected", default: String(PORTS.outbound) },
  'inbound-port': { type: 'string', help: 'where inbound TCP is redirected', default: String(PORTS.inbound) },
  'include-inbound-ports': { type: 'string', help: "inbound ports captured: comma list, '*' for all, '' for none", default: '*' },
  'exclude-inbound-ports': { type: 'string', help: 'inbound ports never captured (comma list)', default: '' },
  'exclude-outbound-ports': { type: 'string', help: 'outbound ports never captured (comma list)', default: '' },
  'exclude-outbound-cidrs': { type: 'string', help: 'outbound destinations never captured (comma list of IPv4 CIDRs)', default: '' },
  'dry-run': { type: 'boolean', help: 'print the iptables-restore input and the clean-up, change nothing' },
  clean: { type: 'boolean', help: 'remove the rules instead (what a previous run installed)' },
};

const iptables = promisify(execFile);

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight iptables [--dry-run] [--clean] [flags]   (root with NET_ADMIN, in the pod\'s network namespace)', FLAGS));
    return 0;
  }
  const uid = idFlag(parsed, 'proxy-uid')!;
  const rules = interceptRules({
    proxyUid: uid,
    proxyGid: idFlag(parsed, 'proxy-gid') ?? uid,
    outboundPort: portFlag(parsed, 'outbound-port')!,
    inboundPort: portFlag(parsed, 'inbound-port')!,
    includeInboundPorts: stringFlag(parsed, 'include-inbound-ports') === '*' ? '*' : ports(parsed, 'include-inbound-ports'),
    excludeInboundPorts: ports(parsed, 'exclude-inbound-ports'),
    excludeOutboundPorts: ports(parsed, 'exclude-outbound-ports'),
    excludeOutboundCidrs: cidrs(parsed),
  });
  const clean = parsed.values['clean'] === true;
  if (parsed.values['dry-run'] === true) {
    for (const c of cleanupCommands()) process.stdout.write(`iptables ${c.join(' ')}\n`);
    if (!clean) process.stdout.write(`iptables-restore --noflush <<EOF\n${rules}EOF\n`);
    return 0;
  }
  // A rerun (an init container restarted) starts from nothing rather than adding the rules twice.
  for (const c of cleanupCommands()) await iptables('iptables', ['-w', ...c]).catch(() => undefined);
  if (clean) {
    process.stderr.write('meshlight iptables: rules removed\n');
    return 0;
  }
  try {
    await restore(rules);
  } catch (err) {
    process.stderr.write(`meshlight iptables: iptables-restore failed (root with NET_ADMIN, in the pod's network namespace?): ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`meshlight iptables: outbound TCP -> ${portFlag(parsed, 'outbound-port')}, inbound -> ${portFlag(parsed, 'inbound-port')}, uid ${uid} excluded\n`);
  return 0;
}

function restore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('iptables-restore', ['-w', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `exit ${code}`))));
    p.stdin.end(input);
  });
}

function idFlag(parsed: Parsed, name: string): number | undefined {
  const v = stringFlag(parsed, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v)) throw new UsageError(`--${name} must be a numeric id, got '${v}'`);
  return Number(v);
}

function ports(parsed: Parsed, name: string): number[] {
  const v = stringFlag(parsed, name) ?? '';
  return v.split(',').filter((p) => p.trim() !== '').map((p) => {
    const n = Number(p.trim());
    if (!/^\d{1,5}$/.test(p.trim()) || n < 1 || n > 65535) throw new UsageError(`--${name} must be a comma list of ports 1-65535, got '${p}'`);
    return n;
  });
}

function cidrs(parsed: Parsed): string[] {
  return (stringFlag(parsed, 'exclude-outbound-cidrs') ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '').map((c) => {
    const [ip, bits] = c.split('/');
    if (isIP(ip ?? '') !== 4 || (bits !== undefined && !(/^\d{1,2}$/.test(bits) && Number(bits) <= 32))) {
      throw new UsageError(`--exclude-outbound-cidrs must be IPv4 CIDRs like 10.0.0.0/8, got '${c}'`);
    }
    return c;
  });
}
