import { XsType, xsTypeName, type XsPacket } from '../../../src/xenstore-sim/wire/messages.js';
import { RawClient, strings } from './raw-client.js';

/** One scripted request: on connection `c`, type `op` with NUL-terminated `args` or a `raw` payload. */
export interface Step {
  /** The connection: 'a' and 'b' are dom0 sockets; others come from `openers` (guests). */
  c: string;
  op: number;
  args?: string[];
  raw?: Buffer;
  /** Symbolic transaction to send in (named by an earlier step's `as`). */
  tx?: string;
  /** Name the transaction a TRANSACTION_START step opens. */
  as?: string;
  /** A literal tx_id, for hostile scripts. */
  txId?: number;
  /** Skip the event round trip on every connection after this step (bulk steps). */
  quiet?: boolean;
  /** A connection this step ends (a released guest's ring): it is closed and no longer synced. */
  ends?: string;
  /** Something to do to the daemon's world before the request (a guest shuts down or dies). */
  before?: () => void | Promise<void>;
}

function show(buf: Buffer): string {
  return JSON.stringify(buf.toString('latin1'));
}

/**
 * Replies that legitimately differ between daemons, rewritten to stable forms: transaction
 * ids only. (DIRECTORY_PART's generation counts are compared as they are: the sim keeps C's
 * generation arithmetic. XS_LOOSE_GEN=1 masks them.)
 */
function normalize(reply: XsPacket): string {
  if (reply.type === XsType.TransactionStart) return '<tx>';
  if (reply.type === XsType.DirectoryPart && process.env.XS_LOOSE_GEN !== undefined) return show(reply.payload).replace(/^"\d+/, '"<gen>');
  return show(reply.payload);
}

/**
 * Run `steps` against a daemon at `socket` and return a transcript: every reply (type and
 * payload, tx ids symbolic) and, after every step, the watch events each connection got.
 */
export async function transcript(socket: string, steps: Step[], openers: Record<string, () => Promise<RawClient>> = {}): Promise<string[]> {
  const conns: Record<string, RawClient> = { a: await RawClient.unix(socket), b: await RawClient.unix(socket) };
  // Guest connections open on first use (after the INTRODUCE that creates them).
  const open = async (c: string): Promise<RawClient> => (conns[c] ??= await openers[c]!());
  const txs = new Map<string, number>();
  const out: string[] = [];
  try {
    for (const step of steps) {
      await step.before?.();
      const conn = await open(step.c);
      const payload = step.raw ?? strings(...(step.args ?? []));
      const txId = step.txId ?? (step.tx === undefined ? 0 : txs.get(step.tx) ?? 0xdead);
      const { reply, events } = await conn.request(step.op, payload, txId);
      const label = `${step.c} ${xsTypeName(step.op) ?? step.op} ${step.raw === undefined ? JSON.stringify(step.args ?? []) : show(step.raw)}${step.tx ?? ''}`;
      for (const e of events) out.push(`  ${step.c} event ${show(e.payload)}`);
      if (reply === undefined) {
        out.push(`${label} -> (closed)`);
        continue;
      }
      if (step.as !== undefined && reply.type === XsType.TransactionStart) txs.set(step.as, Number.parseInt(reply.payload.toString(), 10));
      const txEcho = reply.txId === txId ? '' : ` tx=${reply.txId}`;
      out.push(`${label} -> ${xsTypeName(reply.type) ?? reply.type} ${normalize(reply)}${txEcho}`);
      if (step.ends !== undefined) conns[step.ends]?.close();
      if (step.quiet === true) continue;
      for (const key of Object.keys(conns).sort()) {
        if (conns[key]!.closed) continue;
        for (const e of await conns[key]!.sync()) out.push(`  ${key} event ${show(e.payload)}`);
      }
    }
  } finally {
    for (const conn of Object.values(conns)) conn.close();
  }
  return out;
}
