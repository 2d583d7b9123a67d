import type { XsNode } from './node.js';
import type { NodePerm } from './perms.js';

/** A change that fires watches: the node path, whether only exact watches match, and the
 * permission lists under which a watcher may learn of it (a watcher needs read access under
 * at least one: the node's, its old ones for SET_PERMS, and its parent's). */
export interface StoreChange {
  path: string;
  exact: boolean;
  perms: readonly (readonly NodePerm[])[];
}

/** What a transaction saw and did to one node, in first-access order (C's accessed list). */
export interface AccessedNode {
  /** Global generation when first accessed (NO_GENERATION when the node did not exist). */
  generation: number;
  /** The transaction's view of the node; undefined when absent or deleted. */
  node: XsNode | undefined;
  modified: boolean;
  /** The watch event this node fires at commit, if any. */
  change?: StoreChange;
  /** Memory charged for the transaction's copy of the node (C keeps one per accessed node), and to whom. */
  chargedBytes: number;
  chargedTo: number;
}

/**
 * One open transaction. It records every node it touches with the generation it first saw;
 * commit fails with EAGAIN when any of them changed globally since (C 4.17's rule), else
 * copies the modified nodes into the global tree and fires their events in access order.
 */
export class Transaction {
  readonly accessed = new Map<string, AccessedNode>();
  /** Node-count changes per owning domain, applied at commit. */
  readonly nodeDelta = new Map<number, number>();

  /**
   * Set when a write inside the transaction failed after it began to change it (over the
   * memory quota, or a node too big): C marks the transaction failed and its commit answers
   * ENOMEM.
   */
  failed = false;

  /** Cleared when the transaction ends or is dropped, so that it is released once. */
  open = true;

  /**
   * `quotaDomid` is the unprivileged caller whose node quota the commit re-checks
   * (undefined for privileged callers, who have none); `ownerDomid` the caller's domain, which
   * C charges for the transaction's copies of nodes.
   */
  constructor(readonly id: number, readonly generation: number, readonly quotaDomid: number | undefined, readonly ownerDomid: number) {}

  adjustNodes(domid: number, by: number): void {
    this.nodeDelta.set(domid, (this.nodeDelta.get(domid) ?? 0) + by);
  }
}
