import type { XsErrno } from '../wire/messages.js';
import { fail } from './errors.js';
import {
  NO_GENERATION, childListBytes, makeNode, recordBytes, withChildAdded, withChildRemoved, withPerms,
  withValue, type XsNode,
} from './node.js';
import { baseName, canonicalize, childPath, isSpecialPath, isValidPath, parentPath } from './path.js';
import { PERM_NONE, PERM_OWNER, PERM_READ, PERM_WRITE, accessFor, type NodePerm } from './perms.js';
import { quotasWith, type XsQuotas } from './quotas.js';
import { Transaction, type AccessedNode, type StoreChange } from './transaction.js';

/** What C 4.17 charges a domain for a node: its name (the TDB key) and its record. */
function nodeMemory(node: XsNode): number {
  return node.name.length + recordBytes(node);
}

/** What C 4.17 charges for a transaction's copy of a node: its key "<generation>/<path>" and its record. */
function copyBytes(tx: Transaction, path: string, node: XsNode): number {
  return String(tx.generation).length + 1 + path.length + recordBytes(node);
}

/** Who is asking: the connection's domain, whether it is privileged, and its SET_TARGET. */
export interface Caller {
  domid: number;
  privileged: boolean;
  target?: number;
}

const EMPTY = Buffer.alloc(0);
const DEFAULT_SPECIAL_PERMS: readonly NodePerm[] = [{ domid: 0, access: PERM_NONE }];

/**
 * The xenstore tree: a pure in-memory module with no I/O. Every operation takes the caller
 * and optionally a transaction, checks paths, permissions and quotas as C xenstored 4.17
 * does, and reports watch-firing changes through `onChange` (at commit for transactions).
 * Refusals throw XsStoreError with the errno name to answer.
 */
export class XsStore {
  readonly quotas: XsQuotas;
  /** Called for every change that fires watches, in C's order. */
  onChange: (change: StoreChange) => void = () => {};
  /**
   * Called when a guest domain's memory crosses the soft quota, upwards (`above`) or back down
   * (C logs both to syslog, once per crossing).
   */
  onMemoryWarning: (domid: number, bytes: number, above: boolean) => void = () => {};
  private readonly nodes = new Map<string, XsNode>();
  /** Permissions of the special watch paths @introduceDomain and @releaseDomain. */
  private readonly specialPerms = new Map<string, readonly NodePerm[]>();
  /** Nodes owned per domain (C's per-domain entry count). */
  private readonly owned = new Map<number, number>();
  /** Bytes held per domain, as C 4.17 accounts them (nodes here; watches through adjustMemory()). */
  private readonly memory = new Map<number, number>();
  private generation = 0;
  /** Transactions started and not yet ended or dropped (C's wrl_ntransactions, sockets' included). */
  private openTransactions = 0;
  /**
   * C's errno as the store leaves it: some refusals answer "whatever errno held", which is
   * what the last node lookup that missed (ENOENT), permission or path refusal, or failed
   * node creation set.
   */
  private lastErrno: XsErrno = 'ENOENT';

  constructor(opts: { quotas?: Partial<XsQuotas> } = {}) {
    this.quotas = quotasWith(opts.quotas);
    this.setupStructure();
  }

  /** C's setup_structure(): "/" then "/tool/xenstored", owned by dom0 with no access for others. */
  private setupStructure(): void {
    const root = makeNode('/', EMPTY, [{ domid: 0, access: PERM_NONE }], [], 0);
    root.generation = this.generation++;
    this.setGlobal('/', root);
    this.owned.set(0, 1);
    // C writes these without a connection, so no quota applies (not even a node quota of 0,
    // which refuses dom0's own new nodes later).
    const nodesMax = this.quotas.nodesMax;
    this.quotas.nodesMax = Number.MAX_SAFE_INTEGER;
    try {
      this.write({ domid: 0, privileged: true }, '/tool/xenstored', EMPTY);
    } finally {
      this.quotas.nodesMax = nodesMax;
    }
  }

