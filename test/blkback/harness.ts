/**
 * blkback end-to-end harness: a run directory on tmpfs, a real xenstored process and the real
 * backend process (`splitblk xenstored`, `splitblk backend`), guest domains made through the
 * hypervisor emulation, vbd nodes written in libxl's layout, and frontend processes.
 * Everything is torn down by close(), which checks that the backend exits 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openHypervisor, type EmulatedHypervisor } from '../../src/hypervisor/index.js';
import { openXenstore } from '../../src/xenstore-sim/client/index.js';
import type { XsClient } from '../../src/xenstore-sim/client/api.js';
import { waitForState, XenbusState } from '../../src/xenstore-sim/xenbus/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'splitblk.js');
const FRONTEND = fileURLToPath(new URL('./fixtures/frontend-main.js', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

export function run(args: string[], opts: { node?: boolean } = {}): Spawned {
  const child = spawn(process.execPath, opts.node ? args : [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Spawned = { child, stdout: '', stderr: '', exited: undefined as unknown as Promise<number | null> };
  child.stdout!.on('data', (d: Buffer) => (s.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (s.stderr += d.toString()));
  s.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return s;
}

async function until(what: string, cond: () => boolean, timeoutMs: number, p?: Spawned): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${p ? `\nstderr: ${p.stderr}` : ''}`);
    if (p !== undefined && p.child.exitCode !== null) throw new Error(`${what}: process exited ${p.child.exitCode}\n${p.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface VbdNodes {
  params: string;
  mode?: 'w' | 'r';
  online?: string;
  /** Write the frontend directory too (default); false when the test's frontend wrote it. */
  frontendNodes?: boolean;
}

export class Harness {
  readonly rundir: string;
  readonly xsSocket: string;
  xenstored!: Spawned;
  backend!: Spawned;
  xs!: XsClient;
  hv!: EmulatedHypervisor;
  readonly tmp: string;

  private constructor() {
    this.rundir = mkdtempSync('/dev/shm/sbk-');
    this.xsSocket = join(this.rundir, 'xenstored', 'socket');
    // Images on tmpfs too: flushes (fdatasync) are then free, which keeps the tests fast.
    this.tmp = join(this.rundir, 'img');
    mkdirSync(this.tmp);
  }

  /** `backendArgs` null: no backend process (the test hosts blkback itself). */
  static async start(backendArgs: string[] | null = []): Promise<Harness> {
    const h = new Harness();
    try {
      mkdirSync(join(h.rundir, 'xenstored'), { recursive: true });
      h.xenstored = run(['xenstored', '--socket', h.xsSocket]);
      await until('xenstored socket', () => existsSync(h.xsSocket), 10_000, h.xenstored);
      h.hv = openHypervisor(h.rundir);
      h.xs = await openXenstore({ socketPath: h.xsSocket });
      if (backendArgs !== null) {
        h.backend = run(['backend', '--rundir', h.rundir, '--xenstored-socket', h.xsSocket, ...backendArgs]);
        await until('backend ready', () => h.backend.stdout.includes('ready'), 10_000, h.backend);
      }
    } catch (error) {
      await h.close().catch(() => undefined);
      throw error;
    }
    return h;
  }

  async createDomain(domid: number, memoryMiB = 64): Promise<void> {
    this.hv.createDomain({ domid, memoryMiB });
    await this.xs.mkdir(`/local/domain/${domid}/device/vbd`);
  }

  backendPath(domid: number, devid: number): string {
    return `/local/domain/0/backend/vbd/${domid}/${devid}`;
  }

  frontendPath(domid: number, devid: number): string {
    return `/local/domain/${domid}/device/vbd/${devid}`;
  }

  /** Write the libxl node set (docs/blkback.md) in one transaction. */
  async attach(domid: number, devid: number, n: VbdNodes): Promise<void> {
    const be = this.backendPath(domid, devid);
    const fe = this.frontendPath(domid, devid);
    await this.xs.transaction(async (tx) => {
      const back: Record<string, string> = {
        frontend: fe,
        'frontend-id': String(domid),
        online: n.online ?? '1',
        removable: '0',
        bootable: '1',
        state: '1',
        dev: 'xvda',
        type: 'vbd3',
        mode: n.mode ?? 'w',
        'device-type': 'disk',
        params: n.params,
      };
      for (const [k, v] of Object.entries(back)) await tx.write(`${be}/${k}`, v);
      if (n.frontendNodes === false) return;
      const front: Record<string, string> = { backend: be, 'backend-id': '0', state: '1', 'virtual-device': String(devid), 'device-type': 'disk' };
      for (const [k, v] of Object.entries(front)) await tx.write(`${fe}/${k}`, v);
    });
  }

  backendState(domid: number, devid: number, pred: (s: XenbusState | undefined) => boolean, timeoutMs = 10_000): Promise<XenbusState | undefined> {
    return waitForState(this.xs, `${this.backendPath(domid, devid)}/state`, pred, timeoutMs);
  }

  /** Detach as the toolstack does: online=0 + Closing, wait for Closed, remove both directories. */
  async detach(domid: number, devid: number): Promise<XenbusState | undefined> {
    const be = this.backendPath(domid, devid);
    await this.xs.transaction(async (tx) => {
      await tx.write(`${be}/online`, '0');
      await tx.write(`${be}/state`, String(XenbusState.Closing));
    });
    const s = await this.backendState(domid, devid, (x) => x === XenbusState.Closed, 10_000);
    await this.xs.rm(this.frontendPath(domid, devid)).catch(() => undefined);
    await this.xs.rm(be).catch(() => undefined);
    return s;
  }

  frontend(opts: Record<string, unknown>): Spawned {
    return run([FRONTEND, JSON.stringify({ rundir: this.rundir, xsSocket: this.xsSocket, ...opts })], { node: true });
  }

  /** Wait for a frontend process and parse its JSON line. */
  async result(p: Spawned): Promise<{ negotiated: Record<string, unknown>; result: Record<string, unknown>; closed: unknown }> {
    const code = await p.exited;
    if (code !== 0) throw new Error(`frontend exited ${code}\n${p.stderr}\nbackend: ${this.backend.stderr.slice(-4000)}`);
    return JSON.parse(p.stdout.trim().split('\n').pop()!);
  }

  /** SIGTERM the backend and xenstored; returns the backend's exit code. */
  async close(): Promise<number | null> {
    let code: number | null = null;
    if (this.backend?.child.exitCode === null) {
      this.backend.child.kill('SIGTERM');
      const timer = setTimeout(() => this.backend.child.kill('SIGKILL'), 10_000);
      code = await this.backend.exited;
      clearTimeout(timer);
    } else if (this.backend) {
      code = this.backend.child.exitCode;
    }
    await this.xs?.close().catch(() => undefined);
    if (this.xenstored?.child.exitCode === null) {
      this.xenstored.child.kill('SIGTERM');
      await this.xenstored.exited;
    }
    this.hv?.close();
    rmSync(this.rundir, { recursive: true, force: true });
    return code;
  }
}
