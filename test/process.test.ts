import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Process, ProcessError, getContext, activeChildren, currentProcess, parentProcess, isMainProcess, cpuCount } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, methods, pidExists, tmpdir } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('the main process', () => {
  it('is MainProcess with no parent', () => {
    assert.equal(currentProcess().name, 'MainProcess');
    assert.equal(currentProcess().pid, process.pid);
    assert.equal(parentProcess(), null);
    assert.equal(isMainProcess(), true);
    assert.ok(cpuCount() >= 1);
  });
});

for (const method of methods) {
  const ctx = getContext(method);
  describe(`Process [${method}]`, () => {
    it('exit code is 0 when the target returns, and is set without join', async () => {
      const p = new ctx.Process({ target: () => {} });
      assert.equal(p.exitCode, null);
      assert.equal(p.pid, null);
      p.start();
      assert.equal(typeof p.pid, 'number');
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(p.isAlive(), false);
      if (method === 'process') assert.ok(await eventually(() => !pidExists(p.pid!)), 'the child was not reaped');
    });

    it('exit code is 0 when an async target resolves', async () => {
      const p = new ctx.Process({ target: async () => { await new Promise((r) => setTimeout(r, 20)); } });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it('exit code is 1 for an uncaught error and for a rejected promise', async () => {
      const p = new ctx.Process({ target: () => { throw new Error('boom'); } });
      const q = new ctx.Process({ target: async () => { throw new TypeError('async boom'); } });
      p.start();
      q.start();
      await p.join();
      await q.join();
      assert.equal(p.exitCode, 1);
      assert.equal(q.exitCode, 1);
    });

    it('exit code is n after process.exit(n)', async () => {
      const p = new ctx.Process({ target: (n: number) => process.exit(n), args: [7] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 7);
    });

    it('exit code is -15 after terminate() and -9 after kill() of a child stuck in an infinite loop', async () => {
      const loop = () => { for (;;); };
      const t = new ctx.Process({ target: loop });
      const k = new ctx.Process({ target: loop });
      t.start();
      k.start();
      await t.join(200);
      assert.equal(t.isAlive(), true);
      t.terminate();
      k.kill();
      await t.join();
      await k.join();
      assert.equal(t.exitCode, -15);
      assert.equal(k.exitCode, -9);
    });

    it('join(timeout) leaves exitCode null and the child running', async () => {
      const p = new ctx.Process({ target: () => new Promise((r) => setTimeout(r, 60_000)) });
      p.start();
      await p.join(100);
      assert.equal(p.exitCode, null);
      assert.equal(p.isAlive(), true);
      p.joinSync(50);
      assert.equal(p.exitCode, null);
      p.terminate();
      await p.join();
      assert.equal(p.exitCode, -15);
    });

    it('joinSync waits for the end without the event loop', () => {
      const p = new ctx.Process({ target: (n: number) => process.exit(n), args: [3] });
      p.start();
      p.joinSync();
      assert.equal(p.exitCode, 3);
      p.joinSync(); // any number of times
    });

    it('join may be called any number of times, also concurrently', async () => {
      const p = new ctx.Process({ target: () => {} });
      p.start();
      await Promise.all([p.join(), p.join(), p.join(10_000)]);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it('start() twice throws ProcessError; join() before start() throws ProcessError', async () => {
      const p = new ctx.Process({ target: () => {} });
      await assert.rejects(p.join(), ProcessError);
      assert.throws(() => p.joinSync(), ProcessError);
      p.start();
      assert.throws(() => p.start(), { name: 'ProcessError', message: /twice/ });
      await p.join();
      assert.throws(() => p.start(), ProcessError);
    });

    it('passes args, and kwargs as one extra trailing argument', async () => {
      const dir = tmpdir();
      const out = path.join(dir, 'out.json');
      const p = new ctx.Process({
        target: async (a: number, b: { x: bigint }, out: string, kw: { mode: string }) => {
          const fs = await import('node:fs');
          fs.writeFileSync(out, JSON.stringify([a, typeof b.x, String(b.x), kw.mode]));
        },
        args: [1, { x: 2n }, out],
        kwargs: { mode: 'fast' },
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), [1, 'bigint', '2', 'fast']);
    });

    it('names children Process-N, grandchildren Process-N:M, and the child sees its parent', async () => {
      const dir = tmpdir();
      const out = path.join(dir, 'names.txt');
      const p = new ctx.Process({
        target: async (out: string, method: 'thread' | 'process') => {
          const { Process, currentProcess, parentProcess, isMainProcess } = await import('multiproc');
          const fs = await import('node:fs');
          const me = currentProcess();
          fs.appendFileSync(out, JSON.stringify({ who: 'child', name: me.name, parent: parentProcess()?.name, main: isMainProcess(), method: me.startMethod }) + '\n');
          const g = new Process({
            context: method,
            target: async (out: string) => {
              const { currentProcess, parentProcess } = await import('multiproc');
              (await import('node:fs')).appendFileSync(out, JSON.stringify({ who: 'grandchild', name: currentProcess().name, parent: parentProcess()?.name }) + '\n');
            },
            args: [out],
          });
          g.start();
          await g.join();
          if (g.exitCode !== 0) process.exit(5);
        },
        args: [out, method],
      });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const child = lines.find((l) => l.who === 'child');
      const grandchild = lines.find((l) => l.who === 'grandchild');
      assert.match(p.name, /^Process-\d+$/);
      assert.deepEqual(child, { who: 'child', name: p.name, parent: 'MainProcess', main: false, method });
      assert.deepEqual(grandchild, { who: 'grandchild', name: `${p.name}:1`, parent: p.name });
    });

    it('a child that starts a non-daemon child ends only after joining it', async () => {
      const dir = tmpdir();
      const out = path.join(dir, 'order.txt');
      const p = new ctx.Process({
        target: async (out: string, method: 'thread' | 'process') => {
          const { Process } = await import('multiproc');
          const g = new Process({
            context: method,
            target: async (out: string) => {
              await new Promise((r) => setTimeout(r, 300));
              (await import('node:fs')).appendFileSync(out, 'grandchild done\n');
            },
            args: [out],
          });
          g.start(); // not joined by the target: the child's end joins it
        },
        args: [out, method],
      });
      p.start();
      await p.join();
      assert.equal(fs.readFileSync(out, 'utf8'), 'grandchild done\n');
    });

    it('leftover timers do not keep a child alive once its target settled', async () => {
      const p = new ctx.Process({ target: () => { setInterval(() => {}, 1000); } });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it('tracks activeChildren', async () => {
      const p = new ctx.Process({ target: () => new Promise((r) => setTimeout(r, 60_000)) });
      assert.equal(activeChildren().includes(p), false);
      p.start();
      assert.equal(activeChildren().includes(p), true);
      p.kill();
      await p.join();
      assert.equal(activeChildren().includes(p), false);
    });

    it('has pid, ident, name, daemon and sentinel as Python', async () => {
      const p = new ctx.Process({ target: () => {}, name: 'worker-a' });
      assert.equal(p.name, 'worker-a');
      assert.equal(p.daemon, false);
      p.daemon = true;
      assert.equal(p.daemon, true);
      assert.throws(() => p.sentinel, ProcessError);
      p.start();
      assert.throws(() => { p.daemon = false; }, ProcessError);
      assert.equal(typeof p.sentinel, 'number');
      assert.equal(typeof p.ident, 'number');
      if (method === 'process') {
        assert.notEqual(p.pid, process.pid);
        assert.equal(p.ident, p.pid);
      } else {
        assert.equal(p.pid, process.pid);
      }
      await p.join();
      assert.match(String(p), /name='worker-a'.*exitcode=0/);
    });

    it('close() throws while running and makes the object unusable after', async () => {
      const p = new ctx.Process({ target: () => new Promise((r) => setTimeout(r, 60_000)) });
      p.start();
      assert.throws(() => p.close(), RangeError);
      p.terminate();
      await p.join();
      p.close();
      assert.throws(() => p.isAlive(), /closed/);
    });

    it('the child sees the pid and the name its parent sees', async () => {
      const dir = tmpdir();
      const out = path.join(dir, 'pid.json');
      const p = new ctx.Process({
        target: async (out: string) => {
          const { currentProcess } = await import('multiproc');
          const me = currentProcess();
          (await import('node:fs')).writeFileSync(out, JSON.stringify({ pid: me.pid, ident: me.ident, name: me.name, alive: me.isAlive() }));
        },
        args: [out],
      });
      p.start();
      await p.join();
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), { pid: p.pid, ident: p.ident, name: p.name, alive: true });
    });
  });
}

describe('Process options', () => {
  it('rejects a target that is not a function or a task', () => {
    assert.throws(() => new Process({ target: 42 as never }), TypeError);
    assert.throws(() => new Process({ target: Math.max }), /native or bound/);
    assert.throws(() => new Process({ target: (() => {}).bind(null) }), /native or bound/);
  });

  it('start() without a target throws ProcessError', () => {
    assert.throws(() => new Process().start(), ProcessError);
  });

  it('an unknown context is a RangeError', () => {
    assert.throws(() => new Process({ target: () => {}, context: 'fork' as never }), RangeError);
  });

  it('an unsendable argument fails start() with a TypeError naming it, and starts nothing', () => {
    const before = activeChildren().length;
    const p = new Process({ target: () => {}, args: [1, { cb: () => {} }] });
    assert.throws(() => p.start(), { name: 'TypeError', message: /args\[1\]\.cb is a function/ });
    assert.equal(activeChildren().length, before);
    assert.equal(p.pid, null);
  });
});
