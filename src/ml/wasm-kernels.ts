import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

import { nativeKernels } from './native.js';

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

const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * The wasm backend's GatherV2 took 3.9 ms for an embedding lookup of 2,048 rows of 64 floats
 * (the bench's batch), about as long as the output projection. This kernel copies whole rows
 * between views of the heap. Batched gathers, strings and out-of-range indices (whose error
 * is the original kernel's to give) go to the original.
 */
function fastGather(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'GatherV2',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const attrs = args.attrs as { axis: number; batchDims?: number };
      if (x.dtype === 'string' || (attrs.batchDims ?? 0) !== 0) return original.kernelFunc(args);
      const backend = args.backend as BackendWasm;
      const [axis] = tf.util.parseAxisParam(attrs.axis, x.shape) as [number];
      const rows = x.shape[axis] as number;
      const ids = backend.typedArrayFromHeap(indices);
      for (const id of ids) if (!(id >= 0 && id < rows)) return original.kernelFunc(args);
      const outer = product(x.shape.slice(0, axis));
      const inner = product(x.shape.slice(axis + 1));
      const out = backend.makeOutput(
        [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)],
        x.dtype,
      );
      // Views only after makeOutput: allocating may grow (and so detach) the heap.
      const src = backend.typedArrayFromHeap(x);
      const at = backend.typedArrayFromHeap(indices);
      const dst = backend.typedArrayFromHeap(out);
      let written = 0;
      for (let o = 0; o < outer; o++) {
        const base = o * rows * inner;
        for (const id of at) {
          const from = base + id * inner;
          dst.set(src.subarray(from, from + inner), written);
          written += inner;
        }
      }
      return out;
    },
  };
}

/**
 * The wasm backend's matMul runs at 1 GFLOP/s on an LM's output projection ([T*B, H] by
 * [H, V] with V not a multiple of its tile) and slower still with a transposed operand, which
 * every matMul gradient has. While the native kernels are on, this kernel hands the heap's
 * own arrays to oneDNN's sgemm instead (no copies); otherwise, and for batch shapes it does
 * not cover, the original kernel runs.
 */
function nativeMatMul(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const kernels = nativeKernels();
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (kernels === undefined || a.dtype !== 'float32' || b.dtype !== 'float32')
        return original.kernelFunc(args);
      const ra = a.shape.length;
      const rb = b.shape.length;
      const [a0, a1] = [a.shape[ra - 2] as number, a.shape[ra - 1] as number];
      const [b0, b1] = [b.shape[rb - 2] as number, b.shape[rb - 1] as number];
      const [m, k] = transposeA ? [a1, a0] : [a0, a1];
      const [kb, n] = transposeB ? [b1, b0] : [b0, b1];
      const leadA = a.shape.slice(0, -2);
      const leadB = b.shape.slice(0, -2);
      const batch = product(leadA);
      const sameBatch =
        (batch === 1 && product(leadB) === 1) ||
        (leadA.length === leadB.length && leadA.every((d, i) => d === leadB[i]));
      if (k !== kb || !sameBatch || m * n * k === 0) return original.kernelFunc(args);
      const backend = args.backend as BackendWasm;
      const lead = leadA.length >= leadB.length ? leadA : leadB;
      const out = backend.makeOutput([...lead, m, n], 'float32');
      // Views only after makeOutput: allocating may grow (and so detach) the heap.
      const av = backend.typedArrayFromHeap(a) as Float32Array;
      const bv = backend.typedArrayFromHeap(b) as Float32Array;
      const cv = backend.typedArrayFromHeap(out) as Float32Array;
      for (let i = 0; i < batch; i++) {
        kernels.sgemm(
          transposeA,
          transposeB,
          m,
          n,
          k,
          av.subarray(i * m * k, (i + 1) * m * k),
          bv.subarray(i * k * n, (i + 1) * k * n),
          cv.subarray(i * m * n, (i + 1) * m * n),
        );
      }
      return out;
    },
  };
}

let installed = false;

/**
 * Whether matMul runs on sgemm here, where a transposed operand costs no more than a plain one
 * (the wasm backend with the native kernels); elsewhere a materialised transpose is cheaper.
 */
export function matMulTakesTransposes(): boolean {
  return installed && tf.getBackend() === 'wasm' && nativeKernels() !== undefined;
}

/** Replaces the wasm backend's slow kernels with the ones above (once per process). */
export function installWasmKernels(): void {
  if (installed) return;
  for (const [name, replace] of [
    ['Slice', fastSlice],
    ['GatherV2', fastGather],
    ['BatchMatMul', nativeMatMul],
  ] as const) {
    const original = tf.getKernel(name, 'wasm');
    if (original === undefined) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(replace(original));
  }
  installed = true;
}
