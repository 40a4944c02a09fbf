// The `node-floor` target: what node:http + undici cost with nothing else, the floor under meshlight's
// hot path (a "bare Node proxy"): every request to one upstream, streamed both ways,
// no routing, no telemetry. Usage: node node-floor-server.js LISTEN_PORT UPSTREAM_PORT
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256 });

class Forward implements Dispatcher.DispatchHandler {
  constructor(private readonly res: http.ServerResponse) {}
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[]): boolean {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (name.toLowerCase() !== 'connection' && name.toLowerCase() !== 'keep-alive') headers.push(name, raw[i + 1]!.toString('latin1'));
    }
    this.res.writeHead(status, headers);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

const server = http.createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers as Record<string, string>, body }, new Forward(res));
});
server.keepAliveTimeout = 60_000;
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
