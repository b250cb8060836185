// concurrent.futures in TypeScript: PoolExecutor.submit() gives awaitable futures, map() streams results in order.
import { PoolExecutor } from 'multiproc';

// Python:  with ProcessPoolExecutor(max_workers=2) as ex: ...
await using ex = new PoolExecutor({ maxWorkers: 2, context: 'process' });

const slowDouble = async (x: number) => {
  await new Promise((r) => setTimeout(r, 50));
  return 2 * x;
};
const futures = [1, 2, 3].map((x) => ex.submit(slowDouble, x));
futures[0].addDoneCallback((f) => console.log('first future done:', f.done()));
console.log('results:', await Promise.all(futures));

const failing = ex.submit((name: string) => {
  throw new RangeError(`no such item: ${name}`);
}, 'widget');
const err = (await failing.exception()) as Error;
console.log('a failed future keeps its error:', err.name, '-', err.message);

const lengths: number[] = [];
for await (const n of ex.map((word: string, times: number) => word.repeat(times).length, ['a', 'bb', 'ccc'], [3, 2, 1])) lengths.push(n);
console.log('map over two inputs, zipped:', lengths);
