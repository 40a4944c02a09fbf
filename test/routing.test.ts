// What an app sees when it calls other services through its sidecar: which names reach a service,
// which HTTPRoute rule wins, traffic splits, filters, timeouts and the headers the upstream gets.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, ProxyAgent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, freePort, rawExchange, startRawUpstream, startUpstream, type Upstream } from './helpers/net.js';
import { httpRoute, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Echo {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** An upstream answering with what it received, as JSON, plus `x-upstream` and `x-drop` headers. */
function echoUpstream(name: string): Promise<Upstream> {
  return startUpstream(name, (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('x-upstream', name);
      res.setHeader('x-drop', 'yes');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, method: req.method ?? '', url: req.url ?? '', headers: req.headers } satisfies Echo));
    });
  });
}

/** Starts one echo upstream per name, each behind a MeshService of that name. */
async function echoServices(names: readonly string[]): Promise<{ ups: Map<string, Upstream>; yaml: string }> {
  const ups = new Map<string, Upstream>();
  for (const n of names) ups.set(n, await echoUpstream(n));
  const yaml = names.map((n) => meshService(n, [ups.get(n)!.port])).join('---\n');
  return { ups, yaml };
}

const route = (service: string, rules: string): string => httpRoute(service, service, rules);

/** A request through the proxy with headers; body parsed as Echo when it is one. */
async function send(
  port: number,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; echo: Echo | undefined }> {
  const res = await undiciRequest(`http://127.0.0.1:${port}${path}`, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: { host, ...opts.headers },
  });
  const body = await res.body.text();
  let echo: Echo | undefined;
  if (String(res.headers['content-type']).startsWith('application/json')) echo = JSON.parse(body) as Echo;
  return { status: res.statusCode, headers: res.headers, body, echo };
}

const closeAll = async (ups: Iterable<Upstream>): Promise<void> => {
  for (const u of ups) await u.close();
};

