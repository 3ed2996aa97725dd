import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * The wasm backend's Slice kernel copies its whole input out of the wasm heap (readSync)
 * before taking the slice, so cutting a [T*B, 4H] projection into T timesteps costs T full
 * copies: about 5 ms a step at the default size, more than the LSTM math. This kernel reads
 * the input through a view of the heap instead; only the slice is copied.
 */
function fastSlice(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'Slice',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return original.kernelFunc(args);
      const backend = args.backend as BackendWasm;
      const attrs = args.attrs as { begin: number | number[]; size?: number | number[] };
      const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size) as [
        number[],
        number[],
      ];
      const out = backend.makeOutput(size, x.dtype);
      // Views only after makeOutput: allocating may grow (and so detach) the heap.
      const src = backend.typedArrayFromHeap(x);
      const dst = backend.typedArrayFromHeap(out);
      copySlice(src, x.shape, begin, size, dst);
      return out;
    },
  };
}

/** Copies a slice of a row-major array, one contiguous run of the innermost axis at a time. */
function copySlice(
  src: tf.backend_util.TypedArray,
  shape: number[],
  begin: number[],
  size: number[],
  dst: tf.backend_util.TypedArray,
): void {
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return;
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0] as number;
    return;
  }
  const strides = tf.util.computeStrides(shape);
  if (tf.slice_util.isSliceContinous(shape, begin, size)) {
    const offset = tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(offset, offset + total));
    return;
  }
  const run = size[rank - 1] as number;
  const index = new Array<number>(rank - 1).fill(0);
  for (let written = 0; written < total; written += run) {
    let offset = begin[rank - 1] as number;
    for (let d = 0; d < rank - 1; d++)
      offset += ((begin[d] as number) + (index[d] as number)) * (strides[d] as number);
    dst.set(src.subarray(offset, offset + run), written);
    for (let d = rank - 2; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (size[d] as number)) break;
      index[d] = 0;
    }
  }
}

let installed = false;

/** Replaces the wasm backend's slow kernels with the ones above (once per process). */
export function installWasmKernels(): void {
  if (installed) return;
  const original = tf.getKernel('Slice', 'wasm');
  if (original === undefined) return;
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel(fastSlice(original));
  installed = true;
}
