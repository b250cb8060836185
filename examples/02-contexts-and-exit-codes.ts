// Start methods: the same code on worker threads and on OS processes, with Python's exit codes.
import { getContext } from 'multiproc';

for (const method of ['thread', 'process'] as const) {
  const ctx = getContext(method);
  const ok = new ctx.Process({ target: () => {} });
  const exits = new ctx.Process({ target: () => process.exit(3) });
  const fails = new ctx.Process({ target: () => { throw new Error('this error is printed by the child, as Python does'); } });
  const loops = new ctx.Process({ target: () => { for (;;); } });
  for (const p of [ok, exits, fails, loops]) p.start();
  await loops.join(200); // still running after 200 ms: exitCode stays null
  console.log(`[${method}] after join(200) the looping child is alive: ${loops.isAlive()}, exitCode ${loops.exitCode}`);
  loops.terminate();
  for (const p of [ok, exits, fails, loops]) await p.join();
  console.log(`[${method}] exit codes: ok=${ok.exitCode} exit(3)=${exits.exitCode} thrown=${fails.exitCode} terminated=${loops.exitCode}`);
  console.log(`[${method}] pids: parent ${process.pid}, child ${ok.pid}`);
}
