// Module-level helpers of Python's multiprocessing: current_process(),
// parent_process(), active_children(), cpu_count().
import os from 'node:os';
import { native } from '../native.js';
import { Process } from './process.js';
import { state } from './state.js';

let self: Process | undefined;

/** The Process object of the running process: MainProcess in the main program. */
export function currentProcess(): Process {
  return (self ??= Process._forSelf());
}

/** The process that started this one, as Python's parent_process(). */
export class ParentProcess {
  constructor(
    readonly name: string,
    readonly pid: number,
    readonly ident: number,
    /** 'thread' when this child is a worker thread inside the parent's process. */
    readonly startMethod: 'thread' | 'process',
  ) {}

  isAlive(): boolean {
    if (this.startMethod === 'thread') return true; // a thread child cannot outlive its parent's process
    const addon = native();
    return addon ? addon.pidAlive(this.pid) && process.ppid === this.pid : process.ppid === this.pid;
  }

  /** Resolves once the parent has ended, or after `timeout` ms. */
  async join(timeout?: number): Promise<void> {
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    while (this.isAlive() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
  }
}

let parent: ParentProcess | null | undefined;

/** The parent of this process, or null in the main program. */
export function parentProcess(): ParentProcess | null {
  if (parent === undefined && state.parent) {
    const p = state.parent;
    parent = new ParentProcess(p.name, p.pid, p.ident, p.startMethod);
  }
  return parent ?? null;
}

/** True in the main program, false in any child (guard top-level work with it). */
export function isMainProcess(): boolean {
  return state.parent === null;
}

/** The children of this process that are still running. */
export function activeChildren(): Process[] {
  return [...state.children].filter((p): p is Process => p instanceof Process && p.isAlive());
}

/** The number of CPUs this process may use. */
export function cpuCount(): number {
  return os.availableParallelism();
}
