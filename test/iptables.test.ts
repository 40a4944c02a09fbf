// Transparent interception for real: two network namespaces joined by a veth pair, each a "pod" with
// `meshlight iptables` applied and a sidecar running as uid 1337. An unchanged app in one calls the other
// by IP and port; the call goes through both sidecars (their metrics say so), the sidecars' own traffic
// and loopback are not captured, an excluded port is not, and --clean removes the rules.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sample } from './helpers/metrics-text.js';
import { CLI, configDir, eventually } from './helpers/processes.js';

const exec = promisify(execFile);
const tag = String(process.pid % 100000);
const NS = { a: `mla${tag}`, b: `mlb${tag}` };
// A /30 of its own per run, inside the namespaces only: nothing outside them is routed there.
const subnet = `10.213.${process.pid % 250}`;
const IP = { a: `${subnet}.1`, b: `${subnet}.2` };
const APP_PORT = 8080;
const DIRECT_PORT = 9090;

const children: ChildProcess[] = [];
const output = new Map<ChildProcess, string>();

/** Runs `argv` in namespace `ns`, as uid/gid 1337 when `asProxy` (the sidecar's uid, as in a pod). */
function inNs(ns: string, argv: readonly string[], asProxy = false): ChildProcess {
  const user = asProxy ? ['setpriv', '--reuid=1337', '--regid=1337', '--clear-groups'] : [];
  const p = spawn('ip', ['netns', 'exec', ns, ...user, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  output.set(p, '');
  p.stdout!.setEncoding('utf8').on('data', (d: string) => output.set(p, output.get(p) + d));
  p.stderr!.setEncoding('utf8').on('data', (d: string) => output.set(p, output.get(p) + d));
  children.push(p);
  return p;
}

async function nsRun(ns: string, argv: readonly string[]): Promise<string> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, ...argv], { timeout: 20_000 });
  return stdout;
}

/** An HTTP GET from inside `ns` by an unchanged app (node's fetch, no proxy settings): status, body. */
async function appGet(ns: string, url: string): Promise<string> {
  return nsRun(ns, [process.execPath, '-e', `fetch(${JSON.stringify(url)}).then(async (r) => console.log(r.status, await r.text()), (e) => console.log('error', e.cause?.code ?? e.message))`]);
}

const metricsOf = (ns: string) => nsRun(ns, [process.execPath, '-e', "fetch('http://127.0.0.1:15000/metrics').then(async (r) => process.stdout.write(await r.text()))"]);

describe('meshlight iptables in two network namespaces', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test makes network namespaces: run it as root (CI does)');
    const ip = (...args: string[]) => exec('ip', args);
    await ip('netns', 'add', NS.a);
    await ip('netns', 'add', NS.b);
    await ip('link', 'add', `v${NS.a}`, 'type', 'veth', 'peer', 'name', `v${NS.b}`);
    for (const pod of ['a', 'b'] as const) {
      await ip('link', 'set', `v${NS[pod]}`, 'netns', NS[pod]);
      await ip('-n', NS[pod], 'addr', 'add', `${IP[pod]}/30`, 'dev', `v${NS[pod]}`);
      await ip('-n', NS[pod], 'link', 'set', `v${NS[pod]}`, 'up');
      await ip('-n', NS[pod], 'link', 'set', 'lo', 'up');
    }
    // The app in b: answers with whether a sidecar passed the call on (it adds x-request-id).
    const app = `require('http').createServer((q, s) => s.end(q.headers['x-request-id'] ? 'via sidecar' : 'direct')).listen`;
    inNs(NS.b, [process.execPath, '-e', `${app}(${APP_PORT}); ${app}(${DIRECT_PORT})`]);
    const service = (name: string, endpoints: string) => `apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: ${name}}\nspec: {endpoints: ${endpoints}}\n`;
    const dir = await configDir({ 'mesh.yaml': `${service('a', '[]')}---\n${service('b', `[{address: "${IP.b}:${APP_PORT}"}]`)}` });
    // The sidecars run as uid 1337 and read it.
    await chmod(dir, 0o755);
    for (const pod of ['a', 'b'] as const) {
      // The init container's step, then the sidecar on Istio's ports, as uid 1337.
      await nsRun(NS[pod], [process.execPath, CLI, 'iptables', '--include-inbound-ports', String(APP_PORT), '--exclude-outbound-ports', String(DIRECT_PORT)]);
      inNs(NS[pod], [process.execPath, CLI, 'proxy', '--config', dir, '--service', pod, ...(pod === 'b' ? ['--app-port', String(APP_PORT)] : [])], true);
    }
    for (const pod of ['a', 'b'] as const) {
      await eventually(async () => (await nsRun(NS[pod], [process.execPath, '-e', "fetch('http://127.0.0.1:15000/healthz/ready').then((r) => console.log(r.status), () => console.log(0))"])).trim() === '200', 15_000, `sidecar ${pod} ready`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of children) {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of Object.values(NS)) await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  test("an unchanged app's call by IP:port goes through both sidecars", async () => {
    expect(await appGet(NS.a, `http://${IP.b}:${APP_PORT}/hello`)).toBe('200 via sidecar\n');
    const source = await metricsOf(NS.a);
    expect(sample(source, 'mesh_requests_total', { reporter: 'source', source_service: 'a.default', destination_service: 'b.default', response_code: '200' })).toBe(1);
    const destination = await metricsOf(NS.b);
    expect(sample(destination, 'mesh_requests_total', { reporter: 'destination', source_service: 'a.default', destination_service: 'b.default', response_code: '200' })).toBe(1);
  });

  test('an excluded outbound port goes straight to its destination', async () => {
    expect(await appGet(NS.a, `http://${IP.b}:${DIRECT_PORT}/`)).toBe('200 direct\n');
  });

  test('--dry-run prints the rules and changes nothing; --clean removes them', async () => {
    const before = await nsRun(NS.a, ['iptables', '-t', 'nat', '-S']);
    expect(before).toContain('-A OUTPUT -p tcp -j MESHLIGHT_OUTPUT');
    const dry = await nsRun(NS.a, [process.execPath, CLI, 'iptables', '--dry-run', '--proxy-uid', '4242']);
    expect(dry).toContain('-A MESHLIGHT_OUTPUT -m owner --uid-owner 4242 -j RETURN');
    expect(await nsRun(NS.a, ['iptables', '-t', 'nat', '-S'])).toBe(before);
    await nsRun(NS.a, [process.execPath, CLI, 'iptables', '--clean']);
    expect(await nsRun(NS.a, ['iptables', '-t', 'nat', '-S'])).not.toContain('MESHLIGHT');
    // Without a's capture the call reaches b's sidecar only: b still sees it, a's count stays.
    expect(await appGet(NS.a, `http://${IP.b}:${APP_PORT}/hello`)).toBe('200 via sidecar\n');
    expect(sample(await metricsOf(NS.a), 'mesh_requests_total', { reporter: 'source', destination_service: 'b.default' })).toBe(1);
  });
});
