// A child that is a separate OS process running `node` with the parent's
// loaders (execArgv), connected by an IPC channel that carries only the run
// message. Exit status is read through a pidfd, so joinSync and isAlive are
// exact without the event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { requireNative, type NativeAddon, type PidExit } from '../native.js';
import type { ChildBackend, RunMessage } from './backend.js';

const childEntry = fileURLToPath(new URL('./child-entry.js', import.meta.url));

/** Flags of the parent that must not reach a child (test runner, inspector, watch, inline code). */
function childExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^--(test|inspect|debug|watch)/.test(a)) continue;
    if (['-e', '--eval', '-p', '--print', '--input-type'].includes(a)) {
      i++; // and its value
      continue;
    }
    if (/^--(eval|print|input-type)=/.test(a)) continue;
    out.push(a);
  }
  return out;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (code !== null) return code;
  if (typeof signal === 'number') return -signal;
  return -(os.constants.signals[signal as NodeJS.Signals] ?? 0);
}

export class ProcessChild implements ChildBackend {
  readonly method = 'process' as const;
  readonly pid: number;
  readonly ident: number;
  readonly exited: Promise<number>;
  readonly #child: ChildProcess;
  readonly #native: NativeAddon;
  #pidfd: number;
  #ended: number | null = null;

  /** `preload`: package modules the child imports while it waits for its run message (spare.ts). */
  constructor(preload: string[] = []) {
    this.#native = requireNative("the 'process' context");
    this.#child = spawn(process.execPath, [...childExecArgv(), childEntry], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, MULTIPROC_PARENT_PID: String(process.pid), MULTIPROC_PRELOAD: JSON.stringify(preload) },
    });
    if (this.#child.pid === undefined) throw new Error(`could not start a child process (${process.execPath})`);
    this.pid = this.ident = this.#child.pid;
    this.#pidfd = this.#native.pidfdOpen(this.pid);
    this.#child.unref(); // a spare must not keep the parent alive; setKeepsParentAlive() decides later
    this.#child.channel?.unref();
    this.#child.on('error', () => {}); // e.g. EPIPE on send to a child that died; 'exit' follows
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#ended ??= exitCodeOf(code, signal);
        this.#closePidfd();
        resolve(this.#ended);
      });
    });
  }

  run(message: RunMessage): void {
    this.#child.send(message);
  }

  #fromPidfd(exit: PidExit | null): number | null {
    if (exit) this.#ended ??= exitCodeOf(exit.code, exit.signal);
    return this.#ended;
  }

  pollExit(): number | null {
    if (this.#ended !== null || this.#pidfd < 0) return this.#ended;
    return this.#fromPidfd(this.#native.pidfdWait(this.#pidfd, 0));
  }

  waitExitSync(timeoutMs: number | undefined): number | null {
    if (this.#ended !== null || this.#pidfd < 0) return this.#ended;
    const ms = timeoutMs === undefined || timeoutMs === Infinity ? -1 : Math.min(Math.max(0, Math.ceil(timeoutMs)), 2 ** 31 - 1);
    return this.#fromPidfd(this.#native.pidfdWait(this.#pidfd, ms));
  }

  #closePidfd(): void {
    if (this.#pidfd >= 0) this.#native.closeFd(this.#pidfd);
    this.#pidfd = -1;
  }

  terminate(): void {
    if (this.pollExit() === null) this.#child.kill('SIGTERM');
  }

  kill(): void {
    if (this.pollExit() === null) this.#child.kill('SIGKILL');
  }

  setKeepsParentAlive(keep: boolean): void {
    if (keep) this.#child.ref();
    else this.#child.unref();
  }

  get usable(): boolean {
    return this.pollExit() === null && this.#child.connected;
  }
}
