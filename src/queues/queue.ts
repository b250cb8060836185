// Queue: Python's multiprocessing.Queue over a shared-memory ring (ring.ts).
//
// As in Python, put() never waits for room in the channel: an item that does
// not fit now goes to this producer's local buffer, which a background feeder
// (an async task here, a thread in Python) writes into the ring as room
// appears. A child flushes its feeders before it exits (Python joins its
// feeder threads), unless cancelJoinThread() was called. FIFO per producer:
// once an item waits in the buffer, later items queue behind it.
//
// The ring's word A counts items not yet got: it is qsize(). A bounded queue
// (maxsize > 0) counts an item when put() accepts it and waits while the count
// is at maxsize (Python's BoundedSemaphore); an unbounded one counts an item
// once it is in the ring, so a producer killed between the two never leaves a
// phantom item behind. Items are encoded before anything is
// touched, so an unsendable item fails put() with a TypeError and leaves the
// queue exactly as it was.
import { decode, encode } from '../codec/codec.js';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { Empty, Full, ProcessError } from '../errors.js';
import { isHeldByMe, lockAsync, lockSync, tryLock, unlock, type LockOutcome } from '../shm/mutex.js';
import { Segment, type SegmentHandle } from '../shm/segment.js';
import { waitAsync, waitSync, wake } from '../shm/wait.js';
import { state } from '../process/state.js';
import { checkOptions, deadlineOf, msLeft, type BlockingOptions } from './options.js';
import { GET_MUTEX, PUT_MUTEX, Ring, WORD_A } from './ring.js';

export interface QueueOptions {
  /** Bytes of the shared ring (rounded up to a power of two). Larger items still pass, in chunks. Default 1 MiB. */
  bufferSize?: number;
}

const DEFAULT_BUFFER = 1 << 20;
type QueueKind = 'Queue' | 'JoinableQueue' | 'SimpleQueue';

/** One object per ring per isolate, so a queue received twice is the same object. */
const attached = new Map<string, WeakRef<Queue<unknown>>>();

export class Queue<T = unknown> implements AsyncIterable<T> {
  protected readonly ring: Ring;
  readonly #maxsize: number;
  readonly #pending: Uint8Array[] = [];
  #feeder: Promise<void> | null = null;
  #closed = false;
  #joinAtExit = true;
  readonly #closing = new AbortController();
  readonly #flushAtExit = () => this.#feeder ?? Promise.resolve();

  constructor(maxsize = 0, options: QueueOptions = {}) {
    if (typeof maxsize !== 'number' || Number.isNaN(maxsize)) throw new TypeError('maxsize must be a number');
    this.#maxsize = maxsize > 0 ? Math.floor(maxsize) : 0;
    this.ring = (options as { ring?: Ring }).ring ?? Ring.create(options.bufferSize ?? DEFAULT_BUFFER);
    this.ring.onOrphanMessage = () => this.lostItem(true);
    attached.set(this.ring.segment.id, new WeakRef(this as Queue<unknown>));
  }

  protected get kind(): QueueKind {
    return 'Queue';
  }

  // ---- put -------------------------------------------------------------------

