// A child that is a worker_threads Worker: its own isolate, heap and event loop.
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ChildBackend, RunMessage } from './backend.js';

const childEntry = new URL('./child-entry.js', import.meta.url);

export class ThreadChild implements ChildBackend {
  readonly method = 'thread' as const;
  readonly pid = process.pid;
  readonly ident: number;
  readonly exited: Promise<number>;
  /** [done, exitCode]: the child writes it from its 'exit' handler, so joinSync needs no event loop. */
  readonly #status = new Int32Array(new SharedArrayBuffer(8));
  readonly #worker: Worker;
  #forcedCode: number | null = null;
  #ended: number | null = null;

  /** `preload`: package modules the child imports while it waits for its run message (spare.ts). */
  constructor(resourceLimits?: ResourceLimits, preload: string[] = []) {
    this.#worker = new Worker(childEntry, {
      workerData: { multiprocChild: true, preload },
      resourceLimits,
      stdout: false,
      stderr: false,
    });
    this.ident = this.#worker.threadId;
    this.#worker.unref(); // a spare must not keep the parent alive; setKeepsParentAlive() decides later
    this.exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#ended = this.#forcedCode ?? code;
        resolve(this.#ended);
      });
    });
    // An 'error' event is followed by 'exit' with code 1; the child printed it already.
    this.#worker.on('error', () => {});
  }

  run(message: RunMessage): void {
    message.status = this.#status;
    this.#worker.postMessage(message);
  }

  pollExit(): number | null {
    if (this.#ended !== null) return this.#ended;
    if (this.#forcedCode !== null) return this.#forcedCode;
    return Atomics.load(this.#status, 0) === 1 ? this.#status[1] : null;
  }

  waitExitSync(timeoutMs: number | undefined): number | null {
    const code = this.pollExit();
    if (code !== null) return code;
    Atomics.wait(this.#status, 0, 0, timeoutMs ?? Infinity);
    return this.pollExit();
  }

  #stop(code: number): void {
    if (this.pollExit() !== null) return;
    this.#forcedCode = code;
    void this.#worker.terminate();
  }

  terminate(): void {
    this.#stop(-15);
  }

  kill(): void {
    this.#stop(-9);
  }

  setKeepsParentAlive(keep: boolean): void {
    if (keep) this.#worker.ref();
    else this.#worker.unref();
  }

  /** Whether a spare is still usable. */
  get usable(): boolean {
    return this.#ended === null;
  }
}
