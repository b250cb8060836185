// Shared helpers for the test suite.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { activeChildren, type StartMethod } from 'multiproc';

/** Every primitive is tested under both kinds of child. */
export const methods: StartMethod[] = ['thread', 'process'];

/** A fresh temporary directory, removed after the test file. */
export function tmpdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiproc-test-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts at the end of a test file that it left no child running. */
export function assertNoChildrenLeftAfter(): void {
  after(async () => {
    const alive = activeChildren();
    for (const p of alive) p.kill();
    assert.deepEqual(alive.map((p) => p.name), [], 'children left running');
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs test files (names in test/) with `node --test` in a child whose
 * environment adds `env` (a switch read once per process, such as the async
 * wait backend's), and asserts that every test in them passed or was skipped.
 */
export async function passesWithEnv(files: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  // node --import tsx --test --test-concurrency=1 ... <files>
  const r = await runScript('--test', ['--test-concurrency=1', '--test-timeout=120000', ...files.map((f) => path.join(import.meta.dirname, f))], {
    env: { ...env, NODE_TEST_CONTEXT: undefined }, // else the child's runner sees a nested run and skips the files
    timeoutMs,
  });
  const tail = `${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`;
  assert.equal(r.code, 0, tail);
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1]);
  assert.ok(count('tests') > 0, tail);
  assert.equal(count('pass') + count('skipped'), count('tests'), tail); // a file that fails to load counts as a failed test
}

/** Runs `node [execArgv] --import tsx <script> ...args` and collects its output. */
export function runScript(
  script: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; execArgv?: string[] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.execArgv ?? []), '--import', 'tsx', script, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish in time; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function fixture(name: string): string {
  return path.join(import.meta.dirname, 'fixtures', name);
}

/** Whether a process with this pid exists (and is not a zombie). */
export function pidExists(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Polls `predicate` until it holds or `timeoutMs` passes (generous: the machine is loaded). */
export async function eventually(predicate: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return predicate();
}
