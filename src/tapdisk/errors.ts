/**
 * Stable error codes of the tapdisk core. Operating errors (a bad spec, a missing file, a client
 * asking for a VBD that does not exist) are SplitblkErrors with one of these codes; the control
 * plane carries the code across the socket unchanged.
 */
export const ERR_BAD_SPEC = 'SPLITBLK_ERR_BAD_SPEC';
/** The spec names a type no driver knows. */
export const ERR_UNKNOWN_TYPE = 'SPLITBLK_ERR_UNKNOWN_TYPE';
/** The type is known but cannot be used here (module absent, no native AIO context). */
export const ERR_TYPE_UNAVAILABLE = 'SPLITBLK_ERR_TYPE_UNAVAILABLE';
/** The image file does not exist. */
export const ERR_NO_IMAGE = 'SPLITBLK_ERR_NO_IMAGE';
/** The image exists but could not be opened (permissions, not a file or block device). */
export const ERR_OPEN_IMAGE = 'SPLITBLK_ERR_OPEN_IMAGE';
/** Unpause onto an image whose size or sector size differs from the paused one. */
export const ERR_SIZE_CHANGED = 'SPLITBLK_ERR_SIZE_CHANGED';
/** No VBD with that minor (or domain/device). */
export const ERR_NO_VBD = 'SPLITBLK_ERR_NO_VBD';
/** The VBD is not in a state that allows the operation (e.g. unpause while running). */
export const ERR_VBD_STATE = 'SPLITBLK_ERR_VBD_STATE';
/** Another VBD already serves that domain/device. */
export const ERR_DEVICE_BUSY = 'SPLITBLK_ERR_DEVICE_BUSY';
/** A control frame longer than the limit. */
export const ERR_FRAME_TOO_LARGE = 'SPLITBLK_ERR_FRAME_TOO_LARGE';
/** A control message that does not decode, or a reply to no request. */
export const ERR_PROTOCOL = 'SPLITBLK_ERR_PROTOCOL';
/** The control socket cannot be reached, or closed before answering. */
export const ERR_NO_TAPDISK = 'SPLITBLK_ERR_NO_TAPDISK';
/** A control request got no answer in time. */
export const ERR_TIMEOUT = 'SPLITBLK_ERR_TIMEOUT';
/** Another live process listens on the control socket path. */
export const ERR_SOCKET_IN_USE = 'SPLITBLK_ERR_SOCKET_IN_USE';
/** An unexpected failure inside the server, reported rather than thrown at the client. */
export const ERR_INTERNAL = 'SPLITBLK_ERR_INTERNAL';
