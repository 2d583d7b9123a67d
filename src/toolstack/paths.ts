/**
 * libxl's xenstore layout for domains and block devices, named once. The backend domain is
 * always dom0 here (LIBXL_TOOLSTACK_DOMID).
 */
export const TOOLSTACK_DOMID = 0;

export const domainPath = (domid: number): string => `/local/domain/${domid}`;
export const vbdBackendRoot = (backendDomid = TOOLSTACK_DOMID): string => `/local/domain/${backendDomid}/backend/vbd`;
export const vbdBackendPath = (domid: number, devid: number, backendDomid = TOOLSTACK_DOMID): string =>
  `${vbdBackendRoot(backendDomid)}/${domid}/${devid}`;
export const vbdFrontendPath = (domid: number, devid: number): string => `${domainPath(domid)}/device/vbd/${devid}`;

/** Sub-directories libxl creates in a new domain's home, and whether the guest owns them. */
export const DOMAIN_SUBDIRS: ReadonlyArray<{ name: string; guestWritable: boolean }> = [
  { name: 'device', guestWritable: false },
  { name: 'control', guestWritable: false },
  { name: 'control/shutdown', guestWritable: true },
  { name: 'data', guestWritable: true },
  { name: 'drivers', guestWritable: true },
  { name: 'feature', guestWritable: true },
  { name: 'attr', guestWritable: true },
  { name: 'error', guestWritable: true },
];
