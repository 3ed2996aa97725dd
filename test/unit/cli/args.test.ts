import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  parseCommandLine,
  parseExportArgs,
  parseGenerateArgs,
  parseScoreArgs,
  parseTrainArgs,
  usage,
  UsageError,
} from '../../../src/cli/args.js';
import { resumeCommand } from '../../../src/cli/resume-hint.js';

const REQUIRED = ['--corpus', 'c.txt', '--out', 'out'];

/** Asserts that parsing throws a UsageError whose message names every one of `flags`. */
function assertUsageError(parse: () => unknown, ...flags: string[]): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    for (const flag of flags) assert.match(err.message, new RegExp(`${flag}\\b`), err.message);
    return true;
  });
}

test('train flags map to the run config, and only the flags given appear in it', () => {
  const args = parseTrainArgs([
    ...REQUIRED,
    '--tokenizer',
    'bpe',
    '--vocab-size',
    '300',
    '--cell',
    'gru',
    '--layers',
    '3',
    '--hidden',
    '48',
    '--embedding',
    '48',
    '--dropout',
    '0.25',
    '--tie-weights',
    '--batch-size',
    '4',
    '--seq-length',
    '20',
    '--truncation',
    'variable',
    '--partition',
    'random',
    '--optimizer',
    'rmsprop',
    '--lr',
    '1e-3',
    '--clip-norm',
    '0',
    '--epochs',
    '2',
    '--max-steps',
    '100',
    '--max-minutes',
    '1.5',
    '--eval-every',
    '10',
    '--checkpoint-every',
    '25',
    '--seed',
    '7',
    '--json',
  ]);
  assert.deepEqual(args.config, {
    tokenizer: { type: 'bpe', vocabSize: 300 },
    model: { cell: 'gru', layers: 3, hiddenSize: 48, embeddingSize: 48, dropout: 0.25, tieWeights: true },
    training: {
      batchSize: 4,
      seqLength: 20,
      truncation: { mode: 'variable' },
      partition: 'random',
      optimizer: 'rmsprop',
      learningRate: 0.001,
      clipNorm: 0,
      epochs: 2,
      maxSteps: 100,
      maxMinutes: 1.5,
      evalEvery: 10,
      checkpointEvery: 25,
      seed: 7,
    },
  });
  assert.equal(args.corpus, 'c.txt');
  assert.equal(args.out, 'out');
  assert.equal(args.json, true);
  assert.equal(args.resume, undefined);
  assert.deepEqual(args.ignoredOnResume, []);
});

test('train without hyperparameter flags leaves every default to the schema', () => {
  const args = parseTrainArgs([...REQUIRED, '--val-fraction=0']);
  assert.deepEqual(args.config, {});
  assert.equal(args.valFraction, 0);
  assert.equal(args.valFile, undefined);
  assert.equal(args.json, false);
  assert.equal(parseTrainArgs(REQUIRED).valFraction, undefined);
  assert.equal(parseTrainArgs([...REQUIRED, '--val-file', 'v.txt']).valFile, 'v.txt');
});

test('a resumed run lists the hyperparameter flags the checkpoint overrides', () => {
  const args = parseTrainArgs([
    ...REQUIRED,
    '--resume',
    'out.checkpoint',
    '--hidden',
    '64',
    '--max-steps',
    '10',
    '--tie-weights',
    '--embedding',
    '64',
  ]);
  assert.equal(args.resume, 'out.checkpoint');
  assert.deepEqual(args.config.training, { maxSteps: 10 });
  assert.deepEqual(args.ignoredOnResume.sort(), ['--embedding', '--hidden', '--tie-weights']);
});

test('train usage errors name the flag', () => {
  const cases: [string[], ...string[]][] = [
    [['--out', 'o'], '--corpus'],
    [['--corpus', 'c'], '--out'],
    [['--corpus', '', '--out', 'o'], '--corpus'],
    [[...REQUIRED, '--bogus'], '--bogus'],
    [[...REQUIRED, '--layers'], '--layers'],
    [[...REQUIRED, 'stray'], 'stray'],
    [[...REQUIRED, '--cell', 'transformer'], '--cell'],
    [[...REQUIRED, '--tokenizer', 'sentencepiece'], '--tokenizer'],
    [[...REQUIRED, '--truncation', 'sometimes'], '--truncation'],
    [[...REQUIRED, '--partition', 'shuffled'], '--partition'],
    [[...REQUIRED, '--optimizer', 'lbfgs'], '--optimizer'],
    [[...REQUIRED, '--batch-size', 'many'], '--batch-size'],
    [[...REQUIRED, '--lr', ''], '--lr'],
    [[...REQUIRED, '--lr', 'NaN'], '--lr'],
    [[...REQUIRED, '--lr=-0.1'], '--lr'],
    [[...REQUIRED, '--lr', '0'], '--lr'],
    [[...REQUIRED, '--layers', '-2'], '--layers'],
    [[...REQUIRED, '--tie-weights=yes'], '--tie-weights'],
    [[...REQUIRED, '--json=1'], '--json'],
    [[...REQUIRED, '--layers=0'], '--layers'],
    [[...REQUIRED, '--hidden', '1.5'], '--hidden'],
    [[...REQUIRED, '--dropout', '2'], '--dropout'],
    [[...REQUIRED, '--clip-norm=-1'], '--clip-norm'],
    [[...REQUIRED, '--max-steps', '0'], '--max-steps'],
    [[...REQUIRED, '--max-minutes', '0'], '--max-minutes'],
    [[...REQUIRED, '--seed=-1'], '--seed'],
    [[...REQUIRED, '--vocab-size', '1'], '--vocab-size'],
    [[...REQUIRED, '--tie-weights'], '--tie-weights', '--embedding', '--hidden'],
    [[...REQUIRED, '--val-fraction', 'half'], '--val-fraction'],
    [[...REQUIRED, '--val-fraction=-0.1'], '--val-fraction'],
    [[...REQUIRED, '--val-fraction', '0.9'], '--val-fraction'],
    [[...REQUIRED, '--val-file', 'v.txt', '--val-fraction', '0.2'], '--val-file', '--val-fraction'],
    [['--corpus', 'c', '--out', 'same', '--resume', './same'], '--out', '--resume'],
  ];
  for (const [argv, ...flags] of cases) assertUsageError(() => parseTrainArgs(argv), ...flags);
});