  // ---- transactions -------------------------------------------------------------------

  startTransaction(caller: Caller, id: number): Transaction {
    this.openTransactions++;
    return new Transaction(id, this.generation++, caller.privileged ? undefined : caller.domid, caller.domid);
  }

  /**
   * C 4.17 keeps a copy of every node a transaction reads or writes, under the key
   * "<generation>/<path>", charged to the transaction's domain until the transaction ends.
   */
  private chargeCopy(tx: Transaction, path: string, entry: AccessedNode): void {
    if (entry.chargedBytes !== 0) this.adjustMemory(entry.chargedTo, -entry.chargedBytes);
    entry.chargedBytes = 0;
    if (entry.node === undefined) return;
    entry.chargedTo = tx.ownerDomid;
    entry.chargedBytes = copyBytes(tx, path, entry.node);
    this.adjustMemory(entry.chargedTo, entry.chargedBytes);
  }

  /**
   * A write inside an unprivileged transaction replaces the transaction's copy of the node;
   * C checks the memory quota for the new copy (after giving back the old one) and, when it
   * is reached, fails the request and the transaction.
   */
  private checkCopyMemory(tx: Transaction, path: string, entry: AccessedNode, node: XsNode, errno: 'EIO' | 'ENOENT' | undefined): void {
    const max = this.quotas.memoryBytesMax;
    if (tx.quotaDomid === undefined || max === 0) return;
    if (this.memoryOf(tx.ownerDomid) - entry.chargedBytes + copyBytes(tx, path, node) < max) return;
    if (errno === 'EIO') this.lastErrno = errno;
    this.refuse(errno ?? this.lastErrno, tx, 0);
  }

  /** A transaction is over (ended, failed or dropped with its connection): free its copies. */
  releaseTransaction(tx: Transaction): void {
    if (tx.open) {
      tx.open = false;
      this.openTransactions--;
    }
    for (const entry of tx.accessed.values()) {
      if (entry.chargedBytes !== 0) this.adjustMemory(entry.chargedTo, -entry.chargedBytes);
      entry.chargedBytes = 0;
    }
  }

  /** Commit (or with commit=false, abort). Throws EAGAIN on a conflict, ENOSPC over quota. */
  endTransaction(tx: Transaction, commit: boolean): void {
    this.releaseTransaction(tx);
    if (!commit) return;
    if (tx.failed) fail('ENOMEM');
    for (const [path, entry] of tx.accessed) {
      const current = this.nodes.get(path);
      if ((current?.generation ?? NO_GENERATION) !== entry.generation) fail('EAGAIN');
    }
    if (tx.quotaDomid !== undefined) {
      const delta = tx.nodeDelta.get(tx.quotaDomid) ?? 0;
      if (delta > 0 && this.nodesOwnedBy(tx.quotaDomid) + delta > this.quotas.nodesMax) fail('ENOSPC');
    }
    const changes: StoreChange[] = [];
    for (const [path, entry] of tx.accessed) {
      if (!entry.modified) continue;
      if (entry.node !== undefined) entry.node.generation = this.generation++;
      this.setGlobal(path, entry.node);
      if (entry.change !== undefined) changes.push(entry.change);
    }
    for (const [domid, delta] of tx.nodeDelta) this.adjustOwned(domid, delta);
    for (const change of changes) this.onChange(change);
  }

  /** Transactions open on every connection; one being committed no longer counts. */
  get openTransactionCount(): number {
    return this.openTransactions;
  }

  /**
   * The generation the next write will take. C's access_node() takes one for every node it
   * writes or deletes (refused writes included), exactly as this store does, so its advance
   * over a request outside a transaction counts the writes C's wrl charges for.
   */
  get nextGeneration(): number {
    return this.generation;
  }

  // ---- node access through an optional transaction -------------------------------------

