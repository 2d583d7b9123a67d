import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, intFlag, outputFlag, parseFlags, type Command, type CommandContext } from '../../command.js';
import { benchXenstore, type XsBenchOptions, type XsBenchResult } from '../../../xenstore-sim/client/bench.js';
import { connectSocket } from '../../../xenstore-sim/client/socket.js';
import { stopChild } from '../../../util/child.js';

const ORACLE_DEFAULT = '/work/shared/tools/xenstore-oracle/xs-oracle.sh';
const C_XENSTORED = '/usr/lib/xen-4.17/bin/xenstored';
const START_TIMEOUT_MS = 10_000;

const USAGE = `usage: splitblk bench xenstore [--ops N] [--depth N] [--watch-samples N] [--children N]
         [--rounds N] [--warmup-rounds N] [--oracle SCRIPT | --no-oracle] [--output json|human]

Measure read, write and directory operations per second and watch-event latency against
splitblk's xenstored and, in the same run, the real C xenstored 4.17 (through the oracle
script, default ${ORACLE_DEFAULT} or $SPLITBLK_XS_ORACLE), both as separate processes on unix
sockets, both running for the whole measurement, and driven by the same client in the same
process. The daemons are measured in interleaved rounds (the order rotated each round) and
each rate is the median over the rounds, so that load from elsewhere on the machine falls on
both alike. The C daemon runs without its trace log, as the sim does. Prints sim/C ratios
(above 1.0: the sim is faster).
  --ops N            operations per kind, per daemon and round (default 5000)
  --depth N          requests in flight (default 16)
  --watch-samples N  watch events timed, per daemon and round (default 500)
  --children N       children of the listed directory (default 50)
  --rounds N         interleaved rounds (default 5)
  --warmup-rounds N  unmeasured interleaved rounds first, to measure a warmed-up daemon
                     (default 0)
Exit codes: 0 done, 1 the sim daemon failed, 2 bad usage.`;

interface Daemon {
  socket: string;
  stop(): Promise<void>;
}

