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

/** What every export's metadata says of the model, whatever the format. */
export interface ExportMetadata<F extends string = string> {
  format: F;
  rnnlmVersion: string;
  name: string;
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** The graph's inputs and outputs by name: the tokens, the logits and the states. */
  inputs: string[];
  outputs: string[];
  tokenizer: ExportTokenizer;
}

/** What `userDefinedMetadata.rnnlm` holds in an exported model.json. */
export interface TfjsExportMetadata extends ExportMetadata<'rnnlm-tfjs'> {
  /** Tokens per call: null for any number, 1 for GRU exports. */
  tokensPerCall: number | null;
}

/** What the `rnnlm` metadata_props entry of an exported ONNX model holds (as JSON). */
export type OnnxExportMetadata = ExportMetadata<'rnnlm-onnx'>;
