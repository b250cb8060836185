// Queue: Python's multiprocessing.Queue over a shared-memory ring (ring.ts).
//
// As in Python, put() never waits for room in the channel: an item that does
// not fit now goes to this producer's local buffer, which a background feeder
// (an async task here, a thread in Python) writes into the ring as room
// appears. A child flushes its feeders before it exits (Python joins its
// feeder threads), unless cancelJoinThread() was called. FIFO per producer:
// once an item waits in the buffer, later items queue behind it.
//
// qsize() counts items not yet got (accounting.ts). A bounded queue
// (maxsize > 0) counts an item when put() accepts it and waits while the count
// is at maxsize (Python's BoundedSemaphore); an unbounded one counts an item
// once it is in the ring. accounting.ts keeps the counts right when a producer
// or a consumer dies at any point. Items are encoded before anything is
// touched, so an unsendable item fails put() with a TypeError and leaves the
// queue exactly as it was.
import { decode, decodesToCopies, encodeReserved } from '../codec/codec.js';
import { ownedCopy } from '../codec/small-bytes.js';
import { encodeUndoably, type Undo } from '../codec/undo.js';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { Empty, Full, ProcessError } from '../errors.js';
import { isHeldByMe, lockAsync, lockOp, lockSync, tryLock, unlock, type LockOutcome } from '../shm/mutex.js';
import { runAsync, runAwaitable, runSync, type Operation } from '../shm/drive.js';
import { Segment, type SegmentHandle } from '../shm/segment.js';
import { runWhileBlocked } from '../shm/wait.js';
import { state } from '../process/state.js';
import { deadlineOf, signalOf, sliceUntil, type BlockingOptions } from '../options.js';
import { GOT, ItemCounts } from './accounting.js';
import { GET_MUTEX, PUT_MUTEX, Ring } from '../channel/ring.js';

export interface QueueOptions {
  /** Bytes of the shared ring (rounded up to a power of two). Larger items still pass, in chunks. Default 1 MiB. */
  bufferSize?: number;
}

const DEFAULT_BUFFER = 1 << 20;
type QueueKind = 'Queue' | 'JoinableQueue' | 'SimpleQueue';

/** What a get that took no item returns (an item may be any value, undefined and null included). */
const NONE: unique symbol = Symbol('none');

/** One object per ring per isolate, so a queue received twice is the same object. */
const attached = new Map<string, WeakRef<Queue<unknown>>>();

