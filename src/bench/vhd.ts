/**
 * VHD (issue 6): the same workloads through the ring on a dynamic VHD and on a sparse raw file,
 * each a fresh image attached to the same guest, driven by the C blkfront:
 *   vhd-first-touch-write  64 KiB sequential WRITEs over the first N MiB of a fresh image
 *                          (VHD allocates blocks and updates its BAT; raw allocates file blocks)
 *   vhd-overwrite          the same writes again (every block allocated)
 *   vhd-read               64 KiB sequential READs looping over those N MiB for the run time
 *   reference: raw, same workload, same run. Then coalesce:
 *   vhd-coalesce           `splitblk image coalesce` of a child holding N MiB into its parent,
 *                          against `qemu-img commit` of a qcow2 chain holding the same N MiB
 *                          (qemu's vpc driver has no differencing VHDs, so the reference chain is
 *                          qcow2; both times include the tool's process start), best of
 *                          COALESCE_ROUNDS, each on a fresh copy of the parent;
 *   vhd-coalesce-1gib      the same with 1 GiB (full runs only). Coalesce in XCP merges
 *                          snapshots of multi-GiB disks, where the copy and the write-back of the
 *                          data dominate; at 64 MiB the tools' start-up (node's ~0.1 s against
 *                          qemu-img's few ms) is a large part of the time. Both rows are kept.
 * The first-touch write is best of the run's rounds, each on a fresh pair of images.
 * If the VHD driver cannot serve a guest here, the rows say skipped and why. The same workloads
 * on the tapdisk core alone (no ring) and the guest-visible pause of a live leaf coalesce are
 * `splitblk bench vhd` (src/cli/commands/image/bench.ts).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from './cluster.js';
import { durations, rounds, runCBlkfront, say, vdevName, type BenchContext, type Family } from './context.js';
import { runProgram } from './cprograms.js';
import { failedRow, row, skippedRow, type BenchRow } from './results.js';

const DOMID = 1;
const GUEST_MEMORY_MIB = 64;
const BS = 65536;
const QD = 8;
const TOOL_TIMEOUT_MS = 300_000;
/** Timed coalesces per tool (best kept): one is at the mercy of whatever else the machine does. */
const COALESCE_ROUNDS = 3;
const LARGE_COALESCE_BYTES = 1024 ** 3;

type Format = 'raw' | 'vhd';

interface Phase {
  workload: string;
  write: boolean;
}

const PHASES: Phase[] = [
  { workload: 'vhd-first-touch-write', write: true },
  { workload: 'vhd-overwrite', write: true },
  { workload: 'vhd-read', write: false },
];

