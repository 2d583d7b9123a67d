import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, outputFlag, type CommandContext } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { SplitblkError } from '../../../util/errors.js';
import { vdevToDevid } from '../../../toolstack/vdev.js';
import { TapdiskClient, type VbdDescription } from '../../../tapdisk/control/client.js';
import type { VbdStatsReport } from '../../../tapdisk/control/messages.js';
import { readDatapaths, registryDir } from '../../../tapdisk/control/datapaths.js';
import { ERR_NO_TAPDISK, ERR_NO_VBD } from '../../../tapdisk/errors.js';

/**
 * What the `tap` verbs share: finding the tapdisk processes of a run directory, addressing a
 * VBD by minor or domain/device, the JSON shapes, and the exit codes:
 *   0 done; 1 the operation failed; 2 bad usage; 3 no such VBD; 4 no tapdisk reachable.
 */
export const EXIT_NO_VBD = 3;
export const EXIT_NO_TAPDISK = 4;

export const tapdiskDirName = 'tapdisk';
export const requestTimeoutMs = 30_000;

export function tapdiskDir(rundir: string): string {
  return path.join(rundir, tapdiskDirName);
}

/** Every control socket of the run directory: `<rundir>/tapdisk/*.sock` and the registry's. */
export function controlSockets(rundir: string): string[] {
  const found = new Set<string>();
  try {
    for (const name of fs.readdirSync(tapdiskDir(rundir))) {
      if (name.endsWith('.sock')) found.add(path.join(tapdiskDir(rundir), name));
    }
  } catch {
    // No tapdisk directory: no tapdisks.
  }
  for (const e of readDatapaths(registryDir(rundir))) if (e.socket) found.add(e.socket);
  return [...found].sort();
}

/** `DOMID/VDEV` (VDEV a name such as xvda or a device id) to numbers. */
export function parseDevice(text: string): { domid: number; device: number } {
  const m = /^(\d+)\/(.+)$/.exec(text);
  const device = m ? vdevToDevid(m[2]!) : undefined;
  if (!m || device === undefined) throw new UsageError(`--device: expected DOMID/VDEV (e.g. 1/xvda or 1/51712), got ${JSON.stringify(text)}`);
  return { domid: Number(m[1]), device };
}

/** The VBD selector flags shared by the verbs that act on one VBD. */
export const selectorFlags = {
  rundir: { type: 'string' },
  minor: { type: 'string', short: 'm' },
  device: { type: 'string', short: 'd' },
  output: { type: 'string' },
} as const;

export interface Selector {
  minor?: number;
  domid?: number;
  device?: number;
}

export function parseSelector(values: { minor?: string; device?: string }): Selector {
  if ((values.minor === undefined) === (values.device === undefined)) {
    throw new UsageError('name the VBD with exactly one of --minor N (-m) or --device DOMID/VDEV');
  }
  if (values.minor !== undefined) {
    if (!/^\d+$/.test(values.minor)) throw new UsageError(`--minor: not a minor number: ${JSON.stringify(values.minor)}`);
    return { minor: Number(values.minor) };
  }
  return parseDevice(values.device!);
}

export async function connect(socket: string): Promise<TapdiskClient> {
  return TapdiskClient.connect(socket, { timeoutMs: requestTimeoutMs });
}

/**
 * Connect to each tapdisk of the run directory in turn, skipping the unreachable ones; the
 * caller ends every client it is given.
 */
export async function* reachableTapdisks(rundir: string): AsyncGenerator<TapdiskClient> {
  for (const socket of controlSockets(rundir)) {
    let client: TapdiskClient;
    try {
      client = await connect(socket);
    } catch {
      continue;
    }
    yield client;
  }
}

/** Run `fn` with a client of every reachable tapdisk (unreachable sockets are skipped). */
export async function eachTapdisk<T>(rundir: string, fn: (client: TapdiskClient) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const client of reachableTapdisks(rundir)) {
    try {
      out.push(await fn(client));
    } finally {
      client.end();
    }
  }
  return out;
}

