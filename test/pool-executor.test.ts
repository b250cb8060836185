import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokenPoolError, CancelledError, Future, TimeoutError, getContext } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const T = { timeout: 60_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const method of methods) {
  const ctx = getContext(method);
  describe(`PoolExecutor [${method}]`, () => {
    it('submit returns an awaitable Future: result, exception, done, running, done callbacks', T, async () => {
      await using ex = new ctx.PoolExecutor({ maxWorkers: 2 });
      const f = ex.submit((a: number, b: number) => a * b, 6, 7);
      assert.ok(f instanceof Future);
      assert.equal(await f, 42);
      assert.equal(await f.result(), 42);
      assert.equal(await f.exception(), null);
      assert.equal(f.done(), true);
      assert.equal(f.running(), false);
      const calls: unknown[] = [];
      f.addDoneCallback((fut) => calls.push(fut));
      const slow = ex.submit((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), 300);
      slow.addDoneCallback((fut) => calls.push(fut));
      assert.ok(await eventually(() => slow.running(), 10_000), 'the future never ran');
      await assert.rejects(slow.result(10), TimeoutError);
      assert.equal(await slow, 300);
      assert.ok(await eventually(() => calls.length === 2));
      assert.deepEqual(calls, [f, slow]);
      const bad = ex.submit(() => { throw new RangeError('no'); });
      await assert.rejects(bad.result(), RangeError);
      assert.equal(((await bad.exception()) as Error).message, 'no');
    });

    it('cancel() drops a queued future and refuses a running one', T, async () => {
      await using ex = new ctx.PoolExecutor({ maxWorkers: 1 });
      const running = ex.submit((ms: number) => new Promise((r) => setTimeout(r, ms)), 400);
      const queued = ex.submit(() => 'should not run');
      assert.ok(await eventually(() => running.running(), 10_000));
      assert.equal(running.cancel(), false);
      assert.equal(queued.cancel(), true);
      assert.equal(queued.cancelled(), true);
      assert.equal(queued.done(), true);
      await assert.rejects(queued.result(), CancelledError);
      await assert.rejects(queued.exception(), CancelledError);
      await running;
      assert.equal(await ex.submit(() => 'next'), 'next');
    });

    it('map zips its inputs, keeps order, takes chunksize and a timeout from the call', T, async () => {
      await using ex = new ctx.PoolExecutor({ maxWorkers: 2 });
      const out: number[] = [];
      for await (const v of ex.map((a: number, b: number) => a + b, [1, 2, 3, 4], [10, 20, 30], { chunksize: 2 })) out.push(v);
      assert.deepEqual(out, [11, 22, 33]);
      const squares: number[] = [];
      for await (const v of ex.map((x: number) => x * x, new Set([1, 2, 3]))) squares.push(v);
      assert.deepEqual(squares, [1, 4, 9]);
      await assert.rejects(async () => {
        for await (const _ of ex.map((ms: number) => new Promise((r) => setTimeout(r, ms)), [10, 5000], { timeout: 200 })) void _;
      }, TimeoutError);
      assert.throws(() => ex.map((x: number) => x, 5 as never), TypeError);
    });

    it('shutdown waits, refuses new work, and cancelFutures drops what has not started', T, async () => {
      const ex = new ctx.PoolExecutor({ maxWorkers: 1 });
      const first = ex.submit((ms: number) => new Promise((r) => setTimeout(() => r('first'), ms)), 300);
      const rest = Array.from({ length: 5 }, (_, i) => ex.submit((x: number) => x, i));
      assert.ok(await eventually(() => first.running(), 10_000));
      await ex.shutdown({ cancelFutures: true });
      assert.equal(await first, 'first');
      for (const f of rest) {
        assert.equal(f.cancelled(), true);
        await assert.rejects(f.result(), CancelledError);
      }
      assert.throws(() => ex.submit(() => 1), /after shutdown/);

      const ex2 = new ctx.PoolExecutor({ maxWorkers: 2 });
      const all = Array.from({ length: 20 }, (_, i) => ex2.submit(async (x: number) => { await new Promise((r) => setTimeout(r, 5)); return x; }, i));
      await ex2.shutdown();
      assert.ok(all.every((f) => f.done()));
      assert.deepEqual(await Promise.all(all.map((f) => f.result())), Array.from({ length: 20 }, (_, i) => i));
    });

    it('a worker that dies breaks the executor for good, as Python\'s', T, async () => {
      await using ex = new ctx.PoolExecutor({ maxWorkers: 2 });
      const waiting = ex.submit((ms: number) => new Promise((r) => setTimeout(r, ms)), 5000);
      const dying = ex.submit(() => process.exit(7));
      await assert.rejects(dying.result(), BrokenPoolError);
      await assert.rejects(waiting.result(), BrokenPoolError);
      assert.throws(() => ex.submit(() => 1), BrokenPoolError);
    });

    it('initializer, maxTasksPerChild, and a failing initializer breaks it with the error as cause', T, async () => {
      await using ex = new ctx.PoolExecutor({
        maxWorkers: 1,
        maxTasksPerChild: 1,
        initializer: (tag: string) => { (globalThis as { tag?: string }).tag = tag; },
        initargs: ['set'],
      });
      const first = await ex.submit(() => [(globalThis as { tag?: string }).tag, process.pid, (globalThis as { n?: number }).n = ((globalThis as { n?: number }).n ?? 0) + 1]);
      const second = await ex.submit(() => [(globalThis as { tag?: string }).tag, process.pid, (globalThis as { n?: number }).n = ((globalThis as { n?: number }).n ?? 0) + 1]);
      assert.deepEqual([first[0], first[2], second[0], second[2]], ['set', 1, 'set', 1]);
      await using broken = new ctx.PoolExecutor({ maxWorkers: 1, initializer: () => { throw new Error('init failed'); } });
      const err = await broken.submit(() => 1).result().catch((e: unknown) => e);
      assert.ok(err instanceof BrokenPoolError, String(err));
      assert.equal(((err as Error).cause as Error).message, 'init failed');
      await sleep(10);
      assert.throws(() => broken.submit(() => 1), BrokenPoolError);
    });
  });
}
