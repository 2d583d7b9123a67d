import * as net from 'node:net';
import { SplitblkError } from '../../util/errors.js';
import { ERR_NO_TAPDISK, ERR_PROTOCOL, ERR_TIMEOUT } from '../errors.js';
import { FRAME_BYTES_MAX_DEFAULT, FrameParser, frame } from './frame.js';
import {
  decodeResponse, encodeRequest, type ControlOp, type ControlResult, type JobDescription, type VbdDescription, type VbdStatsReport,
} from './messages.js';

export type { JobDescription, JobOutcome, VbdDescription, VbdStatsReport } from './messages.js';

interface Waiter {
  resolve: (r: ControlResult) => void;
  reject: (e: SplitblkError) => void;
  timer: NodeJS.Timeout | null;
}

export interface ClientOptions {
  /** Fail a request with SPLITBLK_ERR_TIMEOUT after this long; 0 waits for ever. */
  timeoutMs?: number;
  frameBytesMax?: number;
}

/**
 * A client of one tapdisk's control socket (used by the CLI, by VHD live operations and by
 * blkback's host). Requests may be issued concurrently; answers are matched by cookie.
 * Operating errors from the server reject with a SplitblkError carrying the server's code.
 */
export class TapdiskClient {
  private nextCookie = 1;
  private readonly waiters = new Map<number, Waiter>();
  private readonly parser: FrameParser;
  private closedError: SplitblkError | null = null;

  private constructor(private readonly socket: net.Socket, readonly socketPath: string, private readonly opts: ClientOptions) {
    this.parser = new FrameParser(opts.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.failAll(new SplitblkError(ERR_NO_TAPDISK, `${socketPath}: connection closed`, { path: socketPath })));
  }

  static connect(socketPath: string, opts: ClientOptions = {}): Promise<TapdiskClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new TapdiskClient(socket, socketPath, opts));
      });
      socket.once('error', (error) => reject(new SplitblkError(ERR_NO_TAPDISK,
        `cannot reach the tapdisk at ${socketPath}: ${error.message}`, { path: socketPath }, { cause: error })));
    });
  }

  async list(): Promise<VbdDescription[]> {
    const r = await this.call({ kind: 'list' });
    return r.kind === 'list' ? r.vbds : this.unexpected(r);
  }

  async create(spec: string, opts: { domid?: number | null; device?: number | null; readonly?: boolean; direct?: boolean } = {}): Promise<VbdDescription> {
    const r = await this.call({
      kind: 'create', spec, domid: opts.domid ?? null, device: opts.device ?? null,
      readonly: opts.readonly ?? false, direct: opts.direct ?? false,
    });
    return r.kind === 'vbd' ? r.vbd : this.unexpected(r);
  }

  /** Close the VBD's image, keeping its minor. */
  async close(minor: number): Promise<void> {
    await this.call({ kind: 'close', minor });
  }

  /** Close the VBD and free its minor. */
  async destroy(minor: number): Promise<void> {
    await this.call({ kind: 'destroy', minor });
  }

  async pause(minor: number): Promise<VbdDescription> {
    const r = await this.call({ kind: 'pause', minor });
    return r.kind === 'vbd' ? r.vbd : this.unexpected(r);
  }

  /** Resume, on `spec` if given (a new leaf after a snapshot, a parent after a coalesce). */
  async unpause(minor: number, spec?: string): Promise<VbdDescription> {
    const r = await this.call({ kind: 'unpause', minor, spec: spec ?? null });
    return r.kind === 'vbd' ? r.vbd : this.unexpected(r);
  }

  /** Statistics of one VBD, or of all when `minor` is omitted. */
  async stats(minor?: number): Promise<VbdStatsReport[]> {
    const r = await this.call({ kind: 'stats', minor: minor ?? null });
    return r.kind === 'stats' ? r.stats : this.unexpected(r);
  }

  /** Start a live snapshot of VBD `minor` onto the new leaf `newLeaf` (an absolute path). */
  async snapshot(minor: number, newLeaf: string): Promise<JobDescription> {
    return this.job(await this.call({ kind: 'snapshot', minor, newLeaf }));
  }

  /**
   * Start a live coalesce of `node` (an absolute path) into its parent; with `minor` the node
   * defaults to that VBD's leaf (a leaf coalesce).
   */
  async coalesce(target: { minor?: number; node?: string }): Promise<JobDescription> {
    return this.job(await this.call({ kind: 'coalesce', minor: target.minor ?? null, node: target.node ?? null }));
  }

  async jobs(): Promise<JobDescription[]> {
    const r = await this.call({ kind: 'job-list' });
    return r.kind === 'jobs' ? r.jobs : this.unexpected(r);
  }

  async jobStatus(id: string): Promise<JobDescription> {
    return this.job(await this.call({ kind: 'job-status', id }));
  }

  /** Ask a job to stop at its next safe point; answers its report (still running, usually). */
  async jobCancel(id: string): Promise<JobDescription> {
    return this.job(await this.call({ kind: 'job-cancel', id }));
  }

  private job(r: ControlResult): JobDescription {
    return r.kind === 'job' ? r.job : this.unexpected(r);
  }

  /** Send one request and wait for its answer; server errors reject with their code. */
  call(op: ControlOp): Promise<ControlResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    const cookie = this.nextCookie;
    this.nextCookie = this.nextCookie >= 0xffff_ffff ? 1 : this.nextCookie + 1;
    return new Promise<ControlResult>((resolve, reject) => {
      const timeoutMs = this.opts.timeoutMs ?? 0;
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          this.waiters.delete(cookie);
          reject(new SplitblkError(ERR_TIMEOUT, `${this.socketPath}: no answer to ${op.kind} in ${timeoutMs} ms`, { path: this.socketPath }));
        }, timeoutMs)
        : null;
      this.waiters.set(cookie, {
        resolve: (r) => (r.kind === 'error' ? reject(new SplitblkError(r.code, r.message, { path: this.socketPath })) : resolve(r)),
        reject, timer,
      });
      this.socket.write(frame(encodeRequest(cookie, op)));
    });
  }

  private onData(chunk: Buffer): void {
    this.parser.push(chunk);
    for (;;) {
      const r = this.parser.next();
      if (r.kind === 'need') return;
      if (r.kind === 'error') {
        this.failAll(r.error);
        this.socket.destroy();
        return;
      }
      const response = decodeResponse(r.payload);
      if (!response.ok) {
        this.failAll(response.error);
        this.socket.destroy();
        return;
      }
      const { cookie, result } = response.value;
      const waiter = this.waiters.get(cookie);
      if (waiter === undefined) {
        // Cookie 0 carries the server's complaint about a frame it could not read.
        const why = result.kind === 'error' ? `${result.code}: ${result.message}` : `answer to unknown cookie ${cookie}`;
        this.failAll(new SplitblkError(ERR_PROTOCOL, `${this.socketPath}: ${why}`, { path: this.socketPath }));
        this.socket.destroy();
        return;
      }
      this.waiters.delete(cookie);
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(result);
    }
  }

  private failAll(error: SplitblkError): void {
    this.closedError ??= error;
    for (const w of this.waiters.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(error);
    }
    this.waiters.clear();
  }

  private unexpected(r: ControlResult): never {
    throw new SplitblkError(ERR_PROTOCOL, `${this.socketPath}: unexpected ${r.kind} result`, { path: this.socketPath });
  }

  /** Close the connection; pending requests fail. */
  end(): void {
    this.socket.destroy();
  }
}
