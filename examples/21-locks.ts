// Lock: children print under a shared lock so their lines never interleave (Python's classic lock example).
import { Lock, Process } from 'multiproc';

async function f(lock: Lock, i: number) {
  await lock.withLock(async () => {
    console.log('hello world', i);
  });
}

const lock = new Lock();
const children = Array.from({ length: 5 }, (_, num) => new Process({ target: f, args: [lock, num] }));
for (const p of children) p.start();
for (const p of children) await p.join();

// A lock whose holder dies is recovered by the next acquirer, which is told.
const held = new Lock();
const doomed = new Process({
  target: (lock: Lock) => {
    lock.acquireSync();
    for (;;); // holds it forever
  },
  args: [held],
  context: 'process',
});
doomed.start();
while (held.acquireSync({ timeout: 20 })) held.release(); // wait until the child holds it
doomed.kill();
await doomed.join();
console.log('acquired after the holder was killed:', await held.acquire({ timeout: 5000 }), '— recovered:', held.recovered);
held.release();
