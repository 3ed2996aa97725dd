import type { CellType } from '../layout.js';

/**
 * What a cell type is, in one place: its gate blocks in rnnlm's fused weights and how those
 * blocks map onto the runtimes that compute or import it. The fused kernels are
 * [in, gates·H], gate blocks side by side; an order below lists rnnlm's block indices in the
 * order the other side wants them.
 */
export interface CellSpec {
  readonly type: CellType;
  /** Gate blocks of the fused kernels. */
  readonly gates: number;
  /** rnnlm's name of each block, in rnnlm's order. */
  readonly gateNames: readonly string[];
  /** Whether the cell carries a cell state `c` beside `h` (LSTM). */
  readonly cellState: boolean;
  /** oneDNN's primitive for the cell and its gate order (src/ml/model/onednn.ts maps the weights). */
  readonly onednn: {
    readonly primitive: 'lstm' | 'lbr_gru' | 'vanilla_rnn';
    readonly order: readonly number[];
  };
  /** The ONNX operator and its gate order (src/export/onnx.ts). */
  readonly onnx: {
    readonly op: 'LSTM' | 'GRU' | 'RNN';
    readonly order: readonly number[];
  };
}