  /** read_node(): the node as the caller's context sees it, recording transaction reads. */
  private get(path: string, tx: Transaction | undefined): XsNode | undefined {
    if (tx === undefined) {
      const node = this.nodes.get(path);
      if (node === undefined) this.lastErrno = 'ENOENT';
      return node;
    }
    const entry = tx.accessed.get(path);
    if (entry !== undefined) {
      if (entry.node === undefined) this.lastErrno = 'ENOENT';
      return entry.node;
    }
    // C's access_node(): an unprivileged transaction may touch at most transactionNodesMax nodes.
    if (tx.quotaDomid !== undefined && tx.accessed.size >= this.quotas.transactionNodesMax) fail('ENOSPC');
    const node = this.nodes.get(path);
    const created: AccessedNode = { generation: node?.generation ?? NO_GENERATION, node, modified: false, chargedBytes: 0, chargedTo: 0 };
    tx.accessed.set(path, created);
    this.chargeCopy(tx, path, created);
    if (node === undefined) this.lastErrno = 'ENOENT';
    return node;
  }

  /**
   * Store a new version of a node (or its deletion) in the caller's context. `errno`: what a
   * write refused inside a transaction answers (undefined: whatever errno held).
   */
  private put(path: string, node: XsNode | undefined, tx: Transaction | undefined, errno: 'EIO' | 'ENOENT' | undefined = 'EIO'): void {
    // In a transaction, the node is copied into it first (C's access_node()), and the
    // generation is taken before write_node_raw() checks the quota.
    if (tx !== undefined) this.get(path, tx);
    if (node !== undefined) node.generation = this.generation++;
    else this.generation++;
    if (tx === undefined) {
      this.setGlobal(path, node);
      return;
    }
    const entry = tx.accessed.get(path)!;
    if (node !== undefined) this.checkCopyMemory(tx, path, entry, node, errno);
    entry.node = node;
    entry.modified = true;
    this.chargeCopy(tx, path, entry);
  }

  /** Replace (or delete) a node of the global tree, moving its memory between owners. */
  private setGlobal(path: string, node: XsNode | undefined): void {
    const old = this.nodes.get(path);
    if (node === undefined) {
      if (old !== undefined) this.adjustMemory(old.perms[0]!.domid, -nodeMemory(old));
      this.nodes.delete(path);
      return;
    }
    this.nodes.set(path, node);
    const owner = node.perms[0]!.domid;
    if (old !== undefined && old.perms[0]!.domid === owner) {
      // The common case (a new value): one update.
      this.adjustMemory(owner, nodeMemory(node) - nodeMemory(old));
      return;
    }
    if (old !== undefined) this.adjustMemory(old.perms[0]!.domid, -nodeMemory(old));
    this.adjustMemory(owner, nodeMemory(node));
  }

  /** Bytes `domid` holds (C's "quota <domid>" memory figure). */
  memoryOf(domid: number): number {
    return this.memory.get(domid) ?? 0;
  }

  /** Add (or with a negative `by`, release) memory held by `domid`, without a quota check. */
  adjustMemory(domid: number, by: number): void {
    if (by === 0) return;
    const before = this.memory.get(domid) ?? 0;
    const after = before + by;
    this.memory.set(domid, after);
    const soft = this.quotas.memoryBytesSoftMax;
    if (soft !== 0 && domid !== 0 && (before > soft) !== (after > soft)) this.onMemoryWarning(domid, after, after > soft);
  }

  /**
   * domain_memory_add_chk() for a watch: ENOMEM when adding `bytes` would take guest `domid`
   * to the memory quota. (Node writes check reachesQuota() themselves: C answers them with
   * whatever errno held.)
   */
  checkMemory(domid: number, bytes: number): void {
    if (this.reachesQuota(domid, bytes)) fail('ENOMEM');
  }

  /** Domains with nodes or memory accounted (C keeps a domain entry for each). */
  accountedDomains(): number[] {
    const out = new Set<number>();
    for (const [domid, n] of this.owned) if (n > 0) out.add(domid);
    for (const [domid, n] of this.memory) if (n > 0) out.add(domid);
    return [...out];
  }

