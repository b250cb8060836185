// cluster.Pool and cluster.PoolExecutor: the local classes, with every
// method, on the Redis backend (pool-backend.ts). Tasks run on the worker
// hosts of the cluster's namespace (`npx multiproc worker`).
import { BACKEND } from '../pool/backend.js';
import { checkChunksize } from '../pool/jobs.js';
import { Pool, type PoolOptions } from '../pool/pool.js';
import { PoolExecutor, type PoolExecutorOptions } from '../pool/executor.js';
import type { RedisLink } from './client.js';
import { RedisPoolBackend, type RedisPoolSettings } from './pool-backend.js';

export interface ClusterPoolOptions {
  /** The chunk size of map and imap calls that give none (default: Python's rule for map over the live worker slots; 1 for imap). */
  chunksize?: number;
}

export type ClusterPoolClass = new (options?: ClusterPoolOptions) => Pool;
export type ClusterPoolExecutorClass = new (options?: ClusterPoolOptions) => PoolExecutor;

/** What the options of a cluster pool leave to the worker hosts. */
const HOST_SETTINGS = ['processes', 'maxWorkers', 'initializer', 'initargs', 'maxtasksperchild', 'maxTasksPerChild', 'context', 'resourceLimits'];

function backendFor(link: RedisLink, settings: Omit<RedisPoolSettings, 'chunksize'>, options: unknown, what: string): RedisPoolBackend {
  if (options === null || typeof options !== 'object') throw new TypeError(`new cluster.${what}(options): options must be an object`);
  const given = HOST_SETTINGS.find((k) => (options as Record<string, unknown>)[k] !== undefined);
  if (given) throw new TypeError(`cluster.${what}: '${given}' is set per worker host (npx multiproc worker --processes N --context …), not by the pool`);
  return new RedisPoolBackend(link, { ...settings, chunksize: checkChunksize((options as ClusterPoolOptions).chunksize) });
}

/** The Pool and PoolExecutor classes of one cluster. */
export function clusterPoolClasses(link: RedisLink, settings: Omit<RedisPoolSettings, 'chunksize'>): { Pool: ClusterPoolClass; PoolExecutor: ClusterPoolExecutorClass } {
  class ClusterPool extends Pool {
    constructor(options: ClusterPoolOptions = {}) {
      super({ [BACKEND]: backendFor(link, settings, options, 'Pool') } as PoolOptions);
    }
  }
  class ClusterPoolExecutor extends PoolExecutor {
    constructor(options: ClusterPoolOptions = {}) {
      super({ [BACKEND]: backendFor(link, settings, options, 'PoolExecutor') } as PoolExecutorOptions);
    }
  }
  return { Pool: ClusterPool, PoolExecutor: ClusterPoolExecutor };
}
