import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as evtchn from '../../src/hypervisor/evtchn-table.js';
import * as grant from '../../src/hypervisor/grant-layout.js';
import { available } from '../helpers/ci.js';
import { tempDir } from '../helpers/temp.js';
import { cToolchainMissing, compileC } from './gcc.js';

/** Prints the C view of every layout we declare: the Xen headers and splitblk-guest.h. */
const program = String.raw`
#include <stddef.h>
#include <stdio.h>
#include "splitblk-guest.h"
int main(void) {
  printf("{");
  printf("\"sizeof_grant_entry_v1\":%zu,", sizeof(struct grant_entry_v1));
  printf("\"offsetof_flags\":%zu,", offsetof(struct grant_entry_v1, flags));
  printf("\"offsetof_domid\":%zu,", offsetof(struct grant_entry_v1, domid));
  printf("\"offsetof_frame\":%zu,", offsetof(struct grant_entry_v1, frame));
  printf("\"GTF_permit_access\":%u,\"GTF_type_mask\":%u,\"GTF_readonly\":%u,", GTF_permit_access, GTF_type_mask, GTF_readonly);
  printf("\"GTF_reading\":%u,\"GTF_writing\":%u,\"GTF_sub_page\":%u,", GTF_reading, GTF_writing, GTF_sub_page);
  printf("\"GNTTAB_NR_RESERVED_ENTRIES\":%u,\"GNTTAB_RESERVED_XENSTORE\":%u,", GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_XENSTORE);
  printf("\"sizeof_xsd_sockmsg\":%zu,\"XENSTORE_RING_SIZE\":%u,", sizeof(struct xsd_sockmsg), XENSTORE_RING_SIZE);
  printf("\"offsetof_req_cons\":%zu,\"offsetof_rsp_prod\":%zu,", offsetof(struct xenstore_domain_interface, req_cons),
         offsetof(struct xenstore_domain_interface, rsp_prod));
  printf("\"SBG_EVTCHN_ENTRY_WORDS\":%u,\"SBG_EVTCHN_UNBOUND\":%u,\"SBG_EVTCHN_INTERDOMAIN\":%u,\"SBG_EVTCHN_RESERVED\":%u,",
         SBG_EVTCHN_ENTRY_WORDS, SBG_EVTCHN_UNBOUND, SBG_EVTCHN_INTERDOMAIN, SBG_EVTCHN_RESERVED);
  printf("\"SBG_EVTCHN_PENDING\":%u,\"SBG_EVTCHN_MASKED\":%u,\"SBG_EVTCHN_POLLING\":%u,\"SBG_EVTCHN_MAGIC\":%u,\"SBG_TABLE_DYING\":%u,",
         SBG_EVTCHN_PENDING, SBG_EVTCHN_MASKED, SBG_EVTCHN_POLLING, SBG_EVTCHN_MAGIC, SBG_TABLE_DYING);
  printf("\"binding\":%u", SBG_EVTCHN_BINDING(SBG_EVTCHN_INTERDOMAIN, 4095, 0x7fef));
  printf("}\n");
  return 0;
}
`;

test('grant_entry_v1, the xenstore ring and splitblk-guest.h agree with the TypeScript layouts', (t) => {
  if (!available(t, cToolchainMissing())) return;
  const dir = tempDir(t, 'splitblk-layout-');
  writeFileSync(join(dir, 'layout.c'), program);
  compileC([join(dir, 'layout.c')], join(dir, 'layout'));
  const c = JSON.parse(spawnSync(join(dir, 'layout'), { encoding: 'utf8' }).stdout) as Record<string, number>;

  t.is(c.sizeof_grant_entry_v1, grant.GRANT_ENTRY_SIZE);
  t.is(c.offsetof_flags, grant.GRANT_ENTRY_FLAGS_OFFSET);
  t.is(c.offsetof_domid, grant.GRANT_ENTRY_DOMID_OFFSET);
  t.is(c.offsetof_frame, grant.GRANT_ENTRY_FRAME_OFFSET);
  t.is(c.GTF_permit_access, grant.GTF_permit_access);
  t.is(c.GTF_type_mask, grant.GTF_type_mask);
  t.is(c.GTF_readonly, grant.GTF_readonly);
  t.is(c.GTF_reading, grant.GTF_reading);
  t.is(c.GTF_writing, grant.GTF_writing);
  t.is(c.GTF_sub_page, grant.GTF_sub_page);
  t.is(c.GNTTAB_NR_RESERVED_ENTRIES, grant.GNTTAB_NR_RESERVED_ENTRIES);
  t.is(c.GNTTAB_RESERVED_XENSTORE, grant.GNTTAB_RESERVED_XENSTORE);
  t.is(c.sizeof_xsd_sockmsg, 16);
  t.is(c.XENSTORE_RING_SIZE, 1024);
  t.is(c.offsetof_req_cons, 2048);
  t.is(c.offsetof_rsp_prod, 2060);

  t.is(c.SBG_EVTCHN_ENTRY_WORDS, evtchn.EVTCHN_ENTRY_WORDS);
  t.is(c.SBG_EVTCHN_UNBOUND, evtchn.EVTCHN_UNBOUND);
  t.is(c.SBG_EVTCHN_INTERDOMAIN, evtchn.EVTCHN_INTERDOMAIN);
  t.is(c.SBG_EVTCHN_RESERVED, evtchn.EVTCHN_RESERVED);
  t.is(c.SBG_EVTCHN_PENDING, evtchn.EVTCHN_PENDING);
  t.is(c.SBG_EVTCHN_MASKED, evtchn.EVTCHN_MASKED);
  t.is(c.SBG_EVTCHN_POLLING, evtchn.EVTCHN_POLLING);
  t.is(c.SBG_EVTCHN_MAGIC, evtchn.EVTCHN_MAGIC);
  t.is(c.SBG_TABLE_DYING, grant.TABLE_STATE_DYING);
  t.is(c.binding, evtchn.encodeBinding(evtchn.EVTCHN_INTERDOMAIN, 4095, 0x7fef) >>> 0);
});
