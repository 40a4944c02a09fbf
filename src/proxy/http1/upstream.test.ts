import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointPool, POOL_DEFAULTS, type ResponseStream, type UpstreamConnection } from './upstream.js';
import type { ProxyError } from '../errors.js';

/** One request on the pool; `slowClient`: the body's writes "find the client's socket full", as Exchange then pauses the upstream. */
function get(pool: EndpointPool, path: string, slowClient: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let up: UpstreamConnection | undefined;
    let status = 0;
    let body = '';
    const timer = setTimeout(() => reject(new Error(`no answer to ${path} within 2 s`)), 2_000);
    const stream: ResponseStream = {
      method: 'GET',
      onConnected(conn) {
        up = conn;
        conn.writeRequest(`GET ${path} HTTP/1.1\r\nhost: t\r\n\r\n`, undefined, true);
      },
      onResponseHead(head) {
        status = head.status;
      },
      onResponseBody(chunk) {
        body += chunk.toString('latin1');
        if (slowClient) up!.pause();
      },
      onResponseEnd() {
        clearTimeout(timer);
        resolve({ status, body });
      },
      onUpstreamError(err: ProxyError) {
        clearTimeout(timer);
        reject(err);
      },
      onUpstreamDrain() {},
    };
    pool.acquire(stream);
  });
}

describe('the upstream pool', () => {
  let server: Server;
  let connections = 0;
  let pool: EndpointPool;

  beforeAll(async () => {
    server = createServer((s) => {
      connections++;
      s.on('data', (d: Buffer) => {
        const path = /^GET (\S+)/.exec(d.toString('latin1'))?.[1] ?? '';
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    pool = new EndpointPool(`127.0.0.1:${(server.address() as AddressInfo).port}`, { ...POOL_DEFAULTS, connectTimeoutMs: 2_000 });
  });

  afterAll(async () => {
    await pool.destroy();
    await new Promise((res) => server.close(res));
  });

  it('reuses a connection whose last answer ended while backpressure had paused it', async () => {
    expect(await get(pool, '/paused-at-the-end', true)).toEqual({ status: 200, body: '/paused-at-the-end' });
    expect(await get(pool, '/next', false)).toEqual({ status: 200, body: '/next' });
    expect(connections).toBe(1);
    expect([pool.connected, pool.running, pool.pending]).toEqual([1, 0, 0]);
  });
});
