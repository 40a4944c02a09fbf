// The `http-proxy` target, in its own process: the npm package with a keep-alive agent (its fair form).
// Usage: node http-proxy-server.js LISTEN_PORT UPSTREAM_PORT
import http from 'node:http';
import httpProxy from 'http-proxy';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstreamPort}`, agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
