// The README's "A 5-minute tour", run as written: its commands are read from README.md, on free ports.
import { spawn } from 'node:child_process';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shiftPorts } from '../src/demo/config-mirror.js';
import { portFree, startDemo } from './helpers/demo.js';
import { configDir } from './helpers/processes.js';

const ROOT = resolve(import.meta.dirname, '..');

/** The `sh` blocks of each numbered step of the tour, as written. */
async function tourSteps(): Promise<Map<number, string[]>> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## A 5-minute tour');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const steps = new Map<number, string[]>();
  for (const [, n, body] of section.matchAll(/^(\d)\. ([\s\S]*?)(?=^\d\. |(?![\s\S]))/gm)) {
    steps.set(Number(n), [...body!.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^ {3}/gm, '')));
  }
  return steps;
}

/** Runs `script` with bash; resolves with its exit code and output, at its end or once the output matches `until` (then it is stopped). */
function bash(script: string, timeoutMs: number, until?: RegExp): Promise<{ code: number | string; out: string }> {
  return new Promise((res) => {
    const p = spawn('bash', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (until?.test(out) === true) process.kill(-p.pid!, 'SIGINT');
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Whatever the script left in its own process groups ends with it.
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // none left
      }
      res({ code: code ?? signal ?? -1, out });
    });
  });
}

/** Distinct ports below the ephemeral range, free now. */
async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portFree(port)) out.add(port);
  }
  return [...out];
}

describe('the README tour, as written', () => {
  it('step 1: every command to try works against the demo', async () => {
    const steps = await tourSteps();
    const all = (steps.get(1) ?? []).flatMap((b) => b.split('\n')).filter((l) => l.trim() !== '');
    const lines = all.filter((l) => l.startsWith('curl'));
    // The one that runs until Ctrl-C: run as written until it has shown a request.
    const streaming = all.filter((l) => !l.startsWith('curl'));
    expect(lines.length).toBeGreaterThanOrEqual(7);
    expect(streaming.every((l) => l.startsWith('npx meshlight tap '))).toBe(true);
    const { demo, ports } = await startDemo(['--duration', '60s']);
    try {
      for (const line of lines) {
        const r = await bash(`set -e -o pipefail; ${shiftPorts(line, ports)}`, 10_000);
        expect(r.code, `${line}\n${r.out}`).toBe(0);
        expect(r.out.length, line).toBeGreaterThan(0);
        if (line.includes("'Host: nope'")) expect(r.out).toMatch(/404[\s\S]*x-meshlight-flags: NR/i);
      }
      for (const line of streaming) {
        const r = await bash(shiftPorts(line, ports), 30_000, /-> \d{3} /); // stopped as Ctrl-C would, once a request shows
        expect(r.out, line).toMatch(/ (inbound|outbound) +\w+ \S+ \/\S* -> \d{3} /);
      }
    } finally {
      await demo.stop();
    }
  }, 150_000);

  it('steps 2-4: validate, a sidecar by hand, a sidecar fed by the control plane, each answering as the comments say', async () => {
    const steps = await tourSteps();
    const blocks = [2, 3, 4].flatMap((n) => steps.get(n) ?? []);
    expect(blocks).toHaveLength(3);
    // The defaults the commands rely on, moved to free ports; the examples copied with their endpoints moved too.
    const [outbound, inbound, admin, grpc, http, v1, v2] = await freePorts(7);
    const moved: Record<string, number> = { 15001: outbound!, 15006: inbound!, 15000: admin!, 15010: grpc!, 15014: http!, 8081: v1!, 8082: v2! };
    const move = (text: string) => text.replace(/\b(15001|15006|15000|15010|15014|8081|8082)\b/g, (p) => String(moved[p]));
    const examples = await configDir({});
    await cp(join(ROOT, 'config/examples'), examples, { recursive: true });
    for (const f of await readdir(examples)) await writeFile(join(examples, f), move(await readFile(join(examples, f), 'utf8')));
    const portFlags = `--outbound-port ${outbound} --inbound-port ${inbound} --admin-port ${admin} --bind-address 127.0.0.1`;
    const script = blocks.join('\n')
      .replaceAll('config/examples/', `${examples}/`)
      .replace(/npx meshlight proxy (.*?) &/g, `npx meshlight proxy $1 ${portFlags} &`)
      .replace(/npx meshlight control-plane (.*?) &/g, `npx meshlight control-plane $1 --grpc-port ${grpc} --http-port ${http} --bind-address 127.0.0.1 &`);
    const r = await bash(`set -m -e\n${move(script)}\nwait`, 60_000);
    const out = r.out;
    expect(r.code, out).toBe(0);
    expect(out).toMatch(/^ok: 3 files, 3 services, 1 HTTPRoutes/m); // validate's summary
    expect(out).toMatch(/^orders-v[12] \/api\/orders$/m);
    expect(out).toMatch(/^orders-v2 \/$/m); // the beta-testers header rule
    expect(out).toMatch(/^orders-v1 \/hello$/m); // inbound to the app
    expect(out).toContain("no service 'orders.default' in the mesh; the mesh has orders.shop");
    expect(out.match(/^orders-v[12] \/api\/orders$/gm)).toHaveLength(3); // by Host, by http_proxy, pushed by the control plane
    expect(out).toMatch(/"service": "orders",\s+"namespace": "shop"/); // /api/v1/sidecars
    for (const port of Object.values(moved)) expect(await portFree(port), `port ${port} released`).toBe(true);
  }, 150_000);
});
