/** The public surface of the hypervisor emulation (docs/abi.md). */
export * from './api.js';
export { openHypervisor, EmulatedHypervisor, type HypervisorOptions } from './hypervisor.js';
export { RunDir } from './rundir.js';
export { RESERVED_PAGES, STORE_GFN } from './start-info.js';
export { DOMID_FIRST_RESERVED, STORE_PORT, domidMax, memoryMiBMax } from './domain-registry.js';
export { GRANT_ENTRIES, GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_XENSTORE } from './grant-layout.js';
export { EVTCHN_PORTS } from './evtchn-table.js';
export { mapPagesMax } from './grant-mapper.js';
