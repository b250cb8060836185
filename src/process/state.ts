// Per-isolate process state: who this process is (MainProcess or a child),
// its children, and the counter that names them. Thread children are separate
// isolates, so each gets its own copy of this module's state, as a Python
// child process gets its own interpreter.
import type { StartMethod } from '../context.js';

export interface ProcessIdentity {
  name: string;
  /** [] for the main process; [1] for Process-1; [1, 2] for Process-1:2. */
  identity: number[];
  daemon: boolean;
  pid: number;
  ident: number;
  startMethod: StartMethod | null;
}

export interface ParentInfo {
  name: string;
  pid: number;
  ident: number;
  /** 'thread' when this child is a worker thread of its parent's process. */
  startMethod: StartMethod;
}

/** A started child, as the registry sees it (Process implements this). */
export interface ChildRecord {
  readonly daemon: boolean;
  isAlive(): boolean;
  join(timeout?: number): Promise<void>;
  terminate(): void;
}

export const state = {
  self: { name: 'MainProcess', identity: [], daemon: false, pid: process.pid, ident: process.pid, startMethod: null } as ProcessIdentity,
  parent: null as ParentInfo | null,
  /** The main module of the whole program, for resolving imports in shipped functions. */
  entry: process.argv[1] ?? `${process.cwd()}/[eval]`,
  childCounter: 0,
  children: new Set<ChildRecord>(),
  /** Work a child finishes before it exits (queue feeders flushing, as Python joins them). */
  beforeExit: new Set<() => Promise<void>>(),
};

export function nextChildIdentity(): number[] {
  return [...state.self.identity, ++state.childCounter];
}