async function splitblk(ctx: BenchContext, args: string[]): Promise<void> {
  const [node, ...self] = ctx.selfArgv;
  const r = await runProgram(node!, [...self, ...args], TOOL_TIMEOUT_MS, ctx.env);
  if (r.code !== 0) throw new Error(`splitblk ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
}

async function createImage(ctx: BenchContext, format: Format, path: string, bytes: number): Promise<void> {
  if (format === 'vhd') return splitblk(ctx, ['image', 'create', '-f', 'vhd', path, String(bytes)]);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}

/** A fresh image of `format` attached to the guest; returns its devid. */
async function freshDisk(ctx: BenchContext, cluster: Cluster, format: Format, vdev: string, diskBytes: number): Promise<number> {
  const path = join(ctx.workDir, `vhd-bench-${vdev}.${format}`);
  await createImage(ctx, format, path, diskBytes);
  return cluster.attachImage(DOMID, vdev, format, path);
}

/** One phase on one disk: MB/s. Writes cover the first `touchBytes` once; the read loops over
 * them for the run's duration (so that it lasts long enough to measure). */
async function runPhase(ctx: BenchContext, cluster: Cluster, devid: number, phase: Phase, touchBytes: number): Promise<number> {
  const { seconds } = durations(ctx);
  const limit = phase.write ? ['--write', '--bytes', String(touchBytes), '--seconds', String(seconds * 60)] : ['--span', String(touchBytes / 512), '--seconds', String(seconds)];
  const j = await runCBlkfront(ctx, cluster, DOMID, devid, [
    'bench', '--ring-order', '4', '--queues', '1', '--qd', String(QD), '--bs', String(BS), '--seq', ...limit,
  ]);
  return j['mb-per-s'] as number;
}

/**
 * Raw and VHD side by side, phase by phase (raw, then VHD), so that both see the same machine.
 * A first touch happens once per image, so its rounds each take a fresh pair; the later phases
 * run on the last pair.
 */
async function runPhases(ctx: BenchContext, cluster: Cluster, vdevs: () => string, diskBytes: number, touchBytes: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const note = `${touchBytes / 2 ** 20} MiB, 64 KiB, qd${QD}`;
  const attached: string[] = [];
  try {
    let raw = -1;
    let vhd = -1;
    const best = { ours: 0, reference: 0 };
    const [first, ...later] = PHASES;
    try {
      for (let round = 0; round < rounds(ctx); round++) {
        const rawVdev = vdevs();
        const vhdVdev = vdevs();
        // The previous pair is done with: detach it so the guest does not collect devices.
        for (const v of attached.splice(0)) await cluster.detach(DOMID, v).catch(() => undefined);
        raw = await freshDisk(ctx, cluster, 'raw', rawVdev, diskBytes);
        attached.push(rawVdev);
        vhd = await freshDisk(ctx, cluster, 'vhd', vhdVdev, diskBytes);
        attached.push(vhdVdev);
        say(ctx, `${first!.workload} (round ${round + 1}): raw, then VHD`);
        best.reference = Math.max(best.reference, await runPhase(ctx, cluster, raw, first!, touchBytes));
        best.ours = Math.max(best.ours, await runPhase(ctx, cluster, vhd, first!, touchBytes));
      }
      const roundsNote = rounds(ctx) > 1 ? `, best of ${rounds(ctx)} fresh pairs` : '';
      rows.push(row(first!.workload, 'MB/s', best.ours, best.reference, 'raw image, same workload', 'higher', 'MB/s', note + roundsNote));
    } catch (error) {
      rows.push(failedRow(first!.workload, error));
    }
    for (const phase of later) {
      try {
        if (raw < 0 || vhd < 0) throw new Error('no images: the first-touch phase failed to attach them');
        say(ctx, `${phase.workload}: raw, then VHD`);
        const reference = await runPhase(ctx, cluster, raw, phase, touchBytes);
        const ours = await runPhase(ctx, cluster, vhd, phase, touchBytes);
        rows.push(row(phase.workload, 'MB/s', ours, reference, 'raw image, same workload', 'higher', 'MB/s', note));
      } catch (error) {
        rows.push(failedRow(phase.workload, error));
      }
    }
  } finally {
    for (const v of attached) await cluster.detach(DOMID, v).catch(() => undefined);
  }
  return rows;
}

function qemuMissing(): string | undefined {
  for (const tool of ['qemu-img', 'qemu-io']) {
    const r = spawnSync(tool, ['--version']);
    if (r.error !== undefined || r.status !== 0) return `${tool} is not installed (qemu-utils)`;
  }
  return undefined;
}

async function timed(ctx: BenchContext, what: string, cmd: string, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await runProgram(cmd, args, TOOL_TIMEOUT_MS, ctx.env);
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * MB/s of `splitblk image coalesce` (child written through the ring) and of qemu-img commit,
 * each the best of COALESCE_ROUNDS. Our coalesce leaves the child as it was and qemu-img
 * commit empties its top, so each round starts from saved copies: the empty parent for ours,
 * both images of the qcow2 chain for qemu (copies keep the ids the children record).
 */
async function runCoalesce(ctx: BenchContext, cluster: Cluster, vdev: string, diskBytes: number, bytes: number, workload: string): Promise<BenchRow> {
  // The chains take GiBs, so a row's files go as soon as the row is done.
  const files = join(ctx.workDir, workload);
  rmSync(files, { recursive: true, force: true });
  mkdirSync(files);
  try {
    return await coalesceRounds(ctx, cluster, vdev, diskBytes, bytes, workload, files);
  } finally {
    rmSync(files, { recursive: true, force: true });
  }
}

async function coalesceRounds(ctx: BenchContext, cluster: Cluster, vdev: string, diskBytes: number, bytes: number, workload: string, files: string): Promise<BenchRow> {
  const base = join(files, 'base.vhd');
  const child = join(files, 'child.vhd');
  await createImage(ctx, 'vhd', base, diskBytes);
  await splitblk(ctx, ['image', 'create', '-f', 'vhd', '-b', base, child]);
  copyFileSync(base, `${base}.empty`);
  const devid = await cluster.attachImage(DOMID, vdev, 'vhd', child);
  try {
    await runCBlkfront(ctx, cluster, DOMID, devid, ['bench', '--ring-order', '4', '--qd', String(QD), '--bs', String(BS), '--seq', '--write', '--bytes', String(bytes), '--seconds', '600']);
  } finally {
    await cluster.detach(DOMID, vdev).catch(() => undefined);
  }
  const qbase = join(files, 'base.qcow2');
  const qtop = join(files, 'top.qcow2');
  await timed(ctx, 'qemu-img create', 'qemu-img', ['create', '-q', '-f', 'qcow2', qbase, String(diskBytes)]);
  await timed(ctx, 'qemu-img create', 'qemu-img', ['create', '-q', '-f', 'qcow2', '-b', qbase, '-F', 'qcow2', qtop]);
  await timed(ctx, 'qemu-io write', 'qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a 0 ${bytes}`, qtop]);
  copyFileSync(qbase, `${qbase}.saved`);
  copyFileSync(qtop, `${qtop}.saved`);
  const [node, ...self] = ctx.selfArgv;
  const ours: number[] = [];
  const reference: number[] = [];
  for (let round = 0; round < COALESCE_ROUNDS; round++) {
    say(ctx, `${workload} (round ${round + 1}): splitblk image coalesce, then qemu-img commit`);
    copyFileSync(`${base}.empty`, base);
    // Each tool starts with no dirty pages left by what ran before it (the phases above write
    // GiBs, the copies above as much as the chain), so neither pays for the other's write-back
    // in its own final flush.
    await timed(ctx, 'sync', 'sync', []);
    ours.push(await timed(ctx, 'splitblk image coalesce', node!, [...self, 'image', 'coalesce', child]));
    copyFileSync(`${qbase}.saved`, qbase);
    copyFileSync(`${qtop}.saved`, qtop);
    await timed(ctx, 'sync', 'sync', []);
    reference.push(await timed(ctx, 'qemu-img commit', 'qemu-img', ['commit', '-q', qtop]));
  }
  const mb = bytes / 1e6;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(3)).join('/');
  const note = `${bytes / 2 ** 20} MiB, process start included, best of ${COALESCE_ROUNDS}: splitblk ${list(ours)} s, qemu-img ${list(reference)} s`;
  return row(workload, 'MB/s', mb / Math.min(...ours), mb / Math.min(...reference), 'qemu-img commit (qcow2 chain)', 'higher', 'MB/s', note);
}

