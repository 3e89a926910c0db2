import type { Server } from 'node:net';

/**
 * Starts `server` listening on a TCP port and host, or on a unix socket
 * path; resolves once it listens, rejects with the listen error
 * (EADDRINUSE, EACCES, ...). Any net.Server, http.Server included.
 */
export function listen(server: Server, ...at: [port: number, host: string] | [path: string]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (at.length === 1) server.listen(at[0], listening);
    else server.listen(at[0], at[1], listening);
  });
}
