import type { CellSpec } from './types.js';

/**
 * GRU, the linear-before-reset variant (cuDNN's and PyTorch's): gates r, u, n in rnnlm's blocks,
 * n = tanh(x·Wn + bn + r·(h·Rn + b_hn)) with b_hn the layer's `recurrentBias`,
 * h' = u·h + (1 − u)·n. oneDNN's lbr_gru orders them u, r, o(n), its bias u, r, o, b_hn; ONNX
 * z(u), r, h(n) with linear_before_reset.
 */
export const GRU: CellSpec = {
  type: 'gru',
  gates: 3,
  gateNames: ['r', 'u', 'n'],
  cellState: false,
  onednn: { primitive: 'lbr_gru', order: [1, 0, 2] },
  onnx: { op: 'GRU', order: [1, 0, 2] },
};
