/*
 * struct xenstore_domain_interface (xen/io/xs_wire.h) as the test guests see it: the offsets
 * are written out here from the header, independently of src/, so that a layout bug in the
 * daemon's ring code cannot hide behind the same bug in its tests.
 */
export const REQ = 0; // char req[XENSTORE_RING_SIZE]
export const RSP = 1024; // char rsp[XENSTORE_RING_SIZE]
export const REQ_CONS = 2048; // XENSTORE_RING_IDX req_cons
export const REQ_PROD = 2052; // XENSTORE_RING_IDX req_prod
export const RSP_CONS = 2056; // XENSTORE_RING_IDX rsp_cons
export const RSP_PROD = 2060; // XENSTORE_RING_IDX rsp_prod
export const SERVER_FEATURES = 2064; // uint32_t server_features
export const CONNECTION = 2068; // uint32_t connection
export const ERROR = 2072; // uint32_t error
export const RING = 1024; // XENSTORE_RING_SIZE
