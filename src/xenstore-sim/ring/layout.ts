/**
 * The xenstore ring page: `struct xenstore_domain_interface` of xen/io/xs_wire.h (Xen 4.17).
 * The field offsets are declared once, with the rest of xs_wire.h, in ../wire/messages.ts; this
 * file groups them for the ring code. test/xenstore-sim/client/ring-layout.test.ts checks them
 * against the C compiler's offsetof on the installed header.
 *
 *   struct xenstore_domain_interface {
 *       char req[XENSTORE_RING_SIZE];   // 0     requests, guest -> daemon
 *       char rsp[XENSTORE_RING_SIZE];   // 1024  replies and watch events, daemon -> guest
 *       XENSTORE_RING_IDX req_cons;     // 2048  advanced by the daemon
 *       XENSTORE_RING_IDX req_prod;     // 2052  advanced by the guest
 *       XENSTORE_RING_IDX rsp_cons;     // 2056  advanced by the guest
 *       XENSTORE_RING_IDX rsp_prod;     // 2060  advanced by the daemon
 *       uint32_t server_features;       // 2064  XENSTORE_SERVER_FEATURE_* bits, set by the daemon
 *       uint32_t connection;            // 2068  XENSTORE_CONNECTED / XENSTORE_RECONNECT
 *       uint32_t error;                 // 2072  XENSTORE_ERROR_*, set by the daemon
 *   };
 *
 * The indices are free-running u32 counters: only MASK_XENSTORE_IDX(idx) addresses the array,
 * and `(prod - cons) >>> 0` is the number of unconsumed bytes even across wrap-around at 2^32.
 */
import {
  XENSTORE_RING_SIZE, XS_RING_CONNECTION_OFFSET, XS_RING_ERROR_OFFSET, XS_RING_REQ_CONS_OFFSET,
  XS_RING_REQ_OFFSET, XS_RING_REQ_PROD_OFFSET, XS_RING_RSP_CONS_OFFSET, XS_RING_RSP_OFFSET,
  XS_RING_RSP_PROD_OFFSET, XS_RING_SERVER_FEATURES_OFFSET,
} from '../wire/messages.js';

export {
  XENSTORE_RING_SIZE, XS_RING_INTERFACE_SIZE, XENSTORE_SERVER_FEATURE_RECONNECTION,
  XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_CONNECTED, XENSTORE_RECONNECT, XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_COMM, XENSTORE_ERROR_RINGIDX, XENSTORE_ERROR_PROTO,
} from '../wire/messages.js';

/** Byte offsets of the fields: offsetof(struct xenstore_domain_interface, <C name>). */
export const XsRingOffset = {
  req: XS_RING_REQ_OFFSET, // req
  rsp: XS_RING_RSP_OFFSET, // rsp
  reqCons: XS_RING_REQ_CONS_OFFSET, // req_cons
  reqProd: XS_RING_REQ_PROD_OFFSET, // req_prod
  rspCons: XS_RING_RSP_CONS_OFFSET, // rsp_cons
  rspProd: XS_RING_RSP_PROD_OFFSET, // rsp_prod
  serverFeatures: XS_RING_SERVER_FEATURES_OFFSET, // server_features
  connection: XS_RING_CONNECTION_OFFSET, // connection
  error: XS_RING_ERROR_OFFSET, // error
} as const;

/** The page that holds the interface. */
export const XS_RING_PAGE_SIZE = 4096;

/** MASK_XENSTORE_IDX(idx): the array position of a free-running index. */
export function maskXenstoreIdx(idx: number): number {
  return idx & (XENSTORE_RING_SIZE - 1);
}

/** Unconsumed bytes between two free-running u32 indices (may exceed the ring on a hostile page). */
export function ringFill(prod: number, cons: number): number {
  return (prod - cons) >>> 0;
}
