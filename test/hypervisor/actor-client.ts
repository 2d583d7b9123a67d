import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The compiled fixture (this file compiles to build/test/hypervisor/actor-client.js). */
const actorScript = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'actor.js');

export interface Reply {
  ok: boolean;
  value?: any;
  code?: string;
  fields?: Record<string, unknown>;
  message?: string;
}

const exitWaitMs = 5000;

/** A child process acting for one domain (fixtures/actor.ts). */
export class Actor {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private readonly eventCounts = new Map<number, number>();
  private readonly eventWaiters: Array<{ port: number; count: number; resolve: () => void }> = [];
  private readonly ready: Promise<void>;

  constructor(
    readonly rundir: string,
    readonly domid: number,
  ) {
    this.child = spawn(process.execPath, [actorScript, rundir, String(domid)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let markReady: () => void = () => {};
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.child.once('exit', (code, signal) => {
      // Answer every outstanding call, so a crashed actor fails the test instead of hanging it.
      for (const id of [...this.waiting.keys()]) {
        this.reply(id, { ok: false, code: 'ACTOR_EXITED', message: `actor exited: code ${code} signal ${signal}` });
      }
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, any>;
      if (message.ready === true) markReady();
      else if (message.event === 'evtchn') this.onEvent(message.port as number);
      else this.reply(message.seq as number, message as Reply);
    });
  }

  static async start(rundir: string, domid: number): Promise<Actor> {
    const actor = new Actor(rundir, domid);
    await actor.ready;
    return actor;
  }

  /** Send one command; resolves with the reply (ok or an operating error). */
  call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        resolve({ ok: false, code: 'ACTOR_EXITED', message: 'actor exited' });
        return;
      }
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ ...args, seq: id, op })}\n`);
    });
  }

  /** Send a command that must succeed; resolves with its value. */
  async do(op: string, args: Record<string, unknown> = {}): Promise<any> {
    const reply = await this.call(op, args);
    if (!reply.ok) throw new Error(`${op} failed: ${reply.code} ${reply.message}`);
    return reply.value;
  }

  events(port: number): number {
    return this.eventCounts.get(port) ?? 0;
  }

  /** Resolves once `count` events in total have been delivered on `port`. */
  waitEvents(port: number, count: number): Promise<void> {
    if (this.events(port) >= count) return Promise.resolve();
    return new Promise((resolve) => this.eventWaiters.push({ port, count, resolve }));
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.write(`${JSON.stringify({ seq: 0, op: 'exit' })}\n`);
    // An actor stuck in a loop (a failing test) is killed rather than left behind.
    const timer = setTimeout(() => this.kill(), exitWaitMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private reply(id: number, reply: Reply): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(reply);
  }

  private onEvent(port: number): void {
    this.eventCounts.set(port, this.events(port) + 1);
    for (let i = this.eventWaiters.length - 1; i >= 0; i--) {
      const waiter = this.eventWaiters[i]!;
      if (waiter.port === port && this.events(port) >= waiter.count) {
        this.eventWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

/** A fresh run directory on tmpfs, and its removal. */
export function tempRundir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join('/dev/shm', 'splitblk-hv-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
