import type { CellSpec } from './types.js';

/** The plain tanh RNN: h' = tanh(x·W + h·R + b), one gate block. */
export const RNN: CellSpec = {
  type: 'rnn',
  gates: 1,
  gateNames: ['h'],
  cellState: false,
  onednn: { primitive: 'vanilla_rnn', order: [0] },
  onnx: { op: 'RNN', order: [0] },
};
