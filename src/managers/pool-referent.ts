// The object behind manager.Pool(n): a Pool living in the manager's server.
// Its callers' functions arrive as task specs (a function cannot travel as
// data; the proxy turns it into its source text, see proxy.ts), and results
// come back through the manager.
import { Pool } from '../pool/pool.js';
import type { MapOptions } from '../pool/jobs.js';

export class PoolReferent {
  readonly #pool: Pool;

  constructor(processes?: number) {
    this.#pool = new Pool(processes === undefined || processes === null ? {} : { processes });
  }

  processes(): number {
    return this.#pool.processes;
  }

  apply(fn: unknown, args?: unknown[], options?: { timeout?: number }): Promise<unknown> {
    return this.#pool.apply(fn as never, args, options);
  }

  map(fn: unknown, items: unknown[], options?: MapOptions<unknown>): Promise<unknown[]> {
    return this.#pool.map(fn as never, items, { chunksize: options?.chunksize, timeout: options?.timeout });
  }

  starmap(fn: unknown, items: unknown[][], options?: MapOptions<unknown>): Promise<unknown[]> {
    return this.#pool.starmap(fn as never, items, { chunksize: options?.chunksize, timeout: options?.timeout });
  }

  close(): void {
    this.#pool.close();
  }

  terminate(): void {
    this.#pool.terminate();
  }

  join(): Promise<void> {
    return this.#pool.join();
  }
}
