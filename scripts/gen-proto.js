// Static code generation for the control-plane protobuf messages (proto/*.proto), run by
// `npm run build` before tsc. For each proto/<name>.proto it writes:
//   build/src/tapdisk/control/generated/<name>.js  - ES module (pbjs -t static-module -w es6),
//                                                    where the compiled code imports it from;
//   src/tapdisk/control/generated/<name>.d.ts      - its types (pbts), where tsc looks for them.
// Both are generated, never edited or committed (src/tapdisk/control/generated/ is ignored).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = path.join(root, 'proto');
const jsDir = path.join(root, 'build', 'src', 'tapdisk', 'control', 'generated');
const dtsDir = path.join(root, 'src', 'tapdisk', 'control', 'generated');
const bin = (name) => path.join(root, 'node_modules', 'protobufjs-cli', 'bin', name);

fs.mkdirSync(jsDir, { recursive: true });
fs.mkdirSync(dtsDir, { recursive: true });

for (const file of fs.readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort()) {
  const name = file.slice(0, -'.proto'.length);
  const js = path.join(jsDir, `${name}.js`);
  const dts = path.join(dtsDir, `${name}.d.ts`);
  execFileSync(process.execPath, [bin('pbjs'), '-t', 'static-module', '-w', 'es6', '--no-verify', '--force-number',
    '-o', js, path.join(protoDir, file)], { stdio: 'inherit' });
  // protobufjs is CommonJS without an exports map: Node's ESM resolver needs the file extension,
  // and its module.exports arrives as the default export, not as named ones.
  const source = fs.readFileSync(js, 'utf8')
    .replace(/import \* as \$protobuf from "protobufjs\/minimal";/, 'import $protobuf from "protobufjs/minimal.js";');
  fs.writeFileSync(js, source);
  execFileSync(process.execPath, [bin('pbts'), '-o', dts, js], { stdio: 'inherit' });
  process.stdout.write(`gen-proto: ${path.relative(root, js)}, ${path.relative(root, dts)}\n`);
}
