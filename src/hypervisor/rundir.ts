import { join } from 'node:path';
import type { DomId, EvtchnPort } from './api.js';

/**
 * Paths of the run-directory ABI (docs/abi.md). Every file of the emulated hypervisor lives
 * under `<rundir>/domains/<domid>/`; this module is the only place that spells the names.
 */
export class RunDir {
  readonly domainsDir: string;

  constructor(readonly root: string) {
    this.domainsDir = join(root, 'domains');
  }

  domainDir(domid: DomId): string {
    return join(this.domainsDir, String(domid));
  }

  /** Domain registry record (JSON, replaced atomically by rename). */
  info(domid: DomId): string {
    return join(this.domainDir(domid), 'info');
  }

  /** The guest's memory: memoryPages * 4096 bytes; gfn N is bytes [N*4096, N*4096+4096). */
  memory(domid: DomId): string {
    return join(this.domainDir(domid), 'memory');
  }

  /** The guest-written grant table: grant_entry_v1[grantEntries]. */
  gnttab(domid: DomId): string {
    return join(this.domainDir(domid), 'gnttab');
  }

  /** Hypervisor-private map counts of each grant entry (grant-layout.ts). */
  gnttabPins(domid: DomId): string {
    return join(this.domainDir(domid), 'gnttab-pins');
  }

  /** The event-channel port table (evtchn-layout.ts). */
  evtchn(domid: DomId): string {
    return join(this.domainDir(domid), 'evtchn');
  }

  /** The doorbell FIFO of one port, created by the process that listens on it. */
  evtchnDoorbell(domid: DomId, port: EvtchnPort): string {
    return join(this.domainDir(domid), `evtchn-${port}`);
  }

  /** The start-info record the toolstack writes for the guest (JSON). */
  startInfo(domid: DomId): string {
    return join(this.domainDir(domid), 'start-info');
  }

  /** A unique temporary name beside `path`, for write-then-rename / create-then-link. */
  static temporary(path: string): string {
    return `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  }
}
