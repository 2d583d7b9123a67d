import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { XENSTORE_RING_SIZE, XS_RING_INTERFACE_SIZE, XsRingOffset } from '../../../src/xenstore-sim/ring/layout.js';
import { need, shortTempDir } from './helpers.js';

// The ring layout we declare must be the C compiler's, on the installed xs_wire.h.
const PROGRAM = `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>
#define F(x) printf("%s %zu\\n", #x, offsetof(struct xenstore_domain_interface, x))
int main(void) {
  F(req); F(rsp); F(req_cons); F(req_prod); F(rsp_cons); F(rsp_prod);
  F(server_features); F(connection); F(error);
  printf("sizeof %zu\\nring %d\\n", sizeof(struct xenstore_domain_interface), XENSTORE_RING_SIZE);
  return 0;
}
`;

test('struct xenstore_domain_interface offsets match C offsetof', async (t) => {
  if (!need(t, existsSync('/usr/bin/gcc') && existsSync('/usr/include/xen/io/xs_wire.h'), 'gcc or libxen-dev (xs_wire.h) missing')) return;
  const tmp = await shortTempDir('xsl');
  try {
    writeFileSync(`${tmp.dir}/layout.c`, PROGRAM);
    execFileSync('gcc', ['-o', `${tmp.dir}/layout`, `${tmp.dir}/layout.c`]);
    const out = execFileSync(`${tmp.dir}/layout`, { encoding: 'utf8' });
    const c = Object.fromEntries(out.trim().split('\n').map((line) => {
      const [k, v] = line.split(' ');
      return [k!, Number(v)];
    }));
    t.deepEqual(
      {
        req: c.req, rsp: c.rsp, reqCons: c.req_cons, reqProd: c.req_prod, rspCons: c.rsp_cons, rspProd: c.rsp_prod,
        serverFeatures: c.server_features, connection: c.connection, error: c.error,
      },
      { ...XsRingOffset },
    );
    t.is(c.sizeof, XS_RING_INTERFACE_SIZE);
    t.is(c.ring, XENSTORE_RING_SIZE);
  } finally {
    await tmp.remove();
  }
});
