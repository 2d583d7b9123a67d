/**
 * An I/O slot: one in-flight request's preallocated state — its data pages in guest memory,
 * its indirect pages, their grant references and the request it builds. Slots are created at
 * connect time (iodepth of them), so issuing a request allocates nothing.
 */
import type { GrantTable, GuestMemory } from '../hypervisor/api.js';
import { BlkifRequest } from '../blkback/protocol/request.js';
import { PAGE_SIZE } from '../native/api.js';

export type IoOp = 'read' | 'write' | 'flush' | 'discard';

export class IoSlot {
  /** The request id's low word: this slot's index. */
  readonly tag: number;
  /** The queue (ring) this slot's requests go to. */
  readonly queue: number;
  /** The data pages, as bytes and as words (page-aligned, so word access is aligned). */
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly dataGfn: number;
  readonly dataPages: number;
  readonly indirectGfn: number;
  readonly indirectPages: number;
  /** A view of the indirect pages, for the codec to write segments into. */
  readonly indirect: { bytes: Uint8Array; view: DataView } | undefined;
  /** Grant references of the data and indirect pages (persistent, or of the request in flight). */
  readonly dataRefs: Uint32Array;
  readonly indirectRefs: Uint32Array;
  /** How many of dataRefs / indirectRefs the request in flight granted (non-persistent mode). */
  dataRefsHeld = 0;
  indirectRefsHeld = 0;
  readonly req: BlkifRequest;

  busy = false;
  op: IoOp = 'read';
  sector = 0;
  sectors = 0;
  /** Bumped per request and sent as the id's high word, so a stale or forged id is caught. */
  seq = 0;
  startMs = 0;
  latencyMs = 0;
  /** The response status (BLKIF_RSP_*), or a local failure (BLKIF_RSP_ERROR). */
  status = 0;
  done: ((slot: IoSlot) => void) | undefined = undefined;
  /** Free for the caller's bookkeeping (the workload's block index, a promise's resolver). */
  user: unknown = undefined;

  constructor(memory: GuestMemory, tag: number, queue: number, dataPages: number, indirectPages: number, segmentsMax: number) {
    this.tag = tag;
    this.queue = queue;
    this.dataPages = dataPages;
    this.indirectPages = indirectPages;
    this.dataGfn = memory.allocPages(dataPages);
    this.bytes = new Uint8Array(memory.buffer, this.dataGfn * PAGE_SIZE, dataPages * PAGE_SIZE);
    this.words = new Uint32Array(memory.buffer, this.dataGfn * PAGE_SIZE, (dataPages * PAGE_SIZE) / 4);
    this.indirectGfn = indirectPages > 0 ? memory.allocPages(indirectPages) : 0;
    this.indirect =
      indirectPages > 0
        ? {
            bytes: new Uint8Array(memory.buffer, this.indirectGfn * PAGE_SIZE, indirectPages * PAGE_SIZE),
            view: new DataView(memory.buffer, this.indirectGfn * PAGE_SIZE, indirectPages * PAGE_SIZE),
          }
        : undefined;
    this.dataRefs = new Uint32Array(dataPages);
    this.indirectRefs = new Uint32Array(indirectPages);
    this.req = new BlkifRequest(segmentsMax);
  }

  /** Grant every page for good (persistent grants): data read-write, indirect read-only. */
  grantPersistent(grants: GrantTable, backend: number): void {
    for (let i = 0; i < this.dataPages; i++) this.dataRefs[i] = grants.grantAccess(backend, this.dataGfn + i, false);
    for (let i = 0; i < this.indirectPages; i++) this.indirectRefs[i] = grants.grantAccess(backend, this.indirectGfn + i, true);
    this.dataRefsHeld = this.dataPages;
    this.indirectRefsHeld = this.indirectPages;
  }

  /**
   * End access to the refs held; refs the backend still maps are pushed to `leaked` (the caller
   * retries them later, as Linux's gnttab_end_foreign_access defers).
   */
  endGrants(grants: GrantTable, leaked: number[]): void {
    for (let i = 0; i < this.dataRefsHeld; i++) if (!grants.endAccess(this.dataRefs[i]!)) leaked.push(this.dataRefs[i]!);
    for (let i = 0; i < this.indirectRefsHeld; i++) if (!grants.endAccess(this.indirectRefs[i]!)) leaked.push(this.indirectRefs[i]!);
    this.dataRefsHeld = 0;
    this.indirectRefsHeld = 0;
  }

  free(memory: GuestMemory): void {
    memory.freePages(this.dataGfn, this.dataPages);
    if (this.indirectPages > 0) memory.freePages(this.indirectGfn, this.indirectPages);
  }
}