  /** The node as the context sees it, without recording a transaction access. */
  private peek(path: string, tx: Transaction | undefined): XsNode | undefined {
    const entry = tx?.accessed.get(path);
    return entry === undefined ? this.nodes.get(path) : entry.node;
  }

  /**
   * Report a change. C's watch_permitted() lets a watcher see it when it may read the node
   * (under its new or, for SET_PERMS, old permissions) or the node's parent: the parent's
   * permissions are added here, as they are when the change happens.
   */
  private emit(path: string, exact: boolean, perms: readonly NodePerm[], oldPerms: readonly NodePerm[] | undefined, tx: Transaction | undefined): void {
    const parent = path === '/' ? undefined : this.peek(parentPath(path), tx);
    const lists = oldPerms === undefined ? [perms] : [oldPerms, perms];
    if (parent !== undefined) lists.push(parent.perms);
    const change: StoreChange = { path, exact, perms: lists };
    if (tx === undefined) {
      this.onChange(change);
      return;
    }
    const entry = tx.accessed.get(change.path);
    if (entry !== undefined && entry.change === undefined) entry.change = change;
  }

  private adjustOwned(domid: number, by: number): void {
    this.owned.set(domid, (this.owned.get(domid) ?? 0) + by);
  }

  private countOwner(domid: number, by: number, tx: Transaction | undefined): void {
    if (tx === undefined) this.adjustOwned(domid, by);
    else tx.adjustNodes(domid, by);
  }

