/**
 * The model's layout without tfjs: cell kinds, their gate blocks, and the names and shapes of
 * every weight. The queue side sizes jobs from it (src/ml/estimate.ts) and the model code
 * builds its variables from it, so the two can never count differently.
 */
import type { ModelConfig } from '../config.js';

/** Recurrent cell kinds: LSTM, GRU (cuDNN/PyTorch variant) and the plain tanh RNN. */
export type CellType = 'lstm' | 'gru' | 'rnn';

/** Gate blocks per cell: the fused kernels are [in, gates*hidden]. LSTM gate order i, f, o, g; GRU r, u, n. */
export const GATES: Readonly<Record<CellType, number>> = { lstm: 4, gru: 3, rnn: 1 };

/**
 * Names and shapes of every weight, in a stable order: embedding [V, E]; per layer a fused
 * input kernel [in, G·H], recurrent kernel [H, G·H] and bias [G·H] (GRU: and a recurrent bias
 * [H]); output kernel [H, V] unless tied to the embedding, and bias [V].
 */
export function weightShapes(config: ModelConfig): Map<string, number[]> {
  const { vocabSize: v, embeddingSize: e, hiddenSize: h, layers, cell } = config;
  const g = GATES[cell];
  const shapes = new Map<string, number[]>([['embedding', [v, e]]]);
  for (let l = 0; l < layers; l++) {
    const input = l === 0 ? e : h;
    shapes.set(`layers.${l}.kernel`, [input, g * h]);
    shapes.set(`layers.${l}.recurrent`, [h, g * h]);
    shapes.set(`layers.${l}.bias`, [g * h]);
    if (cell === 'gru') shapes.set(`layers.${l}.recurrentBias`, [h]);
  }
  if (!config.tieWeights) shapes.set('output.kernel', [h, v]);
  shapes.set('output.bias', [v]);
  return shapes;
}

/** Trainable parameters of the model: the sum over {@link weightShapes}. */
export function parameterCount(config: ModelConfig): number {
  let n = 0;
  for (const shape of weightShapes(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
