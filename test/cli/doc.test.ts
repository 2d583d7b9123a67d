/**
 * docs/cli.md is generated from the verbs' usage strings (scripts/gen-cli-doc.js); this fails as
 * soon as a usage string changes or a verb is added without regenerating it.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('docs/cli.md is up to date with the verbs (regenerate: node scripts/gen-cli-doc.js)', (t) => {
  const r = spawnSync(process.execPath, [`${root}scripts/gen-cli-doc.js`, '--check'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
});
