import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEMO_INSTANCES } from '../src/demo/topology.js';
import { eventually, runCli } from './helpers/processes.js';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('npm start: the demo mesh', () => {
  it('runs every service behind a sidecar, prints what to try, shows the canary split and errors, and stops by itself', async () => {
    const demo = runCli(['demo', '--duration', '6s', '--rps', '40']);
    await eventually(() => demo.output.stdout.includes('generating 40 requests/s'), 15_000, 'the demo banner');
    const out = demo.output.stdout;
    for (const app of DEMO_INSTANCES) expect(out).toContain(`${app.instance.padEnd(10)} app :${app.appPort}`);
    const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/) /.exec(out)?.[1];
    expect(url).toBe(`http://127.0.0.1:${DEMO_INSTANCES[0]!.inbound}/`);
    // The printed URL works while the demo runs (payments fails now and then, so allow a retry).
    let body: { service?: string; calls?: { orders?: { status: number } } } = {};
    await eventually(async () => {
      const res = await fetch(url!);
      body = (await res.json()) as typeof body;
      return res.status === 200;
    }, 5_000, 'a 200 from the printed frontend URL');
    expect(body).toMatchObject({ service: 'frontend', calls: { orders: { status: 200 } } });

    expect(await demo.exited).toBe(0);
    const final = /final: (.*)\n/.exec(demo.output.stdout)?.[1] ?? '';
    expect(final).toMatch(/200: \d+/);
    expect(final).toMatch(/502: \d+/); // payments' injected failures surface at the frontend
    expect(final).toMatch(/orders v1 \d+ \((8\d|9\d)%\), v2 \d+/);
    for (const app of DEMO_INSTANCES) {
      expect(await portFree(app.appPort)).toBe(true);
      expect(await portFree(app.inbound)).toBe(true);
    }
  }, 40_000);

  it('rejects a bad flag value with exit 2', async () => {
    const r = runCli(['demo', '--rps', 'lots']);
    expect(await r.exited).toBe(2);
    expect(r.output.stderr).toBe("meshlight demo: --rps must be a positive whole number, got 'lots'\n");
  });
});
