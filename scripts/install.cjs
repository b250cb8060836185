// `npm install` of multiproc: builds the native addon from source (python3,
// make and a C++ compiler), and where that is impossible falls back to the
// prebuilt addon shipped in prebuilds/ (linux-x64, this Node major), which
// node-gyp-build loads when there is no build/. It never fails the install:
// the 'thread' context needs no addon; without one, process children fail
// at start() with an error that says how to get it.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, npm_config_build_from_source: 'true' },
});
if (built.status === 0) process.exit(0);

let prebuilt = false;
try {
  require('node-gyp-build')(root);
  prebuilt = true;
} catch {
  /* no prebuild fits this platform */
}
console.warn(
  prebuilt
    ? 'multiproc: could not build the native addon from source; using the prebuilt one for this platform.'
    : "multiproc: no native addon: it could not be built (install python3, make and a C++ compiler, then `npm rebuild multiproc`) and no prebuilt one fits this platform. The 'thread' context works without it; the 'process' context needs it (Linux only).",
);
process.exit(0);