function matches(v: VbdDescription, s: Selector): boolean {
  if (s.minor !== undefined) return v.minor === s.minor;
  return v.domid === s.domid && v.device === s.device;
}

/** Find the tapdisk serving the selected VBD; the caller ends the client. */
export async function locate(rundir: string, s: Selector): Promise<{ client: TapdiskClient; vbd: VbdDescription }> {
  for await (const client of reachableTapdisks(rundir)) {
    const vbd = (await client.list().catch(() => [])).find((v) => matches(v, s));
    if (vbd) return { client, vbd };
    client.end();
  }
  const what = s.minor !== undefined ? `minor ${s.minor}` : `domain ${s.domid} device ${s.device}`;
  throw new SplitblkError(ERR_NO_VBD, `no VBD with ${what} under ${rundir}`, { minor: s.minor, domid: s.domid, devid: s.device });
}

/** Print an operating error with its code and map it to an exit code. */
export function failure(ctx: CommandContext, verb: string, error: unknown): number {
  if (!(error instanceof SplitblkError)) throw error;
  ctx.stderr.write(`splitblk tap ${verb}: ${error.message} (${error.code})\n`);
  if (error.code === ERR_NO_VBD) return EXIT_NO_VBD;
  if (error.code === ERR_NO_TAPDISK) return EXIT_NO_TAPDISK;
  return 1;
}

/**
 * The shape of the verbs that act on one VBD (destroy, pause, unpause): find its tapdisk, run
 * `act`, print the VBD's JSON (or `describe` of it on a TTY), and map errors to exit codes.
 */
export async function runOnVbd(
  ctx: CommandContext,
  verb: string,
  values: { minor?: string; device?: string; rundir?: string; output?: string },
  act: (client: TapdiskClient, vbd: VbdDescription) => Promise<Record<string, unknown>>,
  describe: (result: Record<string, unknown>) => string = (result) => String(result['state']),
): Promise<number> {
  const format = outputFlag(values.output);
  const selector = parseSelector(values);
  const rundir = resolveRundir(values.rundir, ctx.env);
  try {
    const { client, vbd } = await locate(rundir, selector);
    try {
      const result = await act(client, vbd);
      if (format === 'json') ctx.stdout.write(JSON.stringify(result) + '\n');
      else ctx.stdout.write(`minor ${vbd.minor}: ${describe(result)}\n`);
      return 0;
    } finally {
      client.end();
    }
  } catch (error) {
    return failure(ctx, verb, error);
  }
}

/** The JSON (kebab-case keys, raw byte counts) and table row of a VBD. */
export function vbdJson(v: VbdDescription): Record<string, unknown> {
  return {
    minor: v.minor, domain: v.domid, device: v.device, state: v.state, chain: v.chain, spec: v.spec,
    pid: v.pid, sectors: v.sectors, 'sector-size': v.sectorSize, bytes: v.sectors * 512, readonly: v.readonly,
  };
}

export function vbdRow(v: VbdDescription): Record<string, unknown> {
  return {
    minor: v.minor, pid: v.pid, domain: v.domid ?? '-', device: v.device ?? '-', state: v.state,
    size: humanBytes(v.sectors * 512), chain: v.chain.join(' <- '),
  };
}

export const vbdColumns = ['minor', 'pid', 'domain', 'device', 'state', 'size', 'chain'];

export function statsJson(s: VbdStatsReport): Record<string, unknown> {
  const op = (o: VbdStatsReport['read']) => ({ requests: o.requests, sectors: o.sectors, errors: o.errors });
  return {
    minor: s.minor, read: op(s.read), write: op(s.write), flush: op(s.flush), discard: op(s.discard),
    merges: s.merges, timeouts: s.timeouts, 'in-flight': s.inFlight, pending: s.pending,
    'bytes-copied': s.bytesCopied, 'latency-us': s.latencyUs,
    ...(s.rings ? { 'ring-total': s.rings.total, rings: s.rings.rings } : {}),
  };
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${Number.isInteger(n) ? n : n.toFixed(1)}${units[u]}`;
}
