// cluster.Pool and cluster.PoolExecutor against the local Redis, with worker
// hosts started as separate programs (`multiproc worker`, standing in for
// machines), in both contexts. Crash tests kill hosts and children mid-task.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokenPoolError, Lock, task, TimeoutError } from 'multiproc';
import { createClient } from 'redis';
import { cluster, startHost, up, URL as REDIS_URL } from './redis-helpers.js';

const tasks = new URL('./fixtures/cluster-tasks.ts', import.meta.url);
const square = task(tasks, 'square');
const add = task(tasks, 'add');
const whereAfter = task(tasks, 'whereAfter');
const countedSleep = task(tasks, 'countedSleep');
const T = { timeout: 120_000 };

/** Keys of the namespace other than the shared task stream and host table. */
async function poolKeysLeft(c: Awaited<ReturnType<typeof cluster>>): Promise<string[]> {
  const keys = ((await c._link.send(['KEYS', `${c.namespace}:pool:*`])) as Buffer[]).map(String);
  return keys.filter((k) => !k.endsWith(':pool:tasks') && !k.endsWith(':pool:workers'));
}

/** CLIENT KILL of every connection of the namespace (the coordinator's and the hosts'), by id. */
async function killConnections(namespace: string): Promise<void> {
  const admin = createClient({ url: REDIS_URL });
  await admin.connect();
  const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
  for (const line of list.split('\n')) {
    if (!line.includes(` name=multiproc:${namespace} `)) continue;
    const id = /\bid=(\d+)/.exec(line)?.[1];
    if (id) await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]).catch(() => {});
  }
  await admin.close();
}

