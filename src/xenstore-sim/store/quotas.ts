/**
 * Per-domain limits for unprivileged callers, with C xenstored 4.17's defaults. Dom0 (and any
 * privileged connection) is never limited.
 */
export interface XsQuotas {
  /** -E: nodes one domain may own. */
  nodesMax: number;
  /** -S: bytes of one node as C stores it (24-byte header, 8 per permission, value, children). */
  nodeSizeBytesMax: number;
  /** -W: watches per connection. */
  watchesMax: number;
  /** -t: open transactions per connection. */
  transactionsMax: number;
  /** -A: permission entries per node. */
  permsMax: number;
  /** -M: path length in bytes, not counting "/local/domain/<id>/". */
  pathBytesMax: number;
  /**
   * -Q outstanding=: replies of one domain not yet written into its ring (and answered requests
   * whose watch events still wait); at this count its requests are not read.
   */
  outstandingMax: number;
  /** -Q transaction-nodes=: nodes one transaction may access. */
  transactionNodesMax: number;
  /**
   * -Q memory=: bytes of nodes and watches one domain may hold (C's accounting: node name,
   * record and child list; watch path and token). 0: no limit.
   */
  memoryBytesMax: number;
  /** -q memory=: the warning level below memoryBytesMax (traced when crossed). 0: none. */
  memoryBytesSoftMax: number;
  /**
   * Our bound where C has none: bytes of output an unprivileged connection may leave unread
   * before further watch events to it are dropped, for a guest's ring only while the memory
   * quota is off (else C's memory quota bounds it), for other streams always.
   */
  eventQueueBytesMax: number;
}

export const DEFAULT_QUOTAS: Readonly<XsQuotas> = Object.freeze({
  nodesMax: 1000,
  nodeSizeBytesMax: 2048,
  watchesMax: 128,
  transactionsMax: 10,
  permsMax: 5,
  pathBytesMax: 2048,
  outstandingMax: 20,
  transactionNodesMax: 1024,
  memoryBytesMax: 2 * 1024 * 1024 + 512 * 1024,
  memoryBytesSoftMax: 2 * 1024 * 1024,
  eventQueueBytesMax: 65536,
});

/** sizeof(struct xs_tdb_record_hdr) and sizeof(struct xs_permissions) in C xenstored. */
export const TDB_RECORD_HDR_BYTES = 24;
export const TDB_PERM_BYTES = 8;

export function quotasWith(overrides: Partial<XsQuotas> = {}): XsQuotas {
  const out = { ...DEFAULT_QUOTAS };
  for (const [key, value] of Object.entries(overrides) as [keyof XsQuotas, number | undefined][]) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}
