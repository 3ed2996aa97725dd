/**
 * The help text of `rnnlm` and its commands, and the defaults it states that are the CLI's own
 * (the run config's defaults are read from its schema, so the text cannot drift from them),
 * and the usage error the parsers throw.
 */
import { runConfigSchema } from '../ml/config.js';

export const COMMANDS = ['train', 'generate', 'score', 'export'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** A bad command line: the message names the offending flag; exit code 2. */
export class UsageError extends Error {
  /** The command whose usage applies, when one was recognised. */
  readonly command: CommandName | undefined;

  constructor(message: string, command?: CommandName) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** generate's own default; the engine requires the caller to choose one. */
export const DEFAULT_MAX_TOKENS = 200;
/** splitText accepts hold-out shares up to one half. */
export const MAX_VAL_FRACTION = 0.5;

/** The schema's defaults, shown in the help text so that it cannot drift from them. */
const d = runConfigSchema.parse({});

const MAIN_USAGE = `Usage: rnnlm <command> [options]

Commands:
  train      train a model on a text file
  generate   sample text from a trained model
  score      measure how well a model predicts a text (perplexity, bits per character)
  export     convert a model to ONNX or TensorFlow.js Layers, tokenizer included

Run "rnnlm <command> --help" for the options of a command.
Progress goes to stderr, results to stdout; --json prints the result as one JSON line.
`;

const TRAIN_USAGE = `Usage: rnnlm train --corpus FILE --out DIR [options]

Trains a model on a UTF-8 text file and writes it to DIR (replaced if it exists).

Data:
  --corpus FILE           training text (required)
  --out DIR               model directory to write (required)
  --val-file FILE         validation text, instead of holding out part of the corpus
  --val-fraction F        share of the corpus held out for validation, 0 to ${MAX_VAL_FRACTION} (default 0.1; 0 = none)
Tokenizer:
  --tokenizer TYPE        char | word | bpe (default ${d.tokenizer.type})
  --vocab-size N          bpe: target vocabulary size; word: vocabulary cap
Model:
  --cell TYPE             lstm | gru | rnn (default ${d.model.cell})
  --layers N              recurrent layers (default ${d.model.layers})
  --hidden N              hidden units per layer (default ${d.model.hiddenSize})
  --embedding N           embedding size (default ${d.model.embeddingSize})
  --dropout P             dropout probability (default ${d.model.dropout})
  --tie-weights           share the embedding with the output layer (needs --embedding = --hidden)
Training:
  --batch-size N          parallel streams per step (default ${d.training.batchSize})
  --seq-length N          backpropagation-through-time length (default ${d.training.seqLength})
  --truncation MODE       fixed | variable | randomized | none (default ${d.training.truncation.mode})
  --partition MODE        sequential | random (default ${d.training.partition})
  --optimizer NAME        adam | sgd | rmsprop (default ${d.training.optimizer})
  --lr RATE               learning rate (default ${d.training.learningRate})
  --clip-norm N           clip the global gradient norm, 0 = off (default ${d.training.clipNorm})
  --epochs N              passes over the training text (default ${d.training.epochs}, or as
                          many as fit when only --max-minutes is given)
  --max-steps N           stop after N steps
  --max-minutes M         stop after M minutes (alone: train until the time is up)
  --eval-every N          evaluate every N steps (validation also runs after each epoch)
  --checkpoint-every N    write a checkpoint every N steps (and on Ctrl-C) to DIR.checkpoint
  --resume CKPT           continue from the checkpoint in CKPT; give --corpus (and the same
                          validation flags) again. Only --max-steps, --max-minutes, --epochs,
                          --eval-every and --checkpoint-every may change; checkpoints go to CKPT
  --init-from DIR         fine-tune the model in DIR: start from its weights, tokenizer and
                          architecture (model and tokenizer flags may only repeat them;
                          --dropout may change); text it cannot encode becomes <unk>
  --seed N                random seed (default: random)
Output:
  --json                  print the result as one JSON line on stdout
  -h, --help              show this help
`;

const GENERATE_USAGE = `Usage: rnnlm generate --model DIR [options]

Samples text from a trained model and streams it to stdout.

  --model DIR             model directory written by "rnnlm train" (required)
  --prompt TEXT           text to continue (default: start of a line)
  --max-tokens N          tokens to sample at most (default ${DEFAULT_MAX_TOKENS})
  --temperature T         0 = greedy; below 1 is more conservative, above 1 more random (default 1)
  --top-k N               sample from the N most likely tokens only (0 = off)
  --top-p P               nucleus sampling: the smallest set of tokens with probability >= P
  --stop STR              stop before STR (repeatable); STR is not printed
  --seed N                sampler seed: the same seed gives the same text
  --json                  print {"text","tokens","finishReason"} as one JSON line instead
  -h, --help              show this help
`;

const SCORE_USAGE = `Usage: rnnlm score --model DIR (--file FILE | --text TEXT) [options]

Scores a text under a trained model: negative log-likelihood, perplexity, bits per character.

  --model DIR             model directory written by "rnnlm train" (required)
  --file FILE             UTF-8 text file to score
  --text TEXT             text to score
  --context TEXT          text the model reads first; it is not scored
  --json                  print the result as one JSON line
  -h, --help              show this help
`;

const EXPORT_USAGE = `Usage: rnnlm export --model DIR --format onnx|tfjs --out PATH [options]

Converts a trained model for other runtimes; the tokenizer travels with it.

  --model DIR             model directory written by "rnnlm train" (required)
  --format FORMAT         onnx: one .onnx file (tokenizer in its metadata_props under "rnnlm");
                          tfjs: a directory with model.json and its weight shard, for
                          tf.loadLayersModel (tokenizer in userDefinedMetadata.rnnlm) (required)
  --out PATH              the .onnx file or the tfjs directory to write (required)
  --force                 replace PATH if it exists
  --json                  print {"format","files"} as one JSON line
  -h, --help              show this help
`;

/** The help text of a command, or the overview without one. */
export function usage(command?: CommandName): string {
  switch (command) {
    case undefined:
      return MAIN_USAGE;
    case 'train':
      return TRAIN_USAGE;
    case 'generate':
      return GENERATE_USAGE;
    case 'score':
      return SCORE_USAGE;
    case 'export':
      return EXPORT_USAGE;
  }
}