describe('service addressing', () => {
  let proxy: ProxyProcess;
  let orders: Upstream;
  let a: Upstream;
  let b: Upstream;

  beforeAll(async () => {
    orders = await echoUpstream('orders');
    a = await echoUpstream('a');
    b = await echoUpstream('b');
    proxy = await startProxy({
      files: {
        'mesh.yaml': [meshService('orders', [orders.port]), meshService('pair', [a.port, b.port]), meshService('empty', [])].join('---\n'),
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await closeAll([orders, a, b].filter(Boolean));
  });

  const names = ['orders', 'orders.default', 'orders.default.svc', 'orders.default.svc.cluster.local'];
  for (const name of names) {
    for (const host of [name, `${name}:80`]) {
      it(`reaches a service addressed by Host: ${host}`, async () => {
        const r = await call(proxy.outbound, host, '/by-host');
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body)).toMatchObject({ name: 'orders', url: '/by-host' });
      });
    }
  }

  it('does not answer for another port or another namespace', async () => {
    for (const host of ['orders:81', 'orders.other', 'orders.default.svc.cluster']) {
      const r = await call(proxy.outbound, host);
      expect(r.status, host).toBe(404);
      expect(r.headers['x-meshlight-flags'], host).toBe('NR');
    }
  });

  it('routes an absolute-form target (HTTP_PROXY clients) by its authority, not the Host header', async () => {
    const raw = await rawExchange(proxy.outbound, 'GET http://orders.default.svc.cluster.local:80/abs?x=1 HTTP/1.1\r\nHost: nowhere\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    const echo = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echo;
    expect(echo.name).toBe('orders');
    expect(echo.url).toBe('/abs?x=1');
    expect(echo.headers['host']).toBe('orders.default.svc.cluster.local:80');
  });

  it('takes the absolute-form scheme in any case', async () => {
    const raw = await rawExchange(proxy.outbound, 'GET HTTP://Orders.default/abs HTTP/1.1\r\nHost: nowhere\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect((JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echo).url).toBe('/abs');
  });

  it('works for an undici ProxyAgent without tunnelling (HTTP_PROXY=http://127.0.0.1:15001)', async () => {
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxy.outbound}`, proxyTunnel: false });
    try {
      const res = await undiciRequest('http://orders/via-agent', { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect((await res.body.json()) as Echo).toMatchObject({ name: 'orders', url: '/via-agent' });
    } finally {
      await agent.close();
    }
  });

  it('answers an unknown host with 404, flag NR and a body naming the host', async () => {
    const r = await call(proxy.outbound, 'nosuch.default');
    expect(r.status).toBe(404);
    expect(r.headers['x-meshlight-flags']).toBe('NR');
    expect(r.body).toContain('nosuch.default');
  });

  it('sends a service without HTTPRoute to its endpoints, round robin', async () => {
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await call(proxy.outbound, 'pair', '/rr');
      expect(r.status).toBe(200);
      got.push(r.headers['x-upstream'] as string);
    }
    expect(got.filter((n) => n === 'a')).toHaveLength(3);
    expect(got.filter((n) => n === 'b')).toHaveLength(3);
    for (let i = 1; i < got.length; i++) expect(got[i]).not.toBe(got[i - 1]);
  });

  it('answers 503 with flag UH for a service that has no endpoints', async () => {
    const r = await call(proxy.outbound, 'empty');
    expect(r.status).toBe(503);
    expect(r.headers['x-meshlight-flags']).toBe('UH');
  });
});

describe('HTTPRoute matching and precedence', () => {
  let proxy: ProxyProcess;
  let ups: Map<string, Upstream>;
  const backends = ['exact', 'prefix-api', 'prefix-api-v2', 'regex', 'hdr1', 'hdr2', 'h-plain', 'query', 'q-plain', 'post', 'm-any'];

  beforeAll(async () => {
    const s = await echoServices(backends);
    ups = s.ups;
    const rules = `    - matches: [{path: {type: PathPrefix, value: /api}}]
      backendRefs: [{name: prefix-api}]
    - matches: [{path: {type: PathPrefix, value: /api/v2}}]
      backendRefs: [{name: prefix-api-v2}]
    - matches: [{path: {type: Exact, value: /api/v2/items}}]
      backendRefs: [{name: exact}]
    - matches: [{path: {type: RegularExpression, value: "/re/[0-9]+"}}]
      backendRefs: [{name: regex}]
    - matches: [{path: {type: PathPrefix, value: /h}}]
      backendRefs: [{name: h-plain}]
    - matches: [{path: {type: PathPrefix, value: /h}, headers: [{name: x-tier, value: gold}]}]
      backendRefs: [{name: hdr1}]
    - matches: [{path: {type: PathPrefix, value: /h}, headers: [{name: x-tier, value: gold}, {name: x-region, type: RegularExpression, value: "eu-.*"}]}]
      backendRefs: [{name: hdr2}]
    - matches: [{path: {type: PathPrefix, value: /q}}]
      backendRefs: [{name: q-plain}]
    - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: beta, value: "1"}]}]
      backendRefs: [{name: query}]
    - matches: [{path: {type: PathPrefix, value: /m}}]
      backendRefs: [{name: m-any}]
    - matches: [{path: {type: PathPrefix, value: /m}, method: POST}]
      backendRefs: [{name: post}]
`;
    proxy = await startProxy({ files: { 'mesh.yaml': `${s.yaml}---\n${meshService('api', [])}`, 'route.yaml': route('api', rules) } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await closeAll(ups?.values() ?? []);
  });

  const to = async (path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<string> => {
    const r = await send(proxy.outbound, 'api', path, opts);
    return r.status === 200 ? r.echo!.name : `${r.status} ${String(r.headers['x-meshlight-flags'])}`;
  };

  it('PathPrefix matches whole segments, the longest prefix wins, Exact beats both', async () => {
    expect(await to('/api')).toBe('prefix-api');
    expect(await to('/api/')).toBe('prefix-api');
    expect(await to('/api/x')).toBe('prefix-api');
    expect(await to('/apix')).toBe('404 NR');
    expect(await to('/api/v2')).toBe('prefix-api-v2');
    expect(await to('/api/v2/other')).toBe('prefix-api-v2');
    expect(await to('/api/v2x')).toBe('prefix-api');
    expect(await to('/api/v2/items')).toBe('exact');
    expect(await to('/api/v2/items?page=2')).toBe('exact');
    expect(await to('/api/v2/items/1')).toBe('prefix-api-v2');
  });

  it('RegularExpression must match the whole path', async () => {
    expect(await to('/re/123')).toBe('regex');
    expect(await to('/re/123/x')).toBe('404 NR');
    expect(await to('/x/re/123')).toBe('404 NR');
    expect(await to('/re/abc')).toBe('404 NR');
  });

  it('on equal paths the rule with more header matches wins; header names are case-insensitive', async () => {
    expect(await to('/h')).toBe('h-plain');
    expect(await to('/h/1', { headers: { 'X-Tier': 'gold' } })).toBe('hdr1');
    expect(await to('/h/1', { headers: { 'x-tier': 'gold', 'x-region': 'eu-west' } })).toBe('hdr2');
    expect(await to('/h/1', { headers: { 'x-tier': 'gold', 'x-region': 'us-east' } })).toBe('hdr1');
    expect(await to('/h/1', { headers: { 'x-tier': 'silver', 'x-region': 'eu-west' } })).toBe('h-plain');
  });

  it('query parameter matches', async () => {
    expect(await to('/q?beta=1')).toBe('query');
    expect(await to('/q?a=b&beta=1')).toBe('query');
    expect(await to('/q?beta=2')).toBe('q-plain');
    expect(await to('/q')).toBe('q-plain');
  });

  it('method matches win over a rule without one', async () => {
    expect(await to('/m', { method: 'POST' })).toBe('post');
    expect(await to('/m', { method: 'GET' })).toBe('m-any');
    expect(await to('/m', { method: 'PUT' })).toBe('m-any');
  });

  it('answers 404 NR when no rule matches, naming the service and path', async () => {
    const r = await send(proxy.outbound, 'api', '/nothing-here');
    expect(r.status).toBe(404);
    expect(r.headers['x-meshlight-flags']).toBe('NR');
    expect(r.body).toContain('/nothing-here');
    for (const u of ups.values()) expect(u.seen.some((s) => s.url === '/nothing-here')).toBe(false);
  });
});

describe('weighted backendRefs', () => {
  let proxy: ProxyProcess;
  let ups: Map<string, Upstream>;

  beforeAll(async () => {
    const s = await echoServices(['w80', 'w20', 'live', 'never']);
    ups = s.ups;
    proxy = await startProxy({
      files: {
        'mesh.yaml': [s.yaml, meshService('split', []), meshService('zero', []), meshService('allzero', [])].join('---\n'),
        'split.yaml': route('split', '    - backendRefs: [{name: w80, weight: 80}, {name: w20, weight: 20}]\n'),
        'zero.yaml': route('zero', '    - backendRefs: [{name: live, weight: 1}, {name: never, weight: 0}]\n'),
        'allzero.yaml': route('allzero', '    - backendRefs: [{name: live, weight: 0}, {name: never, weight: 0}]\n'),
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await closeAll(ups?.values() ?? []);
  });

  async function spread(host: string, n: number): Promise<Map<string, number>> {
    const pool = new Pool(`http://127.0.0.1:${proxy.outbound}`, { connections: 16 });
    const counts = new Map<string, number>();
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < n) {
          next++;
          const res = await pool.request({ path: '/', method: 'GET', headers: { host } });
          await res.body.dump();
          const key = res.statusCode === 200 ? String(res.headers['x-upstream']) : String(res.statusCode);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    } finally {
      await pool.close();
    }
    return counts;
  }

  it('splits 80/20 over 1000 requests within 5 points', async () => {
    const counts = await spread('split', 1000);
    const w80 = counts.get('w80') ?? 0;
    const w20 = counts.get('w20') ?? 0;
    expect(w80 + w20).toBe(1000);
    expect(w80).toBeGreaterThanOrEqual(750);
    expect(w80).toBeLessThanOrEqual(850);
  });

  it('never sends traffic to a backend of weight 0', async () => {
    const counts = await spread('zero', 200);
    expect(counts.get('live')).toBe(200);
    expect(ups.get('never')!.seen).toHaveLength(0);
  });

  it('answers 500 when every backend weighs 0, calling nobody', async () => {
    const before = ups.get('live')!.seen.length;
    const r = await call(proxy.outbound, 'allzero');
    expect(r.status).toBe(500);
    expect(r.headers['x-meshlight-flags']).toBe('NR');
    expect(ups.get('live')!.seen.length).toBe(before);
    expect(ups.get('never')!.seen).toHaveLength(0);
  });
});

