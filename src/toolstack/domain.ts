import type { DomainInfo, Hypervisor } from '../hypervisor/api.js';
import type { XsClient, XsPerm } from '../xenstore-sim/client/api.js';
import { SplitblkError } from '../util/errors.js';
import { DOMAIN_SUBDIRS, TOOLSTACK_DOMID, domainPath, vbdBackendRoot } from './paths.js';

export interface ToolstackDeps {
  hypervisor: Hypervisor;
  xs: XsClient;
}

/** What a guest may do with its own home (libxl's roperm and rwperm). */
const readOnlyFor = (domid: number): XsPerm[] => [{ domid: TOOLSTACK_DOMID, perm: 'n' }, { domid, perm: 'r' }];
const ownedBy = (domid: number): XsPerm[] => [{ domid, perm: 'n' }];

/**
 * Create a simulated guest as libxl does: the hypervisor domain (memory, grant table, event
 * channels, start info), its xenstore home with libxl's permissions, then INTRODUCE it to
 * xenstored with its store page and event channel, which fires @introduceDomain.
 */
export async function createDomain(
  deps: ToolstackDeps,
  opts: { domid?: number; name?: string; memoryMiB: number },
): Promise<DomainInfo> {
  const info = deps.hypervisor.createDomain(opts);
  const home = domainPath(info.domid);
  try {
    await deps.xs.transaction(async (tx) => {
      await tx.mkdir(home);
      await tx.setPerms(home, readOnlyFor(info.domid));
      await tx.write(`${home}/name`, info.name);
      await tx.write(`${home}/domid`, String(info.domid));
      for (const sub of DOMAIN_SUBDIRS) {
        await tx.mkdir(`${home}/${sub.name}`);
        await tx.setPerms(`${home}/${sub.name}`, sub.guestWritable ? ownedBy(info.domid) : readOnlyFor(info.domid));
      }
    });
    const start = startInfoOf(deps.hypervisor, info.domid);
    await deps.xs.introduce(info.domid, start.storeGfn, start.storePort);
  } catch (error) {
    await deps.xs.rm(home).catch(() => undefined);
    deps.hypervisor.destroyDomain(info.domid);
    throw error;
  }
  return info;
}

function startInfoOf(hypervisor: Hypervisor, domid: number): { storeGfn: number; storePort: number } {
  const start = hypervisor.startInfo(domid);
  if (start === undefined) throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${domid} has no start info`, { domid });
  return start;
}

/**
 * Destroy a guest: remove its devices' backend directories (backends tear down), RELEASE it
 * (xenstored fires @releaseDomain), remove its home, then the hypervisor domain.
 */
export async function destroyDomain(deps: ToolstackDeps, domid: number): Promise<void> {
  if (domid === TOOLSTACK_DOMID) throw new SplitblkError('SPLITBLK_ERR_DOM0', 'domain 0 cannot be destroyed', { domid });
  if (deps.hypervisor.domainInfo(domid) === undefined) {
    throw new SplitblkError('SPLITBLK_ERR_NO_DOMAIN', `domain ${domid} does not exist`, { domid });
  }
  await deps.xs.rm(`${vbdBackendRoot()}/${domid}`).catch(ignoreEnoent);
  if (await deps.xs.isDomainIntroduced(domid).catch(() => false)) await deps.xs.release(domid);
  await deps.xs.rm(domainPath(domid)).catch(ignoreEnoent);
  deps.hypervisor.destroyDomain(domid);
}

function ignoreEnoent(error: unknown): void {
  if ((error as { errno?: string }).errno !== 'ENOENT') throw error;
}
