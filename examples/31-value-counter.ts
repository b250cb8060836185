// Value: five children each add 1 to a shared counter under its lock (Python: counter.value += 1 with get_lock()).
import { Process, Value, type SynchronizedValue } from 'multiproc';

function incrementCounter(counter: SynchronizedValue<number>) {
  counter.getLock().acquireSync(); // with counter.get_lock():
  counter.value += 1;
  counter.getLock().release();
}

const counter = Value<number>('i', 0) as SynchronizedValue<number>;
const processes = Array.from({ length: 5 }, () => new Process({ target: incrementCounter, args: [counter] }));
for (const p of processes) p.start();
for (const p of processes) await p.join();
console.log('Final counter value:', counter.value);
