// A task queue served by 4 workers, with a results queue and one sentinel per worker.
import { Process, Queue, cpuCount } from 'multiproc';

async function worker(tasks: Queue<number | null>, results: Queue<[string, number, number]>) {
  const { currentProcess } = await import('multiproc');
  for (;;) {
    const n = await tasks.get();
    if (n === null) break;
    await results.put([currentProcess().name, n, n * n]);
  }
}

const tasks = new Queue<number | null>();
const results = new Queue<[string, number, number]>();
const workers = Array.from({ length: 4 }, () => new Process({ target: worker, args: [tasks, results] }));
for (const w of workers) w.start();
for (let n = 1; n <= 10; n++) await tasks.put(n);
for (const _ of workers) await tasks.put(null);
const squares = new Map<number, number>();
for (let i = 0; i < 10; i++) {
  const [who, n, square] = await results.get();
  squares.set(n, square);
  if (i < 3) console.log(`${who} squared ${n}`);
}
for (const w of workers) await w.join();
console.log(`squares of 1..10 (on a machine with ${cpuCount()} CPUs):`, [...squares.keys()].sort((a, b) => a - b).map((n) => squares.get(n)).join(' '));
