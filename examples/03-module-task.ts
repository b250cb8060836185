// Module tasks: the child imports this module and calls an export, as Python's spawn re-imports __main__.
import { Process, task, isMainProcess, currentProcess } from 'multiproc';

export function square(n: number): void {
  console.log(`${currentProcess().name}: ${n} squared is ${n * n}`);
}

// Guard top-level work, as Python's `if __name__ == '__main__':` — the child imports this file too.
if (isMainProcess()) {
  const children = [1, 2, 3].map((n) => new Process({ target: task(import.meta.url, 'square'), args: [n], context: 'process' }));
  for (const p of children) p.start();
  for (const p of children) await p.join();
  console.log('all squared:', children.map((p) => `${p.name}=${p.exitCode}`).join(' '));
}
