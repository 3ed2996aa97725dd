import type { CellType } from '../layout.js';
import { GRU } from './gru.js';
import { LSTM } from './lstm.js';
import { RNN } from './rnn.js';
import type { CellSpec } from './types.js';

export type { BackwardInput, BackwardStep, CellSpec, StepResult } from './types.js';

/** Every cell type's module, by type: the one place a cell is described (see types.ts). */
export const CELLS: Readonly<Record<CellType, CellSpec>> = { lstm: LSTM, gru: GRU, rnn: RNN };
