import { intFlag, parseFlags, UsageError, type Command } from '../command.js';
import { stopRequested } from '../stop.js';
import { XenstoreServer } from '../../xenstore-sim/server/server.js';
import { WATCH_EVENT_TIMEOUT_MS_DEFAULT } from '../../xenstore-sim/server/output-queue.js';
import { listenUnix } from '../../xenstore-sim/server/unix-listener.js';
import { TraceLog } from '../../xenstore-sim/server/trace-log.js';
import { warmUp, WARM_UP_MS_DEFAULT } from '../../xenstore-sim/server/warm-up.js';
import { DEFAULT_QUOTAS, type XsQuotas } from '../../xenstore-sim/store/quotas.js';
import { XENSTORE_REL_PATH_MAX } from '../../xenstore-sim/wire/messages.js';
import { native, type StreamSocketApi } from '../../native/index.js';

/** C's INT_MAX: the largest value its command line takes for a quota. */
const INT_MAX = 0x7fffffff;

const USAGE = `usage: splitblk xenstored --socket PATH [--rundir DIR] [--trace FILE]
         [--quota-nodes N] [--quota-node-size BYTES] [--quota-watches N]
         [--quota-transactions N] [--quota-perms N] [--quota-path BYTES]
         [--quota-transaction-nodes N] [--quota-memory BYTES] [--quota-memory-soft BYTES]
         [--quota-outstanding N] [--timeout-watch-event SECONDS] [--warm-up-ms MS]
         [--exit-with-parent]

Run the xenstore daemon in the foreground on the unix socket PATH (at most 107 bytes).
Socket clients are dom0. Real Xen clients connect with XENSTORED_PATH=PATH, or with
XENSTORED_RUNDIR=DIR when PATH is DIR/socket. Quotas limit unprivileged guests only; the
defaults are C xenstored 4.17's (${DEFAULT_QUOTAS.nodesMax} nodes, ${DEFAULT_QUOTAS.nodeSizeBytesMax}-byte nodes, ${DEFAULT_QUOTAS.watchesMax} watches,
${DEFAULT_QUOTAS.transactionsMax} transactions, ${DEFAULT_QUOTAS.permsMax} permissions, ${DEFAULT_QUOTAS.pathBytesMax}-byte paths,
${DEFAULT_QUOTAS.transactionNodesMax} nodes per transaction, ${DEFAULT_QUOTAS.memoryBytesMax} bytes of memory with a warning level at ${DEFAULT_QUOTAS.memoryBytesSoftMax}
(0: no limit), ${DEFAULT_QUOTAS.outstandingMax} outstanding requests). As with C's command line, any quota may be
0 (a guest then gets none of it; --quota-outstanding 0 means its requests are never read) and
--quota-path above ${XENSTORE_REL_PATH_MAX} counts as ${XENSTORE_REL_PATH_MAX}. XS_CONTROL "quota set NAME VALUE" changes them
while running.
Guests: with a run directory (--rundir, else $SPLITBLK_RUNDIR, else DIR when PATH is
DIR/xenstored/socket) XS_INTRODUCE maps the guest's xenstore page and binds its event channel
through the hypervisor emulation there; without one, INTRODUCE only records the domain.
Prints nothing unless it fails; SIGTERM or SIGINT exits 0 and removes the socket.
--timeout-watch-event SECONDS (C's -w watch-event=, default ${WATCH_EVENT_TIMEOUT_MS_DEFAULT / 1000}; 0: never): a watch
event that waited this long for room in a guest's ring, none of it written yet, is dropped.
--trace FILE appends one line per request and reply. Before listening, the daemon serves
in-process clients on a throwaway socket for --warm-up-ms MS (default ${WARM_UP_MS_DEFAULT}; 0: none), so
that V8 has optimized the request path before the first real client comes.
--exit-with-parent (for supervisors) stops as on SIGTERM when stdin reaches end-of-file,
i.e. when the parent holding it dies.
Exit codes: 0 stopped by a signal, 1 could not start, 2 bad usage.`;

