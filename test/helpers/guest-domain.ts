import type { DomId, Hypervisor, StartInfo } from '../../src/hypervisor/api.js';
import type { XsClient } from '../../src/xenstore-sim/client/api.js';

/**
 * Introduce a domain to xenstored as the toolstack does: its home /local/domain/<domid>, owned
 * by the guest so that it may write below it, then XS_INTRODUCE with the store page and port
 * from its start info. Returns that start info.
 */
export async function introduceGuest(dom0: XsClient, hypervisor: Hypervisor, domid: DomId): Promise<StartInfo> {
  const start = hypervisor.startInfo(domid);
  if (start === undefined) throw new Error(`domain ${domid} has no start info`);
  const home = `/local/domain/${domid}`;
  await dom0.mkdir(home);
  await dom0.setPerms(home, [{ domid, perm: 'n' }]);
  await dom0.introduce(domid, start.storeGfn, start.storePort);
  return start;
}
