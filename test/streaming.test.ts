// Bodies stream through the sidecar with backpressure: a slow reader slows the writer, and the proxy
// never holds a whole body in memory, whichever side is slow.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { paceTo, rssBytes, sampleRss, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';

const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
const CHUNK = 64 * 1024;
/** The slow side's pace: ~4 s for 100 MiB, while the fast side could go many times faster. */
const SLOW_RATE = 25 * MiB;
/** How much the proxy's RSS may grow over its idle baseline while 100 MiB pass through it. */
const RSS_BOUND = 60 * 1000 * 1000;

/** Size of the transfers that check framing rather than memory. */
const SMALL_TOTAL = 20 * MiB;
/** Where a misbehaving source dies. */
const CUT_AT = 2 * MiB;

const BASE = randomBytes(CHUNK);

/** `total` bytes in 64 KiB chunks, each stamped with its index so a lost, doubled or reordered chunk changes the hash. */
function* numberedChunks(total: number, hash: Hash): Generator<Buffer> {
  for (let i = 0, sent = 0; sent < total; i++) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, total - sent));
    BASE.copy(chunk, 0, 0, chunk.length);
    chunk.writeUInt32BE(i, 0);
    hash.update(chunk);
    sent += chunk.length;
    yield chunk;
  }
}

/** Reads `stream` no faster than `rate` bytes/s: pauses it whenever it runs ahead. */
function readPaced(stream: IncomingMessage, rate: number): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const start = Date.now();
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      const wait = paceTo(start, bytes, rate);
      if (wait !== undefined) {
        stream.pause();
        void wait.then(() => stream.resume());
      }
    });
    stream.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    stream.on('error', reject);
    stream.on('close', () => {
      if (!stream.complete) reject(new Error(`body cut short after ${bytes} bytes`));
    });
  });
}

function get(port: number, host: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, resolve).on('error', reject).end();
  });
}

async function getText(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  const res = await get(port, host, path);
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, body };
}

/** The RSS of a fresh proxy once it has served a request and settled: the baseline growth is measured from. */
async function idleRss(proxy: ProxyProcess): Promise<number> {
  expect((await getText(proxy.outbound, 'source', '/small')).status).toBe(200);
  await new Promise((res) => setTimeout(res, 300));
  return rssBytes(proxy.proc.pid!);
}

