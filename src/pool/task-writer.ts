// Writes the pool's task messages into the task ring, in order. The parent
// is the ring's only writer; it still holds the ring's put mutex while it
// writes, because a reader that sees a multi-frame message in progress
// checks that its writer holds it (ring.ts). A message is written at once
// when the ring has room (waking the sleeping workers once per burst of
// writes, on a microtask); otherwise it waits, copied, in an outbox that an
// async feeder writes as room appears.
import { ProcessError } from '../errors.js';
import { PUT_MUTEX, type Ring } from '../channel/ring.js';
import { lockAsync, tryLock, unlock } from '../shm/mutex.js';

export class TaskWriter {
  readonly #ring: Ring;
  /** Messages waiting for room, in order (a deque: #outbox[#head] is next). */
  #outbox: Uint8Array[] = [];
  #head = 0;
  #feeding = false;
  /** Messages written since the readers were last woken (0: no wake-up scheduled). */
  #unannounced = 0;
  #stopped = false;
  /** Called when the outbox has drained. */
  onDrained: () => void = () => {};

  constructor(ring: Ring) {
    this.#ring = ring;
  }

  /** Whether messages are waiting for room. */
  get pending(): boolean {
    return this.#head < this.#outbox.length;
  }

  /** Writes `bytes` (which may be the encoder's scratch buffer: it is written or copied now). */
  write(bytes: Uint8Array): void {
    const ring = this.#ring;
    if (!this.pending && tryLock(ring.header, PUT_MUTEX) !== 'timeout') {
      let written: boolean;
      try {
        written = ring.tryWrite(bytes, false);
      } finally {
        unlock(ring.header, PUT_MUTEX);
      }
      if (written) {
        if (this.#unannounced++ === 0) queueMicrotask(this.#announce);
        return;
      }
    }
    this.#outbox.push(bytes.slice());
    if (!this.#feeding) {
      this.#feeding = true;
      void this.#feed().finally(() => (this.#feeding = false));
    }
  }

  /** Drops the outbox; a feeder waiting for room gives up. */
  stop(): void {
    this.#stopped = true;
    this.#outbox = [];
    this.#head = 0;
  }

  /**
   * One wake-up call for all the tasks a burst of calls writes (a map's
   * chunks, many applyAsync calls), waking no more workers than tasks.
   */
  readonly #announce = (): void => {
    const messages = this.#unannounced;
    this.#unannounced = 0;
    this.#ring.notifyReaders(messages);
  };

  async #feed(): Promise<void> {
    const ring = this.#ring;
    const stopped = () => (this.#stopped ? new ProcessError('the pool stopped') : null);
    try {
      while (this.pending) {
        await lockAsync(ring.header, PUT_MUTEX);
        try {
          const first = this.#head;
          while (this.pending && ring.tryWrite(this.#outbox[this.#head], false)) this.#head++;
          ring.notifyReaders(this.#head - first);
          if (this.pending) {
            const next = this.#outbox[this.#head];
            await ring.write(next, stopped); // waits for room (a large message goes in chunks)
            if (this.#outbox[this.#head] === next) this.#head++;
          }
        } finally {
          unlock(ring.header, PUT_MUTEX);
        }
        if (this.#head > 1024 && this.#head * 2 > this.#outbox.length) {
          this.#outbox = this.#outbox.slice(this.#head);
          this.#head = 0;
        }
      }
      this.#outbox = [];
      this.#head = 0;
      this.onDrained();
    } catch (err) {
      if (!stopped()) throw err;
    }
  }
}
