// Array: a child increments an 'i' array; the parent writes a 'd' array that a process child reads.
import { Process, RawValue, SharedArray } from 'multiproc'; // SharedArray is Python's Array (also exported as Array)

const arr = SharedArray('i', [0, 0, 0, 0, 0]); // IS an Int32Array over shared memory
const p = new Process({
  target: (arr: Int32Array) => {
    for (let i = 0; i < arr.length; i++) arr[i] += 1; // increment each element
  },
  args: [arr],
});
p.start();
await p.join();
console.log('Shared array after worker modification:', [...arr]); // Python: shared_arr[:]

const data = SharedArray('d', [1.0, 2.0, 3.0]); // 'd' = double: a Float64Array
data[0] = 99.0; // written in the parent
const total = RawValue('d', 0);
const reader = new Process({
  target: (data: Float64Array, total: { value: number }) => {
    total.value = data.reduce((a, b) => a + b, 0);
  },
  args: [data, total],
  context: 'process', // an OS process sees the same memory
});
reader.start();
await reader.join();
console.log(`the process child summed [${[...data]}] to ${total.value}; a slice is a copy:`, data.slice(0, 2));
