// A worker host (`npx multiproc worker`): pulls tasks of the namespace's
// task stream into a local Pool of `processes` children (thread or process
// context) and writes each result back, as pool-protocol.ts describes.
//
// - No hoarding: a read asks for as many tasks as there are free children.
// - Leases: the host beats (BEAT) every third of the shortest lease among
//   the tasks it runs. The beat runs on this thread's event loop, which runs
//   no user code (tasks run in the children), so a CPU-bound task is never
//   mistaken for a dead host.
// - Every step that removes a task (FINISH, REQUEUE) is gated on XACK, so
//   it is retried freely after a broken connection.
// - A child that dies running a task (SIGKILL, process.exit) is one failed
//   delivery: the task is requeued at once, or fails at maxDeliveries.
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { StartMethod } from '../context.js';
import { decode } from '../codec/codec.js';
import { BrokenPoolError } from '../errors.js';
import { Dispatcher } from '../pool/dispatcher.js';
import { encodeResult, setResultSeq, Status, taskHeader, taskReserve, taskSpecBytes } from '../pool/messages.js';
import { isBareSpecifier, type TaskSpec } from '../process/task.js';
import type { RedisLink } from './client.js';
import { Batcher } from './batch.js';
import { pause } from './poll.js';
import {
  BEAT,
  cancelKey,
  deliveriesError,
  DROP_IF_IDLE,
  ENSURE_GROUP,
  entryFields,
  FINISH,
  GROUP,
  poolKey,
  RECLAIMABLE,
  REQUEUE,
  resultsKey,
  sharedKeys,
  type StreamEntry,
  type StreamReply,
} from './pool-protocol.js';

/** An idle host's declared lease: how long it may go without beating before others count it dead. */
const IDLE_LEASE_MS = 30_000;
/** A read blocks at most this long, so stop() is seen within it. */
const READ_SLICE_MS = 1000;
/** How often a host looks for dead hosts' tasks. */
const RECLAIM_EVERY_MS = 250;
/** A host that holds nothing is forgotten this long after its lease ran out. */
const FORGET_AFTER_MS = 60_000;
/** A pool's settings are read again after this long (it may have ended, or cancelled jobs). */
const POOL_INFO_MS = 1000;

export interface WorkerHostOptions {
  processes: number;
  context: StartMethod;
  /** Run functions shipped by source (code taken from Redis): off unless asked. */
  allowSource: boolean;
  /** Where bare package names of module tasks are resolved from (default: the working directory). */
  cwd?: string;
  /** Reported problems (a malformed entry); default: stderr. */
  log?: (message: string) => void;
}

interface PoolInfo {
  key: string;
  lease: number;
  max: number;
  cancels: number;
  cancelled: Set<number>;
  readAt: number;
}

interface Running {
  readonly pool: PoolInfo;
  readonly jobId: number;
  readonly localJob: number;
  localSeq: number;
  cancelled: boolean;
}

export class WorkerHost {
  /** This host's consumer name in the group. */
  readonly name = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #link: RedisLink;
  readonly #keys: ReturnType<typeof sharedKeys>;
  readonly #namespace: string;
  readonly #options: WorkerHostOptions;
  readonly #local: Dispatcher;
  /** Tasks running in a child (what the free slots and the lease are counted from). */
  readonly #running = new Set<Running>();
  /** Entries taken and not yet finished or requeued (a re-read of our pending entries skips them). */
  readonly #held = new Set<string>();
  /** Children taken by tasks read (running, or about to). */
  #busy = 0;
  readonly #pools = new Map<string, PoolInfo>();
  readonly #specs = new Map<string, TaskSpec>();
  readonly #resolve: NodeRequire;
  #stopping = false;
  #slotFreed: (() => void) | null = null;
  #beatTimer: NodeJS.Timeout | undefined;
  #reclaimTimer: NodeJS.Timeout | undefined;
  #loop: Promise<void> = Promise.resolve();
  #declaredLease = 0;

  constructor(link: RedisLink, namespace: string, options: WorkerHostOptions) {
    this.#link = link;
    this.#namespace = namespace;
    this.#keys = sharedKeys(namespace);
    this.#options = options;
    this.#resolve = createRequire(join(options.cwd ?? process.cwd(), 'noop.js'));
    this.#local = new Dispatcher({ processes: options.processes, method: options.context, initargs: [], maxtasks: 0, breakOnDeath: false });
  }

