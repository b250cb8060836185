// Process: a child running a target, on a worker thread or an OS process.
// Mirrors Python's multiprocessing.Process (names in camelCase, timeouts in ms).
import { inspect } from 'node:util';
import type { ResourceLimits } from 'node:worker_threads';
import { encode } from '../codec/codec.js';
import { encodeUndoably } from '../codec/undo.js';
import { contextMethod, type ContextLike, type StartMethod } from '../context.js';
import { ProcessError } from '../errors.js';
import { MAX_TIMER_MS, timeoutMs } from '../options.js';
import type { ChildBackend, RunPayload } from './backend.js';
import { acquireBackend } from './spare.js';
import { livenessSegment } from '../shm/liveness.js';
import { requireNative } from '../native.js';
import { nextChildIdentity, state, type ChildRecord } from './state.js';
import { toTaskSpec, type Target, type TaskSpec } from './task.js';

export interface ProcessOptions {
  /** A self-contained function (shipped by its source) or task(moduleUrl, exportName). */
  target?: Target;
  args?: unknown[];
  /** Passed to the target as one extra trailing argument. */
  kwargs?: Record<string, unknown>;
  name?: string;
  /** Daemon children do not keep the parent alive and are terminated when it exits. Default: the creator's flag. */
  daemon?: boolean;
  /** 'thread' | 'process' or a context object; default: the default context. */
  context?: ContextLike;
  /** Thread children only: the worker's heap limits (worker_threads' resourceLimits). */
  resourceLimits?: ResourceLimits;
}

let nextSentinel = 1;
/** Passed instead of options to build the object currentProcess() returns. */
const SELF = Symbol('self');
/**
 * Sentinels of started processes, for wait(). Held weakly: a Process the
 * program dropped is collected with its args (a queue or pipe passed to it
 * holds a segment's file descriptor), instead of living as long as the
 * program.
 */
const bySentinel = new Map<number, WeakRef<Process>>();
const forgetSentinel = new FinalizationRegistry<number>((sentinel) => bySentinel.delete(sentinel));

/** The process of a sentinel; 'ended' for one whose Process was closed or collected (it had ended); undefined if never issued. */
export function processOfSentinel(sentinel: number): Process | 'ended' | undefined {
  const p = bySentinel.get(sentinel)?.deref();
  if (p) return p;
  return Number.isInteger(sentinel) && sentinel >= 1 && sentinel < nextSentinel ? 'ended' : undefined;
}

export class Process implements ChildRecord {
  /** Set by context-bound subclasses (getContext('process').Process). */
  static defaultContext: StartMethod | undefined;

  readonly #target: Target | undefined;
  readonly #args: unknown[];
  readonly #kwargs: Record<string, unknown> | undefined;
  readonly #method: StartMethod;
  readonly #identity: number[];
  readonly #resourceLimits: ResourceLimits | undefined;
  #name: string;
  #daemon: boolean;
  #child: ChildBackend | null = null;
  #exitCode: number | null = null;
  #sentinel: number | null = null;
  #closed = false;
  /** The child is gone for good (its backend reported the exit). */
  #ended = false;
  /** How many join() calls are waiting: while any is, even a daemon child keeps the event loop alive. */
  #joiners = 0;
  /** Set on the object returned by currentProcess() in a child. */
  #isSelf = false;

  constructor(options: ProcessOptions = {}) {
    if ((options as unknown) === SELF) {
      this.#isSelf = true;
      this.#args = [];
      this.#method = state.self.startMethod ?? 'thread';
      this.#identity = state.self.identity;
      this.#name = state.self.name;
      this.#daemon = state.self.daemon;
      return;
    }
    if (options === null || typeof options !== 'object') throw new TypeError('new Process(options): options must be an object');
    const { target, args = [], kwargs, name, daemon, context, resourceLimits } = options;
    if (target !== undefined) toTaskSpec(target); // validates early: a clear error at construction
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    this.#target = target;
    this.#args = args;
    this.#kwargs = kwargs;
    this.#method = contextMethod(context ?? (new.target as typeof Process).defaultContext);
    this.#identity = nextChildIdentity();
    this.#name = name ?? `Process-${this.#identity.join(':')}`;
    this.#daemon = daemon ?? state.self.daemon;
    this.#resourceLimits = resourceLimits;
  }