export const command: Command = {
  summary: 'run the xenstore daemon (xenstored) on a unix socket',
  usage: USAGE,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      socket: { type: 'string' },
      rundir: { type: 'string' },
      trace: { type: 'string' },
      'quota-nodes': { type: 'string' },
      'quota-node-size': { type: 'string' },
      'quota-watches': { type: 'string' },
      'quota-transactions': { type: 'string' },
      'quota-perms': { type: 'string' },
      'quota-path': { type: 'string' },
      'quota-transaction-nodes': { type: 'string' },
      'quota-memory': { type: 'string' },
      'quota-memory-soft': { type: 'string' },
      'quota-outstanding': { type: 'string' },
      'timeout-watch-event': { type: 'string' },
      'warm-up-ms': { type: 'string' },
      'exit-with-parent': { type: 'boolean' },
    }, false);
    if (values.socket === undefined) throw new UsageError('--socket PATH is required');
    const quotas: Partial<XsQuotas> = {
      nodesMax: intFlag('quota-nodes', values['quota-nodes'], DEFAULT_QUOTAS.nodesMax, 0, INT_MAX),
      nodeSizeBytesMax: intFlag('quota-node-size', values['quota-node-size'], DEFAULT_QUOTAS.nodeSizeBytesMax, 0, INT_MAX),
      watchesMax: intFlag('quota-watches', values['quota-watches'], DEFAULT_QUOTAS.watchesMax, 0, INT_MAX),
      transactionsMax: intFlag('quota-transactions', values['quota-transactions'], DEFAULT_QUOTAS.transactionsMax, 0, INT_MAX),
      permsMax: intFlag('quota-perms', values['quota-perms'], DEFAULT_QUOTAS.permsMax, 0, INT_MAX),
      // C's -M takes any value and keeps min(value, XENSTORE_REL_PATH_MAX).
      pathBytesMax: Math.min(intFlag('quota-path', values['quota-path'], DEFAULT_QUOTAS.pathBytesMax, 0, INT_MAX), XENSTORE_REL_PATH_MAX),
      transactionNodesMax: intFlag('quota-transaction-nodes', values['quota-transaction-nodes'], DEFAULT_QUOTAS.transactionNodesMax, 0, INT_MAX),
      memoryBytesMax: intFlag('quota-memory', values['quota-memory'], DEFAULT_QUOTAS.memoryBytesMax, 0, INT_MAX),
      memoryBytesSoftMax: intFlag('quota-memory-soft', values['quota-memory-soft'], DEFAULT_QUOTAS.memoryBytesSoftMax, 0, INT_MAX),
      outstandingMax: intFlag('quota-outstanding', values['quota-outstanding'], DEFAULT_QUOTAS.outstandingMax, 0, INT_MAX),
    };
    const watchEventTimeoutMs = 1000 * intFlag('timeout-watch-event', values['timeout-watch-event'], WATCH_EVENT_TIMEOUT_MS_DEFAULT / 1000, 0, INT_MAX / 1000);
    const warmUpMs = intFlag('warm-up-ms', values['warm-up-ms'], WARM_UP_MS_DEFAULT, 0, 60_000);
    // Always a trace log, so that XS_CONTROL logfile can start one; without --trace it is closed.
    const log = new TraceLog(values.trace);
    const rundir = guestRundir(values.rundir, ctx.env, values.socket);
    const guests = rundir === undefined ? undefined : await guestConnector(rundir);
    const server = new XenstoreServer({ quotas, log, watchEventTimeoutMs, ...(guests === undefined ? {} : { guests }) });
    // Handlers go in before the socket appears: callers take the socket as the sign of life
    // and may signal us at once.
    const stopped = stopRequested({ exitWithParent: values['exit-with-parent'] === true, stdin: process.stdin });
    const sockets = nativeSockets();
    // Only an optimization: a warm-up that cannot run (no writable temp directory) is skipped.
    await warmUp({ budgetMs: warmUpMs, ...(sockets === undefined ? {} : { sockets }) }).catch(() => undefined);
    const listener = await listenUnix(server, values.socket, sockets === undefined ? {} : { sockets });
    await stopped;
    await listener.close();
    guests?.close();
    log.close();
    return 0;
  },
};

/**
 * The addon's stream sockets (cheaper per request than net.Socket), or undefined when the
 * addon cannot be loaded: the daemon then serves through net.Socket, as fast as Node goes.
 */
function nativeSockets(): StreamSocketApi | undefined {
  try {
    return native.streamSocket;
  } catch {
    return undefined;
  }
}

/** The run directory whose hypervisor emulation serves guest rings, if any. */
function guestRundir(flag: string | undefined, env: NodeJS.ProcessEnv, socket: string): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['SPLITBLK_RUNDIR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // The layout of src/cli/rundir.ts: <rundir>/xenstored/socket.
  const m = /^(.*)\/xenstored\/socket$/.exec(socket);
  return m === null || m[1] === '' ? undefined : m[1];
}

/** Loaded only when guests can exist, so a bare daemon starts without the hypervisor code. */
async function guestConnector(rundir: string) {
  const [{ openHypervisor }, { createGuestConnector }] = await Promise.all([
    import('../../hypervisor/index.js'),
    import('../../xenstore-sim/ring/connector.js'),
  ]);
  return createGuestConnector(openHypervisor(rundir));
}
