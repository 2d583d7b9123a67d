#!/usr/bin/env node
// The compiled CLI lives in build/ (npm install and npm start compile it).
import('../build/src/cli/main.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then((code) => { process.exitCode = code; })
  .catch((error) => {
    if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('build/src/cli/main.js')) {
      process.stderr.write('splitblk: not built yet; run `npm install` (or `npm run build`) first\n');
    } else {
      process.stderr.write(`splitblk: ${error && error.stack ? error.stack : error}\n`);
    }
    process.exitCode = 1;
  });
