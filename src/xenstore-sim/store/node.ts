import type { NodePerm } from './perms.js';
import { TDB_PERM_BYTES, TDB_RECORD_HDR_BYTES } from './quotas.js';

/** Generation of a node that does not exist (NO_GENERATION in C). */
export const NO_GENERATION = -1;

/**
 * One xenstore node. Nodes are replaced, never changed in place, so that a transaction can
 * hold the global version while it builds its own.
 */
export interface XsNode {
  readonly name: string;
  /** The value: any bytes, NULs included. */
  readonly value: Buffer;
  readonly perms: readonly NodePerm[];
  /** Child names in creation order (C keeps them in the node's child list in that order). */
  readonly children: readonly string[];
  /** Bytes of the child list as C stores it: each name plus its NUL. */
  readonly childBytes: number;
  /** C's generation count: bumped from one global counter on every modification. */
  generation: number;
  /**
   * The child list in wire form, built at the first XS_DIRECTORY and kept: the node never
   * changes, a new child list means a new node. Callers must not modify it.
   */
  childList?: Buffer;
}

export function makeNode(name: string, value: Buffer, perms: readonly NodePerm[], children: readonly string[], childBytes: number): XsNode {
  return { name, value, perms, children, childBytes, generation: NO_GENERATION };
}

export function withValue(node: XsNode, value: Buffer): XsNode {
  return makeNode(node.name, value, node.perms, node.children, node.childBytes);
}

export function withPerms(node: XsNode, perms: readonly NodePerm[]): XsNode {
  return makeNode(node.name, node.value, perms, node.children, node.childBytes);
}

export function withChildAdded(node: XsNode, child: string): XsNode {
  return makeNode(node.name, node.value, node.perms, [...node.children, child], node.childBytes + Buffer.byteLength(child) + 1);
}

export function withChildRemoved(node: XsNode, child: string): XsNode {
  const children = node.children.filter((c) => c !== child);
  return makeNode(node.name, node.value, node.perms, children, node.childBytes - Buffer.byteLength(child) - 1);
}

/** The record size C's write_node_raw() checks against the node-size quota. */
export function recordBytes(node: XsNode): number {
  return TDB_RECORD_HDR_BYTES + TDB_PERM_BYTES * node.perms.length + node.value.length + node.childBytes;
}

/** The child list as XS_DIRECTORY sends it: each name NUL-terminated (shared; read only). */
export function childListBytes(node: XsNode): Buffer {
  if (node.childList !== undefined) return node.childList;
  const out = Buffer.alloc(node.childBytes);
  node.childList = out;
  let offset = 0;
  for (const child of node.children) {
    offset += out.write(child, offset, 'utf8');
    out[offset++] = 0;
  }
  return out;
}
