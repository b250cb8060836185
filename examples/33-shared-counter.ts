// A shared counter: 4 workers × 200,000 increments, with getLock() (exact), without it (lost updates), and with add() (atomic).
import { Barrier, RawValue, Value, getContext, type SharedValue, type SynchronizedValue } from 'multiproc';

type Work = (c: never, n: number, go: Barrier) => void;

async function run(target: Work, counter: SharedValue<number>): Promise<number> {
  const go = new Barrier(4); // all workers start counting at once
  const workers = Array.from({ length: 4 }, () => new (getContext('process').Process)({ target, args: [counter, 200_000, go] }));
  for (const w of workers) w.start();
  for (const w of workers) await w.join();
  return counter.value;
}

const locked = await run((c: SynchronizedValue<number>, n: number, go: Barrier) => {
  go.waitSync();
  for (let i = 0; i < n; i++) {
    c.getLock().acquireSync();
    c.value += 1;
    c.getLock().release();
  }
}, Value('i', 0));
const unlocked = await run((c: SharedValue<number>, n: number, go: Barrier) => {
  go.waitSync();
  for (let i = 0; i < n; i++) c.value += 1;
}, RawValue('i', 0));
const atomic = await run((c: SharedValue<number>, n: number, go: Barrier) => {
  go.waitSync();
  for (let i = 0; i < n; i++) c.add(1);
}, RawValue('i', 0));
console.log(`expected 800000 — with getLock(): ${locked}; without a lock: ${unlocked} (updates lost); with add(1): ${atomic}`);