export class Queue<T = unknown> implements AsyncIterable<T> {
  protected readonly ring: Ring;
  protected readonly counts: ItemCounts;
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
    this.counts = new ItemCounts(this.ring, { bounded: this.#maxsize > 0, joinable: this.kind === 'JoinableQueue' });
    attached.set(this.ring.segment.id, new WeakRef(this as Queue<unknown>));
  }

  protected get kind(): QueueKind {
    return 'Queue';
  }

  // ---- put -------------------------------------------------------------------

  async put(item: T, options?: BlockingOptions): Promise<void> {
    this.#checkOpen();
    const deadline = deadlineOf(options);
    const [bytes, undo] = encodeUndoably(() => encodeReserved(item, 'item', 0, true));
    if (this.#tryAccept()) return this.#send(bytes);
    const owned = ownedCopy(bytes); // (bytes may be the encoder's scratch, which the next encode reuses)
    await runAsync(this.#acceptOp(deadline, undo), signalOf(options));
    await this.#send(owned);
  }

  putSync(item: T, options?: BlockingOptions): void {
    this.#checkOpen();
    const deadline = deadlineOf(options);
    const [bytes, undo] = encodeUndoably(() => encodeReserved(item, 'item', 0, true));
    if (!this.#tryAccept()) runSync(this.#acceptOp(deadline, undo)); // (blocks: nothing else encodes meanwhile)
    if (!this.flushBuffered(false)) this.#queueLocally(ownedCopy(bytes)); // keep FIFO behind buffered items (this thread has a slot)
    else {
      this.#locked(lockSync(this.ring.header, PUT_MUTEX));
      try {
        this.#writeSync(bytes, this.counts.countsAtPut);
      } finally {
        unlock(this.ring.header, PUT_MUTEX);
      }
      this.counts.releaseIdleSlot();
    }
  }

  putNowait(item: T): void {
    this.putSync(item, { block: false });
  }

  /** Takes the put mutex's outcome; if it was recovered from a dead writer, finishes what that writer left. */
  #locked(outcome: LockOutcome): LockOutcome {
    if (outcome === 'recovered') this.counts.recoverWriter();
    return outcome;
  }

  /**
   * Settles what dead parties left, if the mutexes are free: a dead writer's
   * or reader's step, and the items in dead producers' buffers (they will
   * never come, so they stop counting: qsize, bounded room, join()).
   */
  protected reapDead(): void {
    const h = this.ring.header;
    const put = this.#locked(tryLock(h, PUT_MUTEX));
    if (put !== 'timeout') {
      this.counts.reapDeadProducers();
      unlock(h, PUT_MUTEX);
    }
    if (!this.counts.unsettled()) return;
    const get = tryLock(h, GET_MUTEX);
    if (get === 'recovered') this.counts.recoverReader();
    if (get !== 'timeout') unlock(h, GET_MUTEX);
  }

  #tryAccept(): boolean {
    return !this.counts.countsAtPut || this.counts.accept(this.#maxsize); // a plain unbounded Queue counts once in the ring
  }

  /**
   * Waits until `deadline` for the queue to accept one more item (a bounded
   * queue's room), for put() and putSync() (shm/drive.ts). Full when it did
   * not; an item not accepted (Full, or an aborted wait) is undone: a
   * Connection or proxy in it is as before.
   */
  *#acceptOp(deadline: number, undo: Undo | null): Operation<void> {
    let accepted = false;
    try {
      while (Date.now() < deadline) {
        // The count first, then the try: a get after this read changes the
        // word, so the sleep cannot miss it (read after the try, it could
        // be the count after that get, and the sleep would last a slice).
        const word = this.counts.gotWord;
        accepted = this.#tryAccept();
        if (accepted) break;
        this.reapDead(); // (items of dead producers stop counting: then the word changed, and the sleep ends at once)
        yield { i32: this.ring.header, index: GOT, expected: word, ms: sliceUntil(deadline) };
      }
    } finally {
      if (!accepted) undo?.();
    }
    if (!accepted) throw new Full();
  }

  /**
   * Writes now if the ring has room and no writer is busy; else buffers for
   * the feeder. An item counted at put() is in this thread's producer slot.
   * `bytes` may be a view of the encoder's scratch buffer: what waits gets a
   * copy of its own.
   */
  #send(bytes: Uint8Array): Promise<void> | undefined {
    const h = this.ring.header;
    const inSlot = this.counts.countsAtPut;
    if (this.#pending.length === 0 && this.#locked(tryLock(h, PUT_MUTEX)) !== 'timeout') {
      let written: boolean;
      try {
        written = this.#tryWrite(bytes, inSlot);
      } finally {
        unlock(h, PUT_MUTEX);
      }
      if (written) {
        this.counts.releaseIdleSlot();
        return;
      }
    }
    // No producer slot free to account for a buffered item (only when nothing is buffered yet): wait for room instead.
    if (!inSlot && !this.counts.buffered()) return this.#writeWaiting(ownedCopy(bytes), false);
    this.#queueLocally(ownedCopy(bytes), true);
    // The feeder sleeps for room through the event loop (its wake-up is an
    // event), and a producer that awaits put() after put() never lets the
    // loop turn: a buffered put() settles in a microtask. Once a reader has
    // freed the room the feeder asked for, this put() waits one turn, so
    // the feeder refills the ring instead of the program buffering on while
    // the reader starves (~100 ms stalls, one sleep slice, before this).
    if (this.ring.roomWishGranted()) return new Promise((resolve) => setImmediate(resolve));
  }

  /** One message, blocking this thread for room (holding the put mutex). */
  #writeSync(bytes: Uint8Array, fromSlot: boolean): void {
    this.counts.beginWrite(bytes, fromSlot);
    this.ring.writeSync(bytes);
    this.counts.endWrite();
  }

