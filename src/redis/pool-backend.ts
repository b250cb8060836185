// The coordinator's side of a cluster Pool: the local Pool's jobs (map,
// imap, apply, futures) on a backend that adds each task to the
// namespace's task stream and reads this pool's results stream. The task
// and result messages are the local pool's bytes, so a worker host hands
// them to its own local pool unchanged. See pool-protocol.ts for why each
// result settles exactly once.
import { randomBytes } from 'node:crypto';
import { ProcessError } from '../errors.js';
import { FnRegistry, JobIds, type PoolBackend, type Settle, settleFromResult } from '../pool/backend.js';
import { frameTask, type Mode, resultSeq, resultStatus, type ShippedFn } from '../pool/messages.js';
import type { Process } from '../process/process.js';
import type { RedisLink } from './client.js';
import { Batcher } from './batch.js';
import { pause } from './poll.js';
import { ADD, cancelKey, DROP_IF_IDLE, ENSURE_GROUP, GROUP, LIVE_SLOTS, packMessages, POOL_TTL_MS, poolKey, resultsKey, sharedKeys, type StreamReply, unpackResults } from './pool-protocol.js';

/** A read of the results stream blocks at most this long, so close() and terminate() are seen. */
const READ_SLICE_MS = 1000;
/** Until the first count of live worker slots arrives, default chunk sizes assume this many. */
const ASSUMED_SLOTS = 8;

export interface RedisPoolSettings {
  namespace: string;
  leaseMs: number;
  maxDeliveries: number;
  /** The pool's default chunk size (else Python's rule over the live worker slots). */
  chunksize?: number;
}

interface Pending {
  readonly jobId: number;
  readonly settle: Settle;
  readonly raw: boolean;
}

export class RedisPoolBackend implements PoolBackend {
  readonly workers: Process[] = [];
  readonly chunksize: number | undefined;
  readonly portable = true;
  onBroken: (err: Error) => void = () => {};
  readonly #link: RedisLink;
  readonly #settings: RedisPoolSettings;
  readonly #id = randomBytes(8).toString('hex');
  readonly #key: string;
  readonly #inflight = new Map<number, Pending>();
  readonly #jobIds = new JobIds();
  readonly #fns = new FnRegistry();
  /** The pool key and group exist (every XADD waits for it). */
  readonly #ready: Promise<void>;
  #slots = ASSUMED_SLOTS;
  #nextSeq = 0;
  #lastResultId = '0-0';
  #reading = false;
  #closed = false;
  #terminated = false;
  #cancels = 0;
  readonly #renewer: NodeJS.Timeout;
  #idle: (() => void) | null = null;

  constructor(link: RedisLink, settings: RedisPoolSettings) {
    this.#link = link;
    this.#settings = settings;
    this.chunksize = settings.chunksize;
    this.#key = poolKey(settings.namespace, this.#id);
    this.#ready = this.#register();
    this.#ready.catch(() => {}); // (each submit reports it)
    this.#renewer = setInterval(() => void this.#renew().catch(() => {}), POOL_TTL_MS / 3);
    this.#renewer.unref();
  }

  async #register(): Promise<void> {
    const { tasks } = sharedKeys(this.#settings.namespace);
    await this.#link.eval(ENSURE_GROUP, [tasks], [GROUP]);
    await this.#link.send(['HSET', this.#key, 'lease', String(this.#settings.leaseMs), 'max', String(this.#settings.maxDeliveries), 'c', '0']);
    await this.#renew();
  }

  /** Keeps the pool key (and with it the results) alive, and refreshes the count of worker slots. */
  async #renew(): Promise<void> {
    if (this.#terminated) return;
    await this.#link.send(['PEXPIRE', this.#key, String(POOL_TTL_MS)]);
    const slots = await this.#link.eval<number>(LIVE_SLOTS, [sharedKeys(this.#settings.namespace).workers], []);
    if (slots > 0) this.#slots = slots;
  }

  /** The worker slots of the namespace's live hosts (last counted; 8 before the first count). */
  get processes(): number {
    return this.#slots;
  }

