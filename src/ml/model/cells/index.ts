import type { CellType } from '../layout.js';
import { GRU } from './gru.js';
import { LSTM } from './lstm.js';
import { RNN } from './rnn.js';
import type { CellSpec } from './types.js';

export type { CellSpec } from './types.js';

export const CELLS: Readonly<Record<CellType, CellSpec>> = { lstm: LSTM, gru: GRU, rnn: RNN };
