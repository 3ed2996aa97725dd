/**
 * The shapes of what an export carries, without any runtime code: the dashboard's bundle
 * reads them too.
 */
import type { TokenizerJSON } from '../ml/tokenizers/types.js';

/** Tokenizer description shipped with every export: the JSON rnnlm restores it from, plus what a client needs to run it. */
export interface ExportTokenizer {
  /** The tokenizer exactly as rnnlm stores it (char/word vocabulary or bpe merges). */
  json: TokenizerJSON;
  vocabSize: number;
  unkId: number | null;
  eosId: number | null;
  /** Ids to prime the state with before a prompt, as the server does. */
  boundaryIds: number[];
  /** How text becomes ids, in words. */
  encoding: string;
}

/** What `userDefinedMetadata.rnnlm` holds in an exported model.json. */
export interface TfjsExportMetadata {
  format: 'rnnlm-tfjs';
  rnnlmVersion: string;
  name: string;
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Tokens per call: null for any number, 1 for GRU exports. */
  tokensPerCall: number | null;
  inputs: string[];
  outputs: string[];
  tokenizer: ExportTokenizer;
}
