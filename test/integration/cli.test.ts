import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { resumeCommand } from '../../src/cli/resume-hint.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS_SOURCES = [
  resolve(ROOT, '../shared/data/tinyshakespeare.txt'),
  resolve(ROOT, 'test/fixtures/shakespeare-30k.txt'),
];
const SOURCE = CORPUS_SOURCES.find((path) => existsSync(path));
const skip = SOURCE === undefined ? `no corpus at ${CORPUS_SOURCES.join(' or ')}` : false;

/** Small enough that a run takes a few seconds on two cores. */
const TINY = [
  '--hidden',
  '32',
  '--embedding',
  '16',
  '--layers',
  '1',
  '--batch-size',
  '8',
  '--seq-length',
  '16',
  '--seed',
  '1',
];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI; `onStderr` sees stderr as it arrives and may act on the process. */
function rnnlm(args: string[], onStderr?: (soFar: string, kill: () => void) => void): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['bin/rnnlm.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, RNNLM_BACKEND: 'wasm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

function lastJsonLine(run: Run): Record<string, unknown> {
  const line = run.stdout.trimEnd().split('\n').at(-1) ?? '';
  const value: unknown = JSON.parse(line);
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), line);
  return value as Record<string, unknown>;
}

function assertExit(run: Run, code: number): void {
  assert.equal(
    run.code,
    code,
    `exit ${run.code}, expected ${code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`,
  );
}

let dir = '';
let corpus = '';
let model = '';
let trained: Run;

before(async () => {
  if (SOURCE === undefined) return;
  dir = await mkdtemp(join(tmpdir(), 'rnnlm-cli-'));
  corpus = join(dir, 'corpus.txt');
  model = join(dir, 'model');
  await writeFile(corpus, (await readFile(SOURCE, 'utf8')).slice(0, 20_000));
  trained = await rnnlm([
    'train',
    '--corpus',
    corpus,
    '--out',
    model,
    ...TINY,
    '--max-steps',
    '20',
    '--json',
  ]);
});

