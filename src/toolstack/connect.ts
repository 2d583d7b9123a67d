import { createConnection } from 'node:net';
import { openHypervisor } from '../hypervisor/hypervisor.js';
import { connectSocket } from '../xenstore-sim/client/socket.js';
import type { Hypervisor } from '../hypervisor/api.js';
import type { XsClient } from '../xenstore-sim/client/api.js';
import { SplitblkError } from '../util/errors.js';
import { xenstoredSocketPath } from '../cli/rundir.js';

/** Open what a toolstack verb needs: the hypervisor and a dom0 xenstore connection. */
export async function openToolstack(rundir: string): Promise<{ hypervisor: Hypervisor; xs: XsClient; close(): Promise<void> }> {
  const socket = xenstoredSocketPath(rundir);
  let xs: XsClient;
  try {
    xs = await connectSocket(socket);
  } catch (error) {
    throw new SplitblkError('SPLITBLK_ERR_NOT_RUNNING', `cannot reach xenstored at ${socket} (run 'splitblk up' first)`, { path: socket }, { cause: error });
  }
  const hypervisor = openHypervisor(rundir);
  return {
    hypervisor,
    xs,
    async close() {
      await xs.close();
    },
  };
}

/** Whether a unix socket accepts connections now. */
export function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
