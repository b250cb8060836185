// Manager: workers sharing a manager Lock, Value and Queue (Python: lock = m.Lock(); q = m.Queue() passed to each worker), async and Sync styles.
import { Manager, Process, type LockProxy, type QueueProxy, type ValueProxy } from 'multiproc';

async function worker(id: string, lock: LockProxy, counter: ValueProxy<number>, results: QueueProxy<string>, times: number) {
  for (let i = 0; i < times; i++) {
    // with lock: counter.value += 1
    await lock.withLock(async () => {
      counter.value = (await counter.value) + 1;
    });
  }
  await results.put(`${id} added ${times}`);
}

// The same worker written blocking, with the Sync twins (it blocks only its own thread).
function blockingWorker(id: string, lock: LockProxy, counter: ValueProxy<number>, results: QueueProxy<string>, times: number) {
  for (let i = 0; i < times; i++) {
    lock.acquireSync();
    try {
      counter.setSync(counter.getSync() + 1);
    } finally {
      lock.releaseSync();
    }
  }
  results.putSync(`${id} added ${times}`);
}

await using manager = await Manager();
const lock = await manager.Lock();
const counter = await manager.Value('i', 0);
const results = await manager.Queue<string>();

const workers = [
  new Process({ target: worker, args: ['async worker, thread', lock, counter, results, 100] }),
  new Process({ target: worker, args: ['async worker, process', lock, counter, results, 100], context: 'process' }),
  new Process({ target: blockingWorker, args: ['blocking worker, thread', lock, counter, results, 100] }),
  new Process({ target: blockingWorker, args: ['blocking worker, process', lock, counter, results, 100], context: 'process' }),
];
for (const w of workers) w.start();
const reports = [];
for (const _ of workers) reports.push(await results.get()); // q.get() in the parent
for (const w of workers) await w.join();
console.log(reports.sort());
console.log(`counter: ${await counter.value} (4 workers x 100 increments, each under the lock)`);
