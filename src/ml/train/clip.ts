import * as tf from '@tensorflow/tfjs';

/** Global L2 norm over a list of gradients. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Element-wise clip to [-clipValue, clipValue] (when set), then rescale so the global norm is
 * at most clipNorm (when > 0), as torch.nn.utils.clip_grad_norm_. Returns new tensors and
 * the norm before the rescale; the inputs are left to the caller.
 */
export function clipGradients(
  grads: tf.Tensor[],
  clipNorm: number,
  clipValue?: number,
): { grads: tf.Tensor[]; norm: number } {
  const clipped =
    clipValue === undefined
      ? grads.map((g) => g.clone())
      : grads.map((g) => tf.clipByValue(g, -clipValue, clipValue));
  const normT = globalNorm(clipped);
  const norm = normT.dataSync()[0] as number;
  normT.dispose();
  if (clipNorm > 0 && norm > clipNorm) {
    const scale = clipNorm / (norm + 1e-6);
    const scaled = clipped.map((g) => tf.mul(g, scale));
    clipped.forEach((g) => g.dispose());
    return { grads: scaled, norm };
  }
  return { grads: clipped, norm };
}
