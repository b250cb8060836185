// Value: five children each add 1 to a shared counter under its lock (Python: `with counter.get_lock(): counter.value += 1`).
import { Process, Value, type SynchronizedValue } from 'multiproc';

// Shipped to each child by its source text; the counter arrives attached to the same memory and lock.
function incrementCounter(counter: SynchronizedValue<number>) {
  const lock = counter.getLock(); // with counter.get_lock():
  lock.acquireSync();
  try {
    counter.value += 1;
  } finally {
    lock.release();
  }
}

const counter = Value('i', 0); // 'i' = C int; synchronized: an RLock comes with it
const processes = Array.from({ length: 5 }, () => new Process({ target: incrementCounter, args: [counter] }));
for (const p of processes) p.start();
for (const p of processes) await p.join();
console.log('Final counter value:', counter.value);
