// Loopback servers and sockets for tests: real upstreams, raw clients for hostile HTTP.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as AddressInfo;
  await new Promise((res) => srv.close(res));
  return port;
}

export interface Upstream {
  readonly port: number;
  readonly server: Server;
  /** Requests seen, in order: method, url and headers as the upstream got them. */
  readonly seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP upstream on loopback. Default handler: 200 with `name` as body and an `x-upstream` header. */
export async function startUpstream(name = 'upstream', handler?: Handler): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (handler !== undefined) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.setHeader('x-upstream', name);
      res.end(name);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

/** A raw TCP server for upstreams that misbehave (garbage, resets). */
export async function startRawUpstream(onConnection: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

/** Sends raw bytes and collects everything the peer writes until it closes or `idleMs` passes quietly. */
export async function rawExchange(port: number, data: string | Buffer, idleMs = 1_000): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let out = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (out += d));
  socket.write(data);
  await new Promise<void>((res) => {
    let timer = setTimeout(done, idleMs);
    function done(): void {
      socket.destroy();
      res();
    }
    socket.on('data', () => {
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      res();
    });
    socket.on('error', () => undefined);
  });
  return out;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; `stop()` gives the largest sample and the count. */
export function sampleRss(pid: number, everyMs = 100): { stop(): Promise<{ max: number; samples: number }> } {
  let max = 0;
  let samples = 0;
  let pending: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    pending = rssBytes(pid).then(
      (rss) => {
        max = Math.max(max, rss);
        samples++;
      },
      () => undefined, // the process is gone; the test notices that on its own
    );
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      return { max, samples };
    },
  };
}

/** Waits until `ms` have passed since `startMs`, so a reader or writer keeps to a given byte rate. */
export function paceTo(startMs: number, bytesDone: number, bytesPerSecond: number): Promise<void> | undefined {
  const due = startMs + (bytesDone / bytesPerSecond) * 1000;
  const wait = due - Date.now();
  return wait > 1 ? new Promise((res) => setTimeout(res, wait)) : undefined;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One request on its own connection to `port`, addressed to `host` (e.g. a service name through a sidecar). */
export function call(port: number, host: string, path = '/', method = 'GET', headers: Readonly<Record<string, string>> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host, ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves true if a TCP connection to 127.0.0.1:port is refused, false if it is accepted. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * A loopback port where TCP connects hang, like a host that drops SYNs: a child process listens with a
 * backlog of 1 and never accepts (its event loop is blocked), and the backlog is filled up front.
 */
export async function startBlackhole(): Promise<{ port: number; close(): void }> {
  const script =
    "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {" +
    "  process.stdout.write(this.address().port + '\\n');" +
    '  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000), 50);' +
    '});';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((res, rej) => {
    child.stdout!.once('data', (d: Buffer) => res(Number(String(d).trim())));
    child.once('exit', (code) => rej(new Error(`blackhole exited (${code})`)));
  });
  await new Promise((res) => setTimeout(res, 200)); // its loop is blocked from now on
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
