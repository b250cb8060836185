// A byte ring of framed messages in shared memory: the channel under every
// Queue, Pipe, Manager and Pool (whole messages in and out: messages.ts).
// One writer and one reader at a time:
// callers serialize writers with the header's put mutex and readers with its
// get mutex (shm/mutex.ts), which recover from holders that died.
//
// Layout (int32 words of the segment):
//   [0]  tail  = bytes ever written (wrapping uint32)   [1]  sleepers on tail
//        [2]  times tail wrapped around 2^32 (see #headSeen)
//   [16] head  = bytes ever consumed (wrapping uint32)  [17] sleepers on head
//        [18] times head wrapped around 2^32 (see #tailSeen)
//   [32] put mutex [33]   [48] get mutex [49]
//   [64] users' word A [65] (Queue: items accepted and not yet got)
//   [80] users' word B [81] (JoinableQueue: unfinished tasks)
//   [96] capacity in bytes (a power of two, constant)
//   [112..128) the users' crash records (Queue: queues/accounting.ts)
//   [128..144) tokens of the threads holding the writing end (connections)
//   [144..160) tokens of the threads holding the reading end (connections)
//   [160] writing-end handles sent and not yet attached; [161] reading-end ones
//   [176] bytes of room a sleeping writer waits for (see #waitForRoom)
//   [192..448) the users' producer slots (Queue: queues/accounting.ts)
//   [448..512) the users' counters, a cache line each (Queue: queues/accounting.ts)
//   data: bytes [HEADER_BYTES, HEADER_BYTES + capacity)
// Counters sit 64 bytes apart so writer and reader do not share a cache line.
//
// A frame is an 8-byte header [payload length, kind] and the payload, padded
// to 8 bytes, so a header never wraps around the end of the data area
// (capacity is a multiple of 8); a payload may wrap and is copied in two parts.
// A message is one FULL frame, or when it is larger than a quarter of the ring
// a FIRST frame (whose payload is the total length) followed by CHUNK frames,
// the last of kind LAST: any size goes through any ring.
//
// Ordering: the writer copies the frame with plain stores and then publishes
// it with Atomics.store(tail); the reader reads tail with Atomics.load before
// reading the frame. Atomics are sequentially consistent and the JS memory
// model orders plain accesses before/after them in program order, so a reader
// that sees the new tail sees the whole frame. Symmetrically the reader copies
// a frame out and then frees its space with Atomics.store(head).
//
// Crashes: a writer that dies mid-frame never published it (tail unchanged);
// the next writer overwrites it. A writer that dies between the frames of one
// message leaves a partial message: the reader drops it when the next message
// starts (FIRST or FULL) or when it sees the put mutex held by a dead holder.
// A reader that dies mid-message leaves CHUNK/LAST frames without their FIRST:
// the next reader skips them. So at most the dead party's own message is lost,
// and never half of one is delivered. Callers keep item counts right: a
// writer records endAfter(message) before writing it, so whoever recovers the
// put mutex can tell a delivered message (tail there) from a lost one; and
// onOrphanMessage runs for each message whose reader died.
import { Segment } from '../shm/segment.js';
import { smallBytes } from '../codec/small-bytes.js';
import { copyBytes } from '../shm/copy.js';
import { waitAsync, wake } from '../shm/wait.js';
import { runAsync, runSync, type Operation, type Sleep } from '../shm/drive.js';
import { sliceUntil } from '../options.js';
import { holderOf } from '../shm/mutex.js';
import { isDead } from '../shm/liveness.js';
import { SLICE_MS } from '../shm/wait-policy.js';

export const TAIL = 0;
const TAIL_WRAPS = 2;
export const HEAD = 16;
const HEAD_WRAPS = 18;
export const PUT_MUTEX = 32;
export const GET_MUTEX = 48;
export const WORD_A = 64;
export const WORD_B = 80;
const CAPACITY = 96;
export const WRITER_HOLDERS = 128;
export const READER_HOLDERS = 144;
export const HOLDER_SLOTS = 16;
export const WRITER_PENDING = 160;
export const READER_PENDING = 161;
const ROOM_WANTED = 176;
export const SLOTS_START = 192;
export const SLOTS_END = 448;
const HEADER_BYTES = 2048;