  async put(item: T, options?: BlockingOptions): Promise<void> {
    this.#checkOpen();
    const opts = checkOptions(options);
    const bytes = encode(item, 'item');
    if (!this.#tryAccept() && !(await this.#acceptAsync(opts))) throw new Full();
    this.accepted();
    this.#send(bytes);
  }

  putSync(item: T, options?: BlockingOptions): void {
    this.#checkOpen();
    const opts = checkOptions(options);
    const bytes = encode(item, 'item');
    if (!this.#tryAccept() && !this.#acceptSync(opts)) throw new Full();
    this.accepted();
    if (this.#pending.length > 0) this.#queueLocally(bytes); // keep FIFO behind buffered items
    else {
      this.#locked(lockSync(this.ring.header, PUT_MUTEX));
      try {
        this.ring.writeSync(bytes);
        this.#published(1);
      } finally {
        unlock(this.ring.header, PUT_MUTEX);
      }
    }
  }

  putNowait(item: T): void {
    this.putSync(item, { block: false });
  }

  /** Hook for JoinableQueue: an item was accepted. */
  protected accepted(): void {}

  /** Items reached the ring: an unbounded queue counts them now (see the top). */
  #published(n: number): void {
    if (this.#maxsize === 0) Atomics.add(this.ring.header, WORD_A, n);
  }

  /**
   * An accepted item will never be delivered (its writer or reader died
   * mid-message): uncount it, if it was counted — a bounded queue counts at
   * put(), an unbounded one only once the whole item is in the ring.
   */
  protected lostItem(counted: boolean): void {
    if (counted) this.#consumed();
  }

  /**
   * A get found nothing: if the writer died mid-message, recover the put
   * mutex now so its lost message stops counting (qsize, bounded slots, join).
   */
  #reapDeadWriter(): void {
    const outcome = tryLock(this.ring.header, PUT_MUTEX);
    if (outcome === 'timeout') return;
    this.#locked(outcome);
    unlock(this.ring.header, PUT_MUTEX);
  }

  /** Takes the put mutex; if it was recovered from a dead writer mid-message, uncounts that message. */
  #locked(outcome: LockOutcome): LockOutcome {
    if (outcome === 'recovered' && this.ring.takeDeadWriterMessage()) this.lostItem(this.#maxsize > 0);
    return outcome;
  }

  #tryAccept(): boolean {
    const h = this.ring.header;
    if (this.#maxsize === 0) return true; // counted once in the ring
    for (;;) {
      const n = Atomics.load(h, WORD_A);
      if (n >= this.#maxsize) return false;
      if (Atomics.compareExchange(h, WORD_A, n, n + 1) === n) return true;
    }
  }

  async #acceptAsync(opts: BlockingOptions): Promise<boolean> {
    const deadline = deadlineOf(opts);
    while (Date.now() < deadline) {
      await waitAsync(this.ring.header, WORD_A, Atomics.load(this.ring.header, WORD_A), Math.min(100, msLeft(deadline)), opts.signal);
      if (this.#tryAccept()) return true;
    }
    return false;
  }

  #acceptSync(opts: BlockingOptions): boolean {
    const deadline = deadlineOf(opts);
    while (Date.now() < deadline) {
      waitSync(this.ring.header, WORD_A, Atomics.load(this.ring.header, WORD_A), Math.min(100, msLeft(deadline)));
      if (this.#tryAccept()) return true;
    }
    return false;
  }

  /** Writes now if the ring has room and no writer is busy; else buffers for the feeder. */
  #send(bytes: Uint8Array): void {
    const h = this.ring.header;
    if (this.#pending.length === 0 && this.#locked(tryLock(h, PUT_MUTEX)) !== 'timeout') {
      let written: boolean;
      try {
        written = this.ring.tryWrite(bytes);
        if (written) this.#published(1);
      } finally {
        unlock(h, PUT_MUTEX);
      }
      if (written) return;
    }
    this.#queueLocally(bytes);
  }

  #queueLocally(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    if (this.#feeder) return;
    if (this.#joinAtExit) state.beforeExit.add(this.#flushAtExit);
    this.#feeder = this.#feed().finally(() => {
      this.#feeder = null;
      state.beforeExit.delete(this.#flushAtExit);
    });
  }

  async #feed(): Promise<void> {
    const h = this.ring.header;
    while (this.#pending.length > 0) {
      this.#locked(await lockAsync(h, PUT_MUTEX));
      try {
        // Everything that fits now, then the next item waiting for room.
        let written = 0;
        while (written < this.#pending.length && this.ring.tryWrite(this.#pending[written])) written++;
        this.#pending.splice(0, written);
        this.#published(written);
        if (this.#pending.length > 0) {
          await this.ring.write(this.#pending[0]);
          this.#pending.shift();
          this.#published(1);
        }
      } finally {
        unlock(h, PUT_MUTEX);
      }
    }
  }

  // ---- get -------------------------------------------------------------------

  async get(options?: BlockingOptions): Promise<T> {
    this.#checkOpen();
    const opts = checkOptions(options);
    const deadline = deadlineOf(opts);
    const h = this.ring.header;
    let outcome = tryLock(h, GET_MUTEX);
    if (outcome === 'timeout' && opts.block !== false) outcome = await lockAsync(h, GET_MUTEX, msLeft(deadline), opts.signal);
    if (outcome === 'timeout') throw new Empty();
    let bytes: Uint8Array | null;
    try {
      bytes = this.ring.tryReadFull() ?? (await this.ring.read(deadline, opts.signal));
      if (bytes) this.#consumed();
    } finally {
      unlock(h, GET_MUTEX);
    }
    return this.#delivered(bytes);
  }

  getSync(options?: BlockingOptions): T {
    this.#checkOpen();
    const opts = checkOptions(options);
    const deadline = deadlineOf(opts);
    const h = this.ring.header;
    if (isHeldByMe(h, GET_MUTEX)) throw new ProcessError('getSync() cannot run while an async get() of this thread is waiting on the same queue');
    if (lockSync(h, GET_MUTEX, opts.block === false ? 0 : msLeft(deadline)) === 'timeout') throw new Empty();
    let bytes: Uint8Array | null;
    try {
      bytes = this.ring.readSync(deadline);
      if (bytes) this.#consumed();
    } finally {
      unlock(h, GET_MUTEX);
    }
    return this.#delivered(bytes);
  }

  /** The item read by a get, or Empty (after reaping a dead writer) when none came. */
  #delivered(bytes: Uint8Array | null): T {
    if (!bytes) {
      this.#reapDeadWriter();
      throw new Empty();
    }
    return decode<T>(bytes);
  }

  getNowait(): T {
    return this.getSync({ block: false });
  }

  #consumed(): void {
    Atomics.sub(this.ring.header, WORD_A, 1);
    wake(this.ring.header, WORD_A);
  }

