// No leaks: starting and ending children — normally or terminated — leaves
// this process's file descriptors as they were.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Lock, Pipe, Queue, getContext, type Connection } from 'multiproc';
import { assertNoChildrenLeftAfter, eventually, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

/** This process's fds of multiproc's own making: shared-memory segments and pidfds of children. */
function openFds(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (/memfd:multiproc|pidfd/.test(fs.readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

for (const method of methods) {
  describe(`resources [${method}]`, () => {
    it('children that share a queue, a pipe and a lock leave no file descriptors behind', async () => {
      const ctx = getContext(method);
      const q = new Queue<number>();
      const [a, b] = Pipe();
      const lock = new Lock();
      const round = async () => {
        for (let i = 0; i < 8; i++) {
          const p = new ctx.Process({
            target: async (q: Queue<number>, conn: Connection, lock: Lock) => {
              await lock.withLock(() => q.put(1));
              await conn.send(2);
            },
            args: [q, b, lock],
          });
          p.start();
          await q.get();
          await a.recv();
          await p.join();
        }
        const t = new ctx.Process({ target: (q: Queue<number>) => new Promise(() => setInterval(() => q.qsize(), 1000)), args: [q] });
        t.start();
        await new Promise((r) => setTimeout(r, 100));
        t.terminate();
        await t.join();
      };
      await round(); // warm-up: spares, arena chunks, the liveness table
      const before = openFds();
      await round();
      await round();
      // join() returns once the child's exit status is written; its thread is
      // torn down (and its descriptors closed) a moment later.
      assert.ok(await eventually(() => openFds() <= before, 5000), `segment or pidfd descriptors were leaked: ${openFds()} > ${before}`);
    });
  });
}
