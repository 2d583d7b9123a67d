/**
 * The disks a live operation pauses and refreshes, wherever they are served: a VBD of this
 * process directly, a VBD of another backend process through that process's control socket.
 * Both record whether they were reopened, so the job can report which VBDs it refreshed.
 */
import * as path from 'node:path';
import { SplitblkError } from '../../util/errors.js';
import type { LiveDisk } from '../drivers/vhd/live/disk.js';
import { ERR_NO_TAPDISK } from '../errors.js';
import { parseSpec } from '../spec.js';
import type { Vbd } from '../vbd.js';
import { TapdiskClient } from './client.js';
import { readDatapaths, type DatapathEntry } from './datapaths.js';

/** Control requests of a live operation wait at most this long (a pause drains in-flight I/O). */
export const remoteTimeoutMs = 30_000;

export interface TrackedDisk extends LiveDisk {
  readonly minor: number;
  /** Set once the disk was reopened (onto a new chain or its old one). */
  readonly refreshed: boolean;
}

/** A VBD of this process. */
export class LocalDisk implements TrackedDisk {
  refreshed = false;

  constructor(private readonly vbd: Vbd) {}

  get minor(): number {
    return this.vbd.minor;
  }

  get spec(): string {
    return this.vbd.spec;
  }

  pause(): Promise<void> {
    return this.vbd.pause();
  }

  async unpause(spec?: string): Promise<void> {
    await this.vbd.unpause(spec);
    this.refreshed = true;
  }
}

/** A VBD served by another process, driven through its control socket. */
export class RemoteDisk implements TrackedDisk {
  refreshed = false;

  constructor(readonly minor: number, private readonly client: TapdiskClient, private specText: string) {}

  get spec(): string {
    return this.specText;
  }

  async pause(): Promise<void> {
    this.specText = (await this.client.pause(this.minor)).spec;
  }

  async unpause(spec?: string): Promise<void> {
    this.specText = (await this.client.unpause(this.minor, spec)).spec;
    this.refreshed = true;
  }
}

/** The path an element of a chain (`vhd:/x`, `aio:/x`) names, resolved. */
export function chainPath(element: string): string {
  const s = parseSpec(element);
  return path.resolve(s.ok ? s.value.path : element);
}

/** The VBDs whose chain holds an image: of this process, and of others (registry entries). */
export interface ChainUsers {
  local: Vbd[];
  remote: DatapathEntry[];
}

/** Every VBD whose chain holds `image`: this process's own and, through the registry, others'. */
export function findUsers(local: Vbd[], registry: string | undefined, image: string): ChainUsers {
  const want = path.resolve(image);
  const holds = (chain: string[]) => chain.some((c) => chainPath(c) === want);
  return {
    local: local.filter((v) => v.state !== 'closed' && holds(v.info.chain)),
    remote: registry === undefined ? [] : readDatapaths(registry).filter((e) => e.pid !== process.pid && holds(e.chain)),
  };
}

export function userMinors(u: ChainUsers): number[] {
  return [...u.local.map((v) => v.minor), ...u.remote.map((e) => e.minor)].sort((a, b) => a - b);
}

/** Every user's chain, leaf first, as resolved paths. */
export function userChains(u: ChainUsers): string[][] {
  return [...u.local.map((v) => v.info.chain), ...u.remote.map((e) => e.chain)].map((c) => c.map(chainPath));
}

/**
 * The users as disks to pause and refresh; other processes' VBDs through their control sockets
 * (`clients` keeps one client per socket for the caller to end). A user that cannot be reached
 * fails the whole lookup: a chain whose users cannot all be refreshed must not be changed.
 */
export async function connectUsers(u: ChainUsers, clients: Map<string, TapdiskClient>): Promise<TrackedDisk[]> {
  const users: TrackedDisk[] = u.local.map((v) => new LocalDisk(v));
  for (const e of u.remote) {
    if (e.socket === null) {
      throw new SplitblkError(ERR_NO_TAPDISK, `VBD ${e.minor} (pid ${e.pid}) uses the chain but has no control socket to refresh it through`, { minor: e.minor });
    }
    let client = clients.get(e.socket);
    if (client === undefined) {
      client = await TapdiskClient.connect(e.socket, { timeoutMs: remoteTimeoutMs });
      clients.set(e.socket, client);
    }
    users.push(new RemoteDisk(e.minor, client, e.spec));
  }
  return users;
}
