// A worker that dies at any moment fails exactly the task it held (with a
// BrokenPoolError naming the cause), is replaced, and nothing hangs or
// settles twice — CPython's Pool hangs here (bpo-22393).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokenPoolError, getContext } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const T = { timeout: 90_000 };

for (const method of methods) {
  const ctx = getContext(method);
  describe(`Pool workers dying [${method}]`, () => {
    it('process.exit mid-task: that task fails with BrokenPoolError, the others complete, the worker is replaced', T, async () => {
      await using pool = new ctx.Pool(2);
      const others = Array.from({ length: 20 }, (_, i) => pool.apply((x: number) => new Promise((r) => setTimeout(() => r(x), 5)), [i]));
      const err = await pool.apply(() => process.exit(3)).catch((e: unknown) => e);
      assert.ok(err instanceof BrokenPoolError, String(err));
      assert.match((err as Error).message, /exited with code 3/);
      assert.deepEqual(await Promise.all(others), Array.from({ length: 20 }, (_, i) => i));
      assert.equal(await pool.apply(() => 'later'), 'later');
      assert.ok(await eventually(() => pool.workers.length === 2));
    });

    it('an uncaught error that kills the worker fails its task with the error as cause', T, async () => {
      await using pool = new ctx.Pool(1);
      const err = await pool.apply(() => new Promise(() => setTimeout(() => { throw new TypeError('late boom'); }, 5))).catch((e: unknown) => e);
      assert.ok(err instanceof BrokenPoolError, String(err));
      assert.match((err as Error).message, /late boom/);
      assert.equal(((err as Error).cause as Error).name, 'TypeError');
      assert.equal(await pool.apply(() => 'later'), 'later');
    });

    it('a busy worker killed (SIGKILL / thread stopped): BrokenPoolError naming it, a replacement, later tasks succeed', T, async () => {
      await using pool = new ctx.Pool(2);
      const started = new ctx.Event();
      const busy = pool.apply(async (ev: { set(): void }) => { ev.set(); await new Promise((r) => setTimeout(r, 60_000)); }, [started]);
      await started.wait(20_000);
      // Whichever worker took it: kill both; the idle one is simply replaced.
      for (const w of pool.workers) w.kill();
      const err = await busy.catch((e: unknown) => e);
      assert.ok(err instanceof BrokenPoolError, String(err));
      assert.match((err as Error).message, method === 'process' ? /killed by SIGKILL/ : /PoolWorker-\d+/);
      assert.deepEqual(await pool.map((x: number) => x + 1, [1, 2, 3, 4]), [2, 3, 4, 5]);
      assert.ok(await eventually(() => pool.workers.length === 2));
    });

    it('idle workers killed are replaced', T, async () => {
      await using pool = new ctx.Pool(2);
      await pool.map((x: number) => x, [1, 2, 3]);
      const before = pool.workers;
      for (const w of before) w.kill();
      assert.ok(await eventually(() => pool.workers.length === 2 && pool.workers.every((w) => !before.includes(w))));
      assert.deepEqual(await pool.map((x: number) => x * 3, [1, 2]), [3, 6]);
    });

    it('workers killed again and again under load: every task settles exactly once, nothing hangs', T, async () => {
      await using pool = new ctx.Pool(2);
      const n = 3000;
      const calls = new Array<number>(n).fill(0);
      let ok = 0;
      let broken = 0;
      const results = Array.from({ length: n }, (_, i) =>
        pool.applyAsync((x: number) => x * 2, [i], {
          callback: (v) => {
            calls[i]++;
            assert.equal(v, i * 2);
            ok++;
          },
          errorCallback: (e) => {
            calls[i]++;
            assert.ok(e instanceof BrokenPoolError, String(e));
            broken++;
          },
        }),
      );
      let kills = 0;
      const killer = setInterval(() => {
        const workers = pool.workers;
        if (workers.length > 0 && kills < 15) {
          workers[kills % workers.length].kill();
          kills++;
        }
      }, 3);
      try {
        await Promise.all(results.map((r) => r.wait()));
      } finally {
        clearInterval(killer);
      }
      assert.equal(ok + broken, n);
      assert.ok(calls.every((c) => c === 1), 'a task settled twice or never');
      assert.ok(broken <= kills, `${broken} tasks failed for ${kills} deaths`);
      assert.equal(await pool.apply(() => 'alive'), 'alive');
    });
  });
}

describe('Pool workers running out of memory [thread]', () => {
  it('a worker over its resourceLimits is replaced; its task fails with BrokenPoolError', T, async () => {
    await using pool = new (getContext('thread').Pool)({ processes: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    const err = await pool
      .apply(() => {
        const hog: number[][] = [];
        for (;;) hog.push(new Array(1e6).fill(1));
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof BrokenPoolError, String(err));
    assert.equal(await pool.apply(() => 'replaced'), 'replaced');
  });
});

describe('Pool workers dying [process] at the worst moments', () => {
  it('SIGKILL at random points of a stream of tiny tasks never loses or duplicates a result', T, async () => {
    const ctx = getContext('process');
    await using pool = new ctx.Pool(2);
    const input = Array.from({ length: 4000 }, (_, i) => i);
    for (let round = 0; round < 3; round++) {
      const seen = new Map<number, number>();
      const failures: unknown[] = [];
      const running = (async () => {
        try {
          for await (const v of pool.imapUnordered((x: number) => x, input)) seen.set(v, (seen.get(v) ?? 0) + 1);
        } catch (err) {
          failures.push(err);
        }
      })();
      await new Promise((r) => setTimeout(r, 5 + round * 7));
      const victim = pool.workers[round % 2];
      if (victim?.pid) process.kill(victim.pid, 'SIGKILL');
      await running;
      assert.ok([...seen.values()].every((c) => c === 1), 'a result came twice');
      if (failures.length > 0) assert.ok(failures[0] instanceof BrokenPoolError, String(failures[0]));
      else assert.equal(seen.size, input.length);
    }
    assert.equal(await pool.apply(() => 'alive'), 'alive');
  });
});