  /** Joins the group and starts pulling tasks. */
  async start(): Promise<void> {
    await this.#link.eval(ENSURE_GROUP, [this.#keys.tasks], [GROUP]);
    await this.#beat();
    this.#reclaimTimer = setInterval(() => void this.#reclaim().catch(() => {}), RECLAIM_EVERY_MS);
    this.#loop = this.#readLoop();
  }

  // ---- reading -------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    let recover = true; // (first read: this consumer's own pending entries, if a host of the same name ran before)
    while (!this.#stopping) {
      try {
        await this.#link.blocking(async (send) => {
          while (!this.#stopping) {
            const free = this.#options.processes - this.#busy;
            if (free <= 0) {
              await new Promise<void>((resolve) => (this.#slotFreed = resolve));
              continue;
            }
            const read = ['XREADGROUP', 'GROUP', GROUP, this.name, 'COUNT', String(free), 'STREAMS', this.#keys.tasks, recover ? '0' : '>'];
            // First without blocking, on the shared connection: there it goes out in the same write as the
            // FINISH of the tasks that just freed these children (one syscall and round trip per batch, not three).
            let reply = (await this.#link.send(read)) as StreamReply;
            if (!recover && !reply?.[0]?.[1]?.length) {
              read.splice(6, 0, 'BLOCK', String(READ_SLICE_MS));
              reply = (await send(read)) as StreamReply;
            }
            recover = false;
            for (const entry of reply?.[0]?.[1] ?? []) {
              const id = entry[0].toString();
              if (!this.#held.has(id)) void this.#take(id, entry).catch(() => {}); // (fails only once the link is closed)
            }
          }
        });
      } catch (err) {
        // A broken connection may have swallowed a reply: entries handed to us stay pending under our
        // name, so the next read asks for them (id 0) before new ones.
        recover = true;
        if (/NOGROUP/.test((err as Error)?.message)) await this.#link.eval(ENSURE_GROUP, [this.#keys.tasks], [GROUP]).catch(() => {}); // (the idle stream was dropped)
        if (!this.#stopping) await pause(100);
      }
    }
  }

  /** Runs one entry on a local child, or settles it at once (dead pool, cancelled job, refused, malformed). */
  async #take(id: string, entry: StreamEntry): Promise<void> {
    this.#held.add(id);
    this.#busy++; // (counted at once: the read loop must not ask for more tasks than children)
    const slot = { free: false };
    try {
      await this.#run(id, entry, slot);
    } finally {
      this.#freeSlot(slot);
      this.#held.delete(id);
    }
  }

  async #run(id: string, entry: StreamEntry, slot: { free: boolean }): Promise<void> {
    const fields = entryFields(entry[1] ?? []);
    const poolId = fields.get('p')?.toString();
    const data = fields.get('d');
    const deliveries = Number(fields.get('n')?.toString() ?? '0');
    let header: ReturnType<typeof taskHeader>;
    try {
      if (!poolId || !data || !Number.isInteger(deliveries)) throw new TypeError('it lacks the fields p, d and n');
      header = taskHeader(data);
    } catch (err) {
      if (entry[1]) this.#log(`dropped a malformed entry ${id} of ${this.#keys.tasks}: ${(err as Error).message}`);
      await this.#finish(id, null, ''); // (an entry deleted meanwhile has no fields: only acknowledged)
      return;
    }
    // (no await when the pool is known: the tasks of one read then reach the local pool in one burst, one wake-up)
    const pool = this.#knownPool(poolId) ?? (await this.#poolInfo(poolId).catch(() => null));
    if (!pool || pool.cancelled.has(header.jobId)) {
      await this.#finish(id, pool, ''); // its coordinator is gone, or no longer wants it
      return;
    }
    const running: Running = { pool, jobId: header.jobId, localJob: this.#local.newJob(), localSeq: -1, cancelled: false };
    this.#running.add(running);
    if (pool.lease < this.#declaredLease) void this.#beat().catch(() => {});
    let result: Buffer;
    try {
      const spec = this.#spec(poolId, header.fnId, data, header.specEnd);
      const shipped = this.#local.ship(spec);
      const reserve = taskReserve(shipped);
      const message = new Uint8Array(reserve + data.length - header.specEnd);
      message.set(data.subarray(header.specEnd), reserve);
      result = await new Promise<Buffer>((resolve, reject) => {
        running.localSeq = this.#local.submit(running.localJob, shipped, header.mode, message, (ok, value) => {
          if (!ok) reject(value);
          else {
            const bytes = Buffer.from(value as Uint8Array); // (a copy: it may be a view of the local result ring)
            setResultSeq(bytes, header.seq);
            resolve(bytes);
          }
        }, true);
      });
    } catch (err) {
      if (running.cancelled) result = Buffer.alloc(0);
      else if (err instanceof BrokenPoolError) {
        this.#running.delete(running);
        this.#freeSlot(slot);
        await this.#requeue(id, pool, poolId, data, deliveries, header.seq, err.message);
        return;
      } else result = Buffer.from(encodeResult(header.seq, Status.Error, err, 'the task error'));
    }
    this.#running.delete(running);
    this.#freeSlot(slot); // (the child is free: the next read need not wait for FINISH's round trip)
    await this.#finish(id, pool, result);
  }

  /** The spec of a pool's function (decoded once), with a bare package name resolved from this host's directory. */
  #spec(poolId: string, fnId: number, data: Uint8Array, specEnd: number): TaskSpec {
    const key = `${poolId}#${fnId}`;
    let spec = this.#specs.get(key);
    if (!spec) {
      spec = decode<TaskSpec>(taskSpecBytes(data, specEnd));
      if (spec?.kind === 'module' && isBareSpecifier(spec.url)) spec = { ...spec, url: pathToFileURL(this.#resolve.resolve(spec.url)).href };
      this.#specs.set(key, spec);
    }
    if (spec?.kind === 'source' && !this.#options.allowSource) {
      throw new TypeError(
        `worker host ${this.name} refuses functions shipped by source (code taken from Redis is code execution): ` +
          'start it with --allow-source, or use task(moduleUrl, exportName)',
      );
    }
    return spec;
  }

  #freeSlot(slot: { free: boolean }): void {
    if (slot.free) return;
    slot.free = true;
    this.#busy--;
    const wake = this.#slotFreed;
    this.#slotFreed = null;
    wake?.();
  }

  // ---- removing entries (gated on XACK: safe to retry) ---------------------------------

  #finish(id: string, pool: PoolInfo | null, result: Buffer | ''): Promise<void> {
    return this.#finishing.add({ id, key: pool?.key ?? poolKey(this.#namespace, '-'), result });
  }

