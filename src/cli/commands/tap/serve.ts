import * as path from 'node:path';
import { parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { native, type AioContext } from '../../../native/index.js';
import { Tapdisk } from '../../../tapdisk/tapdisk.js';
import { registryDir } from '../../../tapdisk/control/datapaths.js';
import { failure, tapdiskDir } from './common.js';

const aioDepthMax = 256;
const aioIovecsMax = 8192;
const idleStartMs = 10_000;

export const command: Command = {
  summary: 'run a tapdisk process (the control plane, no guest rings)',
  usage: `usage: splitblk tap serve [--name NAME | --socket PATH] [--rundir DIR] [--exit-when-idle]
                          [--engine auto|io_uring|threads]

Runs a tapdisk process in the foreground: its control socket is <rundir>/tapdisk/NAME.sock
(NAME defaults to tapdisk-<pid>) or PATH, and its VBDs are recorded in the data-path registry
<rundir>/tapdisk/registry/. 'tap create' starts one of these when no backend is running.
Prints the socket path once listening; stops on SIGTERM/SIGINT (closing every VBD) or, with
--exit-when-idle, once it has no VBD left after a create, close or destroy (or 10 s after
starting without one).
Exit codes: 0 stopped cleanly, 1 failed to start, 2 bad usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      name: { type: 'string' }, socket: { type: 'string' }, rundir: { type: 'string' },
      'exit-when-idle': { type: 'boolean' }, engine: { type: 'string' },
    }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const socket = values.socket ?? path.join(tapdiskDir(rundir), `${values.name ?? `tapdisk-${process.pid}`}.sock`);
    let aio: AioContext | null = null;
    try {
      const engine = values.engine as 'auto' | 'io_uring' | 'threads' | undefined;
      aio = native.aio.create({ depthMax: aioDepthMax, iovecsMax: aioIovecsMax, engine: engine ?? 'auto' });
      aio.unref();
    } catch (error) {
      // Without the AIO context file images are unavailable; null: and ram: still work.
      ctx.stderr.write(`splitblk tap serve: no native AIO (${(error as Error).message}); file images are unavailable\n`);
    }
    const tapdisk = new Tapdisk({ aio, registryDir: registryDir(rundir) });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    try {
      await tapdisk.listen(socket, {
        afterOp: (op) => {
          const changing = op === 'create' || op === 'destroy' || op === 'close';
          if (values['exit-when-idle'] && changing && tapdisk.vbds().length === 0) stop();
        },
      });
    } catch (error) {
      await aio?.close();
      return failure(ctx, 'serve', error);
    }
    if (values['exit-when-idle']) {
      // Started for one VBD that never came (the starter died): do not linger.
      setTimeout(() => { if (tapdisk.vbds().length === 0) stop(); }, idleStartMs).unref();
    }
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    ctx.stdout.write(socket + '\n');
    await stopped;
    await tapdisk.close();
    await aio?.close();
    return 0;
  },
};
