import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags, EXIT_FAILURE, type Command } from '../command.js';
import { resolveRundir, xenstoredSocketPath, controlSocketPath } from '../rundir.js';
import { Supervisor } from '../../toolstack/supervisor.js';
import { socketAccepts } from '../../toolstack/connect.js';
import { liveServices, pidFilePath, readPid, processAlive, servicePidDir, servicePidPath } from '../../toolstack/pidfile.js';

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const RESTARTS_MAX = 3;
const DETACH_POLL_MS = 50;

export const command: Command = {
  summary: 'start xenstored and the backend as supervised processes',
  usage: `usage: splitblk up [--rundir DIR] [--detach]

Starts the xenstore simulator and the backend (blkback + tapdisk) as separate processes and
prints one line "ready" once both accept requests. In the foreground it runs until SIGTERM or
SIGINT (or 'splitblk down'), then stops the backend, then xenstored; the services' output goes
to stderr, each line prefixed with [xenstored] or [backend]. --detach runs it in the background
(its log in DIR/up.log, its pid in DIR/up.pid) and returns once it printed ready.
A service that dies is restarted, at most ${RESTARTS_MAX} times each; a restarted xenstored starts with an
empty store, so the backend is restarted after it (see docs/cli.md, known limitations).
The run directory: --rundir, else $SPLITBLK_RUNDIR, else /dev/shm/splitblk-<uid>.
Exit codes: 0 ready (--detach) or stopped by a signal; 1 could not start, already running, or a
service died more than ${RESTARTS_MAX} times; 2 usage.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, { rundir: { type: 'string' }, detach: { type: 'boolean' } }, false);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const existing = readPid(pidFilePath(rundir));
    if (existing !== undefined && processAlive(existing)) {
      ctx.stderr.write(`splitblk up: already running in ${rundir} (pid ${existing})\n`);
      return EXIT_FAILURE;
    }
    const orphans = liveServices(rundir);
    if (orphans.length > 0) {
      const which = orphans.map((s) => `${s.name} pid ${s.pid}`).join(', ');
      ctx.stderr.write(`splitblk up: services of an earlier up still run in ${rundir} (${which}); run 'splitblk down' first\n`);
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
  // Do not leave a half-started supervisor behind: it stops whatever it started.
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  ctx.stderr.write(`splitblk up: services did not become ready; see ${logPath}\n`);
  return EXIT_FAILURE;
}

async function foreground(rundir: string, ctx: Parameters<Command['run']>[1]): Promise<number> {
  mkdirSync(join(rundir, 'xenstored'), { recursive: true, mode: 0o700 });
  mkdirSync(join(rundir, 'tapdisk'), { recursive: true, mode: 0o700 });
  const xsSocket = xenstoredSocketPath(rundir);
  const ctlSocket = controlSocketPath(rundir);
  const self = ctx.selfArgv;
  mkdirSync(servicePidDir(rundir), { recursive: true, mode: 0o700 });
  const supervisor = new Supervisor({
    log: ctx.stderr as never, restartsMax: RESTARTS_MAX, readyTimeoutMs: READY_TIMEOUT_MS, stopTimeoutMs: STOP_TIMEOUT_MS, env: ctx.env,
    onSpawn: (name, pid) => writeFileSync(servicePidPath(rundir, name), `${pid}\n`),
  });
  const pidFile = pidFilePath(rundir);
  writeFileSync(pidFile, `${process.pid}\n`);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= supervisor.stop().finally(() => rmSync(pidFile, { force: true })));
  // Resolves with the exit code: 0 when stopped by a signal, 1 when a service kept dying.
  const stopped = new Promise<number>((resolve) => {
    const onSignal = () => void stop().then(() => resolve(0));
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    supervisor.onGiveUp = (name) => {
      ctx.stderr.write(`splitblk up: ${name} died more than ${RESTARTS_MAX} times; stopping\n`);
      void stop().then(() => resolve(EXIT_FAILURE));
    };
  });
  try {
    await supervisor.start([
      { name: 'xenstored', argv: [...self, 'xenstored', '--socket', xsSocket, '--exit-with-parent'], ready: () => socketAccepts(xsSocket) },
      {
        name: 'backend',
        argv: [...self, 'backend', '--rundir', rundir, '--xenstored-socket', xsSocket, '--control-socket', ctlSocket, '--exit-with-parent'],
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
  return stopped;
}