const enum Kind {
  Full = 1,
  First = 2,
  Chunk = 3,
  Last = 4,
}

const FRAME_HEADER = 8;
/** From this size on, a message is read into memory that is not zeroed first (it is overwritten whole). */
const UNZEROED_FROM = 4096;
/** A Uint8Array of `n` bytes whose memory is not cleared first: for a large copy, clearing costs as much as copying. */
const unzeroed = (n: number): Uint8Array => (n < UNZEROED_FROM ? new Uint8Array(n) : new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n));
const pad8 = (n: number) => (n + 7) & ~7;

export type Deadline = number; // Date.now()-based; Infinity = none

export class Ring {
  readonly segment: Segment;
  readonly header: Int32Array;
  readonly capacity: number;
  readonly #data: Uint8Array;
  /** The data area as int32s, for frame headers (no view allocated per frame). */
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #maxChunk: number;
  /** Head and tail right after this writer's last wake of readers (see #wakeReaders); tail NaN: none yet. */
  readonly #wokeAt = { head: 0, tail: Number.NaN };
  /**
   * This writer's last view of head, and where its last frame left tail
   * (the position and how often tail had wrapped around 2^32). While tail
   * is still there, no other writer wrote since, so the head seen is at
   * most the real one (head only grows, up to tail): room measured from it
   * is never more than there is, and head, a line the reader writes for
   * every frame, is read again only when that room runs short. (The wrap
   * count tells a tail that came back to the same value after others wrote
   * 4 GiB from one that never moved.)
   */
  #headSeen = 0;
  #wroteTo = Number.NaN;
  #wroteWraps = 0;
  /**
   * The reader's twin: its last view of tail, and where its last frame left
   * head. While head is still there, no other reader read since, and the
   * tail seen is at least head (this reader only reads frames it saw): a
   * frame is surely waiting while they differ.
   */
  #tailSeen = 0;
  #readTo = Number.NaN;
  #readWraps = 0;
  /** Payload length of the frame #readFrame read last. */
  #lastLength = 0;
  /** Called when a reader skips the rest of a message whose reader died. */
  onOrphanMessage: () => void = () => {};

  constructor(segment: Segment) {
    this.segment = segment;
    this.header = new Int32Array(segment.sab, 0, HEADER_BYTES / 4);
    // (Queues leave the holder words unused; connections use them, see connection/ends.ts.)
    this.capacity = Atomics.load(this.header, CAPACITY);
    this.#data = new Uint8Array(segment.sab, HEADER_BYTES, this.capacity);
    this.#words = new Int32Array(segment.sab, HEADER_BYTES, this.capacity / 4);
    this.#mask = this.capacity - 1;
    this.#maxChunk = this.capacity / 4 - FRAME_HEADER;
  }

  /** A new ring with at least `capacity` bytes of data (rounded up to a power of two, min 4 KiB). */
  static create(capacity: number): Ring {
    const cap = 2 ** Math.max(12, Math.ceil(Math.log2(Math.max(1, capacity))));
    const segment = Segment.create(HEADER_BYTES + cap);
    Atomics.store(new Int32Array(segment.sab), CAPACITY, cap);
    return new Ring(segment);
  }

  // ---- writer side (hold the put mutex) ------------------------------------

