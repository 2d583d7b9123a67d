import { outputFlag, parseFlags, type Command } from '../../command.js';
import { resolveRundir } from '../../rundir.js';
import { printTable } from '../../table.js';
import type { VbdStatsReport } from '../../../tapdisk/control/messages.js';
import { eachTapdisk, failure, locate, parseSelector, selectorFlags, statsJson } from './common.js';

export const command: Command = {
  summary: 'print per-VBD I/O statistics',
  usage: `usage: splitblk tap stats [--minor N | --device DOMID/VDEV] [--rundir DIR] [--output=json]

Requests, sectors and errors by operation, merges, timeouts, requests in flight and pending,
bytes copied by the CPU (0 on the zero-copy raw path) and a latency histogram, for one VBD or
all of them. --output=json prints an array of {"minor", "read": {"requests", "sectors",
"errors"}, "write", "flush", "discard", "merges", "timeouts", "in-flight", "pending",
"bytes-copied", "latency-us"} plus, when blkback feeds the VBD, "ring-total" and "rings" (its
per-ring counters: oo-req, rd-req, wr-req, f-req, ds-req, ...); latency-us[i] counts requests
that took [2^i, 2^(i+1)) us.
Exit codes: 0 printed, 1 failed, 2 bad usage, 3 no such VBD.`,
  async run(argv, ctx) {
    const { values } = parseFlags(argv, selectorFlags, false);
    const format = outputFlag(values.output);
    const rundir = resolveRundir(values.rundir, ctx.env);
    try {
      let stats: VbdStatsReport[];
      if (values.minor === undefined && values.device === undefined) {
        stats = (await eachTapdisk(rundir, (c) => c.stats())).flat().sort((a, b) => a.minor - b.minor);
      } else {
        const { client, vbd } = await locate(rundir, parseSelector(values));
        try {
          stats = await client.stats(vbd.minor);
        } finally {
          client.end();
        }
      }
      if (format === 'json') {
        ctx.stdout.write(JSON.stringify(stats.map(statsJson)) + '\n');
      } else {
        printTable(ctx.stdout, ['minor', 'rd_req', 'rd_sect', 'wr_req', 'wr_sect', 'f_req', 'ds_req', 'merges', 'errors', 'timeouts', 'in_flight', 'copied'],
          stats.map((s) => ({
            minor: s.minor, rd_req: s.read.requests, rd_sect: s.read.sectors, wr_req: s.write.requests,
            wr_sect: s.write.sectors, f_req: s.flush.requests, ds_req: s.discard.requests, merges: s.merges,
            errors: s.read.errors + s.write.errors + s.flush.errors + s.discard.errors, timeouts: s.timeouts,
            in_flight: s.inFlight, copied: s.bytesCopied,
          })));
      }
      return 0;
    } catch (error) {
      return failure(ctx, 'stats', error);
    }
  },
};