test('a negative number after a flag is its value, not a flag', () => {
  assert.throws(() => parseTrainArgs([...REQUIRED, '--layers', '-2']), /--layers must be >= 1 \(got "-2"\)/);
  const args = parseGenerateArgs(['--model', 'm', '--prompt=-5 degrees', '--top-k', '0']);
  assert.equal(args.options.prompt, '-5 degrees');
});

test('several bad values are reported together', () => {
  assertUsageError(() => parseTrainArgs([...REQUIRED, '--layers', '0', '--cell', 'x']), '--layers', '--cell');
});

test('generate flags map to generate options with a default token budget', () => {
  const args = parseGenerateArgs([
    '--model',
    'm',
    '--prompt',
    'ROMEO:',
    '--temperature',
    '0.7',
    '--top-k',
    '5',
    '--top-p',
    '0.9',
    '--stop',
    '\n\n',
    '--stop',
    'JULIET',
    '--seed',
    '3',
    '--json',
  ]);
  assert.deepEqual(args, {
    model: 'm',
    json: true,
    options: {
      prompt: 'ROMEO:',
      maxTokens: 200,
      temperature: 0.7,
      topK: 5,
      topP: 0.9,
      stop: ['\n\n', 'JULIET'],
      seed: 3,
    },
  });
  const plain = parseGenerateArgs(['--model', 'm', '--max-tokens', '0']);
  assert.equal(plain.options.maxTokens, 0);
  assert.equal(plain.options.stop, undefined);
  assert.equal(plain.json, false);
});

test('generate usage errors name the flag', () => {
  const cases: [string[], string][] = [
    [['--prompt', 'x'], '--model'],
    [['--model', 'm', '--top-k', 'lots'], '--top-k'],
    [['--model', 'm', '--top-k', '1.5'], '--top-k'],
    [['--model', 'm', '--top-k=-1'], '--top-k'],
    [['--model', 'm', '--top-p', '0'], '--top-p'],
    [['--model', 'm', '--top-p', '1.5'], '--top-p'],
    [['--model', 'm', '--temperature=-1'], '--temperature'],
    [['--model', 'm', '--temperature', '-1'], '--temperature'],
    [['--model', 'm', '--prompt', '-x'], '--prompt'],
    [['--model', 'm', '--max-tokens', '2.5'], '--max-tokens'],
    [['--model', 'm', '--max-tokens=-1'], '--max-tokens'],
    [['--model', 'm', '--seed', 'x'], '--seed'],
    [['--model', 'm', '--seed', '0.5'], '--seed'],
    [['--model', 'm', '--text', 'hi'], '--text'],
  ];
  for (const [argv, flag] of cases) assertUsageError(() => parseGenerateArgs(argv), flag);
});

test('score takes exactly one of --file and --text', () => {
  assert.deepEqual(parseScoreArgs(['--model', 'm', '--text', 'To be', '--context', 'Hamlet:']), {
    model: 'm',
    input: { text: 'To be' },
    context: 'Hamlet:',
    json: false,
  });
  assert.deepEqual(parseScoreArgs(['--model', 'm', '--file', 'f.txt', '--json']).input, { file: 'f.txt' });
  assertUsageError(() => parseScoreArgs(['--model', 'm', '--file', 'f', '--text', 't']), '--file', '--text');
  assertUsageError(() => parseScoreArgs(['--model', 'm']), '--file', '--text');
  assertUsageError(() => parseScoreArgs(['--text', 't']), '--model');
  assertUsageError(
    () => parseScoreArgs(['--model', 'm', '--text', 't', '--temperature', '1']),
    '--temperature',
  );
});