  #free(): number {
    return this.capacity - ((Atomics.load(this.header, TAIL) - Atomics.load(this.header, HEAD)) >>> 0);
  }

  /** Whether `need` bytes are free, for the writer (see #headSeen). */
  #fits(need: number): boolean {
    const tail = Atomics.load(this.header, TAIL);
    // (tail, then its wrap count: a writer counts a wrap before it publishes the tail past it)
    const wraps = Atomics.load(this.header, TAIL_WRAPS);
    if (tail === this.#wroteTo && wraps === this.#wroteWraps && this.capacity - ((tail - this.#headSeen) >>> 0) >= need) return true;
    this.#headSeen = Atomics.load(this.header, HEAD);
    this.#wroteWraps = wraps; // (changes only when a frame wraps tail: #writeFrame)
    return this.capacity - ((tail - this.#headSeen) >>> 0) >= need;
  }

  #writeFrame(kind: Kind, src: Uint8Array, start: number, len: number, notify = true): void {
    const tail = Atomics.load(this.header, TAIL);
    const pos = tail & this.#mask;
    this.#words[pos >> 2] = len;
    this.#words[(pos >> 2) + 1] = kind;
    const at = (pos + FRAME_HEADER) & this.#mask;
    const first = Math.min(len, this.capacity - at);
    if (first === len && len <= 64) {
      for (let i = 0; i < len; i++) this.#data[at + i] = src[start + i]; // small: no subarray
    } else {
      copyBytes(this.#data, at, src, start, first);
      if (first < len) copyBytes(this.#data, 0, src, start + first, len - first);
    }
    const end = (tail + FRAME_HEADER + pad8(len)) | 0;
    if (end >>> 0 < tail >>> 0) this.#wroteWraps = Atomics.add(this.header, TAIL_WRAPS, 1) + 1;
    Atomics.store(this.header, TAIL, end); // publish (see Ordering)
    this.#wroteTo = end;
    if (notify) this.#wakeReaders(tail, end);
  }

  /**
   * Wakes readers sleeping for data, after publishing the frame [tail, end),
   * unless this writer's last wake still covers them. A reader sleeps only
   * after it saw the ring empty (head === tail). Our last wake read head
   * after publishing and found the ring not empty; if nothing was consumed
   * since (head unchanged) and nothing else written (tail still where our
   * frame ended), the ring was never empty in between, so no reader can
   * have started to sleep since that wake, and every reader asleep before
   * it was woken by it (or saw the new tail in its futex check). Skipping
   * saves the futex syscall that would otherwise be made for each frame
   * while a woken reader has not yet run to uncount itself.
   */
  #wakeReaders(tail: number, end: number): void {
    // Nobody asleep (the count is on tail's line, this writer's): nothing to
    // wake, and head, the reader's line, is not read. The count is read
    // after tail is published, as wake() does.
    if (Atomics.load(this.header, TAIL + 1) === 0) {
      this.#wokeAt.tail = Number.NaN;
      return;
    }
    const head = Atomics.load(this.header, HEAD);
    if (tail === this.#wokeAt.tail && head === this.#wokeAt.head && head !== tail) {
      this.#wokeAt.tail = end;
      return;
    }
    wake(this.header, TAIL);
    this.#wokeAt.head = head;
    this.#wokeAt.tail = end;
  }

  /**
   * Wakes readers sleeping for data: after writes made with notify = false
   * (one wake for a batch). A batch of `messages` needs at most that many
   * readers woken: a reader reads on until the ring is empty before it
   * sleeps again, and one that is awake sees the new tail before sleeping.
   */
  notifyReaders(messages = Infinity): void {
    if (messages > 0) wake(this.header, TAIL, messages);
  }

  /**
   * Before a writer sleeps for room: records how much it wants — a quarter of
   * the ring, or its frame if larger — so the reader wakes it once, when that
   * much is free, rather than after every frame. Returns the head value to
   * sleep on. Ordering: ROOM_WANTED is stored before the sleeper count is
   * raised (in wait.ts), and the reader reads the count before ROOM_WANTED;
   * all sequentially consistent, so a reader that sees the sleeper sees its
   * wish. Writers without the mutex wait for room too (waitForRoom), so
   * wishes may overwrite each other; all are about a quarter of the ring,
   * the reader wakes every sleeper, and each re-checks its own need.
   */
  #wantRoom(need: number): number {
    Atomics.store(this.header, ROOM_WANTED, Math.min(this.capacity, Math.max(need, this.capacity >> 2)));
    return Atomics.load(this.header, HEAD);
  }

  /** Whether `bytes` is written as several frames (the writer holds the put mutex while the reader makes room). */
  isChunked(bytes: Uint8Array): boolean {
    return bytes.length > this.#maxChunk;
  }

  /**
   * Waits, without holding the put mutex, until a one-frame message of
   * `bytes` fits, or one slice passes; the caller then takes the mutex and
   * tries to write it (another writer may have taken the room meanwhile).
   */
  async waitForRoom(bytes: Uint8Array): Promise<void> {
    const sleep = this.#sleepForRoom(FRAME_HEADER + pad8(bytes.length));
    if (sleep) await waitAsync(sleep.i32, sleep.index, sleep.expected, sleep.ms);
  }

  /**
   * The sleep a writer needing `need` bytes takes, or null when they are
   * free. It sleeps on the head that the room was measured from: a reader
   * that frees the ring after that read changes the head, so the sleep ends
   * at once (measured before the head was read, a reader that freed
   * everything in between would already have run its wake checks, and the
   * sleep would last its whole slice).
   */
  #sleepForRoom(need: number): Sleep | null {
    if (this.#fits(need)) return null;
    const head = this.#wantRoom(need);
    if (this.capacity - ((Atomics.load(this.header, TAIL) - head) >>> 0) >= need) return null;
    return { i32: this.header, index: HEAD, expected: head, ms: SLICE_MS };
  }

  /** Whether a writer sleeps for room and the room it asked for is free (its wake-up is on the way). */
  roomWishGranted(): boolean {
    return Atomics.load(this.header, HEAD + 1) > 0 && this.#free() >= Atomics.load(this.header, ROOM_WANTED);
  }

  /** The frames of one message: [kind, start, length][], without copying. */
  #frames(bytes: Uint8Array): [Kind, Uint8Array, number, number][] {
    if (bytes.length <= this.#maxChunk) return [[Kind.Full, bytes, 0, bytes.length]];
    const total = new Uint8Array(new Float64Array([bytes.length]).buffer);
    const frames: [Kind, Uint8Array, number, number][] = [[Kind.First, total, 0, 8]];
    for (let at = 0; at < bytes.length; at += this.#maxChunk) {
      const len = Math.min(this.#maxChunk, bytes.length - at);
      frames.push([at + len >= bytes.length ? Kind.Last : Kind.Chunk, bytes, at, len]);
    }
    return frames;
  }

  /**
   * Writes a whole message if it fits now as one frame; false (nothing
   * written) otherwise. With `notify` false, sleeping readers are not woken:
   * the caller calls notifyReaders() after its batch.
   */
  tryWrite(bytes: Uint8Array, notify = true): boolean {
    if (bytes.length > this.#maxChunk || !this.#fits(FRAME_HEADER + pad8(bytes.length))) return false;
    this.#writeFrame(Kind.Full, bytes, 0, bytes.length, notify);
    return true;
  }

  /**
   * Writes a message, blocking this thread while the ring is full.
   * `abandoned` is checked while waiting: when it returns an error (nobody
   * will ever read), that error is thrown.
   */
  writeSync(bytes: Uint8Array, abandoned?: () => Error | null): void {
    if (!this.tryWrite(bytes)) runSync(this.#writeOp(bytes, abandoned)); // (a message that fits now makes no operation)
  }

  /** writeSync() waiting asynchronously while the ring is full. */
  write(bytes: Uint8Array, abandoned?: () => Error | null): Promise<void> {
    return this.tryWrite(bytes) ? Promise.resolve() : runAsync(this.#writeOp(bytes, abandoned));
  }

  /** Writing a message frame by frame, waiting for room, as an operation (shm/drive.ts). */
  *#writeOp(bytes: Uint8Array, abandoned?: () => Error | null): Operation<void> {
    for (const [kind, src, start, len] of this.#frames(bytes)) {
      const need = FRAME_HEADER + pad8(len);
      for (let sleep = this.#sleepForRoom(need); sleep; sleep = this.#sleepForRoom(need)) {
        const err = abandoned?.();
        if (err) throw err;
        yield sleep;
      }
      this.#writeFrame(kind, src, start, len);
    }
  }

  /** The tail once `bytes` is written as one message (frames and padding included). */
  endAfter(bytes: Uint8Array): number {
    const len = bytes.length;
    let n = FRAME_HEADER + pad8(len);
    if (len > this.#maxChunk) {
      // FIRST (8-byte payload), then chunks of maxChunk (a multiple of 8) and the rest.
      const chunks = Math.ceil(len / this.#maxChunk);
      n = FRAME_HEADER + 8 + chunks * FRAME_HEADER + (chunks - 1) * this.#maxChunk + pad8(len - (chunks - 1) * this.#maxChunk);
    }
    return (Atomics.load(this.header, TAIL) + n) | 0;
  }

  /** Bytes ever written (wrapping). */
  get tail(): number {
    return Atomics.load(this.header, TAIL);
  }

  /** Bytes ever consumed (wrapping). */
  get head(): number {
    return Atomics.load(this.header, HEAD);
  }

  // ---- reader side (hold the get mutex) ------------------------------------

  /** True when a frame is waiting. */
  hasData(): boolean {
    const head = Atomics.load(this.header, HEAD);
    const wraps = Atomics.load(this.header, HEAD_WRAPS); // (after head: see #consumed)
    if (head === this.#readTo && wraps === this.#readWraps && this.#tailSeen !== head) return true; // (see #tailSeen)
    this.#tailSeen = Atomics.load(this.header, TAIL);
    this.#readTo = head;
    this.#readWraps = wraps;
    return this.#tailSeen !== head;
  }

  /** Frees the frame at `head`, ending at `end`, and wakes a writer whose room is now free. */
  #consumed(head: number, end: number): void {
    if (end >>> 0 < head >>> 0) this.#readWraps = Atomics.add(this.header, HEAD_WRAPS, 1) + 1;
    Atomics.store(this.header, HEAD, end);
    this.#readTo = end;
    // Wake a writer only once the room it waits for is free: it then writes
    // many frames per wake-up instead of one (see #wantRoom).
    if (Atomics.load(this.header, HEAD + 1) > 0 && this.#free() >= Atomics.load(this.header, ROOM_WANTED)) wake(this.header, HEAD);
  }

  /** Reads the next message if it is waiting whole in one frame; else null and nothing is consumed. */
  tryReadFull(into?: Uint8Array): Uint8Array | null {
    if (!this.hasData() || this.#nextKind() !== Kind.Full) return null;
    return this.#readFull(into);
  }

  /** Reads the next frame, a FULL one: into the start of `into` when it fits (the result is then a view of it), else into a new array. */
  #readFull(into: Uint8Array | undefined): Uint8Array {
    const len = this.#nextLength();
    if (into && len <= into.length) {
      this.#readFrame(into);
      return into.subarray(0, len);
    }
    return this.#readFrame()[1];
  }

  /**
   * The next message, if it is waiting whole in one frame that does not wrap
   * around, as a view of the ring's memory (nothing is consumed): the caller
   * decodes it in place and then calls skipFrame(). null otherwise.
   */
  peekFull(): Uint8Array | null {
    if (!this.hasData()) return null;
    const pos = Atomics.load(this.header, HEAD) & this.#mask;
    if (this.#words[(pos >> 2) + 1] !== Kind.Full) return null;
    const at = (pos + FRAME_HEADER) & this.#mask;
    const len = this.#words[pos >> 2];
    return at + len <= this.capacity ? this.#data.subarray(at, at + len) : null;
  }

  /** Frees the frame peekFull() returned. */
  skipFrame(): void {
    const head = Atomics.load(this.header, HEAD);
    const len = this.#words[(head & this.#mask) >> 2];
    this.#consumed(head, (head + FRAME_HEADER + pad8(len)) | 0);
  }

  /**
   * Drops frames at the head that continue a message whose reader died
   * (CHUNK/LAST without their FIRST), so the next frame starts a message.
   * Call only between messages, holding the get mutex.
   */
  dropOrphanFrames(): void {
    while (this.hasData()) {
      const kind = this.#nextKind();
      if (kind === Kind.Full || kind === Kind.First) return;
      this.#readFrame();
      if (kind === Kind.Last) this.onOrphanMessage();
    }
  }

  #nextKind(): Kind {
    return this.#words[((Atomics.load(this.header, HEAD) & this.#mask) >> 2) + 1] as Kind;
  }

  #nextLength(): number {
    return this.#words[(Atomics.load(this.header, HEAD) & this.#mask) >> 2];
  }

  #nextIsChunk(): boolean {
    const kind = this.#nextKind();
    return kind === Kind.Chunk || kind === Kind.Last;
  }

  /**
   * Reads the next frame (there must be one) and frees its space. Its payload
   * is copied into `into` at `offset` when given (a chunk of a large message
   * goes straight to its place: one copy), else into a new array.
   */
  #readFrame(into?: Uint8Array, offset = 0): [Kind, Uint8Array] {
    const head = Atomics.load(this.header, HEAD);
    const pos = head & this.#mask;
    const len = this.#words[pos >> 2];
    const kind = this.#words[(pos >> 2) + 1] as Kind;
    const at = (pos + FRAME_HEADER) & this.#mask;
    const first = Math.min(len, this.capacity - at);
    let out: Uint8Array;
    if (!into && first === len && len < UNZEROED_FROM) {
      out = smallBytes(len);
      copyBytes(out, 0, this.#data, at, len);
    } else {
      out = into ?? unzeroed(len);
      copyBytes(out, offset, this.#data, at, first);
      if (first < len) copyBytes(out, offset + first, this.#data, 0, len - first);
    }
    this.#lastLength = len;
    this.#consumed(head, (head + FRAME_HEADER + pad8(len)) | 0);
    return [kind, out];
  }

  /** The next whole message (see readOp), blocking this thread while none is there. */
  readSync(deadline: Deadline, ended?: () => boolean, into?: Uint8Array): Uint8Array | null {
    return runSync(this.readOp(deadline, ended, into));
  }

  /** readSync() waiting asynchronously; an aborted `signal` rejects with its reason. */
  read(deadline: Deadline, signal?: AbortSignal, ended?: () => boolean, into?: Uint8Array): Promise<Uint8Array | null> {
    return runAsync(this.readOp(deadline, ended, into), signal);
  }

  /**
   * Reads one whole message, or returns null if none starts before `deadline`.
   * Once a message has started, it is read to its end regardless of the
   * deadline (the writer is writing it now), unless the writer died.
   * `ended` says whether no message can come any more (every writer is
   * gone): then null. A message that fits `into` is read straight into its
   * start (one copy) and returned as a view of it.
   */
  *readOp(deadline: Deadline, ended?: () => boolean, into?: Uint8Array): Operation<Uint8Array | null> {
    let partial: Uint8Array | null = null;
    let filled = 0;
    for (;;) {
      while (this.hasData()) {
        if (partial && this.#nextIsChunk() && filled + this.#nextLength() <= partial.length) {
          const [kind] = this.#readFrame(partial, filled); // straight into the message: one copy
          filled += this.#lastLength;
          if (kind === Kind.Last) return partial;
          continue;
        }
        if (this.#nextKind() === Kind.Full) return this.#readFull(into); // (drops a partial message of a writer that died)
        const [kind, payload] = this.#readFrame();
        if (kind === Kind.First) {
          const total = new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0, true); // (written as a Float64Array: little endian on every platform we run on)
          partial = into && total <= into.length ? into.subarray(0, total) : unzeroed(total);
          filled = 0;
        } else if (partial) {
          partial.set(payload, filled);
          filled += payload.length;
          if (kind === Kind.Last) return partial;
        } else if (kind === Kind.Last) this.onOrphanMessage(); // the rest of a message whose reader died: skipped
      }
      if (partial) {
        // The writer holds the put mutex for the whole message and publishes
        // its last frame before it unlocks: a free or dead mutex means it is
        // done or dead, and if a frame arrived meanwhile, read on.
        const writer = holderOf(this.header, PUT_MUTEX);
        if (writer === 0 || isDead(writer)) {
          if (this.hasData()) continue;
          partial = null; // it died mid-message
        }
      }
      // Writers publish before they go, so after seeing them gone, re-check for data.
      if (!partial && ended?.() && !this.hasData()) return null;
      if (!partial && Date.now() >= deadline) return null;
      const tail = Atomics.load(this.header, TAIL);
      if (Atomics.load(this.header, HEAD) === tail) yield { i32: this.header, index: TAIL, expected: tail, ms: partial ? SLICE_MS : sliceUntil(deadline) };
    }
  }

  waitForData(ms: number, signal?: AbortSignal): Promise<unknown> {
    const tail = Atomics.load(this.header, TAIL);
    return Atomics.load(this.header, HEAD) === tail ? waitAsync(this.header, TAIL, tail, ms, signal) : Promise.resolve();
  }
}
