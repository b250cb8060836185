// connect(): the entry of multiproc/redis. A Cluster is one application's
// namespace on one Redis server: every key it makes starts with the
// namespace, so two applications (or two test runs) never meet.
import { RedisLink, redactedUrl } from './client.js';
import { RedisManager } from './manager.js';
import { type ClusterPoolClass, type ClusterPoolExecutorClass, clusterPoolClasses } from './pool.js';
import { RedisJoinableQueue, RedisQueue, type RedisQueueOptions, RedisSimpleQueue } from './queues.js';

export interface ConnectOptions {
  /** redis:// or rediss:// (TLS), with user and password if any. Default $MULTIPROC_REDIS_URL, then redis://127.0.0.1:6379. */
  url?: string;
  /** Prefix of every key of this application. Default 'multiproc'. */
  namespace?: string;
  /** A worker's lease on its tasks (ms): for the cluster Pool. Default 30 s. */
  leaseMs?: number;
  /** Deliveries of a task before it fails: for the cluster Pool. Default 3. */
  maxDeliveries?: number;
  /** How long one connection attempt may take (ms). Default 5 s. */
  connectTimeoutMs?: number;
  /** How long a call waits for a lost connection to come back before it fails (ms). Default 10 s. */
  retryMs?: number;
}

const NAMESPACE = /^[A-Za-z0-9_.:-]{1,100}$/;

export class Cluster {
  readonly url: string;
  readonly namespace: string;
  readonly leaseMs: number;
  readonly maxDeliveries: number;
  /** `new cluster.Pool({ chunksize })`: the Pool's methods, run by the namespace's worker hosts. */
  readonly Pool: ClusterPoolClass;
  /** `new cluster.PoolExecutor()`: the PoolExecutor's methods, run by the namespace's worker hosts. */
  readonly PoolExecutor: ClusterPoolExecutorClass;
  readonly #link: RedisLink;

  private constructor(link: RedisLink, url: string, namespace: string, leaseMs: number, maxDeliveries: number) {
    this.#link = link;
    this.url = redactedUrl(url);
    this.namespace = namespace;
    this.leaseMs = leaseMs;
    this.maxDeliveries = maxDeliveries;
    ({ Pool: this.Pool, PoolExecutor: this.PoolExecutor } = clusterPoolClasses(link, { namespace, leaseMs, maxDeliveries }));
  }

  /** @internal The connection (a worker host runs on it). */
  get _link(): RedisLink {
    return this.#link;
  }

  /** @internal Use connect(). */
  static async _open(options: ConnectOptions): Promise<Cluster> {
    const url = options.url ?? process.env.MULTIPROC_REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) throw new TypeError(`url must be a redis:// or rediss:// URL, got ${String(url)}`);
    const namespace = options.namespace ?? 'multiproc';
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) throw new TypeError('namespace must be 1-100 characters of A-Z a-z 0-9 _ . : -');
    const leaseMs = positive(options.leaseMs, 30_000, 'leaseMs');
    const maxDeliveries = positive(options.maxDeliveries, 3, 'maxDeliveries');
    if (!Number.isInteger(maxDeliveries)) throw new TypeError('maxDeliveries must be a positive integer');
    const connectTimeoutMs = positive(options.connectTimeoutMs, 5000, 'connectTimeoutMs');
    const retryMs = positive(options.retryMs, 10_000, 'retryMs');
    const link = await RedisLink.open({ url, connectTimeoutMs, connectAttempts: 3, retryMs, name: `multiproc:${namespace}` });
    return new Cluster(link, url, namespace, leaseMs, maxDeliveries);
  }

  /** The queue called `name` in this namespace, shared by every host that opens it. */
  Queue<T = unknown>(name: string, options?: RedisQueueOptions): RedisQueue<T> {
    return new RedisQueue<T>(this.#link, this.namespace, name, options);
  }

  SimpleQueue<T = unknown>(name: string): RedisSimpleQueue<T> {
    return new RedisSimpleQueue<T>(this.#link, this.namespace, name);
  }

  JoinableQueue<T = unknown>(name: string, options?: RedisQueueOptions): RedisJoinableQueue<T> {
    return new RedisJoinableQueue<T>(this.#link, this.namespace, name, options);
  }

  /** The manager's types in Redis: dict, list, Value, Lock, Event, by name or unnamed. */
  async Manager(): Promise<RedisManager> {
    return new RedisManager(this.#link, this.namespace, this.leaseMs);
  }

  /** Closes this host's connections (what lives in Redis stays for the others). */
  close(): Promise<void> {
    return this.#link.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function positive(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new TypeError(`${what} must be a positive number`);
  return value;
}

/** Joins the namespace on a Redis server (6.2 or newer): `await using cluster = await connect({ url, namespace })`. */
export function connect(options: ConnectOptions = {}): Promise<Cluster> {
  return Cluster._open(options);
}
