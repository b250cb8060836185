import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncResult, Manager, getContext, task } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const T = { timeout: 60_000 };
const tasks = new URL('./fixtures/pool-tasks.ts', import.meta.url);

for (const method of methods) {
  describe(`manager.Pool [${method} server]`, () => {
    it('has the Pool\'s methods; results come back through the manager', T, async () => {
      await using m = await Manager({ context: method });
      const pool = await m.Pool(2);
      assert.equal(await pool.processes(), 2);
      assert.equal(await pool.apply((a: number, b: number) => a + b, [1, 2]), 3);
      assert.deepEqual(await pool.map((x: number) => x * 2, [1, 2, 3], { chunksize: 2 }), [2, 4, 6]);
      assert.deepEqual(await pool.starmap((a: number, b: number) => a - b, [[5, 1], new Set([9, 3])]), [4, 6]);
      assert.deepEqual(await pool.map(task(tasks, 'add'), [{ a: 1, b: 1 }]), [2]);
      assert.deepEqual(pool.mapSync((x: number) => x + 1, new Set([1, 2])), [2, 3]);
      const r = pool.applyAsync(() => 'async');
      assert.ok(r instanceof AsyncResult);
      assert.equal(await r.get(), 'async');
      assert.deepEqual(await pool.mapAsync((x: number) => x, [7]).get(), [7]);
      const out: number[] = [];
      for await (const v of pool.imap((x: number) => -x, [1, 2, 3])) out.push(v);
      assert.deepEqual(out, [-1, -2, -3]);
      await assert.rejects(pool.apply(() => { throw new RangeError('remote'); }), { name: 'RangeError', message: 'remote' });
      assert.equal(await pool.apply(() => 'still works'), 'still works');
      await pool.close();
      await pool.join();
    });

    it('a child of either kind uses the proxy it was given', T, async () => {
      await using m = await Manager({ context: method });
      const pool = await m.Pool(1);
      const results = await m.list();
      for (const childMethod of methods) {
        const p = new (getContext(childMethod).Process)({
          target: async (pl: { map(fn: unknown, xs: number[]): Promise<number[]> }, out: { append(v: unknown): Promise<void> }) => {
            await out.append(await pl.map((x: number) => x * 10, [1, 2]));
          },
          args: [pool, results],
        });
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0);
      }
      assert.deepEqual(await results.toArray(), [[10, 20], [10, 20]]);
      await pool.terminate();
    });
  });
}