  /** One message if it fits now (holding the put mutex). */
  #tryWrite(bytes: Uint8Array, fromSlot: boolean): boolean {
    this.counts.beginWrite(bytes, fromSlot);
    const written = this.ring.tryWrite(bytes);
    if (written) this.counts.endWrite();
    else this.counts.cancelWrite();
    return written;
  }

  /** One message, waiting for room. */
  async #writeWaiting(bytes: Uint8Array, fromSlot: boolean, locked = false): Promise<void> {
    if (!locked) this.#locked(await lockAsync(this.ring.header, PUT_MUTEX));
    try {
      this.counts.beginWrite(bytes, fromSlot);
      await this.ring.write(bytes);
      this.counts.endWrite();
    } finally {
      if (!locked) unlock(this.ring.header, PUT_MUTEX);
    }
  }

  #queueLocally(bytes: Uint8Array, inSlot = this.counts.countsAtPut): void {
    if (!inSlot) this.counts.buffered(); // (succeeds: this thread's slot is taken while items are buffered)
    this.#pending.push(bytes);
    if (this.#feeder) return;
    if (this.#joinAtExit) state.beforeExit.add(this.#flushAtExit);
    runWhileBlocked(this.#feedWhileBlocked, true);
    this.#feeder = this.#feed().finally(() => {
      this.#feeder = null;
      state.beforeExit.delete(this.#flushAtExit);
      runWhileBlocked(this.#feedWhileBlocked, false);
    });
  }

  /** The feeder's work while this thread blocks in a Sync call of any object (shm/wait.ts): true while items are left. */
  readonly #feedWhileBlocked = (): boolean => !this.flushBuffered(false);

  async #feed(): Promise<void> {
    const h = this.ring.header;
    while (this.#pending.length > 0) {
      this.#locked(await lockAsync(h, PUT_MUTEX));
      try {
        // Everything that fits now; an item written in chunks goes whole,
        // holding the mutex while it waits for the reader to make room.
        if (!this.#writeBuffered(false) && this.ring.isChunked(this.#pending[0])) {
          await this.#writeWaiting(this.#pending[0], true, true);
          this.#pending.shift();
        }
      } finally {
        unlock(h, PUT_MUTEX);
      }
      // Room is awaited without the mutex, so that a Sync call of this thread
      // can write the rest meanwhile (flushBuffered).
      if (this.#pending.length > 0 && !this.ring.isChunked(this.#pending[0])) await this.ring.waitForRoom(this.#pending[0]);
    }
    this.counts.releaseIdleSlot();
  }

  /**
   * Writes the items this thread's put() buffered now, instead of leaving
   * them to the feeder, which runs on this thread's event loop and so cannot
   * while a Sync call blocks it: joinSync() of a JoinableQueue whose last
   * items this thread buffered would wait for ever (Python's feeder is a
   * thread, which goes on). With `wait`, blocks for room until all are
   * written (for a caller that waits on other threads anyway); without, writes
   * what fits now. True when nothing is left buffered; false too while the
   * feeder writes a large item in chunks (it holds the put mutex until done).
   */
  protected flushBuffered(wait: boolean): boolean {
    if (this.#pending.length === 0) return true;
    const h = this.ring.header;
    if (isHeldByMe(h, PUT_MUTEX)) return false;
    if (wait) this.#locked(lockSync(h, PUT_MUTEX));
    else if (this.#locked(tryLock(h, PUT_MUTEX)) === 'timeout') return false;
    try {
      return this.#writeBuffered(wait); // (the feeder, when it wakes to none left, releases the producer slot)
    } finally {
      unlock(h, PUT_MUTEX);
    }
  }

  /**
   * Holding the put mutex: writes the buffered items in order, every one
   * (`wait`: blocking for room) or those that fit now; true when none is left.
   */
  #writeBuffered(wait: boolean): boolean {
    let written = 0;
    try {
      for (; written < this.#pending.length; written++) {
        const bytes = this.#pending[written];
        if (wait) this.#writeSync(bytes, true);
        else if (!this.#tryWrite(bytes, true)) break;
      }
    } finally {
      this.#pending.splice(0, written);
    }
    return this.#pending.length === 0;
  }

  // ---- get -------------------------------------------------------------------

  async get(options?: BlockingOptions): Promise<T> {
    this.#checkOpen();
    const got = runAwaitable(this.#getOp(deadlineOf(options)), signalOf(options));
    return this.#delivered(got instanceof Promise ? await got : got); // no await (no microtask turn) when an item was there
  }

  getSync(options?: BlockingOptions): T {
    this.#checkOpen();
    const deadline = deadlineOf(options);
    if (isHeldByMe(this.ring.header, GET_MUTEX)) throw new ProcessError('getSync() cannot run while an async get() of this thread is waiting on the same queue');
    this.flushBuffered(false); // (an item this thread put may be the one it waits for)
    return this.#delivered(runSync(this.#getOp(deadline)));
  }

  /**
   * Takes the next item, waiting (for the get mutex, then for an item) until
   * `deadline`; NONE when none came. One operation for get() and getSync()
   * (shm/drive.ts). Plain data waiting whole is decoded straight from the
   * ring (the decoder copies everything it returns), saving a copy and an
   * array; other items are copied out and decoded after the mutex is free.
   */
  *#getOp(deadline: number): Operation<T | typeof NONE> {
    const h = this.ring.header;
    let outcome = tryLock(h, GET_MUTEX);
    if (outcome === 'timeout' && deadline !== -Infinity) outcome = yield* lockOp(h, GET_MUTEX, deadline);
    if (outcome === 'timeout') return NONE;
    let bytes: Uint8Array | null;
    try {
      if (outcome === 'recovered') this.counts.recoverReader();
      this.counts.beginRead();
      const view = this.ring.peekFull();
      if (view && decodesToCopies(view, 0)) return this.#decodeInPlace(view);
      try {
        bytes = this.ring.tryReadFull() ?? (yield* this.ring.readOp(deadline));
      } catch (err) {
        this.counts.recoverReader(); // aborted: an item it began to take is gone
        throw err;
      }
      this.counts.endRead(bytes !== null);
    } finally {
      unlock(h, GET_MUTEX);
    }
    return bytes === null ? NONE : decode<T>(bytes);
  }

  /** Decodes the item `view` shows in the ring and consumes it (holding the get mutex, after beginRead). A corrupt item is consumed too. */
  #decodeInPlace(view: Uint8Array): T {
    try {
      return decode<T>(view);
    } finally {
      this.ring.skipFrame();
      this.counts.endRead(true);
    }
  }

  /** The item a get took, or Empty (after settling what dead producers left) when none came. */
  #delivered(got: T | typeof NONE): T {
    if (got !== NONE) return got;
    this.reapDead();
    throw new Empty();
  }

  getNowait(): T {
    return this.getSync({ block: false });
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
    if (this.counts.unsettled()) this.reapDead(); // a step of a party that may have died
    return this.counts.size;
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
