import { mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { SplitblkError } from '../util/errors.js';
import type { NativeApi } from '../native/api.js';
import { PAGE_SIZE } from '../native/api.js';
import { HypervisorError, type DomainInfo, type DomId } from './api.js';
import { DomainFiles, publishSharedFile } from './domain-files.js';
import { exhaustedError, isErrno, noDomainError } from './errors.js';
import {
  EVTCHN_INTERDOMAIN,
  EVTCHN_PORTS,
  EVTCHN_TABLE_BYTES,
  EVTCHN_UNBOUND,
  bindingDomid,
  bindingIndex,
  bindingPort,
  bindingState,
  encodeBinding,
  initTable,
  markTableDying,
  unbindRemote,
} from './evtchn-table.js';
import {
  GNTTAB_BYTES,
  GNTTAB_PINS_BYTES,
  GNTTAB_PINS_ENTRIES_WORD,
  GNTTAB_PINS_MAGIC,
  GNTTAB_PINS_MAGIC_WORD,
  GNTTAB_PINS_STATE_WORD,
  GNTTAB_RESERVED_XENSTORE,
  GRANT_ENTRIES,
  GRANT_ENTRY_WORDS,
  GTF_permit_access,
  TABLE_STATE_ALIVE,
  TABLE_STATE_DYING,
} from './grant-layout.js';
import { isRecord, readJson, uint, writeJsonAtomic } from './json-file.js';
import { RESERVED_PAGES, STORE_GFN, writeStartInfo } from './start-info.js';

/** Domids 1..domidMax are for guests; 0x7ff0 and up are Xen's reserved ids (DOMID_SELF...). */
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const domidMax = DOMID_FIRST_RESERVED - 1;
/** The guest port that createDomain offers to dom0 for the xenstore ring. */
export const STORE_PORT = 1;
/** 1 GiB of guest memory at most, so that a typo cannot fill /dev/shm. */
export const memoryMiBMax = 1024;

/** Names stay simple so that a C reader of start-info needs no JSON string unescaping. */
export const nameBytesMax = 63;
const validName = (name: string): boolean => name.length > 0 && name.length <= nameBytesMax && /^[\x20-\x7e]+$/.test(name) && !/["\\]/.test(name);

const invalid = (message: string, domid?: DomId): SplitblkError =>
  new SplitblkError(HypervisorError.Invalid, message, domid === undefined ? {} : { domid });

/**
 * The domain registry: one directory per domain under domains/, published by its `info` record.
 *
 * Creation claims the domid with mkdir (atomic: one creator wins), creates every shared file
 * complete under a temporary name and links it into place, and writes `info` last; a directory
 * without `info` is a domain being created (or a creator that crashed) and is not listed.
 * No file lock is needed anywhere.
 */
export class DomainRegistry {
  constructor(
    private readonly native: NativeApi,
    private readonly files: DomainFiles,
  ) {}

  private get dirs() {
    return this.files.dirs;
  }

  /** Make dom0 exist: its directory, its event-channel table and its record. Idempotent. */
  ensureDom0(): void {
    mkdirSync(this.dirs.domainDir(0), { recursive: true });
    publishSharedFile(this.native, this.dirs.evtchn(0), EVTCHN_TABLE_BYTES, (buffer) =>
      initTable(new Int32Array(buffer), 0),
    );
    if (this.info(0) === undefined) {
      writeJsonAtomic(this.dirs.info(0), encodeInfo({ domid: 0, name: 'Domain-0', memoryPages: 0, dying: false, shutdown: false }));
    }
  }

  info(domid: DomId): DomainInfo | undefined {
    return decodeInfo(readJson(this.dirs.info(domid)), domid);
  }

  list(): DomainInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.dirs.domainsDir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    const domains: DomainInfo[] = [];
    for (const name of names) {
      if (!/^\d+$/.test(name)) continue;
      const info = this.info(Number(name));
      if (info !== undefined) domains.push(info);
    }
    return domains.sort((a, b) => a.domid - b.domid);
  }

  create(opts: { domid?: DomId; name?: string; memoryMiB: number }): DomainInfo {
    const memoryPages = Math.floor(opts.memoryMiB * (1024 * 1024 / PAGE_SIZE));
    if (!(memoryPages > RESERVED_PAGES) || opts.memoryMiB > memoryMiBMax) {
      throw invalid(`memory must be more than ${RESERVED_PAGES} pages and at most ${memoryMiBMax} MiB`);
    }
    if (opts.name !== undefined && !validName(opts.name)) {
      throw invalid(`domain name must be 1..${nameBytesMax} printable characters without quotes or backslashes`);
    }
    if (opts.name !== undefined && this.list().some((d) => d.name === opts.name)) {
      throw new SplitblkError(HypervisorError.DomainExists, `a domain named ${opts.name} exists`, { name: opts.name });
    }
    const domid = this.claimDomid(opts.domid);
    const info: DomainInfo = { domid, name: opts.name ?? `domain-${domid}`, memoryPages, dying: false, shutdown: false };
    try {
      this.createFiles(info);
    } catch (error) {
      this.removeFiles(domid);
      throw error;
    }
    writeJsonAtomic(this.dirs.info(domid), encodeInfo(info));
    return info;
  }

  /**
   * Mark the domain dying, close its interdomain channels at the peers, and remove its files.
   * Mappings other processes hold stay valid (tmpfs frees the pages at the last munmap).
   */
  destroy(domid: DomId): void {
    if (domid === 0) throw invalid('dom0 cannot be destroyed', 0);
    const info = this.info(domid);
    if (info === undefined) throw noDomainError(domid);
    writeJsonAtomic(this.dirs.info(domid), encodeInfo({ ...info, dying: true }));
    this.markDyingAndUnbind(domid);
    this.files.forget(domid);
    this.removeFiles(domid);
  }

  private claimDomid(requested: DomId | undefined): DomId {
    mkdirSync(this.dirs.domainsDir, { recursive: true });
    if (requested !== undefined) {
      if (!Number.isInteger(requested) || requested < 1 || requested > domidMax) {
        throw invalid(`domid must be 1..${domidMax}`, requested);
      }
      if (!this.tryMkdir(requested)) {
        throw new SplitblkError(HypervisorError.DomainExists, `domain ${requested} exists`, { domid: requested });
      }
      return requested;
    }
    for (let domid = 1; domid <= domidMax; domid++) {
      if (this.tryMkdir(domid)) return domid;
    }
    throw exhaustedError('no free domid', { domid: 0 });
  }

  private tryMkdir(domid: DomId): boolean {
    try {
      mkdirSync(this.dirs.domainDir(domid));
      return true;
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return false;
      throw error;
    }
  }

  private createFiles(info: DomainInfo): void {
    const { domid } = info;
    publishSharedFile(this.native, this.dirs.memory(domid), info.memoryPages * PAGE_SIZE);
    publishSharedFile(this.native, this.dirs.gnttab(domid), GNTTAB_BYTES, (buffer) => {
      // Ref 1 (GNTTAB_RESERVED_XENSTORE) grants the xenstore page to dom0, as Xen's domain
      // builder seeds it, for a xenstored that maps the ring by grant rather than by gfn.
      const entries = new Int32Array(buffer);
      entries[GNTTAB_RESERVED_XENSTORE * GRANT_ENTRY_WORDS + 1] = STORE_GFN;
      entries[GNTTAB_RESERVED_XENSTORE * GRANT_ENTRY_WORDS] = GTF_permit_access; // domid 0
    });
    publishSharedFile(this.native, this.dirs.gnttabPins(domid), GNTTAB_PINS_BYTES, (buffer) => {
      const pins = new Int32Array(buffer);
      pins[GNTTAB_PINS_ENTRIES_WORD] = GRANT_ENTRIES;
      pins[GNTTAB_PINS_STATE_WORD] = TABLE_STATE_ALIVE;
      pins[GNTTAB_PINS_MAGIC_WORD] = GNTTAB_PINS_MAGIC;
    });
    publishSharedFile(this.native, this.dirs.evtchn(domid), EVTCHN_TABLE_BYTES, (buffer) => {
      const words = new Int32Array(buffer);
      // The store port: unbound, offered to dom0's xenstored (EVTCHNOP_alloc_unbound by the builder).
      words[bindingIndex(STORE_PORT)] = encodeBinding(EVTCHN_UNBOUND, 0, 0);
      initTable(words, domid);
    });
    writeStartInfo(this.dirs.startInfo(domid), {
      domid,
      name: info.name,
      memoryPages: info.memoryPages,
      reservedPages: RESERVED_PAGES,
      storeGfn: STORE_GFN,
      storePort: STORE_PORT,
      grantEntries: GRANT_ENTRIES,
      evtchnPorts: EVTCHN_PORTS,
    });
  }

  private markDyingAndUnbind(domid: DomId): void {
    let domain;
    try {
      domain = this.files.get(domid);
    } catch {
      return; // Half-created or already dying: nothing is bound to it.
    }
    const words = domain.evtchn;
    markTableDying(words);
    try {
      Atomics.store(domain.grants().pins, GNTTAB_PINS_STATE_WORD, TABLE_STATE_DYING);
    } catch {
      // Without grant files there is nothing for mappers to notice.
    }
    for (let port = 1; port < EVTCHN_PORTS; port++) {
      const binding = Atomics.load(words, bindingIndex(port));
      if (bindingState(binding) !== EVTCHN_INTERDOMAIN) continue;
      const peer = bindingDomid(binding);
      try {
        const remote = peer === domid ? words : this.files.get(peer).evtchn;
        unbindRemote(remote, bindingPort(binding), domid, port);
      } catch {
        // The peer is gone as well.
      }
    }
  }

  private removeFiles(domid: DomId): void {
    const dir = this.dirs.domainDir(domid);
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
    // The record goes last, so that a domain is listed (as dying) until its files are gone.
    for (const name of names.filter((n) => n !== 'info')) unlinkQuiet(`${dir}/${name}`);
    unlinkQuiet(this.dirs.info(domid));
    try {
      rmdirSync(dir);
    } catch (error) {
      if (!isErrno(error, 'ENOENT') && !isErrno(error, 'ENOTEMPTY')) throw error;
    }
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}

function encodeInfo(info: DomainInfo): Record<string, unknown> {
  return { domid: info.domid, name: info.name, memoryPages: info.memoryPages, dying: info.dying, shutdown: info.shutdown };
}

function decodeInfo(value: unknown, domid: DomId): DomainInfo | undefined {
  if (!isRecord(value) || typeof value.name !== 'string' || uint(value.domid) !== domid) return undefined;
  const memoryPages = uint(value.memoryPages);
  if (memoryPages === undefined) return undefined;
  return { domid, name: value.name, memoryPages, dying: value.dying === true, shutdown: value.shutdown === true };
}
