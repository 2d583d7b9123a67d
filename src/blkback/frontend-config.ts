/**
 * The frontend's transport parameters, parsed from its device directory into a typed record or a
 * Result with a message ("missing ring-ref key"). Follows Linux xen-blkback's connect_ring() and
 * read_per_ring_refs(): `ring-page-order` present means `ring-ref%u` keys (even at order 0),
 * absent means one page and `ring-ref`; more than one queue moves the per-ring keys under
 * `queue-%u/`; an absent `protocol` means x86_32, as on Linux x86.
 *
 * Reading goes through a callback so that the same parser runs over a xenstore transaction in the
 * backend and over a plain map in the tests; it performs no other I/O.
 */
import { err, ok, SplitblkError, type Result } from '../util/errors.js';
import {
  FrontendKey,
  PROTOCOL_X86_32,
  PROTOCOL_X86_64,
  queueDir,
  RING_PAGE_ORDER_MAX,
  ringRefKey,
  type BlkifProtocolName,
} from './keys.js';

/** Reads a key relative to the frontend directory; undefined when absent. */
export type KeyReader = (relativeKey: string) => Promise<string | undefined>;

export interface QueueConfig {
  /** Grant references of the ring pages, page 0 first (1 << ringPageOrder of them). */
  ringRefs: number[];
  eventChannel: number;
}

export interface FrontendConfig {
  protocol: BlkifProtocolName;
  ringPageOrder: number;
  queues: QueueConfig[];
  /** The frontend wrote feature-persistent=1 (persistent grants need both sides). */
  persistent: boolean;
}

/** What this backend advertised, which bounds what the frontend may ask for. */
export interface FrontendLimits {
  ringPageOrderMax: number;
  queuesMax: number;
}

export const CONFIG_ERROR = 'SPLITBLK_ERR_FRONTEND_CONFIG';

const U32_MAX = 0xffff_ffff;

/** Strict unsigned decimal (what xenbus_scanf "%u" should have been). */
export function parseU32(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= U32_MAX ? n : undefined;
}

/** "1"/"0" booleans; anything else that is a number counts as true, as `%d != 0` would. */
export function parseFlag(text: string | undefined, fallback: boolean): boolean {
  const n = parseU32(text);
  return n === undefined ? fallback : n !== 0;
}

const fail = (message: string): Result<never> => err(new SplitblkError(CONFIG_ERROR, message));

async function readU32(read: KeyReader, key: string): Promise<Result<number>> {
  const text = await read(key);
  if (text === undefined) return fail(`missing ${key} key`);
  const n = parseU32(text);
  return n === undefined ? fail(`malformed ${key} key: ${JSON.stringify(text.slice(0, 32))}`) : ok(n);
}

async function readQueue(read: KeyReader, prefix: string, order: number | undefined): Promise<Result<QueueConfig>> {
  const evtchn = await readU32(read, prefix + FrontendKey.eventChannel);
  if (!evtchn.ok) return evtchn;
  const ringRefs: number[] = [];
  if (order === undefined) {
    const ref = await readU32(read, prefix + FrontendKey.ringRef);
    if (!ref.ok) return ref;
    ringRefs.push(ref.value);
  } else {
    for (let i = 0; i < 1 << order; i++) {
      const ref = await readU32(read, prefix + ringRefKey(i));
      if (!ref.ok) return ref;
      ringRefs.push(ref.value);
    }
  }
  return ok({ ringRefs, eventChannel: evtchn.value });
}

function parseProtocol(text: string | undefined): Result<BlkifProtocolName> {
  if (text === undefined || text === '') return ok(PROTOCOL_X86_32);
  if (text === PROTOCOL_X86_32 || text === PROTOCOL_X86_64) return ok(text);
  return fail(`unknown fe protocol ${JSON.stringify(text.slice(0, 32))}`);
}

export async function parseFrontendConfig(read: KeyReader, limits: FrontendLimits): Promise<Result<FrontendConfig>> {
  const protocol = parseProtocol(await read(FrontendKey.protocol));
  if (!protocol.ok) return protocol;

  const orderText = await read(FrontendKey.ringPageOrder);
  let order: number | undefined;
  if (orderText !== undefined) {
    order = parseU32(orderText);
    if (order === undefined) return fail(`malformed ${FrontendKey.ringPageOrder} key`);
    const max = Math.min(limits.ringPageOrderMax, RING_PAGE_ORDER_MAX);
    if (order > max) return fail(`requested ring page order ${order} exceed max:${max}`);
  }

  const queuesText = await read(FrontendKey.numQueues);
  const queueCount = queuesText === undefined ? 1 : parseU32(queuesText);
  if (queueCount === undefined || queueCount < 1 || queueCount > limits.queuesMax) {
    return fail(`Invalid number of requested queues ${JSON.stringify(queuesText)}`);
  }

  const queues: QueueConfig[] = [];
  for (let q = 0; q < queueCount; q++) {
    const prefix = queueCount === 1 ? '' : `${queueDir(q)}/`;
    const queue = await readQueue(read, prefix, order);
    if (!queue.ok) return queue;
    queues.push(queue.value);
  }

  return ok({
    protocol: protocol.value,
    ringPageOrder: order ?? 0,
    queues,
    persistent: parseFlag(await read(FrontendKey.persistent), false),
  });
}
