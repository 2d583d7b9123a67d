import { spawn, type ChildProcess } from 'node:child_process';
import { stopChild } from '../util/child.js';
import type { Writable } from 'node:stream';

/**
 * Runs a fixed set of long-lived children (xenstored, the backend) and restarts one that dies
 * unexpectedly, a bounded number of times. Stop order is the reverse of start order, so the
 * backend closes its devices while xenstored is still there to hear it.
 *
 * A service may name the services it `requires`. When one of those restarts, the dependent is
 * restarted after it: its connection is gone, and so is everything it learned through it (a
 * restarted xenstored starts with an empty store, so the backend's watches and devices are
 * stale). Such a follow-on restart does not count against the dependent's own bound.
 */
export interface ServiceSpec {
  name: string;
  argv: string[];
  /** Resolves true once the service accepts requests. */
  ready: () => Promise<boolean>;
  /** Names of services started before this one that it cannot outlive. */
  requires?: string[];
}

export interface SupervisorOptions {
  log: Writable;
  restartsMax: number;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
  env: NodeJS.ProcessEnv;
  /** Told each child's pid as it starts (so that it can be recorded). */
  onSpawn?: (name: string, pid: number) => void;
}

interface Running {
  spec: ServiceSpec;
  child: ChildProcess;
  restarts: number;
  /** Set while the supervisor itself stops this child to restart it. */
  cycling: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const READY_POLL_MS = 20;
/** A pause before each restart, growing with the count, so a crash loop does not spin. */
const RESTART_DELAY_MS_PER_RESTART = 100;

export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;
  /** Called when a service has died more than restartsMax times. */
  onGiveUp: ((name: string) => void) | null = null;

  constructor(private readonly opts: SupervisorOptions) {}

  /** Start the services in order, each ready before the next starts. */
  async start(specs: ServiceSpec[]): Promise<void> {
    for (const spec of specs) {
      const entry: Running = { spec, child: this.spawn(spec), restarts: 0, cycling: false };
      this.running.push(entry);
      this.watch(entry);
      await this.waitReady(entry);
    }
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.running.map((r) => [r.spec.name, r.child.pid]));
  }

  private spawn(spec: ServiceSpec): ChildProcess {
    const [cmd, ...args] = spec.argv;
    // stdin is a pipe we never write to: services started with --exit-with-parent stop when it
    // closes, which the kernel does when this process dies, however it dies.
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.opts.env });
    const prefix = (chunk: Buffer) => this.opts.log.write(chunk.toString().replace(/^(?=.)/gm, `[${spec.name}] `));
    child.stdout!.on('data', prefix);
    child.stderr!.on('data', prefix);
    if (child.pid !== undefined) this.opts.onSpawn?.(spec.name, child.pid);
    return child;
  }

  private watch(entry: Running): void {
    entry.child.once('exit', (code, signal) => {
      if (this.stopping || entry.cycling) return;
      this.opts.log.write(`[supervisor] ${entry.spec.name} exited (${signal ?? code})\n`);
      if (entry.restarts >= this.opts.restartsMax) {
        this.onGiveUp?.(entry.spec.name);
        return;
      }
      entry.restarts++;
      this.restart(entry).catch((error) => this.opts.log.write(`[supervisor] ${(error as Error).message}\n`));
    });
  }

  /** Start a dead service again, then cycle the services that require it. */
  private async restart(entry: Running): Promise<void> {
    await sleep(RESTART_DELAY_MS_PER_RESTART * entry.restarts);
    // A dependent that died with its dependency (the backend losing xenstored) must not start
    // before that dependency accepts again, or it dies again at once.
    await this.waitRequired(entry);
    if (this.stopping) return;
    entry.child = this.spawn(entry.spec);
    this.watch(entry);
    await this.waitReady(entry);
    this.opts.log.write(`[supervisor] ${entry.spec.name} restarted (${entry.restarts} of ${this.opts.restartsMax})\n`);
    for (const dependent of this.running.filter((r) => r.spec.requires?.includes(entry.spec.name))) {
      if (this.stopping) return;
      await this.cycle(dependent);
    }
  }

  /** Stop a running service and start it again (not counted as a failure). */
  private async cycle(entry: Running): Promise<void> {
    entry.cycling = true;
    try {
      await stopChild(entry.child, this.opts.stopTimeoutMs);
      if (this.stopping) return;
      entry.child = this.spawn(entry.spec);
      this.watch(entry);
    } finally {
      entry.cycling = false;
    }
    await this.waitReady(entry);
    this.opts.log.write(`[supervisor] ${entry.spec.name} restarted after ${entry.spec.requires?.join(', ')}\n`);
  }

  private async waitRequired(entry: Running): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (const required of this.running.filter((r) => entry.spec.requires?.includes(r.spec.name))) {
      while (!this.stopping && Date.now() < deadline && !(await required.spec.ready())) await sleep(READY_POLL_MS);
    }
  }

  private async waitReady(entry: Running): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (entry.child.exitCode !== null || entry.child.signalCode !== null) {
        throw new Error(`${entry.spec.name} exited before it was ready`);
      }
      if (await entry.spec.ready()) return;
      await sleep(READY_POLL_MS);
    }
    throw new Error(`${entry.spec.name} was not ready within ${this.opts.readyTimeoutMs} ms`);
  }

  /** Stop each service in reverse order. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.running].reverse()) await stopChild(entry.child, this.opts.stopTimeoutMs);
  }
}
