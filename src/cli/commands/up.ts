import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags, EXIT_FAILURE, type Command } from '../command.js';
import { resolveRundir, xenstoredSocketPath, controlSocketPath } from '../rundir.js';
import { Supervisor } from '../../toolstack/supervisor.js';
import { socketAccepts } from '../../toolstack/connect.js';
import { pidFilePath, readPid, processAlive } from '../../toolstack/pidfile.js';

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const RESTARTS_MAX = 3;
const DETACH_POLL_MS = 50;

export const command: Command = {
  summary: 'start xenstored and the backend as supervised processes',
  usage: `usage: splitblk up [--rundir DIR] [--detach]

Starts the xenstore simulator and the backend (blkback + tapdisk) as separate processes,
restarts either if it dies (at most ${RESTARTS_MAX} times), and prints "ready" once both accept
requests. In the foreground it runs until SIGTERM or SIGINT; --detach returns once ready.
The run directory: --rundir, else $SPLITBLK_RUNDIR, else /dev/shm/splitblk-<uid>.
Exit codes: 0 ready (--detach) or stopped cleanly; 1 could not start or already running; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, detach: { type: 'boolean' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const existing = readPid(pidFilePath(rundir));
    if (existing !== undefined && processAlive(existing)) {
      ctx.stderr.write(`splitblk up: already running in ${rundir} (pid ${existing})\n`);
      return EXIT_FAILURE;
    }
    if (values.detach) return detach(rundir, ctx);
    return foreground(rundir, ctx);
  },
};

async function detach(rundir: string, ctx: Parameters<Command['run']>[1]): Promise<number> {
  mkdirSync(rundir, { recursive: true, mode: 0o700 });
  const logPath = join(rundir, 'up.log');
  const log = openSync(logPath, 'w');
  const child = spawn(ctx.selfArgv[0]!, [...ctx.selfArgv.slice(1), 'up', '--rundir', rundir], {
    detached: true, stdio: ['ignore', log, log], env: ctx.env,
  });
  closeSync(log);
  child.unref();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (readFileSync(logPath, 'utf8').split('\n').includes('ready')) {
      ctx.stdout.write('ready\n');
      return 0;
    }
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, DETACH_POLL_MS));
  }
  ctx.stderr.write(`splitblk up: services did not become ready; see ${logPath}\n`);
  return EXIT_FAILURE;
}

async function foreground(rundir: string, ctx: Parameters<Command['run']>[1]): Promise<number> {
  mkdirSync(join(rundir, 'xenstored'), { recursive: true, mode: 0o700 });
  mkdirSync(join(rundir, 'tapdisk'), { recursive: true, mode: 0o700 });
  const xsSocket = xenstoredSocketPath(rundir);
  const ctlSocket = controlSocketPath(rundir);
  const self = ctx.selfArgv;
  const supervisor = new Supervisor({
    log: ctx.stderr as never, restartsMax: RESTARTS_MAX, readyTimeoutMs: READY_TIMEOUT_MS, stopTimeoutMs: STOP_TIMEOUT_MS, env: ctx.env,
  });
  const pidFile = pidFilePath(rundir);
  writeFileSync(pidFile, `${process.pid}\n`);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= supervisor.stop().finally(() => rmSync(pidFile, { force: true })));
  const signalled = new Promise<void>((resolve) => {
    const onSignal = () => void stop().then(resolve);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    supervisor.onGiveUp = (name) => {
      ctx.stderr.write(`splitblk up: ${name} keeps dying; stopping\n`);
      onSignal();
    };
  });
  try {
    await supervisor.start([
      { name: 'xenstored', argv: [...self, 'xenstored', '--socket', xsSocket], ready: () => socketAccepts(xsSocket) },
      {
        name: 'backend',
        argv: [...self, 'backend', '--rundir', rundir, '--xenstored-socket', xsSocket, '--control-socket', ctlSocket],
        ready: () => socketAccepts(ctlSocket),
        requires: ['xenstored'],
      },
    ]);
  } catch (error) {
    ctx.stderr.write(`splitblk up: ${(error as Error).message}\n`);
    await stop();
    return EXIT_FAILURE;
  }
  ctx.stdout.write('ready\n');
  await signalled;
  return 0;
}
