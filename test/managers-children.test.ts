// Many children on one manager, and children that die at bad moments: exact
// results under concurrency, a clear error (not a hang) when the manager
// shuts down under its clients, a server that keeps serving when a client is
// killed mid-call, and a server that dies with its owner.
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event, Manager, Queue, getContext, type Process, type SyncManager } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, fixture, methods, pidExists } from './helpers.ts';

assertNoChildrenLeftAfter();

function stop(p: Process, method: string): void {
  if (method === 'process') p.kill();
  else p.terminate(); // a thread cannot be SIGKILLed on its own
}

for (const method of methods) {
  const ctx = getContext(method);
  const other = method === 'thread' ? 'process' : 'thread';
  describe(`many and dying ${method} clients of a manager`, () => {
    let m: SyncManager;
    before(async () => {
      m = await Manager({ context: other }); // the server is the other kind: every test is mixed too
    });
    after(async () => {
      await m.shutdown();
    });

    it('eight_children_appending_at_once_lose_and_duplicate_nothing', async () => {
      const l = await m.list<number>();
      const children = Array.from(
        { length: 8 },
        (_, c) =>
          new ctx.Process({
            target: async (l: any, c: number) => {
              for (let i = 0; i < 25; i++) await l.append(c * 1000 + i);
              for (let i = 25; i < 50; i++) l.appendSync(c * 1000 + i);
            },
            args: [l, c],
          }),
      );
      for (const p of children) p.start();
      for (const p of children) await p.join();
      assert.deepEqual(children.map((p) => p.exitCode), new Array(8).fill(0));
      const expected = Array.from({ length: 8 }, (_, c) => Array.from({ length: 50 }, (_, i) => c * 1000 + i)).flat();
      assert.deepEqual((await l.toArray()).sort((a, b) => a - b), expected);
    });

    it('a_client_killed_while_waiting_in_get_is_never_handed_an_item', async () => {
      const q = await m.Queue<string>();
      const waiting = new Event();
      const p = new ctx.Process({
        target: async (q: any, waiting: any) => {
          setTimeout(() => waiting.set(), 100);
          await q.get(); // killed while waiting here
        },
        args: [q, waiting],
      });
      p.start();
      assert.equal(await waiting.wait(20_000), true);
      await new Promise((r) => setTimeout(r, 100));
      stop(p, method);
      await p.join();
      await q.put('item');
      assert.equal(await q.get({ timeout: 10_000 }), 'item', 'the dead getter did not take it');
    });

    it('a_client_killed_mid_write_of_a_large_request_leaves_the_server_serving', async () => {
      const l = await m.list<string>();
      const started = new Event();
      const p = new ctx.Process({
        target: (l: any, started: any) => {
          const big = 'x'.repeat(3 << 20); // several frames of the 1 MiB request ring
          started.set();
          for (;;) l.appendSync(big);
        },
        args: [l, started],
      });
      p.start();
      assert.equal(await started.wait(20_000), true);
      await new Promise((r) => setTimeout(r, 150));
      stop(p, method);
      await p.join();
      await l.append('after');
      const items = await l.toArray();
      assert.equal(items.at(-1), 'after');
      assert.ok(items.slice(0, -1).every((s) => s.length === 3 << 20), 'no item arrived half-written');
    });

    it('a_lock_held_by_a_killed_client_is_released_and_a_broken_party_breaks_the_barrier', async () => {
      const lock = await m.Lock();
      const barrier = await m.Barrier(2);
      const holding = new Event();
      const p = new ctx.Process({
        target: async (lock: any, barrier: any, holding: any) => {
          await lock.acquire();
          void barrier.wait(); // waits there, then dies
          setTimeout(() => holding.set(), 100);
          await new Promise(() => setInterval(() => {}, 1000));
        },
        args: [lock, barrier, holding],
      });
      p.start();
      assert.equal(await holding.wait(20_000), true);
      assert.equal(await lock.acquire({ block: false }), false);
      stop(p, method);
      await p.join();
      assert.equal(await lock.acquire({ timeout: 10_000 }), true, 'the dead holder released it');
      await lock.release();
      assert.ok(await eventually(() => barrier.brokenSync(), 10_000), 'the barrier broke when its waiting party died');
    });

    it('a_client_killed_in_a_condition_wait_or_a_semaphore_wait_leaves_nothing_behind', async () => {
      const cond = await m.Condition();
      const sem = await m.Semaphore(0);
      const waiting = new Event();
      const p = new ctx.Process({
        target: async (cond: any, sem: any, waiting: any) => {
          await cond.acquire();
          void cond.wait(300); // times out after the child is dead: must not re-take the lock for it
          void sem.acquire();
          setTimeout(() => waiting.set(), 100);
          await new Promise(() => setInterval(() => {}, 1000));
        },
        args: [cond, sem, waiting],
      });
      p.start();
      assert.equal(await waiting.wait(20_000), true);
      stop(p, method);
      await p.join();
      await sem.release(); // its only waiter is dead: the count stays
      assert.equal(await sem.getValue(), 1);
      await new Promise((r) => setTimeout(r, 600)); // past the dead wait's timeout
      assert.equal(await cond.acquire({ timeout: 10_000 }), true, 'the condition lock is free');
      await cond.release();
    });

    it('children_holding_proxies_get_a_remote_error_when_the_manager_shuts_down', async () => {
      const m2 = await Manager({ context: method });
      const l = await m2.list<number>();
      const q2 = await m2.Queue();
      const report = new Queue<string>();
      const running = new Event();
      const children = [
        new ctx.Process({
          target: async (l: any, report: any) => {
            try {
              for (;;) await l.append(1);
            } catch (err) {
              await report.put(`append: ${(err as Error).name}`);
            }
          },
          args: [l, report],
        }),
        new ctx.Process({
          target: async (q: any, report: any, running: any) => {
            try {
              running.set();
              q.getSync(); // blocked in the server when it stops
            } catch (err) {
              await report.put(`get: ${(err as Error).name}`);
            }
          },
          args: [q2, report, running],
        }),
      ];
      for (const p of children) p.start();
      assert.equal(await running.wait(20_000), true);
      while ((await l.length()) < 10) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100)); // the getter is in getSync() by now
      await m2.shutdown();
      const reports = [await report.get({ timeout: 20_000 }), await report.get({ timeout: 20_000 })].sort();
      assert.deepEqual(reports, ['append: RemoteError', 'get: RemoteError']);
      for (const p of children) await p.join(20_000);
      assert.deepEqual(children.map((p) => p.exitCode), [0, 0]);
    });
  });
}

describe('a manager owner SIGKILLed', () => {
  it('takes its server and the children using it down with it', async () => {
    const owner = spawn(process.execPath, ['--import', 'tsx', fixture('manager-owner.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line: string = await new Promise((resolve) => owner.stdout.once('data', (d) => resolve(String(d))));
    const { server, client } = JSON.parse(line);
    assert.ok(pidExists(server) && pidExists(client));
    owner.kill('SIGKILL');
    assert.ok(await eventually(() => !pidExists(server), 10_000), `the manager server ${server} outlived its owner`);
    assert.ok(await eventually(() => !pidExists(client), 10_000), `the client ${client} outlived its owner`);
  });
});