async function startDaemon(cmd: string, args: string[], socket: string, env: NodeJS.ProcessEnv): Promise<Daemon> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = () => stopChild(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await stat(socket).then(() => true, () => false)) return { socket, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${cmd} did not create ${socket}: ${stderr.trim() || `exit ${child.exitCode}`}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const connector = (daemon: Daemon) => () => connectSocket(daemon.socket);

/**
 * The oracle script always passes `-T DIR/trace.log`; a later `-T ''` overrides it with a
 * name that C xenstored cannot open, which leaves tracing off (it prints one warning at
 * start). A C daemon formatting and writing a trace line per request and reply would be
 * measured doing work that the sim, which traces only when asked, does not do.
 */
const C_TRACE_OFF = ['-T', ''];

const ROWS: [string, keyof XsBenchResult, 'higher' | 'lower'][] = [
  ['read ops/s', 'readOpsPerSec', 'higher'],
  ['write ops/s', 'writeOpsPerSec', 'higher'],
  ['directory ops/s', 'directoryOpsPerSec', 'higher'],
  ['watch events/s', 'watchEventsPerSec', 'higher'],
  ['watch p50 us', 'watchLatencyUsP50', 'lower'],
  ['watch p99 us', 'watchLatencyUsP99', 'lower'],
];

/** sim/C, oriented so that above 1.0 always means the sim is better. */
function ratio(sim: number, c: number, better: 'higher' | 'lower'): number {
  return better === 'higher' ? sim / c : c / sim;
}

const kebab = (s: string) => s.replace(/[A-Z0-9]+/g, (m) => `-${m.toLowerCase()}`);

function report(ctx: CommandContext, json: boolean, sim: XsBenchResult, c: XsBenchResult | undefined, cWhy: string | undefined): void {
  if (json) {
    const obj = (r: XsBenchResult) => Object.fromEntries(Object.entries(r).map(([k, v]) => [kebab(k), Math.round(v)]));
    const ratios = c === undefined ? null : Object.fromEntries(ROWS.map(([, key, better]) => [kebab(key), Number(ratio(sim[key], c[key], better).toFixed(3))]));
    ctx.stdout.write(JSON.stringify({ sim: obj(sim), c: c === undefined ? null : obj(c), 'c-unavailable': cWhy ?? null, ratio: ratios }) + '\n');
    return;
  }
  const lines = [`${'metric'.padEnd(18)}${'sim'.padStart(12)}${'C xenstored'.padStart(14)}${'sim/C'.padStart(8)}`];
  for (const [label, key, better] of ROWS) {
    const cv = c === undefined ? '-' : Math.round(c[key]).toString();
    const rv = c === undefined ? '-' : `${ratio(sim[key], c[key], better).toFixed(2)}x`;
    lines.push(`${label.padEnd(18)}${Math.round(sim[key]).toString().padStart(12)}${cv.padStart(14)}${rv.padStart(8)}`);
  }
  if (cWhy !== undefined) lines.push(`C xenstored not measured: ${cWhy}`);
  ctx.stdout.write(lines.join('\n') + '\n');
}

export const command: Command = {
  summary: 'xenstore ops/s and watch latency: splitblk xenstored vs the C xenstored',
  usage: USAGE,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      ops: { type: 'string' },
      depth: { type: 'string' },
      'watch-samples': { type: 'string' },
      children: { type: 'string' },
      rounds: { type: 'string' },
      'warmup-rounds': { type: 'string' },
      oracle: { type: 'string' },
      'no-oracle': { type: 'boolean' },
      output: { type: 'string' },
    }, false);
    const json = outputFlag(values.output) === 'json';
    const base: Omit<XsBenchOptions, 'root'> = {
      ops: intFlag('ops', values.ops, 5000, 1, 10_000_000),
      depth: intFlag('depth', values.depth, 16, 1, 1024),
      watchSamples: intFlag('watch-samples', values['watch-samples'], 500, 1, 1_000_000),
      children: intFlag('children', values.children, 50, 0, 1000),
      rounds: intFlag('rounds', values.rounds, 5, 1, 1000),
      warmupRounds: intFlag('warmup-rounds', values['warmup-rounds'], 0, 0, 1000),
    };
    const opts: XsBenchOptions = { ...base, root: `/splitblk-bench-${process.pid}` };
    const oracle = values.oracle ?? ctx.env.SPLITBLK_XS_ORACLE ?? ORACLE_DEFAULT;
    const dir = await mkdtemp(join(tmpdir().length < 40 ? tmpdir() : '/tmp', 'sbx-'));
    const daemons: Daemon[] = [];
    try {
      let simDaemon: Daemon;
      try {
        const [node, ...self] = ctx.selfArgv;
        const simSocket = join(dir, 'sim.sock');
        simDaemon = await startDaemon(node!, [...self, 'xenstored', '--socket', simSocket], simSocket, ctx.env);
        daemons.push(simDaemon);
      } catch (error) {
        ctx.stderr.write(`splitblk bench xenstore: ${(error as Error).message}\n`);
        return EXIT_FAILURE;
      }
      let cDaemon: Daemon | undefined;
      let cWhy: string | undefined;
      if (values['no-oracle']) cWhy = '--no-oracle';
      else if (!existsSync(oracle) || !existsSync(C_XENSTORED)) cWhy = `${existsSync(oracle) ? C_XENSTORED : oracle} not found`;
      else {
        try {
          const cdir = join(dir, 'c');
          cDaemon = await startDaemon('/bin/sh', [oracle, 'c', cdir, ...C_TRACE_OFF], join(cdir, 'socket'), ctx.env);
          daemons.push(cDaemon);
        } catch (error) {
          cWhy = (error as Error).message;
        }
      }
      let sim: XsBenchResult;
      let c: XsBenchResult | undefined;
      try {
        if (cDaemon !== undefined) {
          try {
            [sim, c] = (await benchXenstore([connector(simDaemon), connector(cDaemon)], opts)) as [XsBenchResult, XsBenchResult];
          } catch (error) {
            // Tell a C failure from a sim one: measure the sim alone.
            cWhy = `C xenstored run failed: ${(error as Error).message}`;
            [sim] = (await benchXenstore([connector(simDaemon)], opts)) as [XsBenchResult];
          }
        } else {
          [sim] = (await benchXenstore([connector(simDaemon)], opts)) as [XsBenchResult];
        }
      } catch (error) {
        ctx.stderr.write(`splitblk bench xenstore: ${(error as Error).message}\n`);
        return EXIT_FAILURE;
      }
      report(ctx, json, sim, c, cWhy);
      return EXIT_OK;
    } finally {
      for (const d of daemons.reverse()) await d.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
