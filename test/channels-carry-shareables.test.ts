// Every shareable object sent through a Queue or a Pipe arrives attached to
// the same underlying object (Python cannot send a Queue through a Queue).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event, Lock, Pipe, Queue, RawArray, Value, getContext, type Connection } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

interface Bundle {
  lock: Lock;
  counter: ReturnType<typeof Value>;
  arr: Int32Array;
  done: Event;
  conn: Connection;
}

for (const method of methods) {
  describe(`shareables through channels [${method}]`, () => {
    it('a Lock, a Value, an Array, an Event and a Connection sent through a Queue arrive attached', async () => {
      const carrier = new Queue<Bundle>();
      const [mine, theirs] = Pipe();
      const bundle: Bundle = { lock: new Lock(), counter: Value('i', 0), arr: RawArray('i', 3), done: new Event(), conn: theirs };
      const p = new (getContext(method).Process)({
        target: async (carrier: Queue<Bundle>) => {
          const { lock, counter, arr, done, conn } = await carrier.get();
          await lock.withLock(() => {
            (counter as { value: number }).value += 41;
          });
          arr[2] = 7;
          await conn.send('over the carried pipe');
          done.set();
        },
        args: [carrier],
      });
      p.start();
      await carrier.put(bundle);
      assert.equal(await bundle.done.wait(20_000), true);
      assert.equal(bundle.counter.value, 41);
      assert.deepEqual([...bundle.arr], [0, 0, 7]);
      assert.equal(await mine.recv(), 'over the carried pipe');
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it('a Queue sent through a Pipe arrives attached', async () => {
      const [a, b] = Pipe();
      const q = new Queue<string>();
      const p = new (getContext(method).Process)({
        target: async (conn: Connection) => {
          const q = (await conn.recv()) as Queue<string>;
          await q.put('through the pipe');
        },
        args: [b],
      });
      p.start();
      await a.send(q);
      assert.equal(await q.get(), 'through the pipe');
      await p.join();
    });
  });
}