  /** One FINISH for every entry finished in one turn of the event loop. */
  readonly #finishing = new Batcher<{ id: string; key: string; result: Buffer | '' }>(
    (items) => {
      const keys = [this.#keys.tasks];
      const args: (string | Buffer)[] = [GROUP];
      for (const { id, key, result } of items) {
        keys.push(resultsKey(key), key);
        args.push(id, result);
      }
      return this.#retry(() => this.#link.eval(FINISH, keys, args));
    },
    (item) => item.result.length,
  );

  async #requeue(id: string, pool: PoolInfo, poolId: string, data: Buffer, deliveries: number, seq: number, cause: string): Promise<void> {
    const failure = Buffer.from(encodeResult(seq, Status.Error, deliveriesError(deliveries + 1, cause), 'the task error'));
    await this.#retry(() =>
      this.#link.eval(REQUEUE, [this.#keys.tasks, resultsKey(pool.key), pool.key], [GROUP, id, poolId, data, String(deliveries + 1), String(pool.max), failure]),
    );
  }

  /** Retries a step until Redis answers (it may be restarting); gives up only when the link is closed. */
  async #retry(step: () => Promise<unknown>): Promise<void> {
    for (;;) {
      try {
        await step();
        return;
      } catch (err) {
        if (this.#link.closed) throw err;
        await pause(200);
      }
    }
  }

  // ---- pools -------------------------------------------------------------------------

  /** A pool's info if it was read recently. */
  #knownPool(poolId: string): PoolInfo | undefined {
    const cached = this.#pools.get(poolId);
    return cached && Date.now() - cached.readAt < POOL_INFO_MS ? cached : undefined;
  }

  /** A pool's lease, maxDeliveries and cancelled jobs; null once it ended. */
  async #poolInfo(poolId: string): Promise<PoolInfo | null> {
    const known = this.#knownPool(poolId);
    if (known) return known;
    const cached = this.#pools.get(poolId);
    const key = poolKey(this.#namespace, poolId);
    const [lease, max, cancels] = (await this.#link.send<(Buffer | null)[]>(['HMGET', key, 'lease', 'max', 'c'])).map((b) => (b ? Number(b) : null));
    if (lease === null || max === null) {
      this.#pools.delete(poolId);
      return null;
    }
    const info: PoolInfo = cached ?? { key, lease, max, cancels: 0, cancelled: new Set(), readAt: 0 };
    info.readAt = Date.now();
    if ((cancels ?? 0) !== info.cancels) {
      info.cancels = cancels ?? 0;
      const members = await this.#link.send<Buffer[]>(['SMEMBERS', cancelKey(key)]);
      info.cancelled = new Set(members.map(Number));
    }
    this.#pools.set(poolId, info);
    return info;
  }

  /** Stops the children running tasks of jobs their coordinator cancelled. */
  async #stopCancelled(): Promise<void> {
    for (const [poolId, pool] of this.#pools) {
      const mine = [...this.#running].filter((r) => r.pool === pool);
      if (mine.length === 0) {
        this.#pools.delete(poolId);
        continue;
      }
      await this.#poolInfo(poolId);
      for (const r of mine) {
        if (!pool.cancelled.has(r.jobId) || r.cancelled) continue;
        r.cancelled = true;
        this.#local.cancel(r.localJob, new Set([r.localSeq]));
      }
    }
  }

  // ---- leases ---------------------------------------------------------------------------

  /** Declares this host alive for the shortest lease among its tasks, and schedules the next beat. */
  async #beat(): Promise<void> {
    clearTimeout(this.#beatTimer);
    let lease = IDLE_LEASE_MS;
    for (const r of this.#running) lease = Math.min(lease, r.pool.lease);
    this.#declaredLease = lease;
    if (!this.#stopping || this.#running.size > 0) {
      this.#beatTimer = setTimeout(() => void this.#beat().catch(() => {}), lease / 3);
    }
    await this.#link.eval(BEAT, [this.#keys.workers], [this.name, String(lease), String(this.#options.processes)]);
    await this.#stopCancelled();
  }

  /** Requeues the tasks held by hosts that stopped beating. */
  async #reclaim(): Promise<void> {
    const found = await this.#link.eval<Buffer[]>(RECLAIMABLE, [this.#keys.tasks, this.#keys.workers], [GROUP, '100', String(FORGET_AFTER_MS)]);
    for (let i = 0; i + 1 < found.length; i += 2) {
      const id = found[i].toString();
      const host = found[i + 1].toString();
      if (host === this.name) continue;
      const got = await this.#link.send<StreamEntry[]>(['XRANGE', this.#keys.tasks, id, id]);
      const fields = entryFields(got[0]?.[1] ?? []);
      const poolId = fields.get('p')?.toString();
      const data = fields.get('d');
      const pool = poolId ? await this.#poolInfo(poolId) : null;
      let seq = -1;
      try {
        if (data) seq = taskHeader(data).seq;
      } catch {
        /* malformed: dropped below */
      }
      if (!pool || !data || seq < 0) await this.#finish(id, null, '');
      else await this.#requeue(id, pool, poolId!, data, Number(fields.get('n')?.toString() ?? '0'), seq, `worker host ${host} stopped renewing its lease`);
    }
  }

  #log(message: string): void {
    (this.#options.log ?? ((m: string) => process.stderr.write(`multiproc worker: ${m}\n`)))(message);
  }

  // ---- leaving ---------------------------------------------------------------------------

  /** Takes no more tasks, finishes the running ones, and leaves the group. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#slotFreed?.();
    clearInterval(this.#reclaimTimer);
    await this.#loop;
    while (this.#held.size > 0) await pause(20);
    clearTimeout(this.#beatTimer);
    this.#local.close();
    await this.#local.join();
    await this.#link.send(['HDEL', this.#keys.workers, this.name]).catch(() => {});
    await this.#link.send(['XGROUP', 'DELCONSUMER', this.#keys.tasks, GROUP, this.name]).catch(() => {});
    await this.#link.eval(DROP_IF_IDLE, [this.#keys.tasks], [GROUP]).catch(() => {});
  }
}
