// Array: a child increments an 'i' array; the parent writes a 'd' array that a process child reads.
import { Process, Array as SharedArray, RawValue } from 'multiproc';

const arr = SharedArray('i', [1, 2, 3, 4]);
const p = new Process({
  target: (arr: Int32Array) => {
    for (let i = 0; i < arr.length; i++) arr[i] += 1;
  },
  args: [arr],
});
p.start();
await p.join();
console.log('incremented by the child:', [...arr]);

const data = SharedArray('d', 5);
for (let i = 0; i < data.length; i++) data[i] = i * 0.5; // written in the parent
const total = RawValue<number>('d', 0);
const reader = new Process({
  target: (data: Float64Array, total: { value: number }) => {
    total.value = data.reduce((a, b) => a + b, 0);
  },
  args: [data, total],
  context: 'process',
});
reader.start();
await reader.join();
console.log(`the process child summed [${[...data]}] to ${total.value}`);
