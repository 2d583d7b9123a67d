import { listenUnixAtomically } from '../../util/unix-listen.js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SplitblkError } from '../../util/errors.js';
import { ERR_INTERNAL, ERR_SOCKET_IN_USE } from '../errors.js';
import type { Tapdisk } from '../tapdisk.js';
import type { Vbd } from '../vbd.js';
import { FRAME_BYTES_MAX_DEFAULT, FrameParser, frame } from './frame.js';
import { LiveOps } from './live-ops.js';
import { decodeRequest, encodeResponse, type ControlOp, type ControlResult, type VbdDescription } from './messages.js';

export function describeVbd(vbd: Vbd): VbdDescription {
  const info = vbd.info;
  return {
    minor: vbd.minor, domid: vbd.domid, device: vbd.device, state: vbd.state, spec: vbd.spec, chain: info.chain,
    sectors: info.sectors, sectorSize: info.sectorSize, readonly: vbd.readonly || info.readonly, pid: process.pid,
  };
}

export interface ControlServerOptions {
  frameBytesMax?: number;
  /** Runs after each operation is answered, whether it succeeded or not (tap serve uses it to
   *  exit when idle). */
  afterOp?: (op: ControlOp['kind']) => void;
  /**
   * The data-path registry, where live operations find the VBDs of other processes that use a
   * chain. Default: `registry/` beside the socket (`<rundir>/tapdisk/registry` for the sockets
   * of a run directory).
   */
  registryDir?: string;
}

/**
 * The control plane of one backend process: a unix socket speaking length-prefixed protobuf
 * (proto/tapdisk.proto). Each request is answered by one response with the same cookie;
 * requests on one connection run concurrently, so answers may come out of order.
 */
export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private socketPath = '';
  private live: LiveOps | null = null;

  constructor(private readonly tapdisk: Tapdisk, private readonly opts: ControlServerOptions = {}) {}

  async listen(socketPath: string): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    await removeStaleSocket(socketPath);
    const server = net.createServer((socket) => this.accept(socket));
    await listenUnixAtomically(server, socketPath);
    this.server = server;
    this.socketPath = socketPath;
    this.live = new LiveOps(this.tapdisk, this.opts.registryDir ?? path.join(path.dirname(socketPath), 'registry'));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    const parser = new FrameParser(this.opts.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      parser.push(chunk);
      for (;;) {
        const r = parser.next();
        if (r.kind === 'need') break;
        if (r.kind === 'error') {
          reply(socket, 0, { kind: 'error', code: r.error.code, message: r.error.message });
          socket.end();
          break;
        }
        const request = decodeRequest(r.payload);
        if (!request.ok) {
          reply(socket, 0, { kind: 'error', code: request.error.code, message: request.error.message });
          continue;
        }
        const { cookie, op } = request.value;
        this.run(op).then(
          (result) => {
            reply(socket, cookie, result);
            this.opts.afterOp?.(op.kind);
          },
          (error: unknown) => {
            reply(socket, cookie, errorResult(error));
            this.opts.afterOp?.(op.kind);
          },
        );
      }
    });
  }

  private async run(op: ControlOp): Promise<ControlResult> {
    const tapdisk = this.tapdisk;
    switch (op.kind) {
      case 'list':
        return { kind: 'list', vbds: tapdisk.vbds().map(describeVbd) };
      case 'create': {
        const vbd = await tapdisk.open(op.spec, { domid: op.domid, device: op.device, readonly: op.readonly, direct: op.direct });
        return { kind: 'vbd', vbd: describeVbd(vbd) };
      }
      case 'close':
        await tapdisk.require(op.minor).close();
        return { kind: 'ok' };
      case 'destroy':
        await tapdisk.destroy(op.minor);
        return { kind: 'ok' };
      case 'pause': {
        const vbd = tapdisk.require(op.minor);
        await vbd.pause();
        return { kind: 'vbd', vbd: describeVbd(vbd) };
      }
      case 'unpause': {
        const vbd = tapdisk.require(op.minor);
        await vbd.unpause(op.spec ?? undefined);
        return { kind: 'vbd', vbd: describeVbd(vbd) };
      }
      case 'stats': {
        const vbds = op.minor === null ? tapdisk.vbds() : [tapdisk.require(op.minor)];
        return { kind: 'stats', stats: vbds.map((v) => ({ minor: v.minor, ...v.stats() })) };
      }
      default:
        return this.runLive(op);
    }
  }

  private async runLive(op: Extract<ControlOp, { kind: 'snapshot' | 'coalesce' | 'job-list' | 'job-status' | 'job-cancel' }>): Promise<ControlResult> {
    const live = this.live!;
    switch (op.kind) {
      case 'snapshot': return { kind: 'job', job: live.snapshot(op.minor, op.newLeaf) };
      case 'coalesce': return { kind: 'job', job: await live.coalesce(op.minor, op.node) };
      case 'job-list': return { kind: 'jobs', jobs: live.list() };
      case 'job-status': return { kind: 'job', job: live.status(op.id) };
      case 'job-cancel': return { kind: 'job', job: live.cancel(op.id) };
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    // Let answers already written reach their clients; cut off clients that do not hang up.
    for (const socket of this.sockets) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }
}

function reply(socket: net.Socket, cookie: number, result: ControlResult): void {
  if (!socket.destroyed && socket.writable) socket.write(frame(encodeResponse(cookie, result)));
}

/** Operating errors keep their code; anything else is reported, not thrown at the client. */
function errorResult(error: unknown): ControlResult {
  if (error instanceof SplitblkError) return { kind: 'error', code: error.code, message: error.message };
  return { kind: 'error', code: ERR_INTERNAL, message: String((error as Error)?.message ?? error) };
}

/** A socket file nobody listens on is left over from a dead process: remove it. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new SplitblkError(ERR_SOCKET_IN_USE, `${socketPath}: another tapdisk is listening there`, { path: socketPath });
  fs.rmSync(socketPath, { force: true });
}