  /** Yields items until close() is called in this process. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (!this.#closed) {
      try {
        yield await this.get({ signal: this.#closing.signal });
      } catch (err) {
        if (this.#closed) return;
        throw err;
      }
    }
  }

  // ---- state -----------------------------------------------------------------

  /** For wait(): an item is waiting in the shared ring. */
  _ready(): boolean {
    return !this.#closed && this.ring.hasData();
  }

  _waitForData(ms: number, signal?: AbortSignal): Promise<unknown> {
    return this.ring.waitForData(ms, signal);
  }

  /** Items put and not yet got (Python's approximate qsize(); exact here). */
  qsize(): number {
    return Math.max(0, Atomics.load(this.ring.header, WORD_A));
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.#maxsize > 0 && this.qsize() >= this.#maxsize;
  }

  get maxsize(): number {
    return this.#maxsize;
  }

  /** No more puts or gets from this process; buffered items are still flushed (Python's close()). */
  close(): void {
    this.#closed = true;
    this.#closing.abort(new ProcessError('the queue was closed'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits until this process's buffered items are in the queue. Call after close(), as Python. */
  async joinThread(): Promise<void> {
    if (!this.#closed) throw new ProcessError('joinThread() needs close() first');
    await this.#feeder;
  }

  /** This process will not wait for its buffered items at exit (they may be lost). */
  cancelJoinThread(): void {
    this.#joinAtExit = false;
    state.beforeExit.delete(this.#flushAtExit);
  }

  #checkOpen(): void {
    if (this.#closed) throw new RangeError(`${this.kind} is closed`);
  }

  [shareable](): HandleData {
    return { type: 'multiproc.Queue', data: { kind: this.kind, maxsize: this.#maxsize, ring: this.ring.segment.toHandle(`a ${this.kind}`) } };
  }

  /** The queue object for a received handle (one per ring per isolate). */
  static _fromHandle(data: { kind: QueueKind; maxsize: number; ring: SegmentHandle }, make: (ring: Ring) => Queue<unknown>): Queue<unknown> {
    const known = attached.get(data.ring.id)?.deref();
    if (known) return known;
    return make(new Ring(Segment.attach(data.ring)));
  }
}

export const queueKinds = new Map<QueueKind, (maxsize: number, ring: Ring) => Queue<unknown>>([
  ['Queue', (maxsize, ring) => new Queue(maxsize, { ring } as QueueOptions)],
]);

registerHandleType('multiproc.Queue', (data: { kind: QueueKind; maxsize: number; ring: SegmentHandle }) =>
  Queue._fromHandle(data, (ring) => queueKinds.get(data.kind)!(data.maxsize, ring)),
);