describe('streaming through the outbound listener', () => {
  let sink: Upstream;
  let source: Upstream;
  let proxy: ProxyProcess;
  let files: Record<string, string>;
  /** What the sink read of each upload, by path; set when the upload ends or is cut. */
  const uploads = new Map<string, { bytes: number; sha256: string; state: 'streaming' | 'complete' | 'aborted' }>();
  /** Hash of each response body the source wrote, by path. */
  const sent = new Map<string, string>();

  beforeAll(async () => {
    // The sink reads uploads at SLOW_RATE and answers with what it got.
    sink = await startUpstream('sink', (req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '';
      if (path === '/too-large') {
        // Refuses the upload before reading it, as servers with a body size limit do; then drains it rather
        // than closing on unread data (a reset could destroy the answer in the peer's receive buffer).
        res.writeHead(413, { 'content-type': 'text/plain' });
        res.end('too large\n');
        req.resume();
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const start = Date.now();
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        uploads.set(path, { bytes, sha256: '', state: 'streaming' });
        const wait = paceTo(start, bytes, SLOW_RATE);
        if (wait !== undefined) {
          req.pause();
          void wait.then(() => req.resume());
        }
      });
      req.on('end', () => {
        const got = { bytes, sha256: hash.digest('hex'), state: 'complete' as const };
        uploads.set(path, got);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(got));
      });
      req.on('close', () => {
        if (!req.complete) uploads.set(path, { bytes, sha256: '', state: 'aborted' });
      });
    });
    // The source writes TOTAL bytes as fast as its socket lets it (`/small`: a few bytes).
    source = await startUpstream('source', (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const path = req.url ?? '';
      if (path === '/small') {
        res.end('small');
        return;
      }
      // `/chunked...`: no content-length; `/cut...`: the source's socket dies after CUT_AT bytes.
      const chunked = path.startsWith('/chunked') || path.startsWith('/cut-chunked');
      const size = path.startsWith('/chunked') ? SMALL_TOTAL : TOTAL;
      const hash = createHash('sha256');
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(chunked ? {} : { 'content-length': size }) });
      const body = Readable.from(numberedChunks(path.startsWith('/cut') ? CUT_AT : size, hash));
      if (path.startsWith('/cut')) {
        body.pipe(res, { end: false });
        body.on('end', () => setTimeout(() => res.socket?.destroy(), 50));
        return;
      }
      pipeline(body, res).then(
        () => sent.set(path, hash.digest('hex')),
        () => sent.set(path, 'cut'),
      );
    });
    files = { 'mesh.yaml': `${meshService('sink', [sink.port])}---\n${meshService('source', [source.port])}` };
  });

  // A fresh proxy per test: memory a previous transfer left mapped would hide growth in the next one.
  beforeEach(async () => {
    proxy = await startProxy({ files });
  });

  afterEach(async () => {
    const code = await proxy?.stop();
    expect(code, proxy.output.stderr).toBe(0);
  });

  afterAll(async () => {
    await sink?.close();
    await source?.close();
  });

  it('carries a 100 MiB upload intact to an upstream that reads slowly, without buffering it', async () => {
    const baseline = await idleRss(proxy);
    const rss = sampleRss(proxy.proc.pid!);
    const hash = createHash('sha256');
    const started = Date.now();
    const req = request({
      host: '127.0.0.1',
      port: proxy.outbound,
      method: 'POST',
      path: '/upload',
      headers: { host: 'sink', 'content-type': 'application/octet-stream', 'content-length': TOTAL },
      agent: false,
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
    await pipeline(Readable.from(numberedChunks(TOTAL, hash)), req);
    const res = await response;
    let text = '';
    for await (const chunk of res) text += String(chunk);
    const elapsed = Date.now() - started;
    const { max, samples } = await rss.stop();

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toEqual({ bytes: TOTAL, sha256: hash.digest('hex'), state: 'complete' });
    // The upload could only go as fast as the sink read: the writer was held back, not the proxy's memory filled.
    expect(elapsed).toBeGreaterThan((TOTAL / SLOW_RATE) * 1000 * 0.9);
    expect(samples).toBeGreaterThan(10);
    const growth = max - baseline;
    console.info(`upload: ${TOTAL / MiB} MiB in ${elapsed} ms; proxy RSS ${(baseline / 1e6).toFixed(1)} MB idle, peak +${(growth / 1e6).toFixed(1)} MB over ${samples} samples`);
    expect(growth).toBeLessThan(RSS_BOUND);
  });

  it('carries a 100 MiB response intact to a client that reads slowly, without buffering it', async () => {
    const baseline = await idleRss(proxy);
    const rss = sampleRss(proxy.proc.pid!);
    const started = Date.now();
    const res = await get(proxy.outbound, 'source', '/download');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(TOTAL));
    const got = await readPaced(res, SLOW_RATE);
    const elapsed = Date.now() - started;
    const { max, samples } = await rss.stop();

    await eventually(() => sent.has('/download'), 2_000, 'the source to finish writing');
    expect(got).toEqual({ bytes: TOTAL, sha256: sent.get('/download') });
    expect(samples).toBeGreaterThan(10);
    const growth = max - baseline;
    console.info(`download: ${TOTAL / MiB} MiB in ${elapsed} ms; proxy RSS ${(baseline / 1e6).toFixed(1)} MB idle, peak +${(growth / 1e6).toFixed(1)} MB over ${samples} samples`);
    expect(growth).toBeLessThan(RSS_BOUND);
  });

  it('passes a client abort mid-upload on to the upstream and keeps serving', async () => {
    const req = request({
      host: '127.0.0.1',
      port: proxy.outbound,
      method: 'PUT',
      path: '/aborted',
      headers: { host: 'sink', 'content-length': 50 * MiB },
      agent: false,
    });
    req.on('error', () => undefined); // we destroy it ourselves
    const hash = createHash('sha256');
    for (const chunk of numberedChunks(4 * MiB, hash)) req.write(chunk);
    // The upload is streaming: the sink has bytes before the client is anywhere near done.
    await eventually(() => (uploads.get('/aborted')?.bytes ?? 0) >= MiB, 5_000, 'the sink to receive the first MiB');
    req.destroy();

    // The sink's request ends incomplete instead of hanging until some timeout.
    await eventually(() => uploads.get('/aborted')?.state === 'aborted', 5_000, 'the sink to see the abort');
    const cut = uploads.get('/aborted')!;
    expect(cut.bytes).toBeLessThan(50 * MiB);

    // Nothing leaked: the endpoint shows no active request, and the next requests are served.
    await eventually(async () => (await activeRequests(proxy.admin, 'sink.default')) === 0, 5_000, 'active_requests of sink to return to 0');
    const after = await Promise.all([1, 2, 3].map(() => getText(proxy.outbound, 'sink', '/after')));
    expect(after.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(after[0]!.body)).toMatchObject({ bytes: 0, state: 'complete' });
  });

  it('carries chunked bodies both ways (no content-length) intact', async () => {
    const hash = createHash('sha256');
    const req = request({ host: '127.0.0.1', port: proxy.outbound, method: 'POST', path: '/chunked-up', headers: { host: 'sink' }, agent: false });
    const response = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
    await pipeline(Readable.from(numberedChunks(SMALL_TOTAL, hash)), req);
    const res = await response;
    let text = '';
    for await (const chunk of res) text += String(chunk);
    expect(JSON.parse(text)).toEqual({ bytes: SMALL_TOTAL, sha256: hash.digest('hex'), state: 'complete' });
    expect(uploads.get('/chunked-up')?.state).toBe('complete');

    const down = await get(proxy.outbound, 'source', '/chunked-down');
    expect(down.headers['transfer-encoding']).toBe('chunked');
    const got = await readPaced(down, 1000 * MiB);
    await eventually(() => sent.has('/chunked-down'), 2_000, 'the source to finish writing');
    expect(got).toEqual({ bytes: SMALL_TOTAL, sha256: sent.get('/chunked-down') });
  });

  it('sends an upload with Expect: 100-continue on after the interim answer', async () => {
    const hash = createHash('sha256');
    const req = request({
      host: '127.0.0.1',
      port: proxy.outbound,
      method: 'PUT',
      path: '/expect',
      headers: { host: 'sink', expect: '100-continue', 'content-length': 4 * MiB },
      agent: false,
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no 100 Continue within 2 s')), 2_000);
      req.on('continue', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await pipeline(Readable.from(numberedChunks(4 * MiB, hash)), req);
    const res = await response;
    let text = '';
    for await (const chunk of res) text += String(chunk);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toEqual({ bytes: 4 * MiB, sha256: hash.digest('hex'), state: 'complete' });
  });

  it('passes a client abort mid-download on to the upstream and keeps serving', async () => {
    const res = await get(proxy.outbound, 'source', '/abandoned');
    let bytes = 0;
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes >= MiB) {
          res.destroy();
          resolve();
        }
      });
    });
    // The source's write fails instead of going on (or waiting) for the other 99 MiB.
    await eventually(() => sent.get('/abandoned') === 'cut', 5_000, 'the source to see the abort');
    await eventually(async () => (await activeRequests(proxy.admin, 'source.default')) === 0, 5_000, 'active_requests of source to return to 0');
    expect((await getText(proxy.outbound, 'source', '/small')).body).toBe('small');
  });

  it.each(['/cut-length', '/cut-chunked'])('cuts the response short when the upstream dies mid-body (%s), never ends it cleanly', async (path) => {
    const res = await get(proxy.outbound, 'source', path);
    expect(res.statusCode).toBe(200);
    const outcome = await readPaced(res, 1000 * MiB).then(
      (r) => `ended cleanly after ${r.bytes} bytes`,
      (err: Error) => `cut: ${err.message}`,
    );
    expect(outcome).toMatch(/^cut: /);
    expect((await getText(proxy.outbound, 'source', '/small')).body).toBe('small');
  });

  it('passes on an upstream answer that comes before the upload is read (413), without waiting for the body', async () => {
    const req = request({
      host: '127.0.0.1',
      port: proxy.outbound,
      method: 'POST',
      path: '/too-large',
      headers: { host: 'sink', 'content-length': TOTAL },
      agent: false,
    });
    req.on('error', () => undefined); // the connection may be closed while we still write
    const response = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    const hash = createHash('sha256');
    for (const chunk of numberedChunks(2 * MiB, hash)) req.write(chunk);
    const res = await Promise.race([response, new Promise<undefined>((done) => setTimeout(() => done(undefined), 5_000))]);
    expect(res?.statusCode).toBe(413);
    let text = '';
    for await (const chunk of res!) text += String(chunk);
    expect(text).toBe('too large\n');
    req.destroy();
    await eventually(async () => (await activeRequests(proxy.admin, 'sink.default')) === 0, 5_000, 'active_requests of sink to return to 0');
    expect((await getText(proxy.outbound, 'source', '/small')).body).toBe('small');
  });
});

async function activeRequests(adminPort: number, cluster: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/clusters`);
  const body = (await res.json()) as { clusters: { name: string; endpoints: { active_requests: number }[] }[] };
  const c = body.clusters.find((x) => x.name === cluster);
  if (c === undefined) throw new Error(`no cluster ${cluster} in /clusters`);
  return c.endpoints.reduce((n, e) => n + e.active_requests, 0);
}
