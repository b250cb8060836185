// Children killed in the middle of a put or a get: the queue stays usable,
// nothing is duplicated, and no item is ever delivered half-written.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Empty, Event, JoinableQueue, Queue, getContext, type Process } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const ITEM = 100_000; // bytes: several frames in a 64 KiB ring
const RING = 64 * 1024;

/** Every received item must be whole: ITEM bytes, all equal to its tag. */
function assertWhole(item: Uint8Array): number {
  assert.equal(item.length, ITEM);
  const tag = item[0];
  assert.ok(item.every((b) => b === tag), 'an item was delivered half-written');
  return tag;
}

async function drain(q: Queue<Uint8Array>): Promise<number[]> {
  const tags: number[] = [];
  for (;;) {
    try {
      tags.push(assertWhole(await q.get({ timeout: 300 })));
    } catch (err) {
      if (err instanceof Empty) return tags;
      throw err;
    }
  }
}

/**
 * Starts a child that puts ITEM-byte items forever, and resolves once it has
 * filled the ring and is blocked in the middle of a multi-frame write.
 */
async function startStuckWriter(ctx: ReturnType<typeof getContext>, q: Queue<Uint8Array>): Promise<Process> {
  const started = new Event();
  const p = new ctx.Process({
    target: (q: Queue<Uint8Array>, size: number, started: Event) => {
      started.set();
      for (let i = 1; ; i++) q.putSync(new Uint8Array(size).fill(i % 250 || 1));
    },
    args: [q, ITEM, started],
  });
  p.start();
  assert.equal(await started.wait(20_000), true);
  await new Promise((r) => setTimeout(r, 200));
  return p;
}

function stop(p: Process, how: 'kill' | 'terminate'): void {
  if (how === 'kill') p.kill();
  else p.terminate();
}

for (const method of methods) {
  const ctx = getContext(method);
  for (const how of ['kill', 'terminate'] as const) {
    describe(`a child stopped by ${how}() [${method}]`, () => {
      it('in the middle of a put: the queue stays usable and delivers only whole items', async () => {
        const q = new Queue<Uint8Array>(0, { bufferSize: RING });
        const p = await startStuckWriter(ctx, q);
        stop(p, how);
        await p.join();
        const tags = await drain(q); // the half-written item is dropped, never delivered
        assert.deepEqual(tags, tags.map((_, i) => i + 1), 'items were lost or duplicated before the killed one');
        assert.equal(q.qsize(), 0, 'the killed writer\'s item is still counted');
        // Another writer takes over the put side.
        const p2 = new ctx.Process({ target: (q: Queue<Uint8Array>, size: number) => q.putSync(new Uint8Array(size).fill(251)), args: [q, ITEM] });
        p2.start();
        assert.equal(assertWhole(await q.get()), 251);
        await p2.join();
        await q.put(new Uint8Array(ITEM).fill(252));
        assert.equal(assertWhole(await q.get()), 252);
      });

      it('in the middle of a get: the others get every other item whole', async () => {
        const q = new Queue<Uint8Array>(0, { bufferSize: RING });
        const got = new Queue<number>();
        const p = new ctx.Process({
          target: (q: Queue<Uint8Array>, got: Queue<number>) => {
            for (;;) got.putSync(q.getSync()[0]);
          },
          args: [q, got],
        });
        p.start();
        const COUNT = 60;
        const puts = (async () => {
          for (let i = 1; i <= COUNT; i++) await q.put(new Uint8Array(ITEM).fill(i));
        })();
        while (got.qsize() < 5) await new Promise((r) => setTimeout(r, 5));
        stop(p, how);
        await p.join();
        await puts;
        const theirs: number[] = [];
        for (;;) {
          try {
            theirs.push(await got.get({ timeout: 300 }));
          } catch (err) {
            if (err instanceof Empty) break;
            throw err;
          }
        }
        const mine = await drain(q);
        const seen = [...theirs, ...mine];
        assert.equal(new Set(seen).size, seen.length, 'an item was delivered twice');
        assert.ok(seen.length >= COUNT - 1, `more than the killed reader's own item was lost: got ${seen.length} of ${COUNT}`);
        assert.equal(q.qsize(), 0);
        await q.put(new Uint8Array(ITEM).fill(99));
        assert.equal(assertWhole(await q.get()), 99);
      });
    });
  }

  describe(`JoinableQueue with a killed worker [${method}]`, () => {
    it('join() does not hang on the item a killed writer never finished', async () => {
      const q = new JoinableQueue<Uint8Array>(0, { bufferSize: RING });
      const p = await startStuckWriter(ctx, q);
      p.kill();
      await p.join();
      const tags = await drain(q);
      for (const _ of tags) q.taskDone();
      // The writer that recovers the put side uncounts the dead writer's message.
      await q.put(new Uint8Array(ITEM).fill(7));
      await q.get();
      q.taskDone();
      await q.join();
    });
  });
}
