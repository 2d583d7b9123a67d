import { existsSync } from 'node:fs';
import { parseFlags, UsageError, intFlag, type Command } from '../command.js';
import { resolveRundir } from '../rundir.js';
import { openToolstack } from '../../toolstack/connect.js';
import { parseDiskSpec } from '../../toolstack/diskspec.js';
import { attachDisk, ATTACH_TIMEOUT_MS } from '../../toolstack/vbd.js';
import { SplitblkError } from '../../util/errors.js';

export const command: Command = {
  summary: 'attach a disk to a domain (xl DISKSPEC)',
  usage: `usage: splitblk attach DOMID 'DISKSPEC' [--rundir DIR] [--timeout SECONDS]

DISKSPEC is xl's: 'format=raw|vhd, vdev=xvda, access=rw|ro, devtype=disk|cdrom, target=/path'
(target= last) or positional 'TARGET,FORMAT,VDEV,ACCESS'. Writes libxl's backend and frontend
nodes (backend dom0-owned and guest-readable, frontend guest-owned and dom0-readable) in one
transaction, waits until the backend answers (InitWait or later; --timeout, default ${ATTACH_TIMEOUT_MS / 1000} s)
and prints the device id on one line (xvda: 51712). Formats: raw (served by tapdisk's aio
driver) and vhd; access ro makes the backend refuse writes.
Exit codes: 0 attached; 1 the target does not exist, no such domain, the domain already has that
device, services not running, or the backend did not answer in time; 2 bad DISKSPEC or usage.`,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { rundir: { type: 'string' }, timeout: { type: 'string' } });
    if (positionals.length !== 2) throw new UsageError("expected DOMID and 'DISKSPEC'");
    const domid = intFlag('domid', positionals[0], 0, 1, 0x7fef);
    const timeoutMs = intFlag('timeout', values.timeout, ATTACH_TIMEOUT_MS / 1000, 1, 3600) * 1000;
    // The syntax is a usage error (exit 2); a target that is not there is an operating error (exit 1).
    const spec = parseDiskSpec(positionals[1]!, { checkTarget: () => true });
    if (!spec.ok) throw new UsageError(`DISKSPEC: ${spec.error}`);
    if (!existsSync(spec.value.target)) {
      throw new SplitblkError('SPLITBLK_ERR_NO_TARGET', `target '${spec.value.target}' does not exist`, { path: spec.value.target });
    }
    const ts = await openToolstack(resolveRundir(values.rundir, ctx.env));
    try {
      if (ts.hypervisor.domainInfo(domid) === undefined) {
        throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${domid} does not exist`, { domid });
      }
      const devid = await attachDisk(ts.xs, domid, spec.value, timeoutMs);
      ctx.stdout.write(`${devid}\n`);
      return 0;
    } finally {
      await ts.close();
    }
  },
};
