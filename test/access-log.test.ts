import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';

const FIELDS = ['start_time', 'method', 'authority', 'path', 'protocol', 'response_code', 'response_flags', 'bytes_received', 'bytes_sent',
  'duration_ms', 'upstream_host', 'upstream_service', 'route', 'source_service', 'request_id', 'trace_id', 'span_id', 'user_agent'];

type Line = Record<string, unknown>;

const lines = (text: string): Line[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);

describe('the JSON access log', () => {
  let app: Upstream;
  let caller: ProxyProcess;
  let callee: ProxyProcess;
  let calleeLog: string;

  beforeAll(async () => {
    app = await startUpstream('orders');
    calleeLog = join(await mkdtemp(join(tmpdir(), 'meshlight-log-')), 'access.log');
    callee = await startProxy({
      files: { 'mesh.yaml': `${meshService('orders', [1])}---\n${meshService('frontend', [1])}` },
      service: 'orders', appPort: app.port, args: ['--access-log', calleeLog],
    });
    caller = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [callee.inbound])}---\n${meshService('frontend', [1])}` }, service: 'frontend' });
  });

  afterAll(async () => {
    await caller?.stop();
    await callee?.stop();
    await app?.close();
  });

  it('writes every contract field on both sides of a call, with the request id carried across', async () => {
    expect((await call(caller.outbound, 'orders', '/list?page=2', 'GET', { 'user-agent': 'test-agent/1.0' })).body).toBe('orders');
    await eventually(() => caller.output.stdout.includes('"/list?page=2"'), 5_000, 'the caller log line');
    const out = lines(caller.output.stdout).find((l) => l['path'] === '/list?page=2')!;
    expect(Object.keys(out)).toEqual(expect.arrayContaining(FIELDS));
    expect(out).toMatchObject({
      reporter: 'source', method: 'GET', authority: 'orders', protocol: 'HTTP/1.1', response_code: 200, response_flags: '-',
      bytes_received: 0, bytes_sent: 6, upstream_host: `127.0.0.1:${callee.inbound}`, upstream_service: 'orders.default',
      route: 'default', source_service: 'frontend.default', user_agent: 'test-agent/1.0',
    });
    expect(new Date(out['start_time'] as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(out['duration_ms']).toBeGreaterThan(0);
    expect(out['request_id']).toMatch(/^[0-9a-f-]{36}$/);

    await eventually(async () => (await readFile(calleeLog, 'utf8').catch(() => '')).includes('/list?page=2'), 5_000, 'the callee log line');
    const inbound = lines(await readFile(calleeLog, 'utf8')).find((l) => l['path'] === '/list?page=2')!;
    expect(inbound).toMatchObject({
      reporter: 'destination', source_service: 'frontend.default', response_code: 200, upstream_host: `127.0.0.1:${app.port}`,
      request_id: out['request_id'], route: '-',
    });
  });

  it('logs a rewritten request as the client sent it: authority and path both', async () => {
    const route = 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: rw}\nspec:\n  parentRefs: [{kind: Service, name: orders, port: 80}]\n' +
      '  rules:\n  - matches: [{path: {type: PathPrefix, value: /old}}]\n    filters: [{type: URLRewrite, urlRewrite: {hostname: elsewhere, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]\n' +
      '    backendRefs: [{name: orders, port: 80}]\n  - backendRefs: [{name: orders, port: 80}]\n'; // the rest as before, for the tests after this one
    await writeFile(join(caller.configDir, 'route.yaml'), route);
    await eventually(async () => JSON.stringify(await (await fetch(`http://127.0.0.1:${caller.admin}/config_dump`)).json()).includes('"rw"'), 5_000, 'the reload');
    expect((await call(caller.outbound, 'orders', '/old/x')).status).toBe(200);
    await eventually(() => caller.output.stdout.includes('"/old/x"'), 5_000, 'the rewritten request logged');
    expect(lines(caller.output.stdout).find((l) => l['path'] === '/old/x')).toMatchObject({ authority: 'orders', route: 'rw.0' });
    await eventually(async () => (await readFile(calleeLog, 'utf8')).includes('/new/x'), 5_000, 'the callee logs what it got');
    expect(lines(await readFile(calleeLog, 'utf8')).find((l) => l['path'] === '/new/x')).toMatchObject({ authority: 'elsewhere' });
  });

  it('logs local answers with their response flag', async () => {
    expect((await call(caller.outbound, 'nowhere', '/')).status).toBe(404);
    await eventually(() => caller.output.stdout.includes('"nowhere"'), 5_000, 'the 404 log line');
    expect(lines(caller.output.stdout).find((l) => l['authority'] === 'nowhere')).toMatchObject({ response_code: 404, response_flags: 'NR', upstream_host: null });
  });

  it('continues in a new file after logrotate moves it and sends SIGUSR1', async () => {
    await rename(calleeLog, `${calleeLog}.1`);
    callee.proc.kill('SIGUSR1');
    await eventually(async () => (await readFile(calleeLog, 'utf8').catch(() => null)) !== null, 5_000, 'the reopened file');
    await fetch(`http://127.0.0.1:${callee.inbound}/after-rotate`).then((r) => r.text());
    await eventually(async () => (await readFile(calleeLog, 'utf8')).includes('/after-rotate'), 5_000, 'a line in the new file');
    expect(await readFile(`${calleeLog}.1`, 'utf8')).not.toContain('/after-rotate');
  });

  it('is turned off by Telemetry accessLog.enabled: false, live', async () => {
    await writeFile(join(caller.configDir, 'telemetry.yaml'), 'apiVersion: meshlight.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: quiet}\nspec: {accessLog: {enabled: false}}\n');
    await eventually(async () => JSON.stringify(await (await fetch(`http://127.0.0.1:${caller.admin}/config_dump`)).json()).includes('"quiet"'), 5_000, 'the reload');
    expect((await call(caller.outbound, 'orders', '/silent')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(caller.output.stdout).not.toContain('/silent');
  });
});
