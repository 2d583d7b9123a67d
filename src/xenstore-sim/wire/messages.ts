/**
 * The xenstore wire protocol of xen/io/xs_wire.h (Xen 4.17): message types, the 16-byte
 * header, the payload limit and the error-name table. Declared once; the parser, the
 * serializer, the server and the client all use these names.
 */

/** enum xsd_sockmsg_type. Values are the wire numbers; XS_RESTRICT (20) was removed. */
export enum XsType {
  Control = 0, // XS_CONTROL (alias XS_DEBUG)
  Directory = 1, // XS_DIRECTORY
  Read = 2, // XS_READ
  GetPerms = 3, // XS_GET_PERMS
  Watch = 4, // XS_WATCH
  Unwatch = 5, // XS_UNWATCH
  TransactionStart = 6, // XS_TRANSACTION_START
  TransactionEnd = 7, // XS_TRANSACTION_END
  Introduce = 8, // XS_INTRODUCE
  Release = 9, // XS_RELEASE
  GetDomainPath = 10, // XS_GET_DOMAIN_PATH
  Write = 11, // XS_WRITE
  Mkdir = 12, // XS_MKDIR
  Rm = 13, // XS_RM
  SetPerms = 14, // XS_SET_PERMS
  WatchEvent = 15, // XS_WATCH_EVENT
  Error = 16, // XS_ERROR
  IsDomainIntroduced = 17, // XS_IS_DOMAIN_INTRODUCED
  Resume = 18, // XS_RESUME
  SetTarget = 19, // XS_SET_TARGET
  /* 20 was XS_RESTRICT, removed from the protocol. */
  ResetWatches = 21, // XS_RESET_WATCHES
  DirectoryPart = 22, // XS_DIRECTORY_PART
}

/** XS_TYPE_COUNT: one past the highest valid type. */
export const XS_TYPE_COUNT = 23;
/** XS_INVALID: guaranteed never to be a valid type. */
export const XS_INVALID = 0xffff;

/** The C name of a wire type number, or undefined for numbers outside the enum. */
export function xsTypeName(type: number): string | undefined {
  const name = XS_TYPE_NAMES[type];
  return name === '' ? undefined : name;
}

const XS_TYPE_NAMES: readonly string[] = [
  'XS_CONTROL', 'XS_DIRECTORY', 'XS_READ', 'XS_GET_PERMS', 'XS_WATCH', 'XS_UNWATCH',
  'XS_TRANSACTION_START', 'XS_TRANSACTION_END', 'XS_INTRODUCE', 'XS_RELEASE',
  'XS_GET_DOMAIN_PATH', 'XS_WRITE', 'XS_MKDIR', 'XS_RM', 'XS_SET_PERMS', 'XS_WATCH_EVENT',
  'XS_ERROR', 'XS_IS_DOMAIN_INTRODUCED', 'XS_RESUME', 'XS_SET_TARGET', '',
  'XS_RESET_WATCHES', 'XS_DIRECTORY_PART',
];

/**
 * struct xsd_sockmsg: four little-endian u32 fields, then `len` payload bytes.
 * Offsets of each field within the header.
 */
export const XS_HEADER_TYPE_OFFSET = 0; // uint32_t type
export const XS_HEADER_REQ_ID_OFFSET = 4; // uint32_t req_id, echoed in the reply
export const XS_HEADER_TX_ID_OFFSET = 8; // uint32_t tx_id, 0 outside a transaction
export const XS_HEADER_LEN_OFFSET = 12; // uint32_t len, payload bytes that follow
/** sizeof(struct xsd_sockmsg). */
export const XS_HEADER_SIZE = 16;

/** XENSTORE_PAYLOAD_MAX: the largest payload either side may send, in bytes. */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** XENSTORE_ABS_PATH_MAX and XENSTORE_REL_PATH_MAX, in bytes. */
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

/** xsd_errors[] in xs_wire.h order, with Linux errno numbers. New errors go at the end. */
export const XS_ERRORS: readonly { errnum: number; name: XsErrno }[] = [
  { errnum: 22, name: 'EINVAL' },
  { errnum: 13, name: 'EACCES' },
  { errnum: 17, name: 'EEXIST' },
  { errnum: 21, name: 'EISDIR' },
  { errnum: 2, name: 'ENOENT' },
  { errnum: 12, name: 'ENOMEM' },
  { errnum: 28, name: 'ENOSPC' },
  { errnum: 5, name: 'EIO' },
  { errnum: 39, name: 'ENOTEMPTY' },
  { errnum: 38, name: 'ENOSYS' },
  { errnum: 30, name: 'EROFS' },
  { errnum: 16, name: 'EBUSY' },
  { errnum: 11, name: 'EAGAIN' },
  { errnum: 106, name: 'EISCONN' },
  { errnum: 7, name: 'E2BIG' },
  { errnum: 1, name: 'EPERM' },
];

export type XsErrno =
  | 'EINVAL' | 'EACCES' | 'EEXIST' | 'EISDIR' | 'ENOENT' | 'ENOMEM' | 'ENOSPC' | 'EIO'
  | 'ENOTEMPTY' | 'ENOSYS' | 'EROFS' | 'EBUSY' | 'EAGAIN' | 'EISCONN' | 'E2BIG' | 'EPERM';

/** XS_WRITE_* flags of the old write protocol, kept for reference by clients. */
export const XS_WRITE_NONE = 'NONE';
export const XS_WRITE_CREATE = 'CREATE';
export const XS_WRITE_CREATE_EXCL = 'CREATE|EXCL';

/** One decoded message. `payload` is exactly `len` bytes (no header). */
export interface XsPacket {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

/** The special watch paths fired by the daemon on domain introduction and release. */
export const XS_INTRODUCE_DOMAIN_PATH = '@introduceDomain';
export const XS_RELEASE_DOMAIN_PATH = '@releaseDomain';

/** struct xenstore_domain_interface (the guest's xenstore ring page). */
export const XENSTORE_RING_SIZE = 1024;
export const XS_RING_REQ_OFFSET = 0; // char req[XENSTORE_RING_SIZE]
export const XS_RING_RSP_OFFSET = 1024; // char rsp[XENSTORE_RING_SIZE]
export const XS_RING_REQ_CONS_OFFSET = 2048; // XENSTORE_RING_IDX req_cons
export const XS_RING_REQ_PROD_OFFSET = 2052; // XENSTORE_RING_IDX req_prod
export const XS_RING_RSP_CONS_OFFSET = 2056; // XENSTORE_RING_IDX rsp_cons
export const XS_RING_RSP_PROD_OFFSET = 2060; // XENSTORE_RING_IDX rsp_prod
export const XS_RING_SERVER_FEATURES_OFFSET = 2064; // uint32_t server_features
export const XS_RING_CONNECTION_OFFSET = 2068; // uint32_t connection
export const XS_RING_ERROR_OFFSET = 2072; // uint32_t error
export const XS_RING_INTERFACE_SIZE = 2076; // sizeof(struct xenstore_domain_interface)
export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;
export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;
