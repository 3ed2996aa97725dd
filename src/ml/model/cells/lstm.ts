import type { CellSpec } from './types.js';

/**
 * LSTM without peepholes: gates i, f, o, g in rnnlm's blocks; c' = f·c + i·g, h' = o·tanh(c').
 * oneDNN orders them i, f, c~(g), o; ONNX i, o, f, c(g).
 */
export const LSTM: CellSpec = {
  type: 'lstm',
  gates: 4,
  gateNames: ['i', 'f', 'o', 'g'],
  cellState: true,
  onednn: { primitive: 'lstm', order: [0, 1, 3, 2] },
  onnx: { op: 'LSTM', order: [0, 2, 1, 3] },
};
