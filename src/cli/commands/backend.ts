import { setFlagsFromString } from 'node:v8';
import { controlSocketPath, resolveRundir, xenstoredSocketPath } from '../rundir.js';
import { EXIT_OK, intFlag, parseFlags, type Command } from '../command.js';
import { startBackend } from '../../backend/host.js';
import { stopRequested } from '../stop.js';

/**
 * TurboFan's budget of bytecode inlined into one optimized function (V8's default is 920). A
 * request's way through blkback and tapdisk is a dozen small functions (decode, validate, map
 * grants, the VBD, the driver, the completion, the response); with the default budget V8 stops
 * inlining part way and which calls stay out of line varies from run to run. With room for the
 * whole path a memory disk's request costs about 10 % less CPU (measured with the
 * ring-order3-qd256 bench row). A setting of the whole process, so it is made here, where the
 * backend process starts, before any of that code is optimized.
 */
const INLINED_BYTECODE_CUMULATIVE_MAX = 3000;

export const command: Command = {
  summary: 'run the backend process (blkback + tapdisk) serving every vbd of the run directory',
  usage: [
    'usage: splitblk backend [--rundir DIR] [--xenstored-socket PATH] [--control-socket PATH]',
    '                        [--max-queues N] [--max-ring-order N] [--indirect-segments N] [--no-persistent]',
    '                        [--detach-timeout-ms MS] [--quiet] [--exit-with-parent]',
    '',
    'Connects to xenstored, serves the tapdisk control plane, prints "ready" once both are up,',
    'and serves vbd devices until SIGTERM or SIGINT, when every device goes Closed and the',
    'process exits 0. --exit-with-parent (for supervisors) stops the same way when stdin reaches',
    'end-of-file, i.e. when the parent holding it dies.',
    'Exit codes: 0 clean stop, 1 start-up failure, 2 bad usage.',
  ].join('\n'),
  async run(argv, ctx) {
    setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${INLINED_BYTECODE_CUMULATIVE_MAX}`);
    const { values } = parseFlags(argv, {
      rundir: { type: 'string' },
      'xenstored-socket': { type: 'string' },
      'control-socket': { type: 'string' },
      'max-queues': { type: 'string' },
      'max-ring-order': { type: 'string' },
      'indirect-segments': { type: 'string' },
      'no-persistent': { type: 'boolean' },
      'detach-timeout-ms': { type: 'string' },
      quiet: { type: 'boolean' },
      'exit-with-parent': { type: 'boolean' },
    }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const quiet = values.quiet === true;
    const stopped = stopRequested({ exitWithParent: values['exit-with-parent'] === true, stdin: process.stdin });
    const host = await startBackend({
      rundir,
      xenstoredSocket: values['xenstored-socket'] ?? xenstoredSocketPath(rundir),
      controlSocket: values['control-socket'] ?? controlSocketPath(rundir),
      limits: {
        queuesMax: intFlag('max-queues', values['max-queues'], 4, 1, 16),
        ringPageOrderMax: intFlag('max-ring-order', values['max-ring-order'], 4, 0, 4),
        indirectSegmentsMax: intFlag('indirect-segments', values['indirect-segments'], 4096, 0, 4096),
        persistent: values['no-persistent'] !== true,
        detachTimeoutMs: intFlag('detach-timeout-ms', values['detach-timeout-ms'], 5000, 0, 600_000),
      },
      log: (line) => {
        if (!quiet) ctx.stderr.write(`backend: ${line}\n`);
      },
    });
    ctx.stdout.write('ready\n');
    await stopped;
    await host.stop();
    return EXIT_OK;
  },
};
