// CPU-bound work on every CPU: counting primes below 2,000,000, with a progress bar and the speed-up shown.
import { Pool, cpuCount } from 'multiproc';

/** Primes in [from, to): trial division (deliberately CPU-heavy). Shipped to the workers by its source. */
function countPrimes([from, to]: [number, number]): number {
  let count = 0;
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

const LIMIT = 2_000_000;
const STEP = 50_000;
const ranges: [number, number][] = [];
for (let from = 0; from < LIMIT; from += STEP) ranges.push([from, from + STEP]);

let t0 = performance.now();
const serial = ranges.map(countPrimes).reduce((a, b) => a + b, 0);
const serialMs = performance.now() - t0;

await using pool = new Pool(cpuCount());
await pool.map(countPrimes, ranges.slice(0, 2 * cpuCount()), { chunksize: 1 }); // every worker is up and has compiled it
t0 = performance.now();
// progress: true draws a bar on stderr when it is a terminal (and nothing otherwise).
const counts = await pool.map(countPrimes, ranges, { chunksize: 1, progress: true });
const parallelMs = performance.now() - t0;
const total = counts.reduce((a, b) => a + b, 0);

console.log(`${total} primes below ${LIMIT} (serial: ${serial})`);
console.log(`serial ${serialMs.toFixed(0)} ms, pool of ${cpuCount()}: ${parallelMs.toFixed(0)} ms, speed-up ${(serialMs / parallelMs).toFixed(2)}x`);