  get broken(): Error | null {
    return null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  newJob(): number {
    return this.#jobIds.next();
  }

  ship(fn: unknown): ShippedFn {
    return this.#fns.ship(fn);
  }

  checkOpen(): void {
    if (this.#closed) throw new RangeError('Pool not running: it was closed or terminated');
  }

  submit(jobId: number, fn: ShippedFn, mode: Mode, message: Uint8Array, settle: Settle, raw = false): number {
    this.checkOpen();
    const seq = this.#nextSeq;
    this.#nextSeq = (this.#nextSeq + 1) >>> 0;
    this.#inflight.set(seq, { jobId, settle, raw });
    const bytes = Buffer.from(frameTask(message, seq, jobId, fn, mode)); // (a copy: message may be the encoder's scratch)
    this.#add(seq, bytes);
    this.#read();
    return seq;
  }

  /**
   * The tasks submitted in one turn of the event loop, added by one script
   * call. A connection that broke with it in flight leaves it unknown
   * whether it ran: it is sent again (a task that then runs twice still
   * settles once, by its seq).
   */
  readonly #adding = new Batcher<{ seq: number; bytes: Buffer }>(
    async (items) => {
      const { tasks } = sharedKeys(this.#settings.namespace);
      for (;;) {
        try {
          await this.#ready;
          await this.#link.eval(ADD, [tasks], [this.#id, packMessages(items.map((t) => t.bytes))]);
          return;
        } catch (err) {
          if (!items.some((t) => this.#inflight.has(t.seq))) return;
          if (!/may or may not have run/.test((err as Error).message)) throw err;
          await pause(50);
        }
      }
    },
    (item) => item.bytes.length,
  );

  #add(seq: number, bytes: Buffer): void {
    this.#adding.add({ seq, bytes }).catch((err: unknown) => this.#fail(seq, err));
  }

  #fail(seq: number, err: unknown): void {
    const pending = this.#inflight.get(seq);
    if (!pending) return;
    this.#inflight.delete(seq);
    pending.settle(false, err);
    this.#checkIdle();
  }

  cancel(jobId: number, _seqs: ReadonlySet<number>): void {
    // The job has settled; its tasks are forgotten here (any result they still send is ignored),
    // and hosts skip its queued tasks and stop its running ones at their next beat.
    for (const [seq, pending] of [...this.#inflight]) {
      if (pending.jobId !== jobId) continue;
      this.#inflight.delete(seq);
      pending.settle(false, new ProcessError('the task was cancelled with its job'));
    }
    this.#checkIdle();
    this.#cancels++;
    const key = cancelKey(this.#key);
    void Promise.all([
      this.#link.send(['SADD', key, String(jobId)]),
      this.#link.send(['PEXPIRE', key, String(POOL_TTL_MS)]),
      this.#link.send(['HSET', this.#key, 'c', String(this.#cancels)]),
    ]).catch(() => {});
  }

  cancelQueued(reason: Error): void {
    // A host's taking of a task is not reported back: every unsettled task counts as queued.
    for (const [seq, pending] of [...this.#inflight]) {
      this.#inflight.delete(seq);
      pending.settle(false, reason);
    }
    this.#checkIdle();
  }

  isRunning(_seq: number): boolean {
    return false;
  }

  // ---- results -----------------------------------------------------------------

  /** Starts the results reader if it is not running. */
  #read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#readLoop().finally(() => {
      this.#reading = false;
      if (this.#inflight.size > 0 && !this.#terminated) this.#read();
    });
  }

  /**
   * XREAD from the last result seen (not a destructive pop: a read lost with
   * a broken connection is read again), then XDEL of what was read.
   */
  async #readLoop(): Promise<void> {
    const key = resultsKey(this.#key);
    await this.#link
      .blocking(async (send) => {
        while (this.#inflight.size > 0 && !this.#terminated) {
          let reply: StreamReply;
          try {
            reply = (await send(['XREAD', 'COUNT', '1000', 'BLOCK', String(READ_SLICE_MS), 'STREAMS', key, this.#lastResultId])) as StreamReply;
          } catch {
            await pause(100); // Redis is away: the link reconnects; read again from the same id
            continue;
          }
          if (!reply) continue;
          const ids: Buffer[] = [];
          for (const [id, fields] of reply[0][1]) {
            ids.push(id);
            this.#lastResultId = id.toString();
            if (fields[1]) for (const r of unpackResults(fields[1])) this.#onResult(r);
          }
          // On this connection, not the shared one: the XDEL goes out in the same write as the next XREAD.
          void send(['XDEL', key, ...ids]).catch(() => {});
        }
      })
      .catch(async (err: unknown) => {
        if (this.#link.closed) this.terminate(new ProcessError('the cluster connection was closed before this task completed', { cause: err }));
        else await pause(100); // (no connection to block on now: the loop restarts)
      });
  }

  #onResult(bytes: Buffer): void {
    const seq = resultSeq(bytes);
    const pending = this.#inflight.get(seq);
    if (!pending) return; // a second result of a task that ran twice, or one settled otherwise
    this.#inflight.delete(seq);
    settleFromResult(resultStatus(bytes), bytes, pending.settle, pending.raw);
    this.#checkIdle();
  }

  // ---- closing -------------------------------------------------------------------

  #checkIdle(): void {
    if (this.#inflight.size === 0 && this.#idle) this.#idle();
  }

  close(): void {
    this.#closed = true;
  }

  terminate(reason: Error): void {
    if (this.#terminated) return;
    this.#closed = true;
    this.#terminated = true;
    for (const [seq, pending] of [...this.#inflight]) {
      this.#inflight.delete(seq);
      pending.settle(false, reason);
    }
    this.#checkIdle();
  }

  /**
   * Waits until every submitted task settled (after close()), then removes
   * the pool's keys: hosts drop its tasks still queued.
   */
  async join(): Promise<void> {
    if (this.#inflight.size > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#idle = null;
    this.#terminated = true;
    clearInterval(this.#renewer);
    await this.#ready.catch(() => {});
    await this.#link.send(['DEL', this.#key, resultsKey(this.#key), cancelKey(this.#key)]).catch(() => {});
    await this.#link.eval(DROP_IF_IDLE, [sharedKeys(this.#settings.namespace).tasks], [GROUP]).catch(() => {});
  }
}
