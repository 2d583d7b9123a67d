import { renameSync } from 'node:fs';
import type { Server } from 'node:net';

/** sizeof(struct sockaddr_un.sun_path) on Linux, including the terminating NUL. */
export const SUN_PATH_BYTES = 108;

/**
 * Listen on a unix socket so that its path appears only once it accepts connections.
 * bind() creates the socket's file before listen() makes it accept, so a client that waits for
 * the file could connect in between and be refused. Listen under a staging name beside it and
 * rename that into place (when the staging name fits in sun_path; else listen on the path).
 * Rejects with the listen error, for the caller to wrap.
 */
export async function listenUnixAtomically(server: Server, path: string): Promise<void> {
  const staging = `${path}.${process.pid}`;
  const useStaging = Buffer.byteLength(staging) < SUN_PATH_BYTES;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(useStaging ? staging : path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (useStaging) renameSync(staging, path);
}
