// Queue: a producer and a consumer child, and the None-sentinel pattern (Python: q.put(None) to signal completion).
import { Process, Queue } from 'multiproc';

async function producer(q: Queue<number | null>) {
  for (let i = 0; i < 5; i++) await q.put(i);
  await q.put(null); // signal completion
}

async function consumer(q: Queue<number | null>) {
  for (;;) {
    const item = await q.get();
    if (item === null) break;
    console.log(`Consumed: ${item}`);
  }
}

const q = new Queue<number | null>();
const p1 = new Process({ target: producer, args: [q] });
const p2 = new Process({ target: consumer, args: [q] });
p1.start();
p2.start();
await p1.join();
await p2.join();
