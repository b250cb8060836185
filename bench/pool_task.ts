// The task every pool of bench/pool_peers.ts runs (piscina, tinypool and ours): a tiny sum.
export default function add({ a, b }: { a: number; b: number }): number {
  return a + b;
}

export function square(x: number): number {
  return x * x;
}

/** Sleeps `ms` and returns it (bench/redis.ts's lease-expiry task). */
export function sleep(ms: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
}