after(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

test('train writes the model and reports it as JSON', { skip }, () => {
  assertExit(trained, 0);
  const result = lastJsonLine(trained);
  assert.deepEqual(Object.keys(result).sort(), [
    'backend',
    'modelDir',
    'steps',
    'tokensPerSecond',
    'trainLoss',
    'valBitsPerChar',
    'valLoss',
    'valPerplexity',
  ]);
  assert.equal(result.modelDir, model);
  assert.equal(result.steps, 20);
  assert.equal(result.backend, 'wasm');
  for (const key of ['trainLoss', 'valLoss', 'valPerplexity', 'valBitsPerChar', 'tokensPerSecond']) {
    assert.ok(typeof result[key] === 'number' && result[key] > 0, `${key}: ${String(result[key])}`);
  }
  assert.ok(Math.abs(Math.exp(result.valLoss as number) - (result.valPerplexity as number)) < 1e-6);
  assert.match(trained.stderr, /^backend: wasm \(@tensorflow\/tfjs-backend-wasm\)$/m);
  // stderr is a pipe here, so progress comes as plain lines rather than a redrawn bar.
  assert.match(trained.stderr, /^step 20\/20 /m);
  assert.doesNotMatch(trained.stderr, /\r/);
  assert.ok(existsSync(join(model, 'meta.json')));
  assert.ok(!existsSync(`${model}.checkpoint`));
});

test(
  'generate is reproducible from its seed and streams the same text without --json',
  { skip },
  async () => {
    const args = ['generate', '--model', model, '--prompt', 'ROMEO:', '--seed', '1'];
    const [a, b, plain] = await Promise.all([
      rnnlm([...args, '--json']),
      rnnlm([...args, '--json']),
      rnnlm(args),
    ]);
    for (const run of [a, b, plain]) assertExit(run, 0);
    const result = lastJsonLine(a);
    assert.deepEqual(Object.keys(result).sort(), ['finishReason', 'text', 'tokens', 'unknownTokens']);
    assert.equal(result.unknownTokens, 0);
    assert.equal(typeof result.text, 'string');
    assert.equal(result.tokens, 200);
    assert.equal(result.finishReason, 'length');
    assert.deepEqual(lastJsonLine(b), result);
    const text = String(result.text);
    assert.equal(plain.stdout, text.endsWith('\n') ? text : `${text}\n`);
  },
);

test('score reports likelihood numbers as JSON and as a table', { skip }, async () => {
  const text = 'To be, or not to be';
  const file = join(dir, 'score.txt');
  await writeFile(file, text);
  const [json, table] = await Promise.all([
    rnnlm(['score', '--model', model, '--text', text, '--json']),
    rnnlm(['score', '--model', model, '--file', file]),
  ]);
  assertExit(json, 0);
  assertExit(table, 0);
  const result = lastJsonLine(json);
  assert.deepEqual(Object.keys(result).sort(), [
    'bitsPerChar',
    'characters',
    'meanNll',
    'nll',
    'perplexity',
    'tokens',
    'unknownTokens',
  ]);
  assert.equal(result.unknownTokens, 0);
  assert.equal(result.tokens, text.length);
  assert.equal(result.characters, text.length);
  const nll = result.nll as number;
  assert.ok(nll > 0);
  assert.ok(Math.abs((result.meanNll as number) - nll / text.length) < 1e-9);
  assert.ok(Math.abs((result.perplexity as number) - Math.exp(nll / text.length)) < 1e-6);
  assert.ok(Math.abs((result.bitsPerChar as number) - nll / Math.LN2 / text.length) < 1e-9);
  assert.match(table.stdout, new RegExp(`^perplexity +${(result.perplexity as number).toFixed(3)}$`, 'm'));
});

test('bad arguments exit 2 naming the flag; help exits 0', { skip }, async () => {
  const [unknown, badNumber, badEnum, none, help, trainHelp] = await Promise.all([
    rnnlm(['train', '--corpus', corpus, '--out', join(dir, 'x'), '--bogus']),
    rnnlm(['train', '--corpus', corpus, '--out', join(dir, 'x'), '--batch-size', 'lots']),
    rnnlm(['generate', '--model', model, '--top-p', '2']),
    rnnlm([]),
    rnnlm(['--help']),
    rnnlm(['train', '--help']),
  ]);
  assertExit(unknown, 2);
  assert.match(unknown.stderr, /--bogus/);
  assertExit(badNumber, 2);
  assert.match(badNumber.stderr, /--batch-size/);
  assertExit(badEnum, 2);
  assert.match(badEnum.stderr, /--top-p/);
  assertExit(none, 2);
  assert.match(none.stderr, /Usage: rnnlm <command>/);
  assert.equal(none.stdout, '');
  assertExit(help, 0);
  assert.match(help.stdout, /Usage: rnnlm <command>/);
  assertExit(trainHelp, 0);
  assert.match(trainHelp.stdout, /--checkpoint-every/);
});

test('missing inputs exit 1 with their path', { skip }, async () => {
  const missingCorpus = join(dir, 'no-such-corpus.txt');
  const missingModel = join(dir, 'no-such-model');
  const badText = join(dir, 'latin1.txt');
  await writeFile(badText, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  const [corpusRun, modelRun, scoreFileRun, encodingRun] = await Promise.all([
    rnnlm(['train', '--corpus', missingCorpus, '--out', join(dir, 'x')]),
    rnnlm(['generate', '--model', missingModel]),
    rnnlm(['score', '--model', model, '--file', join(dir, 'no-such-file.txt')]),
    rnnlm(['train', '--corpus', badText, '--out', join(dir, 'x')]),
  ]);
  assertExit(corpusRun, 1);
  assert.match(corpusRun.stderr, /^error \[RNNLM_FILE_NOT_FOUND\]: .*no-such-corpus\.txt/m);
  assert.ok(corpusRun.stderr.includes(missingCorpus));
  assertExit(modelRun, 1);
  assert.ok(modelRun.stderr.includes(missingModel), modelRun.stderr);
  assertExit(scoreFileRun, 1);
  assert.match(scoreFileRun.stderr, /no-such-file\.txt/);
  assertExit(encodingRun, 1);
  assert.match(encodingRun.stderr, /not valid UTF-8/);
  assert.ok(!existsSync(join(dir, 'x')));
});

test('Ctrl-C leaves a checkpoint that a later run resumes and then removes', { skip }, async () => {
  const outA = join(dir, 'A');
  const checkpoint = `${outA}.checkpoint`;
  let interrupted = false;
  const stopped = await rnnlm(
    ['train', '--corpus', corpus, '--out', outA, ...TINY, '--max-steps', '100000', '--checkpoint-every', '3'],
    (stderr, interrupt) => {
      if (!interrupted && stderr.includes('checkpoint at step 3 ')) {
        interrupted = true;
        interrupt();
      }
    },
  );
  assertExit(stopped, 130);
  assert.match(stopped.stderr, /training stopped at step \d+: interrupted/);
  // The hint is the whole command, as printed: the corpus and the output are in it.
  assert.ok(
    stopped.stderr.includes(
      resumeCommand({ corpus, out: outA, valFile: undefined, valFraction: undefined }, checkpoint),
    ),
    stopped.stderr,
  );
  assert.ok(existsSync(join(checkpoint, 'checksums.json')));
  assert.ok(!existsSync(outA));

  const outB = join(dir, 'B');
  const resumed = await rnnlm([
    'train',
    '--corpus',
    corpus,
    '--out',
    outB,
    '--resume',
    checkpoint,
    '--max-steps',
    '10',
    '--hidden',
    '64',
    '--json',
  ]);
  assertExit(resumed, 0);
  assert.match(resumed.stderr, /--hidden ignored/);
  const result = lastJsonLine(resumed);
  assert.equal(result.steps, 10);
  assert.equal(result.modelDir, outB);
  const meta = JSON.parse(await readFile(join(outB, 'meta.json'), 'utf8')) as {
    modelConfig: { hiddenSize: number };
  };
  assert.equal(meta.modelConfig.hiddenSize, 32);
  assert.ok(!existsSync(checkpoint));
});

test(
  'export writes an .onnx file and a tfjs directory from a trained model, and refuses to overwrite without --force',
  { skip },
  async () => {
    assertExit(trained, 0);
    const onnx = join(dir, 'model.onnx');
    const first = await rnnlm(['export', '--model', model, '--format', 'onnx', '--out', onnx, '--json']);
    assertExit(first, 0);
    assert.deepEqual(lastJsonLine(first), { format: 'onnx', files: [onnx] });
    const again = await rnnlm(['export', '--model', model, '--format', 'onnx', '--out', onnx]);
    assertExit(again, 1);
    assert.match(again.stderr, /RNNLM_INVALID_CONFIG/);
    assertExit(await rnnlm(['export', '--model', model, '--format', 'onnx', '--out', onnx, '--force']), 0);
    const tfjsDir = join(dir, 'tfjs');
    const tfjs = await rnnlm(['export', '--model', model, '--format', 'tfjs', '--out', tfjsDir]);
    assertExit(tfjs, 0);
    assert.ok(existsSync(join(tfjsDir, 'model.json')));
    assert.ok(existsSync(join(tfjsDir, 'group1-shard1of1.bin')));
    assertExit(await rnnlm(['export', '--model', model, '--format', 'keras', '--out', tfjsDir]), 2);
  },
);

test(
  'train --init-from fine-tunes a trained model and refuses flags that contradict it',
  { skip },
  async () => {
    assertExit(trained, 0);
    const tuned = join(dir, 'tuned');
    const run = await rnnlm([
      'train',
      '--corpus',
      corpus,
      '--out',
      tuned,
      '--init-from',
      model,
      '--batch-size',
      '8',
      '--seq-length',
      '16',
      '--max-steps',
      '3',
      '--json',
    ]);
    assertExit(run, 0);
    assert.match(run.stderr, /fine-tuning .*: \d+ of \d+ tokens .* map to <unk>/);
    const meta = JSON.parse(await readFile(join(tuned, 'meta.json'), 'utf8')) as { baseModel: string };
    assert.equal(meta.baseModel, model);
    const refused = await rnnlm([
      'train',
      '--corpus',
      corpus,
      '--out',
      tuned,
      '--init-from',
      model,
      '--hidden',
      '64',
    ]);
    assertExit(refused, 1);
    assert.match(refused.stderr, /model\.hiddenSize: the base model/);
  },
);
