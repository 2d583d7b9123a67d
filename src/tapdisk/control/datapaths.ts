import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSpec } from '../spec.js';

/**
 * The data-path registry: one JSON file per VBD under `<rundir>/tapdisk/registry/<minor>.json`
 * saying which process (pid, control socket) serves which image chain for which domain and
 * device. Any process can read it to find every user of a chain (a live coalesce pauses and
 * refreshes them all) or every tapdisk to list. Creating `<minor>.json` with O_EXCL is also how
 * minors are allocated across processes. Entries of dead processes are stale and reclaimed.
 */
export interface DatapathEntry {
  minor: number;
  pid: number;
  /** The serving process's control socket, or null when it does not listen. */
  socket: string | null;
  domid: number | null;
  device: number | null;
  spec: string;
  /** Leaf first, `type:/path` strings. */
  chain: string[];
  state: string;
}

/** Minors are small integers, as tap-ctl's are. */
export const MINORS_MAX = 1 << 16;

export function registryDir(rundir: string): string {
  return path.join(rundir, 'tapdisk', 'registry');
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function entryPath(dir: string, minor: number): string {
  return path.join(dir, `${minor}.json`);
}

function readEntry(file: string): DatapathEntry | undefined {
  try {
    const e = JSON.parse(fs.readFileSync(file, 'utf8')) as DatapathEntry;
    return Number.isInteger(e.minor) && Number.isInteger(e.pid) ? e : undefined;
  } catch {
    return undefined;
  }
}

/** Take the lowest free minor for `entry` (its minor field is ignored) and record it. */
export function claimMinor(dir: string, entry: Omit<DatapathEntry, 'minor'>): number {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let minor = 0; minor < MINORS_MAX; minor++) {
    const file = entryPath(dir, minor);
    try {
      fs.writeFileSync(file, JSON.stringify({ ...entry, minor }) + '\n', { flag: 'wx', mode: 0o600 });
      return minor;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const held = readEntry(file);
    // A file that does not parse may be a claim being written right now: leave it alone.
    if (held !== undefined && !pidAlive(held.pid)) {
      fs.rmSync(file, { force: true });
      minor--; // retry the same minor
    }
  }
  throw new Error(`no free tapdisk minor under ${dir}`);
}

/** Rewrite an entry atomically (write a temporary file, rename it over). */
export function writeDatapath(dir: string, entry: DatapathEntry): void {
  const file = entryPath(dir, entry.minor);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(entry) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Remove an entry if `pid` owns it. */
export function removeDatapath(dir: string, minor: number, pid: number): void {
  const file = entryPath(dir, minor);
  const held = readEntry(file);
  if (held !== undefined && held.pid === pid) fs.rmSync(file, { force: true });
}

/** Every live entry, by minor. Entries of dead processes are skipped (and removed if `reap`). */
export function readDatapaths(dir: string, opts: { reap?: boolean } = {}): DatapathEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: DatapathEntry[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    const e = readEntry(file);
    if (e === undefined) continue;
    if (!pidAlive(e.pid)) {
      if (opts.reap) fs.rmSync(file, { force: true });
      continue;
    }
    out.push(e);
  }
  return out.sort((a, b) => a.minor - b.minor);
}

/** The path an element of a chain refers to (`aio:/x` -> `/x`). */
function chainPath(element: string): string {
  const spec = parseSpec(element);
  return spec.ok ? spec.value.path : element;
}

/** Entries whose chain contains `image` (a `type:/path` spec or a bare path). */
export function findChainUsers(dir: string, image: string): DatapathEntry[] {
  const want = path.resolve(chainPath(image));
  return readDatapaths(dir).filter((e) => e.chain.some((c) => path.resolve(chainPath(c)) === want));
}
