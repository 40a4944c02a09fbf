// After a 101 (WebSocket and other upgrades): the client's and the upstream's sockets joined as they are,
// both ways, with backpressure (pipe), until either side closes. Bytes read past either head go first.
import type { Socket } from 'node:net';

export interface TunnelEnd {
  /** Both sides are closed; the byte counts are client -> upstream and upstream -> client. */
  tunnelClosed(sent: number, received: number): void;
}

export function tunnel(client: Socket, clientRest: Buffer, upstream: Socket, upstreamRest: Buffer, owner: TunnelEnd): void {
  let toClient = upstreamRest.length;
  let toUpstream = clientRest.length;
  if (upstreamRest.length > 0) client.write(upstreamRest);
  if (clientRest.length > 0) upstream.write(clientRest);
  client.on('data', (b: Buffer) => (toUpstream += b.length));
  upstream.on('data', (b: Buffer) => (toClient += b.length));
  client.pipe(upstream);
  upstream.pipe(client);
  let open = 2;
  const closed = (): void => {
    client.destroy();
    upstream.destroy();
    if (--open === 0) owner.tunnelClosed(toClient, toUpstream);
  };
  client.once('close', closed);
  upstream.once('close', closed);
}
