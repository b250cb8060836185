// Installs that work everywhere: where the addon cannot be built (no
// compiler), `npm install` still succeeds — with the prebuilt addon when one
// fits (linux-x64, this Node major), else with one clear warning and a
// thread context that works without it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tmpdir } from './helpers.ts';

const root = path.resolve(import.meta.dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `multiproc.abi${process.versions.modules}.node`);

/** A copy of the installed package, without build/: what a user without a compiler gets. */
function copyPackage(withPrebuilds: boolean): string {
  const dir = path.join(tmpdir(), 'multiproc');
  fs.mkdirSync(dir);
  for (const entry of ['package.json', 'dist', 'scripts', 'native', 'binding.gyp', ...(withPrebuilds ? ['prebuilds'] : [])]) {
    fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** Runs the install script with no compiler, make or python on the PATH. */
function installWithoutCompiler(dir: string) {
  return spawnSync(process.execPath, ['scripts/install.cjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' }, timeout: 120_000 });
}

/** Starts a process child and a thread child from the copy; prints their exit codes (or the error). */
function startChildren(dir: string) {
  const script = `
    const mp = await import(${JSON.stringify(path.join(dir, 'dist', 'index.js'))});
    const out = {};
    for (const context of ['thread', 'process']) {
      try {
        const p = new mp.Process({ target: () => {}, context });
        p.start();
        await p.join();
        out[context] = p.exitCode;
      } catch (err) {
        out[context] = err.message;
      }
    }
    console.log(JSON.stringify(out));`;
  fs.writeFileSync(path.join(dir, 'check.mjs'), script);
  return spawnSync(process.execPath, ['check.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

describe('multiproc/redis without the redis package', () => {
  it('imports, and connect() rejects with one error saying what to install', { timeout: 60_000 }, () => {
    // A project whose node_modules holds multiproc but not its optional peer `redis`.
    const dir = tmpdir();
    const pkg = path.join(dir, 'node_modules', 'multiproc');
    fs.mkdirSync(pkg, { recursive: true });
    for (const entry of ['package.json', 'dist']) fs.cpSync(path.join(root, entry), path.join(pkg, entry), { recursive: true });
    const script = "const { connect } = await import('multiproc/redis'); await connect().then(() => console.log('connected'), (err) => console.log(err.message));";
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "multiproc/redis needs the 'redis' package (node-redis 5 or newer): npm install redis");
  });
});

describe('installing without a compiler', () => {
  it('the prebuilt addon for this platform is shipped', () => {
    assert.ok(fs.existsSync(prebuilt), `missing ${path.relative(root, prebuilt)}: run npm run prebuild`);
  });

  it('succeeds and loads the prebuilt addon: process children work', { timeout: 180_000 }, () => {
    const dir = copyPackage(true);
    const install = installWithoutCompiler(dir);
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stderr, /using the prebuilt one/);
    assert.equal(fs.existsSync(path.join(dir, 'build', 'Release', 'multiproc.node')), false);
    const run = startChildren(dir);
    assert.deepEqual(JSON.parse(run.stdout), { thread: 0, process: 0 }, run.stderr);
  });

  it('with no prebuild either: one clear warning, the thread context works, process children say how to get the addon', { timeout: 180_000 }, () => {
    const dir = copyPackage(false);
    const install = installWithoutCompiler(dir);
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stderr, /no native addon: .*C\+\+ compiler/);
    const run = startChildren(dir);
    const out = JSON.parse(run.stdout);
    assert.equal(out.thread, 0);
    assert.match(String(out.process), /native addon/);
  });
});