/** Can the VHD driver serve a guest here? undefined when yes, else why not. */
async function probeVhd(ctx: BenchContext, cluster: Cluster, vdev: string): Promise<string | undefined> {
  try {
    const path = join(ctx.workDir, 'vhd-probe.vhd');
    await createImage(ctx, 'vhd', path, 16 * 1024 * 1024);
    const devid = await cluster.attachImage(DOMID, vdev, 'vhd', path);
    try {
      await runCBlkfront(ctx, cluster, DOMID, devid, ['verify', '--qd', '8', '--ops', '200', '--seed', '5']);
    } finally {
      await cluster.detach(DOMID, vdev).catch(() => undefined);
    }
    return undefined;
  } catch (error) {
    return `the VHD driver does not pass a verified run end to end: ${(error as Error).message.split('\n')[0]}`;
  }
}

export const vhdFamily: Family = {
  name: 'vhd-ring',
  summary: 'VHD vs raw through the ring (read, first-touch write, overwrite); coalesce vs qemu-img commit',
  async run(ctx) {
    const diskBytes = 1024 ** 3;
    const touchBytes = (ctx.quick ? 64 : 256) * 1024 * 1024;
    let next = 0;
    const vdevs = () => vdevName(next++);
    const rows: BenchRow[] = [];
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ selfArgv: ctx.selfArgv, env: ctx.env, name: 'sbk-bench-vhd' });
      await cluster.createDomain(DOMID, GUEST_MEMORY_MIB);
      say(ctx, 'vhd: checking that the VHD driver serves a verified guest');
      const why = await probeVhd(ctx, cluster, vdevs());
      if (why !== undefined) {
        say(ctx, `vhd: skipped: ${why}`);
        const coalesceRows = ctx.quick ? ['vhd-coalesce'] : ['vhd-coalesce', 'vhd-coalesce-1gib'];
        return [...PHASES.map((p) => skippedRow(p.workload, why)), ...coalesceRows.map((w) => skippedRow(w, why))];
      }
      try {
        rows.push(...(await runPhases(ctx, cluster, vdevs, diskBytes, touchBytes)));
      } catch (error) {
        rows.push(failedRow('vhd-vs-raw', error));
      }
      const coalesces: [string, number][] = [['vhd-coalesce', touchBytes]];
      if (!ctx.quick) coalesces.push(['vhd-coalesce-1gib', LARGE_COALESCE_BYTES]);
      const missing = qemuMissing();
      for (const [workload, bytes] of coalesces) {
        if (missing !== undefined) {
          rows.push(skippedRow(workload, missing));
          continue;
        }
        try {
          say(ctx, `vhd: coalesce of ${bytes / 2 ** 20} MiB vs qemu-img commit`);
          rows.push(await runCoalesce(ctx, cluster, vdevs(), Math.max(diskBytes, bytes), bytes, workload));
        } catch (error) {
          rows.push(failedRow(workload, error));
        }
      }
    } catch (error) {
      rows.push(failedRow('vhd-setup', error));
    } finally {
      await cluster?.close();
    }
    return rows;
  },
};
