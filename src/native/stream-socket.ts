import type { StreamSocketApi } from './api.js';
import type { RawBinding } from './binding.js';
import { fromNative } from './errors.js';

/** Stream sockets served from uv_poll (native/stream_socket.cc); the raw object is the API. */
export function createStreamSockets(binding: RawBinding): StreamSocketApi {
  return {
    adopt(fd, recv, onRead, onWritable) {
      try {
        return new binding.StreamSocket(fd, recv, onRead, onWritable);
      } catch (error) {
        throw fromNative(error, 'SPLITBLK_ERR_SOCKET', { fd });
      }
    },
  };
}