describe('cluster Pool', { skip: !up }, () => {
  for (const context of ['thread', 'process'] as const) {
    it(`runs every Pool method across two worker hosts [${context}]`, T, async () => {
      await using c = await cluster();
      const hosts = await Promise.all([startHost(c.namespace, { context }), startHost(c.namespace, { context })]);
      const pool = new c.Pool();
      const items = Array.from({ length: 200 }, (_, i) => i);
      assert.deepEqual(await pool.map(square, items), items.map((x) => x * x));
      assert.deepEqual(await pool.map(square, items, { chunksize: 7 }), items.map((x) => x * x));
      assert.deepEqual(await pool.starmap(add, [[1, 2], [3, 4]]), [3, 7]);
      assert.equal(await pool.apply(add, [20, 22]), 42);
      const got: number[] = [];
      for await (const x of pool.imap(square, [1, 2, 3])) got.push(x as number);
      assert.deepEqual(got, [1, 4, 9]);
      const unordered: number[] = [];
      for await (const x of pool.imapUnordered(square, [1, 2, 3], { chunksize: 2 })) unordered.push(x as number);
      assert.deepEqual(unordered.sort(), [1, 4, 9]);
      let called: unknown;
      const r = pool.applyAsync(add, [1, 1], { callback: (v) => (called = v) });
      assert.equal(await r.get(10_000), 2);
      assert.equal(called, 2);
      assert.deepEqual(await pool.mapAsync(square, [5]).get(), [25]);
      assert.deepEqual(await pool.starmapAsync(add, [[5, 5]]).get(), [10]);
      // Both hosts take tasks: each takes only as many as it has children.
      const where = await pool.map(whereAfter, Array.from({ length: 8 }, () => 200), { chunksize: 1 });
      assert.deepEqual(new Set(where), new Set(hosts.map((h) => h.id)));
      // Errors keep their class and message.
      await assert.rejects(pool.apply(task(tasks, 'fail'), ['no good']), { name: 'RangeError', message: 'no good' });
      pool.close();
      await pool.join();
      assert.deepEqual(await poolKeysLeft(c), [], 'the pool removed its keys');
      assert.deepEqual(await Promise.all(hosts.map((h) => h.stop())), [0, 0]);
      assert.deepEqual(await c._link.send(['KEYS', `${c.namespace}:*`]), [], 'pools and hosts gone: the namespace holds no key');
    });

    it(`runs PoolExecutor's submit and map across hosts [${context}]`, T, async () => {
      await using c = await cluster();
      const host = await startHost(c.namespace, { context });
      const ex = new c.PoolExecutor();
      const f = ex.submit(add, 2, 3);
      assert.equal(await f.result(20_000), 5);
      assert.equal(f.done(), true);
      const out: number[] = [];
      for await (const x of ex.map(add, [1, 2, 3], [10, 20, 30])) out.push(x as number);
      assert.deepEqual(out, [11, 22, 33]);
      const bad = ex.submit(task(tasks, 'fail'), 'boom');
      assert.equal(((await bad.exception(20_000)) as Error | undefined)?.message, 'boom');
      await ex.shutdown();
      assert.equal(await host.stop(), 0);
    });
  }

  it('refuses functions shipped by source unless the host allows them, and carries on', T, async () => {
    await using c = await cluster();
    const strict = await startHost(c.namespace);
    await using pool = new c.Pool();
    await assert.rejects(pool.apply((x: number) => x + 1, [1]), (err: Error) => err.name === 'TypeError' && /--allow-source/.test(err.message));
    assert.equal(await pool.apply(add, [1, 2]), 3, 'the host still runs module tasks');
    await strict.stop();
    const trusting = await startHost(c.namespace, { allowSource: true });
    assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
    await trusting.stop();
  });

  it('resolves a bare package name from the worker host\'s directory', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-jobs-'));
    try {
      mkdirSync(join(dir, 'node_modules', 'my-jobs'), { recursive: true });
      writeFileSync(join(dir, 'node_modules', 'my-jobs', 'package.json'), JSON.stringify({ name: 'my-jobs', type: 'module', main: 'index.js' }));
      writeFileSync(join(dir, 'node_modules', 'my-jobs', 'index.js'), 'export function triple(x) { return 3 * x; }\n');
      await using c = await cluster();
      const host = await startHost(c.namespace, { cwd: dir });
      await using pool = new c.Pool();
      assert.deepEqual(await pool.map(task('my-jobs', 'triple'), [1, 2]), [3, 6]);
      await host.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a host SIGKILLed mid-task: the task runs on another host and its result arrives once', T, async () => {
    await using c = await cluster({ leaseMs: 1000 });
    const m = await c.Manager();
    const starts = await m.Value('i', 0, 'starts');
    const first = await startHost(c.namespace, { processes: 1 });
    await using pool = new c.Pool();
    const result = pool.apply(countedSleep, [REDIS_URL, c.namespace, 42, 1500]);
    while ((await starts.get()) < 1) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    const second = await startHost(c.namespace, { processes: 1 });
    assert.equal(await result, 42);
    assert.equal(await starts.get(), 2, 'delivered twice');
    // No second result: a later task's result is the next one the pool sees.
    assert.equal(await pool.apply(add, [1, 1]), 2);
    await second.stop();
    await m.close();
  });

  it('a task whose child dies on every delivery fails with BrokenPoolError after maxDeliveries; the host survives', T, async () => {
    await using c = await cluster({ maxDeliveries: 2 });
    const host = await startHost(c.namespace, { context: 'process' });
    await using pool = new c.Pool();
    await assert.rejects(pool.apply(task(tasks, 'exitChild')), (err: Error) => err instanceof BrokenPoolError && /delivered 2 times/.test(err.message) && /exited with code 7/.test(err.message));
    assert.equal(await pool.apply(add, [2, 2]), 4);
    assert.equal(await host.stop(), 0);
  });

  it('with no worker host, tasks wait and finish once one joins', T, async () => {
    await using c = await cluster();
    await using pool = new c.Pool();
    const pending = pool.map(square, [1, 2, 3]);
    await new Promise((r) => setTimeout(r, 300));
    const host = await startHost(c.namespace);
    assert.deepEqual(await pending, [1, 4, 9]);
    await host.stop();
  });

  it('SIGTERM: a host finishes its running task, delivers it, and exits 0', T, async () => {
    await using c = await cluster();
    const host = await startHost(c.namespace, { processes: 1 });
    await using pool = new c.Pool();
    const r = pool.apply(whereAfter, [500]);
    await new Promise((res) => setTimeout(res, 200));
    const code = host.stop();
    assert.equal(await r, host.id);
    assert.equal(await code, 0);
    const workers = (await c._link.send(['HLEN', `${c.namespace}:pool:workers`])) as number;
    assert.equal(workers, 0, 'the host left the table');
  });

  it('a timeout cancels a running task (its child is stopped) and the pool goes on', T, async () => {
    await using c = await cluster({ leaseMs: 600 });
    const host = await startHost(c.namespace, { processes: 1 });
    await using pool = new c.Pool();
    await assert.rejects(pool.apply(task(tasks, 'sleep'), [60_000], { timeout: 300 }), TimeoutError);
    assert.equal(await pool.apply(add, [3, 3]), 6, 'the host\'s only child was freed');
    assert.equal(await host.stop(), 0);
  });

  it('a malformed entry in the task stream is dropped with a message; the host survives', T, async () => {
    await using c = await cluster();
    const host = await startHost(c.namespace);
    const stream = `${c.namespace}:pool:tasks`;
    await c._link.send(['XADD', stream, '*', 'junk', 'yes']);
    await c._link.send(['XADD', stream, '*', 'p', 'nope', 'd', 'xx', 'n', '0']);
    await using pool = new c.Pool();
    assert.equal(await pool.apply(add, [4, 4]), 8);
    for (let i = 0; i < 100 && (await c._link.send<number>(['XLEN', stream])) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await c._link.send(['XLEN', stream]), 0, 'every entry was removed');
    assert.match(host.stderr(), /dropped a malformed entry/);
    await host.stop();
  });

  it('bad options and unsendable arguments fail clearly; the pool still works', T, async () => {
    await using c = await cluster();
    assert.throws(() => new c.Pool({ processes: 4 } as never), { name: 'TypeError', message: /set per worker host/ });
    assert.throws(() => new c.Pool({ chunksize: 0 }), RangeError);
    const host = await startHost(c.namespace);
    await using pool = new c.Pool({ chunksize: 2 });
    await assert.rejects(pool.apply(add, [new Lock(), 1]), { name: 'TypeError' });
    assert.deepEqual(await pool.map(square, [1, 2, 3]), [1, 4, 9]);
    await host.stop();
  });

  it('CLIENT KILL of every connection mid-run loses and duplicates nothing', T, async () => {
    await using c = await cluster();
    const hosts = await Promise.all([startHost(c.namespace), startHost(c.namespace)]);
    await using pool = new c.Pool();
    const items = Array.from({ length: 3000 }, (_, i) => i);
    const mapped = pool.map(square, items, { chunksize: 1 });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await killConnections(c.namespace);
    }
    assert.deepEqual(await mapped, items.map((x) => x * x));
    await Promise.all(hosts.map((h) => h.stop()));
  });
});

describe('multiproc worker (the command)', () => {
  const cli = new URL('../dist/cli/multiproc.js', import.meta.url);
  const run = (...args: string[]) => spawnSync(process.execPath, [fileURLToPath(cli), ...args], { encoding: 'utf8', timeout: 60_000 });

  it('bad arguments exit 2 with the usage; --help prints it', { timeout: 60_000 }, () => {
    for (const args of [['worker', '--processes', '0'], ['worker', '--context', 'fork'], ['worker', '--bogus'], ['nope'], []]) {
      const r = run(...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /usage: multiproc worker/);
    }
    assert.match(run('worker', '--help').stdout, /--allow-source/);
  });

  it('an unreachable Redis exits 1 with a clear error in bounded time', { timeout: 60_000 }, () => {
    const t0 = Date.now();
    const r = run('worker', '--redis', 'redis://127.0.0.1:1', '--processes', '1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
    assert.ok(Date.now() - t0 < 30_000);
  });
});
