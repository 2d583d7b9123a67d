/** The blkif wire protocol: constants, struct layouts and the per-ABI codecs. */
export * from './ops.js';
export * from './request.js';
export * from './codec.js';
export { ABI_X86_32, ABI_X86_64, layoutOf, type Abi, type StructLayout, type FieldLayout } from './ctypes.js';
export * as structs from './structs.js';
