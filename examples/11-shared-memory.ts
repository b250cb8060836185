// SharedMemory and ShareableList: a child writes into memory the parent created (Python's multiprocessing.shared_memory).
import { Process, SharedMemory, ShareableList } from 'multiproc';

// A named POSIX segment; unlinked automatically when this program ends (even if
// it crashes), unless created with { track: false }.
using shm = new SharedMemory({ create: true, size: 16 });
shm.buf.set([1, 2, 3, 4]);

// A fixed-length list with Python's byte layout: ints, floats, bools, strings,
// bytes and null. Python can attach to it: ShareableList(name='psm_...').
const list = new ShareableList([0, 'hello', 3.5, null]);

// Both arrive in the child attached to the same memory (any context).
const p = new Process({
  target: (shm: SharedMemory, list: ShareableList) => {
    for (let i = 0; i < 4; i++) shm.buf[i]! *= 10;
    list[0] = shm.buf.slice(0, 4).reduce((a, b) => a + b, 0);
    list[1] = (list[1] as string).toUpperCase();
    list[3] = true;
  },
  args: [shm, list],
});
p.start();
await p.join();

console.log(`${shm} holds`, [...shm.buf.subarray(0, 4)]);
console.log('the list is now', [...list], `(format ${list.format}, name ${list.shm.name})`);

// Done with them: remove the names (once, by any process).
shm.unlink();
list.shm.unlink();
