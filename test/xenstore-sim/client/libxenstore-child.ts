/**
 * Run as a child process by libxenstore.test.ts, with XENSTORED_PATH in its environment: drives
 * the real libxenstore.so.4 (Debian's Xen 4.17) through koffi and prints one JSON object with
 * what it saw. The calls block, which is why this runs in its own process.
 */
import koffi from 'koffi';

const LIB = process.argv[2] ?? '/usr/lib/x86_64-linux-gnu/libxenstore.so.4';
const root = process.argv[3] ?? '/lx';
const lib = koffi.load(LIB);
const libc = koffi.load('libc.so.6');

const XsPermissions = koffi.struct('xs_permissions', { id: 'unsigned int', perms: 'int' });
const xs_open = lib.func('void *xs_open(unsigned long flags)');
const xs_close = lib.func('void xs_close(void *h)');
const xs_read = lib.func('void *xs_read(void *h, uint32_t t, const char *path, _Out_ unsigned int *len)');
const xs_write = lib.func('bool xs_write(void *h, uint32_t t, const char *path, const void *data, unsigned int len)');
const xs_mkdir = lib.func('bool xs_mkdir(void *h, uint32_t t, const char *path)');
const xs_rm = lib.func('bool xs_rm(void *h, uint32_t t, const char *path)');
const xs_directory = lib.func('void *xs_directory(void *h, uint32_t t, const char *path, _Out_ unsigned int *num)');
const xs_transaction_start = lib.func('uint32_t xs_transaction_start(void *h)');
const xs_transaction_end = lib.func('bool xs_transaction_end(void *h, uint32_t t, bool abort)');
const xs_watch = lib.func('bool xs_watch(void *h, const char *path, const char *token)');
const xs_unwatch = lib.func('bool xs_unwatch(void *h, const char *path, const char *token)');
const xs_read_watch = lib.func('void *xs_read_watch(void *h, _Out_ unsigned int *num)');
const xs_get_permissions = lib.func('void *xs_get_permissions(void *h, uint32_t t, const char *path, _Out_ unsigned int *num)');
const xs_set_permissions = lib.func('bool xs_set_permissions(void *h, uint32_t t, const char *path, xs_permissions *perms, unsigned int num)');
const xs_get_domain_path = lib.func('void *xs_get_domain_path(void *h, unsigned int domid)');
const free = libc.func('void free(void *p)');

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 11: 'EAGAIN', 13: 'EACCES', 17: 'EEXIST', 22: 'EINVAL', 7: 'E2BIG' };
const errnoName = () => ERRNO[koffi.errno()] ?? String(koffi.errno());

function strings(ptr: unknown, n: number): string[] {
  if (ptr === null) return [];
  const out = koffi.decode(ptr, koffi.array('char *', n)) as string[];
  free(ptr);
  return out;
}

function read(h: unknown, t: number, path: string): string {
  const len = [0];
  const p = xs_read(h, t, path, len);
  if (p === null) return `error:${errnoName()}`;
  const s = koffi.decode(p, 'char', len[0]!) as string;
  free(p);
  return s;
}

function write(h: unknown, t: number, path: string, value: string): boolean {
  const b = Buffer.from(value);
  return xs_write(h, t, path, b, b.length) as boolean;
}

const result: Record<string, unknown> = {};
const h = xs_open(0);
const h2 = xs_open(0);
if (h === null || h2 === null) {
  process.stdout.write(JSON.stringify({ open: `error:${errnoName()}` }));
  process.exit(0);
}

result.write = write(h, 0, `${root}/a`, 'hello');
result.read = read(h, 0, `${root}/a`);
result.readMissing = read(h, 0, `${root}/missing`);
result.mkdir = xs_mkdir(h, 0, `${root}/d`);
const num = [0];
result.directory = strings(xs_directory(h, 0, root, num), num[0]!).sort();

// A transaction conflicts with a write made meanwhile on another connection: EAGAIN at commit.
let t = xs_transaction_start(h) as number;
result.txRead = read(h, t, `${root}/a`);
write(h, t, `${root}/a`, 'from-tx');
result.txSeesOwn = read(h, t, `${root}/a`);
result.outsideSeesOld = read(h2, 0, `${root}/a`);
write(h2, 0, `${root}/a`, 'other');
result.txConflict = xs_transaction_end(h, t, false) ? 'committed' : `error:${errnoName()}`;
t = xs_transaction_start(h) as number;
write(h, t, `${root}/a`, 'second');
result.txCommit = xs_transaction_end(h, t, false) ? 'committed' : `error:${errnoName()}`;
result.afterTx = read(h, 0, `${root}/a`);
t = xs_transaction_start(h) as number;
write(h, t, `${root}/aborted`, 'x');
result.txAbort = xs_transaction_end(h, t, true);
result.afterAbort = read(h, 0, `${root}/aborted`);

// Watches: the registration event, then one per change.
write(h, 0, `${root}/w`, '');
const events: string[][] = [];
result.watch = xs_watch(h, `${root}/w`, 'tok');
const wn = [0];
events.push(strings(xs_read_watch(h, wn), wn[0]!));
write(h2, 0, `${root}/w/x`, '1');
events.push(strings(xs_read_watch(h, wn), wn[0]!));
xs_rm(h2, 0, `${root}/w`);
events.push(strings(xs_read_watch(h, wn), wn[0]!));
result.events = events;
result.unwatch = xs_unwatch(h, `${root}/w`, 'tok');

// Permissions: the owner first, then the others.
write(h, 0, `${root}/p`, 'x');
const perms = [{ id: 3, perms: 1 }, { id: 5, perms: 3 }];
result.setPerms = xs_set_permissions(h, 0, `${root}/p`, perms, perms.length);
const pn = [0];
const pp = xs_get_permissions(h, 0, `${root}/p`, pn);
result.getPerms = pp === null ? `error:${errnoName()}` : (koffi.decode(pp, XsPermissions, pn[0]!) as { id: number; perms: number }[]).map((p) => [p.id, p.perms]);
if (pp !== null) free(pp);
result.getPermsMissing = xs_get_permissions(h, 0, `${root}/missing`, pn) === null ? `error:${errnoName()}` : 'found';
const dp = xs_get_domain_path(h, 7);
result.domainPath = dp === null ? `error:${errnoName()}` : koffi.decode(dp, 'char', -1);
if (dp !== null) free(dp);
result.rm = xs_rm(h, 0, root);

xs_close(h);
xs_close(h2);
process.stdout.write(JSON.stringify(result));
