// What meshlight's own HTTP/1.1 engine does that node:http and undici did not, or did wrong: refusals that
// are logged and counted, limits on header count, heads parsed as strictly from upstreams as from clients,
// stalled bodies cut, the keep-alive race replayed, upgrades tunnelled, HTTP/2 prior knowledge told apart.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, startRawUpstream, startUpstream, type Upstream } from './helpers/net.js';
import { sample } from './helpers/metrics-text.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { flagOf, RawConn, statusOf } from './helpers/raw-conn.js';

type Raw = { port: number; close(): Promise<void> };

describe('the HTTP/1.1 engine', () => {
  let proxy: ProxyProcess;
  let echo: Upstream;
  let raw: Raw;
  let racy: Raw;
  let racyConnections = 0;
  let ws: Raw;
  let logFile: string;

  beforeAll(async () => {
    echo = await startUpstream('echo', (req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(JSON.stringify({ url: req.url, host: req.headers.host ?? null, bytes: n, te: req.headers['transfer-encoding'] ?? null })));
    });
    // Misbehaving answers, one per connection, by path.
    raw = await startRawUpstream((s) =>
      s.once('data', (d: Buffer) => {
        const path = /^[A-Z]+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '';
        if (path === '/bare-cr') s.end('HTTP/1.1 200 OK\r\rContent-Length: 4\r\n\r\nsure');
        else if (path === '/unsolicited-100') s.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal');
        else if (path === '/204-length') s.end('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
        else if (path === '/chunked') s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
        else if (path === '/stall') s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this');
        else s.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n');
      }),
    );
    // Answers the first request of a connection and keeps it open; a second request on it finds it closed
    // unanswered, as when a server's keep-alive timeout fires just as the proxy reuses the connection.
    racy = await startRawUpstream((s) => {
      racyConnections++;
      let n = 0;
      s.on('data', () => {
        if (n++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else s.destroy();
      });
    });
    // A WebSocket-like upstream: 101, then it echoes every byte in upper case.
    ws = await startRawUpstream((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        s.on('data', (d: Buffer) => s.write(d.toString('latin1').toUpperCase()));
      }),
    );
    logFile = join(await mkdtemp(join(tmpdir(), 'meshlight-engine-')), 'access.log');
    proxy = await startProxy({
      files: {
        'mesh.yaml': [
          meshService('echo', [echo.port]),
          meshService('raw', [raw.port]),
          meshService('racy', [racy.port]),
          meshService('ws', [ws.port]),
        ].join('---\n'),
      },
      args: ['--access-log', logFile, '--stream-idle-timeout', '1s', '--request-headers-timeout', '1s'],
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([echo?.close(), raw?.close(), racy?.close(), ws?.close()]);
  });

  const accessLog = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(logFile, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

  it('logs and counts what it refuses itself, with the DPE flag, as Envoy does', async () => {
    const refused = [
      ['GET /a#frag HTTP/1.1\r\nHost: echo\r\n\r\n', 400],
      ['get / HTTP/1.1\r\nHost: echo\r\n\r\n', 400],
      ['GET / HTTP/1.2\r\nHost: echo\r\n\r\n', 505],
      ['CONNECT echo:443 HTTP/1.1\r\nHost: echo:443\r\n\r\n', 405],
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
      [`GET /many HTTP/1.1\r\nHost: echo\r\n${'x-filler: 1\r\n'.repeat(2_100)}Content-Length: 5\r\n\r\nhello`, 431],
    ] as const;
    for (const [request, status] of refused) {
      const answer = await rawExchange(proxy.outbound, request);
      expect(statusOf(answer), request.slice(0, 40)).toBe(status);
      expect(flagOf(answer)).toBe('DPE');
      expect(answer.toLowerCase()).toContain('\r\nconnection: close\r\n');
    }
    expect(echo.seen.map((r) => r.url)).not.toContain('/many');
    await eventually(async () => (await accessLog()).filter((l) => l['response_flags'] === 'DPE').length >= refused.length, 3_000, 'a log line per refusal');
    const lines = (await accessLog()).filter((l) => l['response_flags'] === 'DPE');
    expect(lines.map((l) => l['response_code']).sort()).toEqual(refused.map(([, s]) => s).sort());
    expect(lines.find((l) => l['response_code'] === 405)?.['method']).toBe('CONNECT');
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text();
    expect(sample(metrics, 'mesh_requests_total', { response_code: '431', response_flags: 'DPE' })).toBe(1);
    // The HTTP/2 preface's PRI is no HTTP/1.1 method: counted as OTHER, beside HTTP/1.2's GET.
    expect(sample(metrics, 'mesh_requests_total', { response_code: '505', response_flags: 'DPE', method: 'OTHER' })).toBe(1);
  });

  it('answers a head that stalls with 408, logged with DPE', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /slow HTTP/1.1\r\nHost: ec');
      const t0 = Date.now();
      await w.until(() => false, 4_000);
      expect(w.closed).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(statusOf(w.data)).toBe(408);
      expect(flagOf(w.data)).toBe('DPE');
    } finally {
      w.close();
    }
    await eventually(async () => (await accessLog()).some((l) => l['response_code'] === 408 && l['path'] === '/slow'), 3_000, 'the 408 in the access log');
  });

  it('keeps the client Host when Connection names it, and forwards no 204 Content-Length', async () => {
    const a = JSON.parse((await rawExchange(proxy.outbound, 'GET /h HTTP/1.1\r\nHost: echo\r\nConnection: host\r\n\r\n')).split('\r\n\r\n')[1]!) as { host: string };
    expect(a.host).toBe('echo');
    const b = await rawExchange(proxy.outbound, 'GET /204-length HTTP/1.1\r\nHost: raw\r\n\r\n');
    expect(statusOf(b)).toBe(204);
    expect(b.toLowerCase()).not.toContain('content-length');
  });

  it('parses upstream answers as strictly as requests, and drops an unsolicited 100 Continue', async () => {
    const bare = await rawExchange(proxy.outbound, 'GET /bare-cr HTTP/1.1\r\nHost: raw\r\n\r\n');
    expect(statusOf(bare)).toBe(502);
    expect(flagOf(bare)).toBe('UPE');
    const final = await rawExchange(proxy.outbound, 'GET /unsolicited-100 HTTP/1.1\r\nHost: raw\r\n\r\n');
    expect(final).toMatch(/^HTTP\/1\.1 200 /);
    expect(final).not.toContain('100 Continue');
    expect(final.endsWith('final')).toBe(true);
  });

  it('keeps an HTTP/1.0 client that asks for keep-alive, and says so', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /k1 HTTP/1.0\r\nHost: echo\r\nConnection: keep-alive\r\n\r\n');
      const first = await w.until((d) => d.includes('"/k1"'));
      expect(first.toLowerCase()).toContain('\r\nconnection: keep-alive\r\n');
      w.write('GET /k2 HTTP/1.0\r\nHost: echo\r\n\r\n');
      expect(await w.until((d) => d.includes('"/k2"'))).toContain('"/k2"');
      await w.until(() => false, 2_000);
      expect(w.closed).toBe(true); // the second did not ask: closed after its answer
    } finally {
      w.close();
    }
  });

  it('gives an HTTP/1.0 client a chunked answer as its payload, ended by the close', async () => {
    const answer = await rawExchange(proxy.outbound, 'GET /chunked HTTP/1.0\r\nHost: raw\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).not.toContain('transfer-encoding');
    expect(answer.split('\r\n\r\n')[1]).toBe('hello world');
  });

  it('counts the payload of a chunked upload in bytes_received', async () => {
    const answer = await rawExchange(proxy.outbound, 'POST /up HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n');
    expect(JSON.parse(answer.split('\r\n\r\n')[1]!)).toMatchObject({ bytes: 7, te: 'chunked' });
    await eventually(async () => (await accessLog()).some((l) => l['path'] === '/up' && l['bytes_received'] === 7), 3_000, 'bytes_received 7');
  });

  it('cuts a download that stalls mid-body after the stream idle timeout, flag SI', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /stall HTTP/1.1\r\nHost: raw\r\n\r\n');
      await w.until(() => false, 5_000);
      expect(w.closed).toBe(true);
      expect(w.data).toMatch(/^HTTP\/1\.1 200 /);
      expect(w.data.endsWith('only-this')).toBe(true);
    } finally {
      w.close();
    }
    await eventually(async () => (await accessLog()).some((l) => l['path'] === '/stall' && l['response_flags'] === 'SI'), 3_000, 'SI in the access log');
  });

  it('answers an upload that stalls mid-body with 408 SI and cuts its upstream call', async () => {
    const before = echo.seen.length;
    const w = new RawConn(proxy.outbound);
    try {
      w.write('POST /stalled-upload HTTP/1.1\r\nHost: echo\r\nContent-Length: 100\r\n\r\nhalf');
      await w.until(() => false, 5_000);
      expect(statusOf(w.data)).toBe(408);
      expect(flagOf(w.data)).toBe('SI');
      expect(w.closed).toBe(true);
    } finally {
      w.close();
    }
    expect(echo.seen.length).toBe(before + 1);
  });

  it('sends again, on a new connection, a request that met a keep-alive connection the upstream had just closed', async () => {
    const first = await rawExchange(proxy.outbound, 'GET /one HTTP/1.1\r\nHost: racy\r\n\r\n', 300);
    expect(first.endsWith('ok')).toBe(true);
    const second = await rawExchange(proxy.outbound, 'GET /two HTTP/1.1\r\nHost: racy\r\n\r\n', 300);
    expect(statusOf(second)).toBe(200);
    expect(second.endsWith('ok')).toBe(true);
    expect(racyConnections).toBe(2);
  });

  it('tunnels an upgrade after the upstream agrees (101), both ways', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /chat HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await w.until((d) => d.includes('\r\n\r\n'));
      expect(w.data).toMatch(/^HTTP\/1\.1 101 /);
      expect(w.data.toLowerCase()).toContain('\r\nupgrade: websocket\r\n');
      w.write('hello tunnel');
      expect(await w.until((d) => d.includes('HELLO TUNNEL'))).toContain('HELLO TUNNEL');
    } finally {
      w.close();
    }
    await eventually(async () => (await accessLog()).some((l) => l['path'] === '/chat' && l['response_code'] === 101), 3_000, 'the tunnel in the access log');
  });

  it('serves an h2c upgrade request as HTTP/1.1, and the request pipelined behind it too', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /u1 HTTP/1.1\r\nHost: echo\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nGET /u2 HTTP/1.1\r\nHost: echo\r\n\r\n');
      const data = await w.until((d) => d.includes('"/u2"'));
      expect(data).toContain('"/u1"');
      expect(data).toContain('"/u2"');
      expect(data).not.toContain('101');
    } finally {
      w.close();
    }
  });
});
