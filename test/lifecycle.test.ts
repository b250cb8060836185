import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { eventually, fixture, methods, pidExists, runScript, tmpdir } from './helpers.ts';

for (const method of methods) {
  describe(`program exit [${method}]`, () => {
    it('a non-daemon child keeps the program alive until it ends', async () => {
      const marker = path.join(tmpdir(), 'marker');
      const r = await runScript(fixture('parent-exit.ts'), [method, 'nondaemon', marker]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(marker, 'utf8'), 'done');
    });

    it('a daemon child is terminated when the program exits', async () => {
      const marker = path.join(tmpdir(), 'marker');
      const r = await runScript(fixture('parent-exit.ts'), [method, 'daemon', marker]);
      assert.equal(r.code, 0, r.stderr);
      const { pid } = JSON.parse(r.stdout);
      if (method === 'process') assert.ok(await eventually(() => !pidExists(pid)), 'daemon child still running');
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(fs.existsSync(marker), false, 'the daemon child ran on after its parent exited');
    });

    it('an uncaught error is printed as "Process <name>:" and the stack, exit code 1', async () => {
      const r = await runScript(fixture('error-output.ts'), [method]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { exitCode: 1 });
      assert.match(r.stderr, /^Process Process-1:\nRangeError: bad value 42\n\s+at /m);
    });
  });
}

describe('parent death [process]', () => {
  for (const kind of ['idle', 'busy']) {
    it(`an ${kind} process child ends within seconds when its parent is SIGKILLed`, async () => {
      const parent = spawn(process.execPath, ['--import', 'tsx', fixture('killed-parent.ts'), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
      const line: string = await new Promise((resolve) => parent.stdout.once('data', (d) => resolve(String(d))));
      const { pid } = JSON.parse(line);
      assert.ok(pidExists(pid));
      parent.kill('SIGKILL');
      assert.ok(await eventually(() => !pidExists(pid), 10_000), `child ${pid} outlived its SIGKILLed parent`);
    });
  }
});

describe('without the native addon', () => {
  it("thread children work and process children fail at start() saying how to build it", async () => {
    const r = await runScript(fixture('no-addon.ts'), [], { env: { MULTIPROC_NO_ADDON: '1' } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.threadExit, 4);
    assert.match(out.processError, /native addon/);
    assert.match(out.processError, /npm rebuild/);
  });
});
