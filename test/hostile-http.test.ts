// Clients and upstreams that break the rules, spoken to over raw sockets: the sidecar answers each with
// a clear status and flag, keeps serving everyone else, and leaks no file descriptors.
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, freePort, rawExchange, startRawUpstream, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { flagOf, parseResponses, RawConn, statusOf } from './helpers/raw-conn.js';

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
const fdCount = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;
/** The body of the first response in `raw`: the one-line reason of a local answer. */
const bodyOf = (raw: string): string => raw.slice(raw.indexOf('\r\n\r\n') + 4).split('HTTP/1.1 ')[0]!;
/** A local answer the user can act on: the DPE flag, and a reason that names what was wrong. */
function expectDpe(raw: string, status: number, reason: RegExp, what = ''): void {
  expect(statusOf(raw), what).toBe(status);
  expect(flagOf(raw), what).toBe('DPE');
  expect(bodyOf(raw), what).toMatch(reason);
}

describe('hostile HTTP', () => {
  let proxy: ProxyProcess;
  let ok: Upstream;
  let other: Upstream;
  let smuggle: Upstream;
  let status: Upstream;
  let garbage: { port: number; close(): Promise<void> };
  let reset: { port: number; close(): Promise<void> };
  let deadPort: number;
  let fdsAtStart = 0;

  beforeAll(async () => {
    ok = await startUpstream('ok');
    other = await startUpstream('other');
    smuggle = await startUpstream('smuggle');
    status = await startUpstream('status', (req, res) => {
      req.resume();
      req.on('end', () => {
        const url = req.url ?? '/';
        if (url === '/204') {
          res.writeHead(204, { 'x-kind': 'no-content' }).end();
        } else if (url === '/304') {
          res.writeHead(304, { etag: '"v1"' }).end();
        } else if (url.startsWith('/p')) {
          // Later requests answer sooner, so a proxy that answered out of order would show it.
          const delay = 150 - Number(url.slice(2)) * 50;
          setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`body of ${url}`), delay);
        } else {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' }).end('hello');
        }
      });
    });
    garbage = await startRawUpstream((s) =>
      s.once('data', (d: Buffer) =>
        s.end(d.includes('/bad-header') ? 'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 5\r\n\r\nhello' : 'THIS IS NOT HTTP\r\n\r\n'),
      ),
    );
    reset = await startRawUpstream((s) => s.once('data', () => s.resetAndDestroy()));
    deadPort = await freePort();
    proxy = await startProxy({
      files: {
        'mesh.yaml': [
          meshService('ok', [ok.port]),
          meshService('smuggle', [smuggle.port]),
          meshService('status', [status.port]),
          meshService('garbage', [garbage.port]),
          meshService('reset', [reset.port]),
          meshService('dead', [deadPort]),
          meshService('half', [other.port, deadPort]),
        ].join('---\n'),
      },
      args: ['--request-headers-timeout', '1s'],
    });
    expect((await call(proxy.outbound, 'ok')).status).toBe(200);
    fdsAtStart = await fdCount(proxy.proc.pid!);
  });

  afterEach(async () => {
    // Whatever the last case did, the proxy still serves a normal request.
    expect(proxy.proc.exitCode).toBeNull();
    const r = await call(proxy.outbound, 'ok', '/after');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const u of [ok, other, smuggle, status, garbage, reset]) await u?.close();
  });

  it('answers a malformed request line with 400 and closes', async () => {
    for (const line of ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1 extra\r\nHost: ok\r\n\r\n', 'GET  HTTP/1.1\r\nHost: ok\r\n\r\n', 'GET / HTTP/1.1\r\nHost ok\r\n\r\n']) {
      const raw = await rawExchange(proxy.outbound, line);
      expect(statusOf(raw), JSON.stringify(line)).toBe(400);
      expect(raw.toLowerCase()).toContain('connection: close');
    }
  });

  it('answers a request with two Host headers with 400, calling no upstream (host confusion)', async () => {
    const [before, smuggleBefore] = [ok.seen.length, smuggle.seen.length];
    const raw = await rawExchange(proxy.outbound, 'GET /two-hosts HTTP/1.1\r\nHost: ok\r\nHost: smuggle\r\n\r\n');
    expect(statusOf(raw)).toBe(400);
    expect(flagOf(raw)).toBe('DPE');
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(ok.seen.length).toBe(before);
    expect(smuggle.seen.length).toBe(smuggleBefore);
  });

  it('answers a request target that is neither a path nor an http URL with 400', async () => {
    for (const req of ['OPTIONS * HTTP/1.1\r\nHost: ok\r\n\r\n', 'GET ftp://ok/x HTTP/1.1\r\nHost: ok\r\n\r\n']) {
      const raw = await rawExchange(proxy.outbound, req);
      expect(statusOf(raw), req).toBe(400);
      expect(flagOf(raw), req).toBe('DPE');
    }
  });

  it('answers an oversized request head with 431', async () => {
    const raw = await rawExchange(proxy.outbound, `GET / HTTP/1.1\r\nHost: ok\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
    expectDpe(raw, 431, /head.*(large|big)/i);
    const many = Array.from({ length: 2_000 }, (_, i) => `X-H${i}: ${'v'.repeat(30)}\r\n`).join('');
    expectDpe(await rawExchange(proxy.outbound, `GET / HTTP/1.1\r\nHost: ok\r\n${many}\r\n`), 431, /head.*(large|big)/i);
    expect(ok.seen.filter((s) => s.headers['x-big'] !== undefined)).toHaveLength(0);
  });

  it('rejects Content-Length with Transfer-Encoding (request smuggling) with 400; no smuggled request reaches the upstream', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: smuggle\r\n\r\n';
    const seenBefore = smuggle.seen.length;
    const attacks = [
      `POST /front HTTP/1.1\r\nHost: smuggle\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      `POST /front HTTP/1.1\r\nHost: smuggle\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${smuggled}`,
      `POST /front HTTP/1.1\r\nHost: smuggle\r\nContent-Length: 4\r\nContent-Length: 60\r\n\r\nabcd${smuggled}`,
      `POST /front HTTP/1.1\r\nHost: smuggle\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ];
    for (const attack of attacks) {
      const raw = await rawExchange(proxy.outbound, attack);
      expectDpe(raw, 400, /content-length|transfer-encoding/i, attack.split('\r\n\r\n')[0]);
      expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    }
    // Not a fixed sleep: a request sent after the attacks has reached the upstream, so a smuggled one would have too.
    expect((await call(proxy.outbound, 'smuggle', '/after-attacks')).status).toBe(200);
    expect(smuggle.seen.slice(seenBefore).map((s) => s.url)).toEqual(['/after-attacks']);
  });

  it('answers 408 to a client that sends its headers too slowly', async () => {
    const conn = new RawConn(proxy.outbound);
    const t0 = Date.now();
    conn.write('GET /slowloris HTTP/1.1\r\nHost: ok\r\n');
    let i = 0;
    const drip = setInterval(() => {
      if (!conn.closed) conn.write(`X-Drip-${i++}: x\r\n`);
    }, 200);
    try {
      const raw = await conn.until((d) => d.includes('\r\n\r\n'), 8_000);
      expectDpe(raw, 408, /head.*(time|within)/i);
      const ms = Date.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(6_000); // the dripping client would go on for ever
      await conn.until(() => conn.closed, 3_000);
      expect(conn.closed).toBe(true);
    } finally {
      clearInterval(drip);
      conn.close();
    }
    expect(ok.seen.map((s) => s.url)).not.toContain('/slowloris');
  });

  it('answers 502 UPE when the upstream answers garbage', async () => {
    const r = await call(proxy.outbound, 'garbage');
    expect(r.status).toBe(502);
    expect(r.headers['x-meshlight-flags']).toBe('UPE');
    const bad = await call(proxy.outbound, 'garbage', '/bad-header');
    expect(bad.status).toBe(502);
    expect(bad.headers['x-meshlight-flags']).toBe('UPE');
  });

  it('answers 502 UC when the upstream resets before answering', async () => {
    const r = await call(proxy.outbound, 'reset');
    expect(r.status).toBe(502);
    expect(r.headers['x-meshlight-flags']).toBe('UC');
  });

  it('answers 503 UF when nothing listens on the endpoint', async () => {
    const r = await call(proxy.outbound, 'dead');
    expect(r.status).toBe(503);
    expect(r.headers['x-meshlight-flags']).toBe('UF');
  });

  it('serves every request when one of two endpoints is dead', async () => {
    const before = other.seen.length;
    for (let i = 0; i < 10; i++) {
      const r = await call(proxy.outbound, 'half', `/h${i}`);
      expect(r.status, `request ${i}`).toBe(200);
      expect(r.body).toBe('other');
    }
    expect(other.seen.length - before).toBe(10);
  });

  it('answers HEAD with headers and no body, and the connection stays usable', async () => {
    const conn = new RawConn(proxy.outbound);
    try {
      conn.write('HEAD /body HTTP/1.1\r\nHost: status\r\n\r\n');
      const head = await conn.until((d) => d.includes('\r\n\r\n'));
      expect(statusOf(head)).toBe(200);
      expect(head).toMatch(/\r\ncontent-length: 5\r\n/i);
      conn.write('GET /body HTTP/1.1\r\nHost: status\r\n\r\n');
      const rs = parseResponses(await conn.until((d) => parseResponses(d, new Set([0])).length >= 2), new Set([0]));
      expect(rs.map((r) => [r.status, r.body])).toEqual([
        [200, ''],
        [200, 'hello'],
      ]);
      // Nothing after the head: the next answer starts right where it ends (no wait-and-see).
      expect(conn.data.slice(head.indexOf('\r\n\r\n') + 4)).toMatch(/^HTTP\/1\.1 200 /);
      expect(conn.closed).toBe(false);
    } finally {
      conn.close();
    }
  });

  it('sends no body with 204 and 304, and the connection stays usable', async () => {
    const conn = new RawConn(proxy.outbound);
    try {
      const headEnds: [number, number][] = [];
      for (const [path, code] of [['/204', 204], ['/304', 304]] as const) {
        const from = conn.data.length;
        conn.write(`GET ${path} HTTP/1.1\r\nHost: status\r\n\r\n`);
        const raw = (await conn.until((d) => d.indexOf('\r\n\r\n', from) !== -1)).slice(from);
        expect(statusOf(raw)).toBe(code);
        expect(raw).not.toMatch(/\r\ntransfer-encoding:/i);
        headEnds.push([code, from + raw.indexOf('\r\n\r\n') + 4]);
      }
      expect(conn.data).toMatch(/\r\netag: "v1"\r\n/i);
      const from = conn.data.length;
      conn.write('GET /body HTTP/1.1\r\nHost: status\r\n\r\n');
      const rs = parseResponses((await conn.until((d) => parseResponses(d.slice(from)).length >= 1)).slice(from));
      expect(rs[0]?.body).toBe('hello');
      // Each of them carried no body: the next answer starts right where its head ends.
      for (const [code, end] of headEnds) expect(conn.data.startsWith('HTTP/1.1 ', end), `${code} carried a body`).toBe(true);
    } finally {
      conn.close();
    }
  });

  it('answers three pipelined requests on one socket, in order', async () => {
    const conn = new RawConn(proxy.outbound);
    try {
      conn.write([1, 2, 3].map((i) => `GET /p${i} HTTP/1.1\r\nHost: status\r\n\r\n`).join(''));
      const raw = await conn.until((d) => (d.match(/body of \/p\d/g) ?? []).length >= 3);
      expect(raw.match(/body of \/p\d/g)).toEqual(['body of /p1', 'body of /p2', 'body of /p3']);
      expect(raw.match(/HTTP\/1\.1 200 /g)).toHaveLength(3);
      expect(conn.closed).toBe(false);
    } finally {
      conn.close();
    }
  });

  it('keeps a pipelined connection in order through local errors and request bodies the proxy never read', async () => {
    const conn = new RawConn(proxy.outbound);
    const get = (host: string, path = '/'): string => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    try {
      conn.write(
        get('ok', '/1') +
          'POST /2 HTTP/1.1\r\nHost: nosuch\r\nContent-Length: 3\r\n\r\nabc' +
          get('garbage') +
          'POST /4 HTTP/1.1\r\nHost: nosuch\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
          get('status', '/body'),
      );
      const rs = await conn.responses(5);
      expect(rs.map((r) => [r.status, r.headers.get('x-meshlight-flags')])).toEqual([
        [200, undefined],
        [404, 'NR'],
        [502, 'UPE'],
        [404, 'NR'],
        [200, undefined],
      ]);
      expect(rs[4]!.body).toBe('hello');
      expect(conn.closed).toBe(false);
    } finally {
      conn.close();
    }
  });

  it('answers CONNECT with 405', async () => {
    const raw = await rawExchange(proxy.outbound, 'CONNECT ok:443 HTTP/1.1\r\nHost: ok:443\r\n\r\n');
    expect(statusOf(raw)).toBe(405);
    expect(flagOf(raw)).toBe('DPE');
  });

  it('has not grown its open file descriptors after all of the above, repeated 20 times', async () => {
    const round = async (): Promise<unknown> =>
      Promise.all([
        rawExchange(proxy.outbound, 'GARBAGE\r\n\r\n', 300),
        rawExchange(proxy.outbound, `GET / HTTP/1.1\r\nHost: ok\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 300),
        rawExchange(proxy.outbound, 'POST / HTTP/1.1\r\nHost: ok\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 300),
        rawExchange(proxy.outbound, 'CONNECT ok:443 HTTP/1.1\r\nHost: ok:443\r\n\r\n', 300),
        rawExchange(proxy.outbound, 'GET / HTTP/1.1\r\nHost: ok\r\nHost: x\r\n\r\n', 300),
        call(proxy.outbound, 'garbage'),
        call(proxy.outbound, 'reset'),
        call(proxy.outbound, 'dead'),
        call(proxy.outbound, 'half'),
        call(proxy.outbound, 'status', '/204'),
        call(proxy.outbound, 'status', '/body', 'HEAD'),
        call(proxy.outbound, 'nosuch'),
      ]);
    for (let i = 0; i < 20; i++) await round();
    // Keep-alive connections to upstreams may still be open; they close after 4 s idle at most.
    let now = 0;
    await eventually(async () => (now = await fdCount(proxy.proc.pid!)) <= fdsAtStart + 4, 8_000, `fd count near ${fdsAtStart}`).catch(() => undefined);
    expect(now).toBeLessThanOrEqual(fdsAtStart + 4);
  }, 15_000);
});

