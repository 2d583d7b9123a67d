/**
 * The guest's half of a RingQueue test, in the test's own process: domain 1 with a one-page
 * blkif ring granted to dom0, the event channel the backend binds, `dataPages` pages granted
 * writable, and the responses collected as they arrive. The backend's handles (backEv, grants)
 * are opened here too, on the same run directory in /dev/shm; close() undoes all of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { openHypervisor } from '../../src/hypervisor/index.js';
import { FrontRing } from '../../src/ring/front.js';
import { BLKIF_X86_64 } from '../../src/blkback/protocol/codec.js';
import { BlkifResponse } from '../../src/blkback/protocol/request.js';

export const PAGE = 4096;

export interface Rsp {
  id: number;
  op: number;
  status: number;
}

export function guestRing(prefix: string, dataPages: number) {
  const dir = mkdtempSync(`/dev/shm/${prefix}`);
  const hv = openHypervisor(dir);
  hv.createDomain({ domid: 1, memoryMiB: 8 });
  const mem = hv.openGuestMemory(1);
  const gt = hv.openGrantTable(1);
  const guestEv = hv.openEventChannels(1);
  const backEv = hv.openEventChannels(0);
  const grants = hv.openGrantMapper(0);
  const ringGfn = mem.allocPages(1);
  const ringRef = gt.grantAccess(0, ringGfn, false);
  const port = guestEv.allocUnbound(0);
  const front = FrontRing.init(mem.buffer, ringGfn * PAGE, PAGE, BLKIF_X86_64);
  const dataGfn = mem.allocPages(dataPages);
  const dataRefs = Array.from({ length: dataPages }, (_, i) => gt.grantAccess(0, dataGfn + i, false));
  const responses: Rsp[] = [];
  const rsp = new BlkifResponse();
  guestEv.onEvent(port, () => {
    while (front.rspCons !== front.responsesProduced()) {
      BLKIF_X86_64.readResponse(front.sring, front.responseSlot(front.rspCons), rsp);
      front.rspCons = (front.rspCons + 1) >>> 0;
      responses.push({ id: rsp.idLo, op: rsp.operation, status: rsp.status });
    }
    front.finalCheckForResponses();
  });
  guestEv.unmask(port);
  const close = (): void => {
    guestEv.closeAll();
    backEv.closeAll();
    grants.close();
    gt.close();
    mem.close();
    hv.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { mem, gt, guestEv, backEv, grants, ringRef, port, front, dataGfn, dataRefs, responses, close };
}
