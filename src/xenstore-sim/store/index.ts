export { XsStore, type Caller } from './store.js';
export { Transaction, type StoreChange } from './transaction.js';
export { XsStoreError } from './errors.js';
export * from './perms.js';
export * from './quotas.js';
export * from './path.js';
export type { XsNode } from './node.js';