  /** The object currentProcess() returns in this process. */
  static _forSelf(): Process {
    return new Process(SELF as never);
  }

  // ---- lifecycle -----------------------------------------------------------

  start(): void {
    this.#checkNotClosed();
    if (this.#isSelf) throw new ProcessError('cannot start the current process');
    if (this.#child) throw new ProcessError('cannot start a process twice');
    if (this.#target === undefined) throw new ProcessError('Process has no target: pass { target } to new Process()');
    if (this.#method === 'process') requireNative("the 'process' context");
    const spec: TaskSpec = toTaskSpec(this.#target);
    // Encode before anything starts: an unsendable argument fails here and
    // starts nothing, and nothing the arguments carry stays in flight.
    const sabs: SharedArrayBuffer[] | undefined = this.#method === 'thread' ? [] : undefined;
    const [[args, kwargs], undo] = encodeUndoably(() => [
      encode(this.#args, 'args', sabs),
      this.#kwargs === undefined ? undefined : encode(this.#kwargs, 'kwargs', sabs),
    ]);
    let child: ChildBackend;
    let encoded: Uint8Array;
    try {
      encoded = encode(this.#payload(spec, args, kwargs), 'process arguments', sabs);
      child = acquireBackend(this.#method, this.#resourceLimits, spec.kind === 'module' ? spec.url : undefined);
    } catch (err) {
      undo?.();
      throw err;
    }
    this.#child = child;
    child.setKeepsParentAlive(!this.#daemon);
    child.run({ type: 'multiproc:run', payload: encoded, sabs });
    this.#sentinel = nextSentinel++;
    bySentinel.set(this.#sentinel, new WeakRef(this));
    forgetSentinel.register(this, this.#sentinel);
    state.children.add(this);
    void child.exited.then((code) => {
      this.#ended = true;
      this.#exitCode ??= code;
      state.children.delete(this);
    });
  }

  #payload(task: TaskSpec, args: Uint8Array, kwargs: Uint8Array | undefined): RunPayload {
    return {
      task,
      args,
      kwargs,
      name: this.#name,
      identity: this.#identity,
      daemon: this.#daemon,
      startMethod: this.#method,
      parent: { name: state.self.name, pid: state.self.pid, ident: state.self.ident },
      liveness: livenessSegment(),
      entry: state.entry,
      argv: process.argv,
      env: { ...process.env },
      cwd: process.cwd(),
    };
  }

  /** Resolves when the process has ended, or after `timeout` ms (then exitCode is still null). */
  async join(timeout?: number): Promise<void> {
    const child = this.#checkJoinable();
    const ms = timeoutMs(timeout);
    // After terminate(), a thread child has its exit code at once but is still stopping: wait until it is gone.
    if (this.#ended) return;
    if (this.#joiners++ === 0) child.setKeepsParentAlive(true);
    let timer: NodeJS.Timeout | undefined;
    try {
      if (ms === Infinity) await child.exited;
      else await Promise.race([child.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(ms, MAX_TIMER_MS))))]);
    } finally {
      clearTimeout(timer);
      if (--this.#joiners === 0) child.setKeepsParentAlive(!this.#daemon);
    }
  }

  /** Resolves with the exit code once the started child has ended (package-internal: Pool watches its workers). */
  get _exited(): Promise<number> {
    if (!this.#child) throw new ProcessError('process not started');
    return this.#child.exited;
  }

  /** join() that blocks this thread. */
  joinSync(timeout?: number): void {
    const child = this.#checkJoinable();
    const ms = timeoutMs(timeout);
    if (this.exitCode !== null) return;
    const code = child.waitExitSync(ms);
    if (code !== null) this.#exitCode ??= code;
  }

  #checkJoinable(): ChildBackend {
    this.#checkNotClosed();
    if (this.#isSelf) throw new ProcessError('can only join a child process');
    if (!this.#child) throw new ProcessError('can only join a started process');
    return this.#child;
  }

  isAlive(): boolean {
    this.#checkNotClosed();
    if (this.#isSelf) return true;
    return this.#child !== null && this.exitCode === null;
  }

  /** null while running (or not started); 0 ok; 1 uncaught error; n from process.exit(n); -signal when killed. */
  get exitCode(): number | null {
    if (this.#exitCode === null && this.#child) this.#exitCode = this.#child.pollExit();
    return this.#exitCode;
  }

  /** SIGTERM for a process child; a thread child is stopped. exitCode becomes -15. */
  terminate(): void {
    this.#checkNotClosed();
    this.#child?.terminate();
  }

  /** SIGKILL for a process child; a thread child is stopped. exitCode becomes -9. */
  kill(): void {
    this.#checkNotClosed();
    this.#child?.kill();
  }

  /** Releases the process object; throws if it is still running. */
  close(): void {
    if (this.#closed) return;
    if (this.#child && this.exitCode === null) {
      throw new RangeError('Cannot close a process while it is still running. You should first call join() or terminate().');
    }
    this.#closed = true;
    if (this.#sentinel !== null) bySentinel.delete(this.#sentinel);
  }

  /** Runs the target in this process, as Python's Process.run(). */
  async run(): Promise<unknown> {
    if (typeof this.#target !== 'function') throw new ProcessError('run() needs a function target');
    return this.#target(...this.#args, ...(this.#kwargs !== undefined ? [this.#kwargs] : []));
  }

  #checkNotClosed(): void {
    if (this.#closed) throw new RangeError('process object is closed');
  }

  // ---- attributes ----------------------------------------------------------

  get name(): string {
    return this.#isSelf ? state.self.name : this.#name;
  }
  set name(value: string) {
    if (typeof value !== 'string') throw new TypeError('name must be a string');
    if (this.#isSelf) state.self.name = value;
    else this.#name = value;
  }

  get daemon(): boolean {
    return this.#isSelf ? state.self.daemon : this.#daemon;
  }
  set daemon(value: boolean) {
    if (this.#isSelf) throw new ProcessError('cannot change the daemon flag of the current process');
    if (this.#child) throw new ProcessError('process has already started');
    this.#daemon = Boolean(value);
  }

  /** The OS pid (a thread child runs in its parent's process and has its pid). null before start(). */
  get pid(): number | null {
    if (this.#isSelf) return state.self.pid;
    return this.#child?.pid ?? null;
  }

  /** pid for a process child, the worker's threadId for a thread child. null before start(). */
  get ident(): number | null {
    if (this.#isSelf) return state.self.ident;
    return this.#child?.ident ?? null;
  }

  /** An opaque number that wait() accepts; available after start(). */
  get sentinel(): number {
    this.#checkNotClosed();
    if (this.#sentinel === null) throw new ProcessError('process not started');
    return this.#sentinel;
  }

  /** 'thread' or 'process'. */
  get startMethod(): StartMethod | null {
    return this.#isSelf ? state.self.startMethod : this.#method;
  }

  [inspect.custom](): string {
    const status = this.#isSelf
      ? 'started'
      : !this.#child
        ? 'initial'
        : this.exitCode === null
          ? 'started'
          : `stopped exitcode=${this.exitCode}`;
    return `<${this.constructor.name} name='${this.name}' ${this.pid !== null ? `pid=${this.pid} ` : ''}${status}${this.daemon ? ' daemon' : ''}>`;
  }

  toString(): string {
    return this[inspect.custom]();
  }
}
