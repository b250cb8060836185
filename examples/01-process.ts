// Process: start a child, join it, read its exit code (Python's multiprocessing.Process).
import { Process, currentProcess } from 'multiproc';

// The target is shipped to the child by its source text: it must not capture
// outer variables; pass what it needs in `args`.
const p = new Process({
  target: async (who: string) => {
    const { currentProcess, parentProcess } = await import('multiproc');
    console.log(`hello ${who} from ${currentProcess().name} (parent: ${parentProcess()?.name})`);
  },
  args: ['bob'],
});
p.start();
await p.join();
console.log(`${p.name} exited with ${p.exitCode}; I am ${currentProcess().name}`);
