// The small interface between Process and the two kinds of child. Only the
// backends know whether the child is a worker thread or an OS process.
import type { StartMethod } from '../context.js';
import type { TaskSpec } from './task.js';
import type { Segment } from '../shm/segment.js';

/** What the parent sends a child to make it run (see child-entry.ts). */
export interface RunMessage {
  type: 'multiproc:run';
  /** codec-encoded RunPayload */
  payload: Uint8Array;
  /** Thread children only: plain SharedArrayBuffers the payload refers to (see carrySharedBuffer). */
  sabs?: SharedArrayBuffer[];
  /** Thread children only: [done flag, exit code], written by the child as it exits. */
  status?: Int32Array;
}

export interface RunPayload {
  task: TaskSpec;
  /** codec-encoded args array */
  args: Uint8Array;
  /** codec-encoded kwargs object, if any */
  kwargs: Uint8Array | undefined;
  name: string;
  identity: number[];
  daemon: boolean;
  startMethod: StartMethod;
  parent: { name: string; pid: number; ident: number };
  /** The program's table of liveness tokens (see shm/liveness.ts). */
  liveness: Segment;
  entry: string;
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
}

export interface ChildBackend {
  readonly method: StartMethod;
  /** The OS pid of the child (the parent's own pid for a thread child). */
  readonly pid: number;
  /** pid for a process child, the worker's threadId for a thread child. */
  readonly ident: number;
  /** Resolves with the exit code (negative signal number when killed) once the child has ended. */
  readonly exited: Promise<number>;
  run(message: RunMessage): void;
  /** The exit code if the child has ended, checked without the event loop; else null. */
  pollExit(): number | null;
  /** Blocks this thread until the child ends or `timeoutMs` passes (undefined: forever). */
  waitExitSync(timeoutMs: number | undefined): number | null;
  terminate(): void;
  kill(): void;
  /** Whether the child keeps the parent's event loop alive (non-daemon children do). */
  setKeepsParentAlive(keep: boolean): void;
}

/** A backend ready to run one task. Spares are made ahead of time (see spare.ts). */
export type BackendFactory = () => ChildBackend;
