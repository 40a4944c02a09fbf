// What a Kubernetes Service does for the control plane's replicas (kube-proxy): each new TCP connection
// goes to the next backend in turn; a backend that refuses is skipped, as one whose pod is gone.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface Balancer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: readonly number[]): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s)), s.on('error', () => undefined));
  const server = createServer((client) => {
    track(client);
    client.pause();
    const tryBackend = (left: number): void => {
      if (left === 0) return void client.destroy();
      const port = backends[next++ % backends.length]!;
      const upstream = connect({ host: '127.0.0.1', port });
      upstream.once('error', () => tryBackend(left - 1));
      upstream.once('connect', () => {
        track(upstream);
        client.pipe(upstream).pipe(client);
        client.resume();
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
    };
    tryBackend(backends.length);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
