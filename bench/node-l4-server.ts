// The `node-l4` target: Node's net sockets piped both ways and nothing else, no HTTP at all: Node's own
// limit for moving a proxy's bytes, to set meshlight against. One upstream connection per client
// connection, opened when the client connects. Usage: node node-l4-server.js LISTEN_PORT UPSTREAM_PORT
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const server = net.createServer((client) => {
  const upstream = net.connect(upstreamPort!, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
