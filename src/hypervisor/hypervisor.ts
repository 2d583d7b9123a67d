import { mkdirSync } from 'node:fs';
import { native as defaultNative } from '../native/index.js';
import type { NativeApi } from '../native/api.js';
import type {
  DomainInfo,
  DomId,
  EventChannels,
  ForeignMemory,
  GrantMapper,
  GrantTable,
  GuestMemory,
  Hypervisor,
  HypervisorStartInfo,
  StartInfo,
} from './api.js';
import { DomainFiles } from './domain-files.js';
import { DomainRegistry } from './domain-registry.js';
import { noDomainError } from './errors.js';
import { EventChannelsImpl } from './event-channels.js';
import { ForeignMemoryImpl } from './foreign-memory.js';
import { GrantMapperImpl } from './grant-mapper.js';
import { GrantTableImpl } from './grant-table.js';
import { GuestMemoryImpl } from './memory.js';
import { RunDir } from './rundir.js';
import { RESERVED_PAGES, readStartInfo, writeStartInfo } from './start-info.js';

export interface HypervisorOptions {
  /** The native addon; defaults to the one src/native/index.ts loads. */
  native?: NativeApi;
}

/** The emulated hypervisor over one run directory; see docs/abi.md for the files. */
export class EmulatedHypervisor implements Hypervisor, HypervisorStartInfo {
  readonly rundir: string;
  readonly dirs: RunDir;
  private readonly files: DomainFiles;
  private readonly registry: DomainRegistry;

  constructor(rundir: string, private readonly native: NativeApi) {
    this.rundir = rundir;
    this.dirs = new RunDir(rundir);
    mkdirSync(this.dirs.domainsDir, { recursive: true });
    this.files = new DomainFiles(native, this.dirs);
    this.registry = new DomainRegistry(native, this.files);
    this.registry.ensureDom0();
  }

  createDomain(opts: { domid?: DomId; name?: string; memoryMiB: number }): DomainInfo {
    return this.registry.create(opts);
  }

  destroyDomain(domid: DomId): void {
    this.registry.destroy(domid);
  }

  listDomains(): DomainInfo[] {
    return this.registry.list();
  }

  domainInfo(domid: DomId): DomainInfo | undefined {
    return this.registry.info(domid);
  }

  openEventChannels(domid: DomId): EventChannels {
    return new EventChannelsImpl(domid, this.files, this.native);
  }

  openGrantMapper(selfDomid: DomId): GrantMapper {
    return new GrantMapperImpl(selfDomid, this.files);
  }

  openGrantTable(domid: DomId): GrantTable {
    return new GrantTableImpl(domid, this.files.get(domid));
  }

  openGuestMemory(domid: DomId): GuestMemory {
    const info = this.startInfo(domid);
    if (info === undefined) throw noDomainError(domid);
    return new GuestMemoryImpl(domid, Math.max(info.reservedPages, RESERVED_PAGES), this.native, this.dirs);
  }

  openForeignMemory(): ForeignMemory {
    return new ForeignMemoryImpl(this.files);
  }

  startInfo(domid: DomId): StartInfo | undefined {
    return readStartInfo(this.dirs.startInfo(domid));
  }

  writeStartInfo(info: StartInfo): void {
    if (this.registry.info(info.domid) === undefined) throw noDomainError(info.domid);
    writeStartInfo(this.dirs.startInfo(info.domid), info);
  }

  /** Unmap the cached domain tables (handles opened from this object keep theirs until closed). */
  close(): void {
    this.files.close();
  }
}

/** Open (creating if needed) the emulated hypervisor of `rundir`; dom0 exists afterwards. */
export function openHypervisor(rundir: string, opts: HypervisorOptions = {}): EmulatedHypervisor {
  return new EmulatedHypervisor(rundir, opts.native ?? defaultNative);
}
