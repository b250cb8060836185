// Warm spares (src/process/spare.ts): what a spare may load before it is
// used, and that a program can turn them off and on while it runs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getContext, task } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, fixture, methods, tmpdir } from './helpers.ts';

assertNoChildrenLeftAfter();

// Set before this file starts any child, so every spare inherits it.
const importLog = path.join(tmpdir(), 'imports.log');
process.env.MULTIPROC_TEST_IMPORT_LOG = importLog;
const importLogger = pathToFileURL(fixture('import-log.mjs')).href;
/** Long enough for a spare to boot and preload on a loaded 2-CPU machine. */
const SPARE_BOOT_MS = 1500;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pids of this process's living multiproc children (tsx's esbuild service is a child too). */
function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of fs.readdirSync(`/proc/${process.pid}/task`)) {
    const text = fs.readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').trim();
    if (text) pids.push(...text.split(/\s+/).map(Number));
  }
  return pids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('child-entry');
    } catch {
      return false; // ended meanwhile
    }
  });
}

for (const method of methods) {
  const ctx = getContext(method);
  describe(`warm spares [${method}]`, () => {
    it('never import a user task module before a start asks for it', { timeout: 60_000 }, async () => {
      fs.writeFileSync(importLog, '');
      for (let i = 0; i < 3; i++) {
        const p = new ctx.Process({ target: task(importLogger, 'run') });
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0);
        await pause(SPARE_BOOT_MS); // the next spare is up by now
      }
      const lines = fs.readFileSync(importLog, 'utf8').trim().split('\n');
      const imports = lines.filter((l) => l.startsWith('import ')).map((l) => l.slice(7));
      const runs = lines.filter((l) => l.startsWith('run ')).map((l) => l.slice(4));
      assert.equal(runs.length, 3);
      assert.deepEqual(imports.sort(), runs.sort(), 'a child imported the module without running it');
    });

    it('serve a manager that a spare preloaded, again and again', { timeout: 60_000 }, async () => {
      for (let i = 0; i < 3; i++) {
        const m = await ctx.Manager();
        const d = await m.dict();
        await d.set('round', i);
        assert.equal(await d.get('round'), i);
        const lock = await m.Lock(); // a shareable type the server makes and sends
        assert.equal(await lock.acquire(), true);
        await lock.release();
        await m.shutdown();
        await pause(SPARE_BOOT_MS);
      }
    });

    it('hide the preload list from the task', { timeout: 30_000 }, async () => {
      const m = await ctx.Manager(); // the next spare preloads the server
      await m.shutdown();
      await pause(SPARE_BOOT_MS);
      const q = new ctx.SimpleQueue();
      const p = new ctx.Process({ target: (out: any) => out.putSync(process.env.MULTIPROC_PRELOAD ?? null), args: [q] });
      p.start();
      assert.equal(await q.get(), null);
      await p.join();
    });
  });
}

describe('MULTIPROC_WARM_SPARES', () => {
  it('is read at each start: 0 stops new spares, anything else brings them back', { timeout: 60_000 }, async () => {
    const ctx = getContext('process');
    const before = process.env.MULTIPROC_WARM_SPARES;
    const startOne = async () => {
      const p = new ctx.Process({ target: () => {} });
      p.start();
      await p.join();
      return p.pid!;
    };
    try {
      process.env.MULTIPROC_WARM_SPARES = '0';
      await startOne(); // may use the spare an earlier start left
      await startOne(); // made on demand: no spare follows it
      assert.ok(await eventually(() => childPids().length === 0), `children left: ${childPids()}`);
      process.env.MULTIPROC_WARM_SPARES = '1';
      const used = await startOne();
      assert.ok(await eventually(() => childPids().some((pid) => pid !== used)), 'no spare was booted');
    } finally {
      if (before === undefined) delete process.env.MULTIPROC_WARM_SPARES;
      else process.env.MULTIPROC_WARM_SPARES = before;
    }
  });
});