  /** Nodes currently owned by `domid` (global tree). */
  nodesOwnedBy(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  // ---- path and permission checks --------------------------------------------------------

  /** Canonicalize and validate a client path (EINVAL when malformed). */
  resolve(caller: Caller, path: string | undefined): string {
    if (path === undefined) this.failSticky('EINVAL');
    const full = canonicalize(path, caller.domid);
    if (!isValidPath(full, false, this.quotas.pathBytesMax)) this.failSticky('EINVAL');
    return full;
  }

  access(caller: Caller, perms: readonly NodePerm[]): number {
    return accessFor(perms, caller.domid, caller.privileged, caller.target);
  }

  /**
   * get_node(): the node if the caller has `want` access; else EACCES, or ENOENT when it does
   * not exist and the nearest existing ancestor grants `want` (else EACCES, so that a
   * guest learns nothing about nodes it may not see).
   */
  private getChecked(caller: Caller, path: string, want: number, tx: Transaction | undefined): XsNode | undefined {
    const node = this.get(path, tx);
    if (node !== undefined) {
      if ((this.access(caller, node.perms) & want) !== want) this.failSticky('EACCES');
      return node;
    }
    const ancestor = this.nearestAncestor(path, tx);
    if ((this.access(caller, ancestor.perms) & want) === 0) this.failSticky('EACCES');
    return undefined;
  }

  private nearestAncestor(path: string, tx: Transaction | undefined): XsNode {
    let p = path;
    for (;;) {
      p = parentPath(p);
      const node = this.get(p, tx);
      if (node !== undefined) return node;
      if (p === '/') return makeNode('/', EMPTY, [{ domid: 0, access: PERM_NONE }], [], 0);
    }
  }

  /** A rewritten node too big: ENOSPC, after C took a generation, failing a transaction. */
  private checkSize(caller: Caller, node: XsNode, tx: Transaction | undefined): void {
    if (!caller.privileged && recordBytes(node) >= this.quotas.nodeSizeBytesMax) this.refuse(this.lastErrno = 'ENOSPC', tx, 1);
  }

  // ---- operations ---------------------------------------------------------------------------

  read(caller: Caller, path: string, tx?: Transaction): Buffer {
    const node = this.getChecked(caller, this.resolve(caller, path), PERM_READ, tx);
    if (node === undefined) fail('ENOENT');
    return node.value;
  }

  /** The node's child list in wire form ("a\0b\0"). */
  directory(caller: Caller, path: string, tx?: Transaction): Buffer {
    const node = this.getChecked(caller, this.resolve(caller, path), PERM_READ, tx);
    if (node === undefined) fail('ENOENT');
    return childListBytes(node);
  }

  /** The node's generation and child list, for XS_DIRECTORY_PART. */
  directoryWithGeneration(caller: Caller, path: string, tx?: Transaction): { generation: number; children: Buffer } {
    const node = this.getChecked(caller, this.resolve(caller, path), PERM_READ, tx);
    if (node === undefined) fail('ENOENT');
    return { generation: node.generation, children: childListBytes(node) };
  }

  getPerms(caller: Caller, path: string, tx?: Transaction): readonly NodePerm[] {
    const node = this.getChecked(caller, this.resolve(caller, path), PERM_READ, tx);
    if (node === undefined) fail('ENOENT');
    return node.perms;
  }

  exists(path: string): boolean {
    return this.nodes.has(path);
  }

  /** Write `value`, which the store keeps: the caller must not change it afterwards. */
  write(caller: Caller, path: string, value: Buffer, tx?: Transaction): void {
    const name = this.resolve(caller, path);
    const node = this.getChecked(caller, name, PERM_WRITE, tx);
    let written: XsNode;
    if (node === undefined) {
      written = this.create(caller, name, value, tx);
    } else {
      written = withValue(node, value);
      // A rewrite refused for memory answers whatever errno held in C.
      this.checkSize(caller, written, tx);
      if (tx === undefined && this.reachesQuota(written.perms[0]!.domid, nodeMemory(written) - nodeMemory(node))) this.refuse(this.lastErrno, undefined, 1);
      this.put(name, written, tx, undefined);
    }
    this.emit(name, false, written.perms, undefined, tx);
  }

  mkdir(caller: Caller, path: string, tx?: Transaction): void {
    const name = this.resolve(caller, path);
    if (this.getChecked(caller, name, PERM_WRITE, tx) !== undefined) return;
    const created = this.create(caller, name, EMPTY, tx);
    this.emit(name, false, created.perms, undefined, tx);
  }

  /**
   * create_node(): build the missing chain of nodes down to `name`, each inheriting its
   * parent's permissions (an unprivileged creator becomes the owner), then write them from
   * the deepest up to the existing ancestor whose child list grew, as C does.
   */
  private create(caller: Caller, name: string, value: Buffer, tx: Transaction | undefined): XsNode {
    const missing: string[] = [name];
    let existing: XsNode | undefined;
    for (let p = parentPath(name); ; p = parentPath(p)) {
      existing = this.get(p, tx);
      if (existing !== undefined) break;
      missing.push(p);
    }
    let perms = existing.perms;
    if (!caller.privileged) perms = [{ domid: caller.domid, access: perms[0]!.access }, ...perms.slice(1)];
    const chain: XsNode[] = [];
    for (let i = 0; i < missing.length; i++) {
      const path = missing[i]!;
      const child = i === 0 ? undefined : missing[i - 1]!;
      const children = child === undefined ? [] : [baseName(child)];
      const childBytes = child === undefined ? 0 : Buffer.byteLength(baseName(child)) + 1;
      chain.push(makeNode(path, i === 0 ? value : EMPTY, perms, children, childBytes));
    }
    const parent = withChildAdded(existing, baseName(missing[missing.length - 1]!));
    this.checkCreate(caller, chain, parent, existing, tx);
    for (const node of chain) {
      this.put(node.name, node, tx);
      this.countOwner(node.perms[0]!.domid, 1, tx);
    }
    this.put(parent.name, parent, tx);
    return chain[0]!;
  }

  /**
   * C's create_node() writes the new nodes deepest first, then the parent whose child list
   * grew, checking each in turn: the node quota before a new node, then (after access_node()
   * took a generation) its size and the memory quota of the domain charged (the owner, or in
   * a transaction the transaction's domain for its copy). A refusal undoes the writes before
   * it but not the generations they took. The same checks run here, before anything changes.
   */
  private checkCreate(caller: Caller, chain: readonly XsNode[], parent: XsNode, existing: XsNode, tx: Transaction | undefined): void {
    const pendingNodes = caller.privileged ? 0 : this.nodesOwnedBy(caller.domid) + (tx?.nodeDelta.get(caller.domid) ?? 0);
    let charged = 0;
    let chargedTo = -1;
    let otherCharged = 0;
    for (let k = 0; k <= chain.length; k++) {
      const node = k < chain.length ? chain[k]! : parent;
      // create_node() leaves its error in errno. C counts no nodes for a privileged caller
      // but still compares, so a node quota of 0 refuses dom0's new nodes too.
      if (k < chain.length && (caller.privileged ? 0 : pendingNodes + k) >= this.quotas.nodesMax) this.refuse(this.lastErrno = 'ENOSPC', undefined, k);
      if (!caller.privileged && recordBytes(node) >= this.quotas.nodeSizeBytesMax) this.refuse(this.lastErrno = 'ENOSPC', tx, k + 1);
      let domid: number;
      let bytes: number;
      if (tx === undefined) {
        domid = node.perms[0]!.domid;
        bytes = nodeMemory(node) - (node === parent ? nodeMemory(existing) : 0);
      } else {
        if (tx.quotaDomid === undefined) continue;
        domid = tx.ownerDomid;
        bytes = copyBytes(tx, node.name, node) - (node === parent ? tx.accessed.get(parent.name)?.chargedBytes ?? 0 : 0);
      }
      // At most two domains are charged: the new nodes' owner and the parent's.
      if (chargedTo === -1) chargedTo = domid;
      const before = domid === chargedTo ? charged : otherCharged;
      if (this.reachesQuota(domid, before + bytes)) this.refuse(this.lastErrno = 'EIO', tx, k + 1);
      if (domid === chargedTo) charged += bytes;
      else otherCharged += bytes;
    }
  }

  /**
   * A write refused after C's access_node() took `generations` (a node too big, the memory
   * quota reached): they stay used up, and a transaction it was in is failed.
   */
  private refuse(errno: XsErrno, tx: Transaction | undefined, generations: number): never {
    this.generation += generations;
    if (tx !== undefined) tx.failed = true;
    fail(errno);
  }

  /** Refuse with `errno`, which C also leaves in errno (see lastErrno). */
  private failSticky(errno: XsErrno): never {
    this.lastErrno = errno;
    fail(errno);
  }

  /**
   * Whether adding `bytes` takes guest `domid` to its memory quota (C's domain_chk_quota():
   * reaching the quota is already too much). Never for dom0, nor with the quota off (0).
   */
  reachesQuota(domid: number, bytes: number): boolean {
    const max = this.quotas.memoryBytesMax;
    return domid !== 0 && max !== 0 && this.memoryOf(domid) + bytes >= max;
  }

  rm(caller: Caller, path: string, tx?: Transaction): void {
    const name = this.resolve(caller, path);
    const node = this.get(name, tx);
    if (node === undefined) {
      // C: removing an absent node is fine when its parent exists (read without a check).
      this.getChecked(caller, name, PERM_WRITE, tx);
      if (this.get(parentPath(name), tx) !== undefined) return;
      fail('ENOENT');
    }
    if ((this.access(caller, node.perms) & PERM_WRITE) === 0) fail('EACCES');
    if (name === '/') fail('EINVAL');
    this.removeTree(name, tx);
  }

  /** Delete `name` and everything below it, firing C's events: exact ones for descendants, deepest first, then the recursive one for `name`. */
  removeTree(name: string, tx: Transaction | undefined): void {
    const parentName = parentPath(name);
    const parent = this.get(parentName, tx);
    if (parent === undefined) fail('EINVAL');
    this.deleteNode(name, false, tx);
    const latest = this.get(parentName, tx)!;
    this.put(parentName, withChildRemoved(latest, baseName(name)), tx);
  }

  private deleteNode(name: string, exact: boolean, tx: Transaction | undefined): void {
    const node = this.get(name, tx);
    if (node === undefined) return;
    for (const child of node.children) {
      this.deleteNode(childPath(name, child), true, tx);
      this.generation++;
    }
    this.emit(name, exact, node.perms, undefined, tx);
    this.put(name, undefined, tx);
    this.countOwner(node.perms[0]!.domid, -1, tx);
  }

  setPerms(caller: Caller, path: string, perms: readonly NodePerm[], tx?: Transaction): void {
    if (!caller.privileged && perms.length > this.quotas.permsMax) fail('ENOSPC');
    const name = this.resolve(caller, path);
    const node = this.getChecked(caller, name, PERM_WRITE | PERM_OWNER, tx);
    if (node === undefined) fail('ENOENT');
    if (!caller.privileged && perms[0]!.domid !== node.perms[0]!.domid) fail('EPERM');
    const updated = withPerms(node, perms.map((p) => ({ ...p })));
    this.checkSize(caller, updated, tx);
    if (tx === undefined && this.reachesQuota(perms[0]!.domid, nodeMemory(updated) - (perms[0]!.domid === node.perms[0]!.domid ? nodeMemory(node) : 0))) this.refuse('ENOENT', undefined, 1);
    this.countOwner(node.perms[0]!.domid, -1, tx);
    this.countOwner(perms[0]!.domid, 1, tx);
    this.put(name, updated, tx, 'ENOENT');
    this.emit(name, false, updated.perms, node.perms, tx);
  }

  /** Permissions of "@introduceDomain" / "@releaseDomain" (ENOENT for other "@" names). */
  getSpecialPerms(name: string): readonly NodePerm[] {
    if (!isSpecialPath(name)) fail('ENOENT');
    return this.specialPerms.get(name) ?? DEFAULT_SPECIAL_PERMS;
  }

  /** SET_PERMS on a special path: the caller needs write and owner access. */
  setSpecialPerms(caller: Caller, name: string, perms: readonly NodePerm[]): void {
    const current = this.getSpecialPerms(name);
    // C's set_perms_special() returns EACCES, but do_set_perms() then answers errno, which it
    // did not set: whatever the last failure left there.
    if ((this.access(caller, current) & (PERM_WRITE | PERM_OWNER)) !== (PERM_WRITE | PERM_OWNER)) fail(this.lastErrno);
    this.specialPerms.set(name, perms.map((p) => ({ ...p })));
  }

  // ---- domains --------------------------------------------------------------------------------

  /**
   * A domain went away (RELEASE or death): delete every subtree it owns, firing watches as an
   * RM would, and mark its entries in other nodes' permission lists ignored so that a later
   * domain with the same id inherits nothing (C's XS_PERM_IGNORE).
   */
  releaseDomain(domid: number): void {
    if (domid === 0) return;
    const owned: string[] = [];
    this.walk('/', (node) => {
      if (node.perms[0]!.domid === domid) {
        owned.push(node.name);
        return false;
      }
      return true;
    });
    for (const name of owned) if (name !== '/' && this.nodes.has(name)) this.removeTree(name, undefined);
    for (const [path, node] of this.nodes) {
      if (node.perms.some((p, i) => i > 0 && p.domid === domid && p.ignored !== true)) {
        const kept = withPerms(node, node.perms.map((p, i) => (i > 0 && p.domid === domid ? { ...p, ignored: true } : p)));
        kept.generation = node.generation;
        this.setGlobal(path, kept);
      }
    }
  }

  /** Depth-first walk of the global tree; `visit` returns false to skip a node's children. */
  private walk(name: string, visit: (node: XsNode) => boolean): void {
    const node = this.nodes.get(name);
    if (node === undefined || !visit(node)) return;
    for (const child of node.children) this.walk(childPath(name, child), visit);
  }

  /** All nodes in depth-first order (for dumps and tests). */
  dump(): XsNode[] {
    const out: XsNode[] = [];
    this.walk('/', (node) => {
      out.push(node);
      return true;
    });
    return out;
  }
}
