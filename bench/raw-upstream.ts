// The upstream when nginx is missing: a raw-socket server that answers every request head with a canned
// 200 (100 bytes, or 16 KiB for /16k), with none of node:http's per-request work, so it is not the
// bottleneck. GET only (the bench sends nothing else). Usage: node raw-upstream.js PORT
import net from 'node:net';

const small = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`);
const big = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 16384\r\n\r\n${'x'.repeat(16384)}`);
const port = Number(process.argv[2]);
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let end: number;
    const out: Buffer[] = [];
    while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      out.push(head.startsWith('GET /16k') ? big : small);
    }
    if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  });
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