test('export takes a model, a format of onnx or tfjs and an output path', () => {
  assert.deepEqual(parseExportArgs(['--model', 'm', '--format', 'onnx', '--out', 'm.onnx']), {
    model: 'm',
    format: 'onnx',
    out: 'm.onnx',
    force: false,
    json: false,
  });
  assert.equal(parseExportArgs(['--model', 'm', '--format', 'tfjs', '--out', 'd', '--force']).force, true);
  assertUsageError(() => parseExportArgs(['--model', 'm', '--format', 'keras', '--out', 'x']), '--format');
  assertUsageError(() => parseExportArgs(['--model', 'm', '--format', 'onnx']), '--out');
  assertUsageError(() => parseExportArgs(['--format', 'onnx', '--out', 'x']), '--model');
});

test('commands, help and their errors', () => {
  assert.deepEqual(parseCommandLine(['--help']), { command: 'help', topic: undefined });
  assert.deepEqual(parseCommandLine(['-h']), { command: 'help', topic: undefined });
  assert.deepEqual(parseCommandLine(['help', 'score']), { command: 'help', topic: 'score' });
  // Help wins over missing and unknown flags.
  assert.deepEqual(parseCommandLine(['train', '--help', '--bogus']), { command: 'help', topic: 'train' });
  assert.deepEqual(parseCommandLine(['generate', '-h']), { command: 'help', topic: 'generate' });
  assert.equal(parseCommandLine(['score', '--model', 'm', '--text', 't']).command, 'score');
  assertUsageError(() => parseCommandLine([]), 'no command');
  assertUsageError(() => parseCommandLine(['fit']), 'fit');
  assertUsageError(() => parseCommandLine(['--json']), '--json');
  assert.throws(
    () => parseCommandLine(['generate', '--bogus']),
    (err: unknown) => err instanceof UsageError && err.command === 'generate',
  );
});

test('every flag of the contract appears in its command help', () => {
  const flags: [Parameters<typeof usage>[0], string[]][] = [
    [
      'train',
      [
        '--corpus',
        '--out',
        '--val-file',
        '--val-fraction',
        '--tokenizer',
        '--vocab-size',
        '--cell',
        '--layers',
        '--hidden',
        '--embedding',
        '--dropout',
        '--tie-weights',
        '--batch-size',
        '--seq-length',
        '--truncation',
        '--partition',
        '--optimizer',
        '--lr',
        '--clip-norm',
        '--epochs',
        '--max-steps',
        '--max-minutes',
        '--eval-every',
        '--checkpoint-every',
        '--resume',
        '--init-from',
        '--seed',
        '--json',
      ],
    ],
    [
      'generate',
      [
        '--model',
        '--prompt',
        '--max-tokens',
        '--temperature',
        '--top-k',
        '--top-p',
        '--stop',
        '--seed',
        '--json',
      ],
    ],
    ['score', ['--model', '--file', '--text', '--context', '--json']],
  ];
  for (const [command, names] of flags) {
    for (const name of names) assert.match(usage(command), new RegExp(`${name}\\b`), `${command} ${name}`);
  }
  assert.match(usage('train'), /default 2\b/, 'defaults come from the schema');
});

test('--max-minutes alone sets the budget and no epoch cap; with --epochs both bound the run', () => {
  const timed = parseTrainArgs([...REQUIRED, '--max-minutes', '10']);
  assert.deepEqual(timed.config.training, { maxMinutes: 10 });
  const both = parseTrainArgs([...REQUIRED, '--max-minutes', '10', '--epochs', '3']);
  assert.deepEqual(both.config.training, { maxMinutes: 10, epochs: 3 });
});

/** Splits a printed command as a POSIX shell would: plain words, single quotes, backslashes. */
function shellSplit(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quoted = false;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (quoted) {
      if (ch === "'") quoted = false;
      else word += ch;
    } else if (ch === "'") {
      quoted = true;
      word ??= '';
    } else if (ch === '\\') {
      word = (word ?? '') + (command[++i] ?? '');
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

test('the Ctrl-C resume hint works as printed: it parses as a train command with the same inputs', () => {
  for (const argv of [
    ['--corpus', 'data/tiny shakespeare.txt', '--out', "/tmp/it's", '--checkpoint-every', '50'],
    ['--corpus', 'c.txt', '--out', 'm', '--val-file', 'v.txt'],
    ['--corpus', 'c.txt', '--out', 'm', '--val-fraction', '0.2'],
  ]) {
    const first = parseTrainArgs(argv);
    const printed = resumeCommand(first, '/tmp/m.checkpoint');
    const words = shellSplit(printed);
    assert.deepEqual(words.slice(0, 2), ['rnnlm', 'train']);
    const again = parseTrainArgs(words.slice(2));
    assert.equal(again.resume, '/tmp/m.checkpoint');
    assert.equal(again.corpus, first.corpus);
    assert.equal(again.out, first.out);
    assert.equal(again.valFile, first.valFile);
    assert.equal(again.valFraction, first.valFraction);
    assert.deepEqual(again.ignoredOnResume, []);
  }
});
