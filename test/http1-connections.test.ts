// The engine's connection and exchange state machines, end to end through a real `meshlight proxy`: what
// happens when clients and upstreams half-close, leave, stall or pipeline at awkward moments, and whether
// every counter, descriptor and access-log line comes out right afterwards.
import { readdir, readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackhole, startRawUpstream, startUpstream, type Upstream } from './helpers/net.js';
import { sample } from './helpers/metrics-text.js';
import { eventually, httpRoute, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { flagOf, parseResponses, RawConn, statusOf } from './helpers/raw-conn.js';

type Raw = { port: number; close(): Promise<void> };

interface ClusterDump {
  clusters: { name: string; endpoints: { active_requests: number; pool: { running: number; pending: number } }[] }[];
}

const fdCount = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;

async function readLog(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}


describe('HTTP/1.1 connections through the proxy', () => {
  let proxy: ProxyProcess;
  let echo: Upstream;
  let slow: Upstream;
  let ws: Raw;
  let blackhole: { port: number; close(): void };
  let logFile: string;
  let echoConnections = 0;
  /** Every request id these tests sent: each must have exactly one access-log line in the end. */
  const ids: string[] = [];
  let next = 0;
  const id = (): string => {
    const v = `conn-${++next}`;
    ids.push(v);
    return v;
  };

  beforeAll(async () => {
    echo = await startUpstream('echo', (req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(`${req.method} ${req.url} ${n}`));
    });
    echo.server.on('connection', () => echoConnections++);
    slow = await startUpstream('slow', (req, res) => {
      req.resume();
      const url = req.url ?? '';
      if (url.startsWith('/late')) {
        const t = setTimeout(() => res.end('late'), 1_500);
        res.on('close', () => clearTimeout(t));
      } else if (url.startsWith('/stall-body')) {
        res.writeHead(200, { 'content-length': '100' });
        res.write('part');
      } else if (url.startsWith('/k40')) {
        res.end(Buffer.alloc(40 * 1024, 'k'));
      } else if (url.startsWith('/big')) {
        // 64 MiB, as fast as the proxy takes it.
        const pieces = 256;
        const piece = Buffer.alloc(256 * 1024, 'b');
        res.writeHead(200, { 'content-length': String(pieces * piece.length) });
        let sent = 0;
        const pump = (): void => {
          while (sent < pieces) {
            sent++;
            if (!res.write(piece)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      } else {
        res.end('slow');
      }
    });
    ws = await startRawUpstream((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        s.on('data', (d: Buffer) => {
          const text = d.toString('latin1');
          if (text.includes('bye')) s.end('BYE');
          else s.write(text.toUpperCase());
        });
        // The client's FIN comes through the tunnel; the upstream still has its last word.
        s.on('end', () => s.end('LAST WORD'));
      }),
    );
    blackhole = await startBlackhole();
    logFile = join(await mkdtemp(join(tmpdir(), 'meshlight-conns-')), 'access.log');
    proxy = await startProxy({
      files: {
        'mesh.yaml': [meshService('echo', [echo.port]), meshService('slow', [slow.port]), meshService('ws', [ws.port]), meshService('hole', [blackhole.port])].join('---\n'),
        'routes.yaml': httpRoute('slow', 'slow', `    - matches: [{path: {type: PathPrefix, value: /late}}]
      timeouts: {request: 500ms}
      backendRefs: [{name: slow, port: 80}]
    - backendRefs: [{name: slow, port: 80}]
`),
      },
      args: ['--access-log', logFile, '--stream-idle-timeout', '1s', '--request-headers-timeout', '1s', '--connect-timeout', '3s'],
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    blackhole?.close();
    await Promise.all([echo?.close(), slow?.close(), ws?.close()]);
  });

  const clusters = async (): Promise<ClusterDump> => (await (await fetch(`http://127.0.0.1:${proxy.admin}/clusters`)).json()) as ClusterDump;
  const allIdle = async (): Promise<boolean> => {
    const dump = await clusters();
    const eps = dump.clusters.flatMap((c) => c.endpoints);
    return eps.every((e) => e.active_requests === 0 && e.pool.running === 0 && e.pool.pending === 0);
  };
  const inFlight = async (): Promise<number> => sample(await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text(), 'meshlight_requests_in_flight', {}) ?? -1;

  it('answers pipelined requests, with bodies between them, in one write, on one upstream connection', async () => {
    const before = echoConnections;
    const c = new RawConn(proxy.outbound);
    try {
      const [a, b, d] = [id(), id(), id()];
      c.write(
        `GET /p1 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${a}\r\n\r\n` +
          `POST /p2 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${b}\r\nContent-Length: 5\r\n\r\nhello` +
          `POST /p3 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${d}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      );
      const rs = await c.responses(3);
      expect(rs.map((r) => r.body)).toEqual(['GET /p1 0', 'POST /p2 5', 'POST /p3 3']);
      expect(c.closed).toBe(false);
      // Keep-alive both sides: the three went over at most one new upstream connection.
      expect(echoConnections - before).toBeLessThanOrEqual(1);
    } finally {
      c.close();
    }
  });

  /** Sends `bytes` and a FIN at once; once the proxy has closed the connection, the bodies it answered. */
  async function sendThenFin(bytes: string): Promise<string[]> {
    const c = new RawConn(proxy.outbound);
    try {
      c.socket.end(bytes);
      await c.until(() => false, 3_000);
      expect(c.closed).toBe(true);
      return parseResponses(c.data).map((r) => r.body);
    } finally {
      c.close();
    }
  }

  it('answers every request a client pipelined before it half-closed (FIN after the requests), then closes', async () => {
    const [a, b] = [id(), id()];
    const bodies = await sendThenFin(`GET /fin1 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${a}\r\n\r\nGET /fin2 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${b}\r\n\r\n`);
    expect(bodies).toEqual(['GET /fin1 0', 'GET /fin2 0']);
  });

  it('answers an HTTP/1.0 client and closes; no 100 Continue for its Expect (RFC 9110 10.1.1)', async () => {
    const c = new RawConn(proxy.outbound);
    try {
      c.write(`POST /old HTTP/1.0\r\nHost: echo\r\nx-request-id: ${id()}\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`);
      await c.until(() => false, 3_000);
      expect(c.closed).toBe(true);
      expect(statusOf(c.data)).toBe(200);
      expect(c.data).not.toContain('100 Continue');
      expect(c.data.endsWith('POST /old 3')).toBe(true);
    } finally {
      c.close();
    }
  });

  it('Expect: 100-continue: one 100 then the answer with a body; no 100 without a body; the connection carries on', async () => {
    const c = new RawConn(proxy.outbound);
    try {
      c.write(`PUT /e1 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${id()}\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n`);
      await c.until((d) => d.includes('\r\n\r\n'));
      expect(c.data.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
      c.write('body');
      await c.until((d) => d.endsWith('PUT /e1 4'));
      c.data = '';
      c.write(`GET /e2 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${id()}\r\nExpect: 100-continue\r\n\r\n`);
      const [r] = await c.responses(1);
      expect(r?.status).toBe(200);
      expect(c.data).not.toContain('100 Continue');
      expect(r?.body).toBe('GET /e2 0');
    } finally {
      c.close();
    }
  });

  it('after a FIN the last pipelined request is still read whole (its body included), and a head the FIN cut short closes the connection', async () => {
    const [a, b] = [id(), id()];
    const bodies = await sendThenFin(
      `GET /f1 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${a}\r\n\r\nPOST /f2 HTTP/1.1\r\nHost: echo\r\nx-request-id: ${b}\r\nContent-Length: 3\r\n\r\nxyzGET /cut HTTP/1.1\r\nHo`,
    );
    expect(bodies).toEqual(['GET /f1 0', 'POST /f2 3']);
    expect(echo.seen.map((r) => r.url)).not.toContain('/cut');
  });

  it('a local answer (no such service) to a request whose body is still coming: the rest is skipped, then the next request is served', async () => {
    const c = new RawConn(proxy.outbound);
    try {
      c.write(`POST /x HTTP/1.1\r\nHost: nosuch\r\nx-request-id: ${id()}\r\nContent-Length: 10\r\n\r\nfive!`);
      const [r] = await c.responses(1);
      expect(r?.status).toBe(404);
      expect(flagOf(c.data)).toBe('NR');
      c.data = '';
      c.write(`five!GET /after-local HTTP/1.1\r\nHost: echo\r\nx-request-id: ${id()}\r\n\r\n`);
      const [s] = await c.responses(1);
      expect(s?.body).toBe('GET /after-local 0');
    } finally {
      c.close();
    }
  });

  /** A request answered locally (no such service) while its body is still coming, then `then` on the connection: the proxy must close it. */
  async function answeredThenClosed(head: string, firstBody: string, then: (c: RawConn) => void, waitMs: number): Promise<void> {
    const c = new RawConn(proxy.outbound);
    try {
      c.write(`POST /x HTTP/1.1\r\nHost: nosuch\r\nx-request-id: ${id()}\r\n${head}\r\n${firstBody}`);
      expect((await c.responses(1))[0]?.status).toBe(404);
      then(c);
      await c.until(() => false, waitMs);
      expect(c.closed).toBe(true);
    } finally {
      c.close();
    }
  }

  it('closes the connection of a client that half-closes in the middle of a body the proxy already answered', () =>
    answeredThenClosed('Content-Length: 10\r\n', 'five!', (c) => c.socket.end(), 3_000));

  it('closes the connection of a client that stalls in the middle of a body the proxy already answered (stream idle timeout)', () =>
    answeredThenClosed('Content-Length: 10\r\n', 'five!', () => undefined, 4_000));

  it('closes the connection when a body the proxy already answered turns out malformed (bad chunk)', () =>
    answeredThenClosed('Transfer-Encoding: chunked\r\n', '3\r\nabc\r\n', (c) => c.write('zz\r\n'), 3_000));

  it('the route timeout racing a late answer: 504 UT once, the upstream call cut, the connection usable', async () => {
    const c = new RawConn(proxy.outbound);
    try {
      const rid = id();
      c.write(`GET /late HTTP/1.1\r\nHost: slow\r\nx-request-id: ${rid}\r\n\r\n`);
      const [r] = await c.responses(1);
      expect(r?.status).toBe(504);
      expect(r?.headers.get('x-meshlight-flags')).toBe('UT');
      c.data = '';
      c.write(`GET /fast HTTP/1.1\r\nHost: slow\r\nx-request-id: ${id()}\r\n\r\n`);
      expect((await c.responses(1))[0]?.body).toBe('slow');
    } finally {
      c.close();
    }
  });

  it('a download that stalls mid-body is cut after the stream idle timeout, flag SI, and nothing stays active', async () => {
    const c = new RawConn(proxy.outbound);
    try {
      c.write(`GET /stall-body HTTP/1.1\r\nHost: slow\r\nx-request-id: ${id()}\r\n\r\n`);
      await c.until(() => false, 4_000);
      expect(c.closed).toBe(true);
      expect(statusOf(c.data)).toBe(200);
      expect(c.data.endsWith('part')).toBe(true);
    } finally {
      c.close();
    }
    await eventually(allIdle, 3_000, 'no active requests in /clusters');
  });

  it('clients that leave mid-head, mid-body, mid-answer and while the upstream connect hangs: counters and descriptors return to zero', async () => {
    await eventually(allIdle, 3_000, 'idle before');
    const fdsBefore = await fdCount(proxy.proc.pid!);
    const conns: RawConn[] = [];
    for (let i = 0; i < 5; i++) {
      const head = new RawConn(proxy.outbound);
      head.write('GET /mid-head HTTP/1.1\r\nHost: ec');
      const body = new RawConn(proxy.outbound);
      body.write(`POST /mid-body HTTP/1.1\r\nHost: echo\r\nx-request-id: ${id()}\r\nContent-Length: 1000\r\n\r\nsome`);
      const answer = new RawConn(proxy.outbound);
      answer.write(`GET /big HTTP/1.1\r\nHost: slow\r\nx-request-id: ${id()}\r\n\r\n`);
      const connecting = new RawConn(proxy.outbound);
      connecting.write(`GET /hole HTTP/1.1\r\nHost: hole\r\nx-request-id: ${id()}\r\n\r\n`);
      conns.push(head, body, answer, connecting);
      await answer.until((d) => d.length > 100_000);
    }
    await eventually(async () => (await inFlight()) >= 10, 3_000, 'the requests in flight');
    for (const c of conns) c.close();
    await eventually(async () => (await inFlight()) === 0, 5_000, 'meshlight_requests_in_flight back to 0');
    await eventually(async () => {
      const dump = await clusters();
      return dump.clusters.filter((c) => c.name !== 'hole.default').every((c) => c.endpoints.every((e) => e.active_requests === 0 && e.pool.running === 0 && e.pool.pending === 0));
    }, 3_000, 'no active requests in /clusters');
    // The hung connects end at the connect timeout (3 s); then nothing is left of them either.
    await eventually(allIdle, 6_000, 'the connects to the black hole given up');
    let fds = 0;
    await eventually(async () => (fds = await fdCount(proxy.proc.pid!)) <= fdsBefore + 2, 5_000, 'descriptors').catch(() => undefined);
    expect(fds).toBeLessThanOrEqual(fdsBefore + 2);
  }, 20_000);

  it('a slow reader of a 64 MiB answer: the proxy holds back the upstream instead of buffering (RSS bounded)', async () => {
    const rssOf = async (): Promise<number> => Number(/^VmRSS:\s+(\d+)/m.exec(await readFile(`/proc/${proxy.proc.pid!}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const before = await rssOf();
    const c = new RawConn(proxy.outbound);
    let got = 0;
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: string) => (got += d.length));
    try {
      c.write(`GET /big HTTP/1.1\r\nHost: slow\r\nx-request-id: ${id()}\r\n\r\n`);
      await eventually(() => got > 0, 3_000, 'the first bytes');
      c.socket.pause();
      let max = 0;
      // Well inside the 1 s stream idle timeout, which a reader that stops for longer would meet.
      for (let i = 0; i < 4; i++) {
        await new Promise((res) => setTimeout(res, 100));
        max = Math.max(max, await rssOf());
      }
      expect(max - before).toBeLessThan(32 * 1024 * 1024);
      c.socket.resume();
      await eventually(() => got >= 64 * 1024 * 1024, 15_000, 'the whole body');
    } finally {
      c.close();
    }
  }, 25_000);

  // (That an answer ending while backpressure paused its upstream connection leaves it fit: src/proxy/http1/upstream.test.ts.)
  it('an answer of 40 KiB that arrives in one piece leaves its upstream connection fit for the next request', async () => {
    for (let i = 0; i < 3; i++) {
      const c = new RawConn(proxy.outbound);
      try {
        c.write(`GET /k40 HTTP/1.1\r\nHost: slow\r\nx-request-id: ${id()}\r\n\r\n`);
        const [r] = await c.responses(1, 2_000);
        expect([r?.status, r?.body.length]).toEqual([200, 40 * 1024]);
      } finally {
        c.close();
      }
    }
  });

  /** Waits for the request's access-log line and for nothing to be in flight; returns the line. */
  async function settled(rid: string): Promise<Record<string, unknown>> {
    await eventually(async () => (await readLog(logFile)).some((l) => l['request_id'] === rid), 3_000, `${rid} in the access log`);
    await eventually(async () => (await inFlight()) === 0, 3_000, 'in flight back to 0');
    return (await readLog(logFile)).find((l) => l['request_id'] === rid)!;
  }

  const upgrade = (rid: string): string => `GET /chat HTTP/1.1\r\nHost: ws\r\nx-request-id: ${rid}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;

  it('a WebSocket tunnel closed by the client: logged once with its bytes, nothing stays in flight', async () => {
    const rid = id();
    const c = new RawConn(proxy.outbound);
    c.write(upgrade(rid) + 'hello');
    await c.until((d) => d.endsWith('HELLO'));
    expect(statusOf(c.data)).toBe(101);
    c.close();
    const line = await settled(rid);
    expect(line['response_code']).toBe(101);
    expect(line['bytes_received']).toBe(5);
  });

  it('a WebSocket tunnel closed by the upstream: the client sees the end, logged once', async () => {
    const rid = id();
    const c = new RawConn(proxy.outbound);
    c.write(upgrade(rid));
    await c.until((d) => d.includes('\r\n\r\n'));
    c.write('bye');
    await c.until(() => false, 3_000);
    expect(c.closed).toBe(true);
    expect(c.data.endsWith('BYE')).toBe(true);
    expect((await settled(rid))['response_code']).toBe(101);
  });

  it('a WebSocket client that half-closes still gets what the upstream says after the FIN', async () => {
    const rid = id();
    const c = new RawConn(proxy.outbound);
    c.write(upgrade(rid));
    await c.until((d) => d.includes('\r\n\r\n'));
    c.socket.end('hi');
    await c.until(() => false, 3_000);
    expect(c.closed).toBe(true);
    expect(c.data.endsWith('HILAST WORD')).toBe(true);
  });

  it('wrote exactly one access-log line for every request of the tests above', async () => {
    await eventually(async () => {
      const seen = new Set((await readLog(logFile)).map((l) => l['request_id']));
      return ids.every((i) => seen.has(i));
    }, 5_000, 'a line per request').catch(() => undefined);
    const counts = new Map<string, number>();
    for (const l of await readLog(logFile)) counts.set(String(l['request_id']), (counts.get(String(l['request_id'])) ?? 0) + 1);
    expect(ids.filter((i) => counts.get(i) !== 1).map((i) => `${i}: ${counts.get(i) ?? 0}`)).toEqual([]);
  });
});

describe('the per-endpoint connection limit', () => {
  let proxy: ProxyProcess;
  /** Takes every connection and answers nothing; the request paths it saw, in order. */
  let held: Raw;
  const heldPaths: string[] = [];

  beforeAll(async () => {
    held = await startRawUpstream((s) => s.on('data', (d: Buffer) => heldPaths.push(/^[A-Z]+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '')));
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('held', [held.port]) } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await held?.close();
  });

  it('requests queued behind the per-endpoint connection limit (1,024): a client that leaves is dropped from the queue, a freed slot serves the next', async () => {
    const limit = 1_024;
    const running: RawConn[] = [];
    const queued: RawConn[] = [];
    const pool = async (): Promise<{ running: number; pending: number; active: number }> => {
      const ep = (await (await fetch(`http://127.0.0.1:${proxy.admin}/clusters`)).json() as ClusterDump).clusters.find((c) => c.name === 'held.default')!.endpoints[0]!;
      return { running: ep.pool.running, pending: ep.pool.pending, active: ep.active_requests };
    };
    try {
      for (let i = 0; i < limit; i++) {
        const c = new RawConn(proxy.outbound);
        c.write(`GET /run-${i} HTTP/1.1\r\nHost: held\r\n\r\n`);
        running.push(c);
      }
      await eventually(() => heldPaths.length === limit, 10_000, 'every slot taken at the upstream');
      for (let i = 0; i < 3; i++) {
        const c = new RawConn(proxy.outbound);
        c.write(`GET /queued-${i} HTTP/1.1\r\nHost: held\r\n\r\n`);
        queued.push(c);
      }
      await eventually(async () => (await pool()).pending === 3, 3_000, 'three requests waiting');
      // Leaving with a reset: a FIN alone reads as a half-close, whose answer is still owed (see the README).
      queued[0]!.socket.resetAndDestroy();
      queued[1]!.socket.resetAndDestroy();
      await eventually(async () => (await pool()).pending === 1, 3_000, 'the two that left dropped from the queue');
      running[0]!.socket.resetAndDestroy();
      await eventually(() => heldPaths.includes('/queued-2'), 3_000, 'the queued request sent on the freed slot');
      expect(heldPaths).not.toContain('/queued-0');
      expect(heldPaths).not.toContain('/queued-1');
      expect(await pool()).toEqual({ running: limit, pending: 0, active: limit });
    } finally {
      for (const c of [...running, ...queued]) c.socket.resetAndDestroy();
    }
    await eventually(async () => (await pool()).running === 0 && (await pool()).active === 0, 5_000, 'the pool empty again');
    await eventually(async () => sample(await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text(), 'meshlight_requests_in_flight', {}) === 0, 3_000, 'in flight back to 0');
  }, 30_000);

});

describe('SIGTERM drain with every kind of connection open', () => {
  it('finishes the request in flight, closes idle, half-sent and tunnelled connections, logs each request once and exits 0', async () => {
    const up = await startUpstream('up', (req, res) => {
      req.resume();
      if (req.url === '/slow') setTimeout(() => res.end('done'), 600);
      else res.end('ok');
    });
    const ws = await startRawUpstream((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        s.on('data', (d: Buffer) => s.write(d));
      }),
    );
    const logFile = join(await mkdtemp(join(tmpdir(), 'meshlight-drain-')), 'access.log');
    const proxy = await startProxy({
      files: { 'mesh.yaml': [meshService('up', [up.port]), meshService('ws', [ws.port])].join('---\n') },
      args: ['--access-log', logFile, '--drain-timeout', '1500ms'],
    });
    const conns: RawConn[] = [];
    try {
      const idle = new RawConn(proxy.outbound);
      idle.write('GET /first HTTP/1.1\r\nHost: up\r\nx-request-id: d-idle\r\n\r\n');
      await idle.responses(1);
      const half = new RawConn(proxy.outbound);
      half.write('GET /half HTTP/1.1\r\nHost: u');
      const tunnel = new RawConn(proxy.outbound);
      tunnel.write('GET /ws HTTP/1.1\r\nHost: ws\r\nx-request-id: d-ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nping');
      await tunnel.until((d) => d.endsWith('ping'));
      const busy = new RawConn(proxy.outbound);
      busy.write('GET /slow HTTP/1.1\r\nHost: up\r\nx-request-id: d-busy\r\n\r\n');
      conns.push(idle, half, tunnel, busy);
      await eventually(() => up.seen.some((r) => r.url === '/slow'), 3_000, 'the slow request at the upstream');
      const t0 = Date.now();
      proxy.proc.kill('SIGTERM');
      const [r] = await busy.responses(1, 5_000);
      expect(r?.body).toBe('done');
      expect(r?.headers.get('connection')).toBe('close');
      expect(await proxy.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(4_000);
      for (const c of [idle, half, tunnel]) await c.until(() => false, 1_000);
      expect([idle.closed, half.closed, tunnel.closed]).toEqual([true, true, true]);
      const lines = await readLog(logFile);
      const byId = (rid: string): number => lines.filter((l) => l['request_id'] === rid).length;
      expect([byId('d-idle'), byId('d-busy'), byId('d-ws')]).toEqual([1, 1, 1]);
    } finally {
      for (const c of conns) c.close();
      await proxy.stop('SIGKILL');
      await Promise.all([up.close(), ws.close()]);
    }
  }, 20_000);
});
