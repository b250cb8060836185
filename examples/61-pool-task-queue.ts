// Seed 003's task-queue program, with a Pool: the workers, queues and sentinels are the pool's job.
import { Pool } from 'multiproc';

// Python:  with Pool(4) as pool: output = pool.map(square, range(100))
await using pool = new Pool(4);
const output = await pool.map((task: number) => task ** 2, Array.from({ length: 100 }, (_, i) => i));
console.log(`${output.length} results, in order:`, output.slice(0, 10).join(' '), '...', output.at(-1));

// Results as they complete, from a lazily read input (imap_unordered).
let sum = 0;
for await (const square of pool.imapUnordered((n: number) => n * n, [1, 2, 3, 4, 5])) sum += square;
console.log('sum of the squares of 1..5:', sum);
