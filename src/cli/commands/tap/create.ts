import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { outputFlag, parseFlags, UsageError, type Command, type CommandContext } from '../../command.js';
import { controlSocketPath, resolveRundir } from '../../rundir.js';
import { printTable } from '../../table.js';
import { SplitblkError } from '../../../util/errors.js';
import type { TapdiskClient } from '../../../tapdisk/control/client.js';
import { ERR_NO_TAPDISK } from '../../../tapdisk/errors.js';
import { connect, failure, parseDevice, tapdiskDir, vbdColumns, vbdJson, vbdRow } from './common.js';

const spawnWaitMs = 10_000;

export const command: Command = {
  summary: 'open an image as a new VBD (spawning a tapdisk if needed)',
  usage: `usage: splitblk tap create -a TYPE:/PATH [--device DOMID/VDEV] [--readonly] [--direct]
                           [--socket PATH] [--rundir DIR] [--output=json]

Opens the image (aio:/path, raw:/path, vhd:/path, null:SIZE, ram:SIZE) as a new VBD and prints
it; the minor is unique within the run directory. The VBD goes to the tapdisk at --socket if
given, else to the backend's (<rundir>/tapdisk/control.sock) if it is running; otherwise, like
tap-ctl create, a new tapdisk process is started for it (it exits when its last VBD is
destroyed).
Exit codes: 0 created, 1 failed (unknown or unavailable type, missing image, ...), 2 bad usage,
4 no tapdisk reachable.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, {
      args: { type: 'string', short: 'a' }, device: { type: 'string', short: 'd' },
      readonly: { type: 'boolean', short: 'R' }, direct: { type: 'boolean' },
      socket: { type: 'string' }, rundir: { type: 'string' }, output: { type: 'string' },
    }, false);
    if (values.args === undefined) throw new UsageError('missing -a TYPE:/PATH');
    const format = outputFlag(values.output);
    const rundir = resolveRundir(values.rundir, ctx.env);
    const target = values.device === undefined ? { domid: null, device: null } : parseDevice(values.device);
    let client: TapdiskClient | undefined;
    try {
      client = await chooseTapdisk(rundir, values.socket, ctx);
      const vbd = await client.create(values.args, {
        domid: target.domid, device: target.device, readonly: values.readonly ?? false, direct: values.direct ?? false,
      });
      if (format === 'json') ctx.stdout.write(JSON.stringify(vbdJson(vbd)) + '\n');
      else printTable(ctx.stdout, vbdColumns, [vbdRow(vbd)]);
      return 0;
    } catch (error) {
      return failure(ctx, 'create', error);
    } finally {
      client?.end();
    }
  },
};

async function chooseTapdisk(rundir: string, socket: string | undefined, ctx: CommandContext): Promise<TapdiskClient> {
  if (socket !== undefined) return connect(socket);
  const backend = controlSocketPath(rundir);
  if (fs.existsSync(backend)) {
    try {
      return await connect(backend);
    } catch {
      // A socket left by a dead backend: start a tapdisk of our own instead.
    }
  }
  return connect(await spawnTapdisk(rundir, ctx));
}

/** Start `splitblk tap serve --exit-when-idle` detached and wait for its socket. */
async function spawnTapdisk(rundir: string, ctx: CommandContext): Promise<string> {
  const name = `tapdisk-${process.pid}-${Date.now().toString(36)}`;
  const socket = path.join(tapdiskDir(rundir), `${name}.sock`);
  const [node, ...script] = ctx.selfArgv;
  const child = spawn(node!, [...script, 'tap', 'serve', '--rundir', rundir, '--socket', socket, '--exit-when-idle'], {
    detached: true, stdio: 'ignore',
  });
  child.unref();
  const deadline = Date.now() + spawnWaitMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(socket)) return socket;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new SplitblkError(ERR_NO_TAPDISK, `the tapdisk started for ${rundir} did not come up`, { path: socket });
}
