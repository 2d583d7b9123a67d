/**
 * The one loader of build/Release/splitblk.node. Everything else in splitblk reaches the addon
 * through `native`, which loads it on first use: importing this module costs nothing.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { assert } from '../util/assert.js';
import { AIO_CQE_SIZE, AIO_IOV_SIZE, AIO_SQE_SIZE, PAGE_SIZE, type AioApi, type DoorbellApi, type NativeApi, type SharedMemoryApi, type StreamSocketApi } from './api.js';
import type { RawBinding } from './binding.js';
import { createAio } from './aio.js';
import { createDoorbells } from './doorbell.js';
import { createSharedMemory } from './shm.js';
import { createStreamSockets } from './stream-socket.js';

export * from './api.js';
export { AioTables } from './aio-tables.js';
export { OFFLOAD_IN_FLIGHT_MIN_BYTES_DEFAULT, OFFLOAD_MIN_BYTES_DEFAULT } from './aio.js';

/**
 * This file compiles to build/src/native/index.js; node-gyp puts the addon in build/Release.
 * Resolved from import.meta.url so that the working directory does not matter.
 */
const addonUrl = new URL('../../Release/splitblk.node', import.meta.url);

let binding: RawBinding | null = null;
let shm: SharedMemoryApi | null = null;
let doorbell: DoorbellApi | null = null;
let aio: AioApi | null = null;
let streamSocket: StreamSocketApi | null = null;

function load(): RawBinding {
  if (binding === null) {
    const require = createRequire(import.meta.url);
    const loaded = require(fileURLToPath(addonUrl)) as RawBinding;
    // The tables are shared byte for byte: the C structs must be the sizes api.ts declares.
    const { sqeSize, iovSize, cqeSize, pageSize } = loaded.layout;
    assert(sqeSize === AIO_SQE_SIZE && iovSize === AIO_IOV_SIZE && cqeSize === AIO_CQE_SIZE, 'AIO wire struct sizes differ from api.ts');
    assert(pageSize === PAGE_SIZE, `page size ${pageSize} is not ${PAGE_SIZE}`);
    binding = loaded;
  }
  return binding;
}

export const native: NativeApi = {
  get shm() {
    return (shm ??= createSharedMemory(load()));
  },
  get doorbell() {
    return (doorbell ??= createDoorbells(load()));
  },
  get aio() {
    return (aio ??= createAio(load()));
  },
  get streamSocket() {
    return (streamSocket ??= createStreamSockets(load()));
  },
  bufferAddress(buffer: ArrayBuffer): bigint {
    return load().bufferAddress(buffer);
  },
};