describe('route filters and timeouts', () => {
  let proxy: ProxyProcess;
  let ups: Map<string, Upstream>;
  let slow: Upstream;

  beforeAll(async () => {
    const s = await echoServices(['hdr', 'rw', 'target']);
    ups = s.ups;
    slow = await startUpstream('slow', (req, res) => {
      req.resume();
      const t = setTimeout(() => res.end('too late'), 10_000);
      res.on('close', () => clearTimeout(t));
    });
    const rules = `    - matches: [{path: {type: PathPrefix, value: /reqhdr}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{name: x-set, value: from-route}]
            add: [{name: x-add, value: added}]
            remove: [x-remove]
      backendRefs: [{name: hdr}]
    - matches: [{path: {type: PathPrefix, value: /resphdr}}]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{name: x-upstream, value: rewritten}]
            add: [{name: x-extra, value: "1"}]
            remove: [x-drop]
      backendRefs: [{name: hdr}]
    - matches: [{path: {type: PathPrefix, value: /old}}]
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
      backendRefs: [{name: rw}]
    - matches: [{path: {type: Exact, value: /full}}]
      filters:
        - type: URLRewrite
          urlRewrite: {hostname: rewritten.example, path: {type: ReplaceFullPath, replaceFullPath: /replaced}}
      backendRefs: [{name: rw}]
    - matches: [{path: {type: PathPrefix, value: /redir}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {hostname: elsewhere.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /moved}, statusCode: 301}
      backendRefs: [{name: target}]
    - matches: [{path: {type: PathPrefix, value: /found}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {scheme: https}
      backendRefs: [{name: target}]
    - matches: [{path: {type: PathPrefix, value: /slow}}]
      timeouts: {request: 300ms}
      backendRefs: [{name: slow}]
`;
    proxy = await startProxy({
      files: { 'mesh.yaml': [s.yaml, meshService('slow', [slow.port]), meshService('web', [])].join('---\n'), 'route.yaml': route('web', rules) },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await closeAll([...(ups?.values() ?? []), slow].filter(Boolean));
  });

  it('RequestHeaderModifier sets, adds and removes what the upstream sees', async () => {
    const r = await send(proxy.outbound, 'web', '/reqhdr', { headers: { 'x-set': 'client', 'x-add': 'client', 'x-remove': 'secret', 'x-other': 'kept' } });
    expect(r.status).toBe(200);
    const h = r.echo!.headers;
    expect(h['x-set']).toBe('from-route');
    expect(h['x-add']).toBe('client, added');
    expect(h['x-remove']).toBeUndefined();
    expect(h['x-other']).toBe('kept');
  });

  it('ResponseHeaderModifier changes what the client sees', async () => {
    const r = await send(proxy.outbound, 'web', '/resphdr');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('rewritten');
    expect(r.headers['x-extra']).toBe('1');
    expect(r.headers['x-drop']).toBeUndefined();
    // The request side is untouched.
    expect(r.echo!.headers['x-extra']).toBeUndefined();
  });

  it('URLRewrite ReplacePrefixMatch keeps the rest of the path and the query', async () => {
    expect((await send(proxy.outbound, 'web', '/old/items/7?x=1')).echo!.url).toBe('/new/items/7?x=1');
    expect((await send(proxy.outbound, 'web', '/old')).echo!.url).toBe('/new');
    expect((await send(proxy.outbound, 'web', '/old/')).echo!.url).toBe('/new/');
  });

  it('URLRewrite ReplaceFullPath and hostname change what the upstream sees', async () => {
    const r = await send(proxy.outbound, 'web', '/full?q=2');
    expect(r.status).toBe(200);
    expect(r.echo!.name).toBe('rw');
    expect(r.echo!.url).toBe('/replaced?q=2');
    expect(r.echo!.headers['host']).toBe('rewritten.example');
  });

  it('RequestRedirect answers itself with the status and Location, never calling the backend', async () => {
    const r = await send(proxy.outbound, 'web', '/redir/a/b?y=1');
    expect(r.status).toBe(301);
    expect(r.headers['location']).toBe('http://elsewhere.example/moved/a/b?y=1');
    const r2 = await send(proxy.outbound, 'web:80', '/found/x');
    expect(r2.status).toBe(302);
    expect(r2.headers['location']).toBe('https://web/found/x');
    expect(ups.get('target')!.seen).toHaveLength(0);
  });

  it('timeouts.request answers 504 with flag UT in time when the upstream is slow', async () => {
    const t0 = Date.now();
    const r = await send(proxy.outbound, 'web', '/slow');
    const ms = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(r.headers['x-meshlight-flags']).toBe('UT');
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(5_000); // the upstream takes 10 s: a generous bound for a busy machine
    expect(slow.seen).toHaveLength(1);
  });
});

describe('headers the upstream gets', () => {
  let proxy: ProxyProcess;
  let orders: Upstream;
  let hoppy: { port: number; close(): Promise<void> };

  beforeAll(async () => {
    orders = await echoUpstream('orders');
    hoppy = await startRawUpstream((s) =>
      s.on('data', () =>
        s.write(
          'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Upstream-Hop\r\nX-Upstream-Hop: 1\r\nKeep-Alive: timeout=5\r\n' +
            'Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
        ),
      ),
    );
    proxy = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [orders.port])}---\n${meshService('hoppy', [hoppy.port])}` } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await orders?.close();
    await hoppy?.close();
  });

  it('strips hop-by-hop headers from the response too, including those the upstream named in Connection', async () => {
    const r = await call(proxy.outbound, 'hoppy');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(r.headers['x-kept']).toBe('yes');
    for (const name of ['x-upstream-hop', 'proxy-connection', 'upgrade']) expect(r.headers[name], name).toBeUndefined();
    expect(String(r.headers['connection'] ?? '')).not.toMatch(/x-upstream-hop/i);
    expect(String(r.headers['keep-alive'] ?? '')).not.toBe('timeout=5');
  });

  it('strips hop-by-hop headers, including those named in Connection', async () => {
    const raw = await rawExchange(
      proxy.outbound,
      'GET /hop HTTP/1.1\r\nHost: orders\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n' +
        'TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nX-Kept: yes\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    const h = (JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echo).headers;
    expect(h['x-kept']).toBe('yes');
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'proxy-authorization']) {
      expect(h[name], name).toBeUndefined();
    }
    expect(String(h['connection'] ?? '')).not.toMatch(/secret|close/i);
  });

  it('appends to x-forwarded-for, sets x-forwarded-proto and generates an x-request-id UUID', async () => {
    const r = await send(proxy.outbound, 'orders', '/xff', { headers: { 'x-forwarded-for': '10.1.2.3' } });
    const h = r.echo!.headers;
    expect(h['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-request-id']).toMatch(UUID);
    const again = await send(proxy.outbound, 'orders', '/xff');
    expect(again.echo!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(again.echo!.headers['x-request-id']).toMatch(UUID);
    expect(again.echo!.headers['x-request-id']).not.toBe(h['x-request-id']);
  });

  it('keeps an x-request-id and x-forwarded-proto the client sent', async () => {
    const r = await send(proxy.outbound, 'orders', '/rid', { headers: { 'x-request-id': 'abc-123', 'x-forwarded-proto': 'https' } });
    expect(r.echo!.headers['x-request-id']).toBe('abc-123');
    expect(r.echo!.headers['x-forwarded-proto']).toBe('https');
  });
});

describe('inbound listener', () => {
  let proxy: ProxyProcess;
  let app: Upstream;

  beforeAll(async () => {
    app = await echoUpstream('app');
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]) }, service: 'orders', appPort: app.port });
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  it('forwards calls into the app to 127.0.0.1:<app-port>, whatever the Host', async () => {
    const r = await send(proxy.inbound, 'orders.default.svc.cluster.local', '/in?x=1', { method: 'POST', headers: { 'x-caller': 'frontend' } });
    expect(r.status).toBe(200);
    expect(r.echo).toMatchObject({ name: 'app', method: 'POST', url: '/in?x=1' });
    expect(r.echo!.headers['x-caller']).toBe('frontend');
    expect(r.echo!.headers['x-forwarded-for']).toBe('127.0.0.1');
    const other = await send(proxy.inbound, 'something-else', '/other');
    expect(other.echo).toMatchObject({ name: 'app', url: '/other' });
  });
});

/** Like `route`, with a route name of its own, for more than one route per service. */
const namedRoute = httpRoute;

/** Where a request lands: the upstream's name, or `status flag` when the proxy answered itself. */
async function landsOn(port: number, host: string, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<string> {
  const r = await send(port, host, path, opts);
  return r.status === 200 ? r.echo!.name : `${r.status} ${String(r.headers['x-meshlight-flags'])}`;
}

async function seenBy(port: number, host: string, path: string): Promise<Echo> {
  const r = await send(port, host, path);
  expect(r.status, `${host}${path}: ${r.body}`).toBe(200);
  return r.echo!;
}

describe('service names across namespaces and ports (--namespace)', () => {
  let proxy: ProxyProcess;
  let orders: Upstream;
  let payments: Upstream;

  beforeAll(async () => {
    orders = await echoUpstream('orders');
    payments = await echoUpstream('payments');
    proxy = await startProxy({
      files: {
        'mesh.yaml': [meshService('orders', [orders.port], { port: 8080 }), meshService('payments', [payments.port], { namespace: 'billing' })].join('---\n'),
      },
      args: ['--namespace', 'billing'],
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await orders?.close();
    await payments?.close();
  });

  it('resolves bare names in the sidecar namespace, qualified names in any, in any letter case', async () => {
    expect(await landsOn(proxy.outbound, 'payments', '/')).toBe('payments');
    expect(await landsOn(proxy.outbound, 'payments:80', '/')).toBe('payments');
    expect(await landsOn(proxy.outbound, 'Payments.Billing.SVC.cluster.local', '/')).toBe('payments');
    expect(await landsOn(proxy.outbound, 'orders.default', '/')).toBe('orders');
    expect(await landsOn(proxy.outbound, 'ORDERS.default.svc:8080', '/')).toBe('orders');
    // `orders` lives in default, this sidecar in billing: the bare name is someone else's.
    expect(await landsOn(proxy.outbound, 'orders', '/')).toBe('404 NR');
  });

  it('answers to the service port only', async () => {
    expect(await landsOn(proxy.outbound, 'orders.default:8080', '/')).toBe('orders');
    expect(await landsOn(proxy.outbound, 'orders.default:80', '/')).toBe('404 NR');
    expect(await landsOn(proxy.outbound, 'payments.billing:8080', '/')).toBe('404 NR');
  });
});

describe('HTTPRoute: more than one route, ORed matches, method before headers', () => {
  let proxy: ProxyProcess;
  const ups = new Map<string, Upstream>();

  beforeAll(async () => {
    for (const n of ['catchall', 'blog', 'either', 'get-only', 'headers2', 'cased']) ups.set(n, await echoUpstream(n));
    const services = [...ups.entries()].map(([n, u]) => meshService(n, [u.port]));
    // Two routes for one service: rules of both compete by precedence, not by file or route order.
    const first = namedRoute(
      'a-catchall',
      'site',
      `    - backendRefs: [{name: catchall}]
    - matches: [{path: {type: PathPrefix, value: /docs}}, {path: {type: Exact, value: /help}}]
      backendRefs: [{name: either}]
    - matches: [{path: {type: PathPrefix, value: /m}, headers: [{name: x-a, value: "1"}, {name: x-b, value: "2"}]}]
      backendRefs: [{name: headers2}]
    - matches: [{path: {type: PathPrefix, value: /m}, method: GET}]
      backendRefs: [{name: get-only}]
    - matches: [{path: {type: Exact, value: /cased}, headers: [{name: X-Env, value: Prod}]}]
      backendRefs: [{name: cased}]
`,
    );
    const second = namedRoute(
      'b-blog',
      'site',
      `    - matches: [{path: {type: PathPrefix, value: /blog/}}]
      backendRefs: [{name: blog}]
`,
    );
    proxy = await startProxy({ files: { 'mesh.yaml': [...services, meshService('site', [])].join('---\n'), 'a.yaml': first, 'b.yaml': second } });
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const u of ups.values()) await u.close();
  });

  it('a longer prefix in another route beats a catch-all rule; a trailing slash in the prefix changes nothing', async () => {
    expect(await landsOn(proxy.outbound, 'site', '/')).toBe('catchall');
    expect(await landsOn(proxy.outbound, 'site', '/blog')).toBe('blog');
    expect(await landsOn(proxy.outbound, 'site', '/blog/post-1')).toBe('blog');
    expect(await landsOn(proxy.outbound, 'site', '/blogroll')).toBe('catchall');
  });

  it('any one of a rule’s matches is enough', async () => {
    expect(await landsOn(proxy.outbound, 'site', '/docs/x')).toBe('either');
    expect(await landsOn(proxy.outbound, 'site', '/help')).toBe('either');
    expect(await landsOn(proxy.outbound, 'site', '/help/x')).toBe('catchall');
  });

  it('a method match outranks more header matches', async () => {
    expect(await landsOn(proxy.outbound, 'site', '/m', { headers: { 'x-a': '1', 'x-b': '2' } })).toBe('get-only');
    expect(await landsOn(proxy.outbound, 'site', '/m', { method: 'POST', headers: { 'x-a': '1', 'x-b': '2' } })).toBe('headers2');
    expect(await landsOn(proxy.outbound, 'site', '/m', { method: 'POST', headers: { 'x-a': '1' } })).toBe('catchall');
  });

  it('header names match in any case, header values exactly', async () => {
    expect(await landsOn(proxy.outbound, 'site', '/cased', { headers: { 'x-env': 'Prod' } })).toBe('cased');
    expect(await landsOn(proxy.outbound, 'site', '/cased', { headers: { 'X-ENV': 'Prod' } })).toBe('cased');
    expect(await landsOn(proxy.outbound, 'site', '/cased', { headers: { 'x-env': 'prod' } })).toBe('catchall');
  });
});

describe('URLRewrite prefix edge cases and timeouts.backendRequest', () => {
  let proxy: ProxyProcess;
  let rw: Upstream;
  let slow: Upstream;

  beforeAll(async () => {
    rw = await echoUpstream('rw');
    slow = await startUpstream('slow', (req, res) => {
      req.resume();
      const t = setTimeout(() => res.end('late'), 10_000);
      res.on('close', () => clearTimeout(t));
    });
    const rules = `    - matches: [{path: {type: PathPrefix, value: /strip}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
      backendRefs: [{name: rw}]
    - matches: [{path: {type: PathPrefix, value: /}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]
      backendRefs: [{name: rw}]
    - matches: [{path: {type: PathPrefix, value: /slow}}]
      timeouts: {request: 5s, backendRequest: 250ms}
      backendRefs: [{name: slow}]
`;
    proxy = await startProxy({
      files: { 'mesh.yaml': [meshService('rw', [rw.port]), meshService('slow', [slow.port]), meshService('edge', [])].join('---\n'), 'r.yaml': namedRoute('edge', 'edge', rules) },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await rw?.close();
    await slow?.close();
  });

  it('ReplacePrefixMatch "/" strips the prefix; a "/" prefix replaced puts the new prefix in front', async () => {
    expect((await seenBy(proxy.outbound, 'edge', '/strip/a/b?q=1')).url).toBe('/a/b?q=1');
    expect((await seenBy(proxy.outbound, 'edge', '/strip')).url).toBe('/');
    expect((await seenBy(proxy.outbound, 'edge', '/strip/')).url).toBe('/');
    expect((await seenBy(proxy.outbound, 'edge', '/items/7')).url).toBe('/v2/items/7');
    // As the Gateway API's table has it for `/foo/` matching `/foo/`: the trailing slash stays.
    expect((await seenBy(proxy.outbound, 'edge', '/')).url).toBe('/v2/');
  });

  it('timeouts.backendRequest, tighter than timeouts.request, answers 504 UT in time', async () => {
    const t0 = Date.now();
    const r = await call(proxy.outbound, 'edge', '/slow');
    const ms = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(r.headers['x-meshlight-flags']).toBe('UT');
    expect(ms).toBeGreaterThanOrEqual(230);
    expect(ms).toBeLessThan(5_000); // the upstream takes 10 s
  });
});

describe('inbound listener when the app is not listening', () => {
  let proxy: ProxyProcess;

  beforeAll(async () => {
    const appPort = await freePort();
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('orders', []) }, service: 'orders', appPort });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  it('answers 503 UF naming the app address, and keeps answering', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call(proxy.inbound, 'orders', '/down');
      expect(r.status).toBe(503);
      expect(r.headers['x-meshlight-flags']).toBe('UF');
      expect(r.body).toContain('127.0.0.1:');
    }
  });
});
