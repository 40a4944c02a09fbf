// Opening a listening socket, with a message that names which one failed and why.
import type { Server } from 'node:net';

export function listen(server: Server, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`cannot open the ${what} listener on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
