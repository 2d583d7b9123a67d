/** Test helpers for the VHD tests: temp dirs, a RegionTable over plain ArrayBuffers, requests. */
import { execFileSync, spawnSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { available } from '../helpers/ci.js';
import { prng } from '../helpers/prng.js';
import { tempDir as sharedTempDir } from '../helpers/temp.js';
import { TdOp, TdStatus, type ImageDriver, type RegionTable, type TdRequest } from '../../src/tapdisk/api.js';

/** A per-test directory for images, removed when the test ends. */
export const tempDir = (t: ExecutionContext): string => sharedTempDir(t, 'splitblk-vhd-');

/** Regions are plain ArrayBuffers registered by index. */
export class Regions implements RegionTable {
  private readonly views: Uint8Array[] = [];
  add(bytes: Uint8Array): number {
    this.views.push(bytes);
    return this.views.length - 1;
  }
  view(region: number): Uint8Array {
    const v = this.views[region];
    if (v === undefined) throw new RangeError(`no region ${region}`);
    return v;
  }
}

export interface Done {
  status: TdStatus;
  errno: number;
}

/** Run one request on `driver`, its data split into segments of at most `segBytes`. */
export function submit(
  driver: ImageDriver,
  regions: Regions,
  op: TdOp,
  sector: number,
  data: Uint8Array,
  segBytes = 4096,
): Promise<Done> {
  const region = regions.add(data);
  const n = Math.max(1, Math.ceil(data.length / segBytes));
  const req: TdRequest = {
    op,
    sector,
    sectors: data.length / 512,
    secure: false,
    segments: data.length === 0 ? 0 : n,
    segRegion: new Uint32Array(n).fill(region),
    segOffset: Uint32Array.from({ length: n }, (_, i) => i * segBytes),
    segLength: Uint32Array.from({ length: n }, (_, i) => Math.min(segBytes, data.length - i * segBytes)),
    done: () => undefined,
    tag: 0,
  };
  return new Promise((resolve) => {
    req.done = (_r, status, errno) => resolve({ status, errno });
    driver.queue(req);
  });
}

/** The VHD tests draw from the shared seeded PRNG; they print their seed. */
export { prng };

export function pattern(bytes: number, seed: number): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4) {
    const v = (rnd() * 2 ** 32) >>> 0;
    out[i] = v;
    out[i + 1] = v >>> 8;
    out[i + 2] = v >>> 16;
    out[i + 3] = v >>> 24;
  }
  return out;
}

/** Whether a Debian tool is installed; under CI=true its absence fails the test. */
export function haveTool(t: ExecutionContext, tool: string): boolean {
  const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
  if (r.error === undefined && r.status === 0) return true;
  return available(t, `${tool} is not installed (Debian package qemu-utils)`);
}

/** Run a tool; returns status and output without throwing. */
export function run(cmd: string, args: string[], cwd?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
