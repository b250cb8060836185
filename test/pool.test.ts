import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncResult, Pool, ProcessError, TimeoutError, getContext, task } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const T = { timeout: 60_000 };
const tasks = new URL('./fixtures/pool-tasks.ts', import.meta.url);

for (const method of methods) {
  const ctx = getContext(method);
  describe(`Pool [${method}]`, () => {
    it('apply, map, starmap, imap and imapUnordered give every result, in order where promised', T, async () => {
      await using pool = new ctx.Pool(2);
      assert.equal(pool.processes, 2);
      assert.equal(await pool.apply((a: number, b: number) => a + b, [2, 3]), 5);
      const input = Array.from({ length: 100 }, (_, i) => i);
      assert.deepEqual(await pool.map((x: number) => x * x, input), input.map((x) => x * x));
      assert.deepEqual(await pool.map((x: number) => x * 2, input, { chunksize: 7 }), input.map((x) => x * 2));
      assert.deepEqual(await pool.starmap((a: number, b: number) => a * b, [[1, 2], [3, 4], new Set([5, 6])]), [2, 12, 30]);
      const ordered: number[] = [];
      for await (const v of pool.imap((x: number) => x + 1, input, { chunksize: 3 })) ordered.push(v);
      assert.deepEqual(ordered, input.map((x) => x + 1));
      const unordered: number[] = [];
      for await (const v of pool.imapUnordered(async (x: number) => { await new Promise((r) => setTimeout(r, (x % 3) * 3)); return x; }, input)) unordered.push(v);
      assert.deepEqual(unordered.sort((a, b) => a - b), input);
    });

    it('workers start eagerly, in the pool\'s context, and values of every kind round-trip', T, async () => {
      await using pool = new ctx.Pool({ processes: 2 });
      assert.equal(pool.workers.length, 2);
      const pid = await pool.apply(() => process.pid);
      if (method === 'process') assert.notEqual(pid, process.pid);
      else assert.equal(pid, process.pid);
      const value = { s: 'é☃', n: [1, 2.5, -0], m: new Map([[1, 'x']]), d: new Date(0), big: 10n, nested: [{ a: null, b: undefined }] };
      assert.deepEqual(await pool.apply((v: unknown) => v, [value]), value);
    });

    it('empty inputs give empty results', T, async () => {
      await using pool = new ctx.Pool(2);
      assert.deepEqual(await pool.map((x: number) => x, []), []);
      assert.deepEqual(await pool.starmap((x: number) => x, []), []);
      const out: unknown[] = [];
      for await (const v of pool.imap((x: number) => x, [])) out.push(v);
      assert.deepEqual(out, []);
    });

    it('module tasks (TypeScript) run, with an initializer and initargs', T, async () => {
      await using pool = new ctx.Pool({ processes: 2, initializer: task(tasks, 'init'), initargs: ['ready'] });
      assert.equal(await pool.apply(task(tasks, 'add'), [{ a: 1, b: 2 }]), 3);
      assert.deepEqual(await pool.map(task(tasks, 'slowSquare'), [1, 2, 3]), [1, 4, 9]);
      assert.deepEqual(await pool.map(task(tasks, 'readInit'), [0, 0, 0, 0]), ['ready', 'ready', 'ready', 'ready']);
    });

    it('a task\'s error keeps its class, message, cause and remote stack; the pool carries on', T, async () => {
      await using pool = new ctx.Pool(2);
      const err = await pool.apply(() => { throw new RangeError('out of range'); }).catch((e: unknown) => e);
      assert.ok(err instanceof RangeError);
      assert.equal((err as Error).message, 'out of range');
      assert.match((err as { remoteStack?: string }).remoteStack ?? '', /out of range/);
      const wrapped = await pool.apply(() => { throw new Error('outer', { cause: new RangeError('inner') }); }).catch((e: unknown) => e);
      assert.ok((wrapped as Error).cause instanceof RangeError);
      assert.equal(((wrapped as Error).cause as Error).message, 'inner');
      await assert.rejects(pool.map((x: number) => { if (x === 5) throw new TypeError(`bad ${x}`); return x; }, Array.from({ length: 10 }, (_, i) => i), { chunksize: 2 }), { name: 'TypeError', message: 'bad 5' });
      assert.equal(await pool.apply(() => 'still works'), 'still works');
    });

    it('a captured variable is explained', T, async () => {
      await using pool = new ctx.Pool(1);
      const outside = 42;
      await assert.rejects(pool.apply(() => outside), { name: 'ReferenceError', message: /cannot capture variables/ });
    });

    it('unsendable arguments and results reject that call with a TypeError naming the culprit; the pool keeps its workers', T, async () => {
      await using pool = new ctx.Pool(2);
      const before = pool.workers.map((w) => w.name);
      await assert.rejects(pool.apply((x: unknown) => x, [{ f: () => 1 }]), { name: 'TypeError', message: /args\[0\]\.f is a function/ });
      await assert.rejects(pool.map((x: unknown) => x, [1, 2, { s: Symbol('s') }]), { name: 'TypeError', message: /items\[2\]\.s is a symbol/ });
      await assert.rejects(pool.apply(() => ({ g: () => 1 })), { name: 'TypeError', message: /result\.g is a function/ });
      assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
      assert.deepEqual(pool.workers.map((w) => w.name), before);
      assert.throws(() => pool.applyAsync(42 as never), { name: 'TypeError', message: /fn must be a function/ });
    });

    it('an input that throws fails map, and surfaces at its position in imap', T, async () => {
      await using pool = new ctx.Pool(2);
      function* failing(at: number) {
        for (let i = 0; ; i++) {
          if (i === at) throw new Error(`input broke at ${i}`);
          yield i;
        }
      }
      await assert.rejects(pool.map((x: number) => x, failing(0)), { message: 'input broke at 0' });
      await assert.rejects(pool.map((x: number) => x, failing(5)), { message: 'input broke at 5' });
      const seen: number[] = [];
      await assert.rejects(async () => {
        for await (const v of pool.imap((x: number) => x, failing(5), { chunksize: 2 })) seen.push(v);
      }, { message: 'input broke at 5' });
      assert.deepEqual(seen, [0, 1, 2, 3]);
      assert.equal(await pool.apply(() => 'ok'), 'ok');
    });

    it('AsyncResult: get, wait, ready, successful, callbacks; a throwing callback is reported and the pool carries on', T, async () => {
      await using pool = new ctx.Pool(2);
      let got: unknown;
      const r = pool.applyAsync((ms: number) => new Promise((res) => setTimeout(() => res(ms), ms)), [300], { callback: (v) => (got = v) });
      assert.ok(r instanceof AsyncResult);
      assert.equal(r.ready(), false);
      assert.throws(() => r.successful(), RangeError);
      await assert.rejects(r.get(10), TimeoutError);
      await r.wait(10);
      assert.equal(await r.get(), 300);
      assert.equal(r.ready(), true);
      assert.equal(r.successful(), true);
      assert.equal(got, 300);
      let failure: unknown;
      const bad = pool.applyAsync(() => { throw new Error('nope'); }, [], { errorCallback: (e) => (failure = e) });
      await bad.wait();
      assert.equal(bad.successful(), false);
      assert.equal((failure as Error).message, 'nope');
      const written: string[] = [];
      const original = process.stderr.write;
      process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
      try {
        const m = pool.mapAsync((x: number) => x, [1, 2], { callback: () => { throw new Error('callback exploded'); } });
        assert.deepEqual(await m.get(), [1, 2]);
      } finally {
        process.stderr.write = original;
      }
      assert.match(written.join(''), /callback exploded/);
      assert.deepEqual(await pool.starmapAsync((a: number, b: number) => a - b, [[5, 3]]).get(), [2]);
    });

    it('progress reports { done, total } as chunks complete', T, async () => {
      await using pool = new ctx.Pool(2);
      const reports: { done: number; total: number }[] = [];
      await pool.map((x: number) => x, Array.from({ length: 20 }, (_, i) => i), { chunksize: 5, progress: (p) => reports.push(p) });
      assert.deepEqual(reports.map((p) => p.total), [20, 20, 20, 20]);
      assert.deepEqual(reports.map((p) => p.done), [5, 10, 15, 20]);
      await pool.map((x: number) => x, [1, 2], { progress: true }); // not a terminal here: draws nothing, fails nothing
    });

    it('imap over an endless generator stops when the loop breaks', T, async () => {
      await using pool = new ctx.Pool(2);
      let produced = 0;
      function* naturals() {
        for (let i = 0; ; i++) {
          produced++;
          yield i;
        }
      }
      const out: number[] = [];
      for await (const v of pool.imap((x: number) => x * 10, naturals())) {
        out.push(v);
        if (out.length === 50) break;
      }
      assert.deepEqual(out, Array.from({ length: 50 }, (_, i) => i * 10));
      const after = produced;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(produced, after, 'the input was read after the loop ended');
      assert.ok(produced < 1000, `read ${produced} items: the input is not read lazily`);
      assert.equal(await pool.apply(() => 'ok'), 'ok');
    });

    it('maxtasksperchild replaces workers and loses no task', T, async () => {
      await using pool = new ctx.Pool({ processes: 2, maxtasksperchild: 2 });
      const ids = await pool.map(() => (globalThis as { __id?: number }).__id ??= Math.random(), Array.from({ length: 12 }, (_, i) => i), { chunksize: 1 });
      assert.equal(ids.length, 12);
      const counts = new Map<number, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      assert.ok([...counts.values()].every((n) => n <= 2), `a worker ran more than 2 tasks: ${[...counts.values()]}`);
      assert.ok(counts.size >= 6);
    });

    it('an idle worker keeps its event loop turning for timers a task left behind', T, async () => {
      await using pool = new ctx.Pool(1);
      await pool.apply(task(tasks, 'startTicking'));
      await new Promise((r) => setTimeout(r, 500)); // ~100 ticks of 5 ms; a worker asleep in a blocking wait would let through a few
      const ticks = (await pool.apply(task(tasks, 'stopTicking'))) as number;
      assert.ok(ticks >= 20, `the timer ticked ${ticks} times in 500 ms of idling`);
    });

    it('an idle worker keeps its event loop turning for a multiproc wait a task left pending', T, async () => {
      await using pool = new ctx.Pool(1);
      const input = new ctx.Queue<number | null>();
      const output = new ctx.Queue<number | null>();
      await pool.apply(task(tasks, 'startEcho'), [input, output]);
      const started = Date.now();
      for (let i = 0; i < 60; i++) {
        await input.put(i);
        assert.equal(await output.get({ timeout: 10_000 }), i);
      }
      // ~1 ms a round trip; a worker asleep in a blocking wait would answer each after ~50 ms on average.
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2000, `60 round trips through the worker's background loop took ${elapsed} ms`);
      await input.put(null);
      assert.equal(await output.get({ timeout: 10_000 }), null);
    });

    it('a failing initializer fails the tasks with its error instead of respawning for ever', T, async () => {
      await using pool = new ctx.Pool({ processes: 2, initializer: () => { throw new SyntaxError('bad init'); } });
      await assert.rejects(pool.apply(() => 1), { name: 'SyntaxError', message: 'bad init' });
      await assert.rejects(pool.map((x: number) => x, [1, 2, 3]), { name: 'SyntaxError', message: 'bad init' });
    });

    it('signal and timeout: a queued task is dropped, a running one rejects at once and its worker is replaced', T, async () => {
      await using pool = new ctx.Pool(1);
      const ran = ctx.Value('i', 0);
      const blocker = pool.apply((ms: number) => new Promise((r) => setTimeout(r, ms)), [400]);
      const ac = new AbortController();
      const queued = pool.apply((v: { value: number }) => { v.value = 1; }, [ran], { signal: ac.signal });
      ac.abort();
      await assert.rejects(queued, { name: 'AbortError' });
      await blocker;
      assert.equal(await pool.apply(() => 'after'), 'after');
      assert.equal(ran.value, 0, 'the cancelled task ran');

      const worker = pool.workers[0];
      const started = Date.now();
      await assert.rejects(pool.apply(() => new Promise((r) => setTimeout(r, 60_000)), [], { timeout: 100 }), TimeoutError);
      assert.ok(Date.now() - started < 5000);
      assert.equal(await pool.apply(() => 'replaced'), 'replaced');
      assert.notEqual(pool.workers[0], worker, 'the worker running the timed-out task was not replaced');

      const ac2 = new AbortController();
      const running = pool.map((x: number) => new Promise((r) => setTimeout(() => r(x), 10_000)), [1], { signal: ac2.signal });
      setTimeout(() => ac2.abort(new Error('stop it')), 100);
      await assert.rejects(running, { message: 'stop it' });
      const aborted = AbortSignal.abort();
      await assert.rejects(pool.apply(() => 1, [], { signal: aborted }), { name: 'AbortError' });
      assert.equal(await pool.apply(() => 'still fine'), 'still fine');
    });

    it('terminate() rejects thousands of pending tasks promptly; close()+join() finishes them', T, async () => {
      const pool = new ctx.Pool(2);
      const pending = Array.from({ length: 5000 }, (_, i) => pool.apply((x: number) => new Promise((r) => setTimeout(() => r(x), 5)), [i]));
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      pool.terminate();
      const outcomes = await Promise.allSettled(pending);
      assert.ok(Date.now() - started < 5000, 'terminate took too long');
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      assert.ok(rejected.length > 4000);
      assert.ok(rejected.every((o) => (o as PromiseRejectedResult).reason instanceof ProcessError));
      await pool.join();
      assert.equal(pool.workers.length, 0);
      await assert.rejects(pool.apply(() => 1), { name: 'RangeError', message: /not running/ });

      const graceful = new ctx.Pool(2);
      const results = Array.from({ length: 200 }, (_, i) => graceful.apply((x: number) => x, [i]));
      await assert.rejects(graceful.join(), { name: 'RangeError', message: /still running/ });
      graceful.close();
      assert.throws(() => graceful.applyAsync(() => 1), RangeError);
      await graceful.join();
      assert.deepEqual(await Promise.all(results), Array.from({ length: 200 }, (_, i) => i));
      assert.equal(graceful.workers.length, 0);
    });

    it('await using terminates and joins the pool at the end of the scope', T, async () => {
      let workers: { isAlive(): boolean }[] = [];
      {
        await using pool = new ctx.Pool(2);
        await pool.apply(() => 1);
        workers = pool.workers;
        assert.equal(workers.length, 2);
      }
      assert.ok(workers.every((w) => !w.isAlive()), 'a worker outlived the scope');
    });

    it('bad options are refused clearly', T, () => {
      assert.throws(() => new ctx.Pool(0), { name: 'RangeError', message: /at least 1/ });
      assert.throws(() => new ctx.Pool({ processes: 1.5 }), TypeError);
      assert.throws(() => new ctx.Pool({ processes: 1, maxtasksperchild: -1 }), RangeError);
      assert.throws(() => new ctx.Pool({ processes: 1, initializer: 5 as never }), TypeError);
    });
  });
}

describe('Pool and contexts', () => {
  it('the root Pool follows the default context, and `context` picks one', T, async () => {
    await using threads = new Pool({ processes: 1 });
    assert.equal(await threads.apply(() => process.pid), process.pid);
    await using procs = new Pool({ processes: 1, context: 'process' });
    assert.notEqual(await procs.apply(() => process.pid), process.pid);
  });

  it('resourceLimits apply to thread workers', T, async () => {
    await using pool = new Pool({ processes: 1, context: 'thread', resourceLimits: { maxOldGenerationSizeMb: 64 } });
    const limits = await pool.apply(async () => (await import('node:worker_threads')).resourceLimits);
    assert.equal((limits as { maxOldGenerationSizeMb: number }).maxOldGenerationSizeMb, 64);
  });
});