/** Decodes a chunked body that starts at `at`; undefined until the last chunk has arrived. */
function dechunk(data: string, at: number): { body: string; end: number } | undefined {
  let body = '';
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) return undefined;
    const size = parseInt(data.slice(at, eol).split(';')[0]!, 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(data.slice(at, eol))}`);
    if (size === 0) {
      const end = data.indexOf('\r\n\r\n', eol);
      return end === -1 ? undefined : { body, end: end + 4 };
    }
    if (data.length < eol + 2 + size + 2) return undefined;
    body += data.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

interface ClusterDump {
  clusters: { name: string; endpoints: { address: string; active_requests: number }[] }[];
}

async function activeRequests(adminPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/clusters`);
  const dump = (await res.json()) as ClusterDump;
  return dump.clusters.reduce((n, c) => n + c.endpoints.reduce((m, e) => m + e.active_requests, 0), 0);
}

describe('hostile HTTP: bodies, cut connections and clients that leave', () => {
  let proxy: ProxyProcess;
  let echo: Upstream;
  let chunky: Upstream;
  let drip: Upstream;
  let sink: Upstream;
  let cutter: { port: number; close(): Promise<void> };
  let odd: { port: number; close(): Promise<void> };
  /** Requests the upstreams saw end without their whole body, and responses they saw cut. */
  const departures = { requestsCut: 0, responsesCut: 0 };

  beforeAll(async () => {
    echo = await startUpstream('echo', (req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const h = req.headers;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ url: req.url, body, te: h['transfer-encoding'] ?? null, cl: h['content-length'] ?? null, expect: h['expect'] ?? null }));
      });
    });
    chunky = await startUpstream('chunky', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const parts = ['first;', 'second;', 'x'.repeat(20_000), ';last'];
      let i = 0;
      const next = (): void => {
        if (i === parts.length) return void res.end();
        res.write(parts[i++]);
        setTimeout(next, 20);
      };
      next();
    });
    drip = await startUpstream('drip', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const t = setInterval(() => res.write(Buffer.alloc(1024, 97)), 20);
      res.on('close', () => {
        clearInterval(t);
        if (!res.writableFinished) departures.responsesCut++;
      });
    });
    sink = await startUpstream('sink', (req, res) => {
      req.resume();
      req.on('close', () => {
        if (!req.complete) departures.requestsCut++;
      });
      req.on('end', () => res.end('drained'));
    });
    // Answers by the first path segment: a cut body, a cut chunked body, a clean close, 1xx, huge headers.
    cutter = await startRawUpstream((s) =>
      s.once('data', (d: Buffer) => {
        const path = /^[A-Z]+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '';
        if (path === '/cut-length') {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
          setTimeout(() => s.resetAndDestroy(), 100);
        } else if (path === '/cut-chunked') {
          s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n');
          setTimeout(() => s.destroy(), 100);
        } else if (path === '/close-early') {
          s.end();
        } else {
          s.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n');
        }
      }),
    );
    // Every request on a connection is answered: a 304 leaves the connection open, and the proxy reuses it.
    odd = await startRawUpstream((s) =>
      s.on('data', (d: Buffer) => {
        const path = /^[A-Z]+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '';
        if (path === '/bytes') {
          // Echoes the request's x-bytes value, byte for byte, as a response header.
          const head = d.toString('latin1');
          const value = /\r\nx-bytes: ([^\r]*)\r\n/i.exec(head)?.[1] ?? 'missing';
          s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nX-Bytes: '), Buffer.from(value, 'latin1'), Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]));
        } else if (path === '/early-hints') {
          s.end('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal');
        } else if (path === '/cl-and-te') {
          s.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        } else if (path === '/304-with-length') {
          // RFC 9110 8.6: a 304 may carry the Content-Length of the representation it stands for.
          s.write('HTTP/1.1 304 Not Modified\r\nETag: "v7"\r\nContent-Length: 1234\r\n\r\n');
        } else if (path === '/204-with-length') {
          // Not allowed, but seen in the wild: a 204 with a length and bytes after it.
          s.end('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello');
        } else if (path === '/wide-head') {
          s.end(`HTTP/1.1 200 OK\r\nX-Wide: ${'w'.repeat(30 * 1024)}\r\nContent-Length: 2\r\n\r\nok`);
        } else if (path === '/big-head') {
          s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(80 * 1024)}\r\nContent-Length: 2\r\n\r\nok`);
        } else {
          s.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n');
        }
      }),
    );
    proxy = await startProxy({
      files: {
        'mesh.yaml': [
          meshService('echo', [echo.port]),
          meshService('chunky', [chunky.port]),
          meshService('drip', [drip.port]),
          meshService('sink', [sink.port]),
          meshService('cutter', [cutter.port]),
          meshService('odd', [odd.port]),
        ].join('---\n'),
      },
      args: ['--request-headers-timeout', '1s'],
    });
  });

  afterEach(async () => {
    expect(proxy.proc.exitCode).toBeNull();
    const r = await call(proxy.outbound, 'echo', '/after');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ url: '/after' });
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const u of [echo, chunky, drip, sink, cutter, odd]) await u?.close();
  });

  it('streams a chunked request body sent in pieces, with chunk extensions, intact to the upstream', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('POST /upload HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n');
      await sleep(150);
      w.write('6\r\n world\r\n');
      await sleep(150);
      w.write('0\r\n\r\n');
      const raw = await w.until((d) => d.includes('}'));
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      const got = JSON.parse(raw.slice(raw.indexOf('{'))) as { body: string; te: string | null; cl: string | null };
      expect(got.body).toBe('hello world');
      // Still streaming when it went upstream: re-framed as chunked, never with a Content-Length as well.
      expect(got.te).toBe('chunked');
      expect(got.cl).toBeNull();
      // A body framed by Content-Length keeps it, with no Transfer-Encoding beside it.
      const from = w.data.length;
      w.write('POST /sized HTTP/1.1\r\nHost: echo\r\nContent-Length: 11\r\n\r\nhello');
      await sleep(100);
      w.write(' world');
      const sized = (await w.until((d) => d.indexOf('}', from) !== -1)).slice(from);
      expect(JSON.parse(sized.slice(sized.indexOf('{')))).toMatchObject({ url: '/sized', body: 'hello world', te: null, cl: '11' });
    } finally {
      w.close();
    }
  });

  it('streams a chunked response intact, and the connection carries the next request', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /stream HTTP/1.1\r\nHost: chunky\r\n\r\n');
      let body: { body: string; end: number } | undefined;
      await w.until((d) => d.includes('\r\n\r\n') && (body = dechunk(d, d.indexOf('\r\n\r\n') + 4)) !== undefined, 5_000);
      const head = w.data.slice(0, w.data.indexOf('\r\n\r\n'));
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toMatch(/\r\ntransfer-encoding: chunked/i);
      expect(head).not.toMatch(/\r\ncontent-length:/i);
      expect(body!.body).toBe(`first;second;${'x'.repeat(20_000)};last`);
      const from = body!.end;
      w.write('GET /next HTTP/1.1\r\nHost: echo\r\n\r\n');
      const raw = (await w.until((d) => d.indexOf('}', from) !== -1)).slice(from);
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw).toContain('"url":"/next"');
    } finally {
      w.close();
    }
  });

  it('Expect: 100-continue: the client gets 100 before it sends the body, then the final answer', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('PUT /expect HTTP/1.1\r\nHost: echo\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
      const interim = await w.until((d) => d.includes('\r\n\r\n'));
      expect(interim).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
      w.write('hello world');
      const raw = await w.until((d) => d.includes('}'));
      const final = raw.slice(interim.length);
      expect(final).toMatch(/^HTTP\/1\.1 200 /);
      const got = JSON.parse(final.slice(final.indexOf('{'))) as { body: string; expect: string | null };
      expect(got.body).toBe('hello world');
      // The sidecar answered the expectation; the upstream is not asked again.
      expect(got.expect).toBeNull();
    } finally {
      w.close();
    }
  });

  it('answers pipelined requests with bodies (length, chunked, none) in order', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write(
        'POST /b1 HTTP/1.1\r\nHost: echo\r\nContent-Length: 3\r\n\r\none' +
          'POST /b2 HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n' +
          'GET /b3 HTTP/1.1\r\nHost: echo\r\n\r\n',
      );
      const raw = await w.until((d) => d.includes('"url":"/b3"'));
      expect(raw.match(/"url":"\/b\d","body":"[a-z]*"/g)).toEqual(['"url":"/b1","body":"one"', '"url":"/b2","body":"two"', '"url":"/b3","body":""']);
      expect(w.closed).toBe(false);
    } finally {
      w.close();
    }
  });

  it('closes a connection that sends nothing within the header timeout', async () => {
    const w = new RawConn(proxy.outbound);
    const t0 = Date.now();
    try {
      await w.until(() => false, 8_000);
      expect(w.closed).toBe(true);
      expect(Date.now() - t0).toBeLessThan(6_000); // an idle client is not kept for ever
      expect(w.data).toMatch(/^HTTP\/1\.1 408 /);
      expectDpe(w.data, 408, /head.*(time|within)/i);
    } finally {
      w.close();
    }
  });

  it('answers an HTTP/1.1 request without Host with 400 DPE and the reason; HTTP/1.0 without one gets 404 NR', async () => {
    const raw = await rawExchange(proxy.outbound, 'GET /no-host HTTP/1.1\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/\r\nx-meshlight-flags: DPE\r\n/i);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(raw).toContain('Host header');
    const old = await rawExchange(proxy.outbound, 'GET /no-host HTTP/1.0\r\n\r\n');
    expect(old).toMatch(/^HTTP\/1\.1 404 /);
    expect(old).toMatch(/\r\nx-meshlight-flags: NR\r\n/i);
    expect(echo.seen.map((r) => r.url)).not.toContain('/no-host');
  });

  it('answers 502 UC when the upstream closes cleanly without answering', async () => {
    const r = await call(proxy.outbound, 'cutter', '/close-early');
    expect(r.status).toBe(502);
    expect(r.headers['x-meshlight-flags']).toBe('UC');
  });

  it('cuts the response short when the upstream resets mid-body: never a complete-looking answer', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /cut-length HTTP/1.1\r\nHost: cutter\r\n\r\n');
      await w.until(() => false, 2_000);
      expect(w.closed).toBe(true);
      expect(w.data).toMatch(/^HTTP\/1\.1 200 /);
      expect(w.data).toMatch(/\r\ncontent-length: 100\r\n/i);
      expect(w.data.length - (w.data.indexOf('\r\n\r\n') + 4)).toBeLessThan(100);
    } finally {
      w.close();
    }
    const c = new RawConn(proxy.outbound);
    try {
      c.write('GET /cut-chunked HTTP/1.1\r\nHost: cutter\r\n\r\n');
      await c.until(() => false, 2_000);
      expect(c.closed).toBe(true);
      expect(c.data).toMatch(/^HTTP\/1\.1 200 /);
      expect(c.data).toContain('0123456789');
      // A terminating zero-size chunk would tell the client the body was complete.
      expect(c.data).not.toMatch(/\r\n0\r\n\r\n$/);
    } finally {
      c.close();
    }
  });

  it('passes a 304 that carries the Content-Length of the unchanged representation (and a 204 with one), and the connection stays usable', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /304-with-length HTTP/1.1\r\nHost: odd\r\nIf-None-Match: "v7"\r\n\r\n');
      const head = await w.until((d) => d.includes('\r\n\r\n'));
      expect(head).toMatch(/^HTTP\/1\.1 304 /);
      expect(head).toMatch(/\r\netag: "v7"\r\n/i);
      const end304 = head.indexOf('\r\n\r\n') + 4;
      let from = w.data.length;
      w.write('GET /204-with-length HTTP/1.1\r\nHost: odd\r\n\r\n');
      const raw204 = (await w.until((d) => d.indexOf('\r\n\r\n', from) !== -1)).slice(from);
      const end204 = from + raw204.indexOf('\r\n\r\n') + 4;
      from = w.data.length;
      w.write('GET /next HTTP/1.1\r\nHost: echo\r\n\r\n');
      expect((await w.until((d) => d.indexOf('}', from) !== -1)).slice(from)).toMatch(/^HTTP\/1\.1 200 /);
      // Neither carried the body its Content-Length names: each next answer starts right where its head ends.
      expect(w.data.slice(end304)).toMatch(/^HTTP\/1\.1 204 /);
      expect(w.data.startsWith('HTTP/1.1 200 ', end204), 'the 204 carried a body').toBe(true);
    } finally {
      w.close();
    }
  });

  it('carries non-ASCII header bytes (UTF-8 sent raw) unchanged both ways', async () => {
    const value = Buffer.from('café ✓ 日本', 'utf8');
    const socket = connect(proxy.outbound, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    try {
      socket.write(Buffer.concat([Buffer.from('GET /bytes HTTP/1.1\r\nHost: odd\r\nX-Bytes: '), value, Buffer.from('\r\n\r\n')]));
      await eventually(() => Buffer.concat(chunks).includes('\r\n\r\nok'), 3_000, 'the answer');
      const raw = Buffer.concat(chunks);
      const at = raw.indexOf('x-bytes: ') + 'x-bytes: '.length;
      expect(at).toBeGreaterThan(8);
      expect(raw.subarray(at, raw.indexOf('\r\n', at)).equals(value)).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('passes the final answer after an upstream 103 Early Hints', async () => {
    const r = await call(proxy.outbound, 'odd', '/early-hints');
    expect(r.status).toBe(200);
    expect(r.body).toBe('final');
  });

  it('answers 502 UPE to an upstream response with Content-Length and Transfer-Encoding both', async () => {
    const r = await call(proxy.outbound, 'odd', '/cl-and-te');
    expect(r.status).toBe(502);
    expect(r.headers['x-meshlight-flags']).toBe('UPE');
  });

  it('passes an upstream response head of 30 KiB (big cookies), and answers 502 UPE to one over 60 KiB', async () => {
    // Read raw: node's own client stops at 16 KiB.
    const w = new RawConn(proxy.outbound);
    try {
      w.write('GET /wide-head HTTP/1.1\r\nHost: odd\r\n\r\n');
      const wide = await w.until((d) => d.includes('\r\n\r\nok'));
      expect(wide).toMatch(/^HTTP\/1\.1 200 /);
      expect(/\r\nx-wide: (w*)\r\n/i.exec(wide)?.[1]).toHaveLength(30 * 1024);
    } finally {
      w.close();
    }
    const r = await call(proxy.outbound, 'odd', '/big-head');
    expect(r.status).toBe(502);
    expect(r.headers['x-meshlight-flags']).toBe('UPE');
  });

  it('a malformed request pipelined behind a good one is answered after it, never in its place', async () => {
    const w = new RawConn(proxy.outbound);
    try {
      // The first answer streams for ~80 ms; the garbage behind it is parsed at once.
      w.write('GET /stream HTTP/1.1\r\nHost: chunky\r\n\r\nGARBAGE / HTTP/1.1\r\n\r\n');
      const raw = await w.until((d) => d.includes('\r\n\r\nmalformed'));
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      const first = dechunk(raw, raw.indexOf('\r\n\r\n') + 4);
      expect(first?.body).toBe(`first;second;${'x'.repeat(20_000)};last`);
      const second = raw.slice(first!.end);
      expect(second).toMatch(/^HTTP\/1\.1 400 /);
      expect(second).toMatch(/\r\nx-meshlight-flags: DPE\r\n/i);
      await w.until(() => false, 1_000);
      expect(w.closed).toBe(true);
      expect(raw.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(2);
    } finally {
      w.close();
    }
  });

  it('a request whose own chunked body turns malformed gets 400, and its upstream call is cut', async () => {
    const cutBefore = departures.requestsCut;
    const w = new RawConn(proxy.outbound);
    try {
      w.write('POST /bad-body HTTP/1.1\r\nHost: sink\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await eventually(() => sink.seen.some((r) => r.url === '/bad-body'), 3_000, 'the upload to reach the upstream');
      w.write('zz\r\nnot a chunk\r\n');
      const raw = await w.until((d) => d.includes('\r\n\r\n'));
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      await w.until(() => false, 1_000);
      expect(w.closed).toBe(true);
    } finally {
      w.close();
    }
    await eventually(() => departures.requestsCut - cutBefore === 1, 3_000, 'the upstream to see the upload cut');
  });

  it('a client that leaves with pipelined requests still queued: the one upstream call is cut, the queued ones never start', async () => {
    const cutBefore = departures.responsesCut;
    const w = new RawConn(proxy.outbound);
    try {
      // The second and third wait, unread, behind the first, which never ends (the proxy reads one request at a time).
      w.write('GET /endless-1 HTTP/1.1\r\nHost: drip\r\n\r\nGET /endless-2 HTTP/1.1\r\nHost: drip\r\n\r\nGET /endless-3 HTTP/1.1\r\nHost: drip\r\n\r\n');
      expect((await w.until((d) => d.length > 3_000)).length).toBeGreaterThan(3_000);
      await eventually(() => drip.seen.some((r) => r.url === '/endless-1'), 3_000, 'the first at the upstream');
    } finally {
      w.close();
    }
    await eventually(() => departures.responsesCut - cutBefore === 1, 5_000, 'the upstream to see the first cut');
    await eventually(async () => (await activeRequests(proxy.admin)) === 0, 5_000, 'no active requests in /clusters');
    expect(drip.seen.filter((r) => r.url === '/endless-2' || r.url === '/endless-3')).toEqual([]);
  });

  it('clients that leave mid-request or mid-response: the upstream hears of it, nothing stays active, no descriptors leak', async () => {
    // Warm up, then measure: the pools may keep one idle connection per upstream.
    expect((await call(proxy.outbound, 'sink', '/warm', 'POST')).status).toBe(200);
    const fdsBefore = await fdCount(proxy.proc.pid!);
    const cutBefore = { ...departures };
    const rounds = 15;
    for (let i = 0; i < rounds; i++) {
      // Mid-request: half a declared body, then gone.
      const up = new RawConn(proxy.outbound);
      up.write('POST /upload HTTP/1.1\r\nHost: sink\r\nContent-Length: 100000\r\n\r\n' + 'u'.repeat(5_000));
      // Mid-response: read the head and some of the endless body, then gone.
      const down = new RawConn(proxy.outbound);
      down.write('GET /endless HTTP/1.1\r\nHost: drip\r\n\r\n');
      expect((await down.until((d) => d.length > 3_000)).length).toBeGreaterThan(3_000);
      await sleep(20);
      up.close();
      down.close();
    }
    await eventually(() => departures.requestsCut - cutBefore.requestsCut === rounds, 5_000, 'the sink to see every upload cut');
    await eventually(() => departures.responsesCut - cutBefore.responsesCut === rounds, 5_000, 'the drip to see every download cut');
    await eventually(async () => (await activeRequests(proxy.admin)) === 0, 5_000, 'no active requests in /clusters');
    let fds = 0;
    await eventually(async () => (fds = await fdCount(proxy.proc.pid!)) <= fdsBefore + 3, 8_000, 'descriptors back near the start').catch(() => undefined);
    expect(fds).toBeLessThanOrEqual(fdsBefore + 3);
  }, 30_000);
});
