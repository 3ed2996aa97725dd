/**
 * Exact batch-1 scoring of a long text, as `rnnlm score --file` runs it: the engine's `score()`
 * on the served model (chunks of 256 tokens, the state carried), against onnxruntime on the
 * export doing the same chunks with the same carried state. Both must give the same meanNll.
 */
import type * as ort from 'onnxruntime-node';

import { score, scoringStream } from '../../src/ml/eval/score.js';
import { fmt, interleave, median, timeMs, type BenchContext } from '../common.js';
import { nllOfLogits, ORT_SETTINGS, type OrtModel, type OrtSetting } from '../ort.js';
import type { ScoreLongResult } from '../result.js';
import type { ServedModel } from '../served-model.js';
import { best, bestOf, higher } from '../settings.js';

/** Characters of tinyshakespeare scored, and the engine's chunk length (`score()`'s default). */
const CHARACTERS = 100_000;
const CHUNK = 256;
/** How far the two sides' meanNll may be apart (float32 logits, sums in float64). */
const TOLERANCE = 1e-5;

type Side = 'rnnlm' | `ort ${OrtSetting}`;

/** `score()`'s loop on onnxruntime: prime on what precedes the first scored token, then score. */
async function ortMeanNll(model: OrtModel, stream: Int32Array, first: number): Promise<number> {
  let state: ort.Tensor[] = model.zeroState(1);
  for (let j = 0; j < first - 1; j += CHUNK) {
    const steps = Math.min(CHUNK, first - 1 - j);
    state = (await model.forward(stream.subarray(j, j + steps), steps, 1, state)).state;
  }
  let nll = 0;
  for (let j = first; j < stream.length; j += CHUNK) {
    const steps = Math.min(CHUNK, stream.length - j);
    const out = await model.forward(stream.subarray(j - 1, j - 1 + steps), steps, 1, state);
    for (const v of nllOfLogits(out.logits, stream.subarray(j, j + steps), model.vocab)) nll += v;
    state = out.state;
  }
  return nll / (stream.length - first);
}

/** Each side scores the whole text once a round; answers the ms of each run, and each side's meanNll. */
async function runSides(
  ctx: BenchContext,
  served: ServedModel,
  ortModels: Record<OrtSetting, OrtModel>,
  text: string,
): Promise<{ ms: Record<Side, number[][]>; meanNll: Partial<Record<Side, number>> }> {
  const { stream, first } = scoringStream(served.tokenizer, text, {});
  const meanNll: Partial<Record<Side, number>> = {};
  const rnnlmSide = async () => [
    await timeMs(async () => {
      meanNll.rnnlm = (await score(served.model, served.tokenizer, text, { chunkLength: CHUNK })).meanNll;
    }),
  ];
  const ortSide = (s: OrtSetting) => async () => [
    await timeMs(async () => {
      meanNll[`ort ${s}`] = await ortMeanNll(ortModels[s], stream, first);
    }),
  ];
  const sides = {
    rnnlm: rnnlmSide,
    ...Object.fromEntries(ORT_SETTINGS.map((s) => [`ort ${s}`, ortSide(s)])),
  } as Record<Side, () => Promise<number[]>>;
  const rounds = ctx.opts.quick ? 1 : ctx.opts.rounds;
  ctx.log(`score ${CHARACTERS.toLocaleString('en')} characters at batch 1, ${rounds} round(s)`);
  const ms = await interleave(rounds, sides, (r, m) =>
    ctx.log(
      `score long round ${r + 1}/${rounds}: ${Object.entries(m)
        .map(([k, v]) => `${k} ${fmt(median(v))} ms`)
        .join(', ')}`,
    ),
  );
  return { ms, meanNll };
}

export async function scoreLongMeasure(
  ctx: BenchContext,
  served: ServedModel,
  ortModels: Record<OrtSetting, OrtModel>,
): Promise<ScoreLongResult> {
  const text = ctx.text.slice(0, CHARACTERS);
  const { stream, first } = scoringStream(served.tokenizer, text, {});
  const tokens = stream.length - first;
  const { ms, meanNll } = await runSides(ctx, served, ortModels, text);
  const figure = (k: Side) => ({
    tokPerSec: (tokens * 1000) / median(ms[k].flat()),
    meanNll: meanNll[k] ?? Number.NaN,
    runs: ms[k].length,
  });
  const rnnlm = figure('rnnlm');
  const ort = bestOf(
    ORT_SETTINGS,
    (s) => figure(`ort ${s}`),
    (f) => f.tokPerSec,
    higher,
  );
  const diff = Math.max(
    ...ORT_SETTINGS.map((s) => Math.abs((ort.settings[s]?.meanNll ?? NaN) - rnnlm.meanNll)),
  );
  return {
    config: `H${served.config.hidden} E${served.config.embedding}, batch 1, chunks of ${CHUNK}, state carried`,
    characters: text.length,
    tokens,
    chunk: CHUNK,
    rnnlm,
    ort,
    ortRatio: rnnlm.tokPerSec / best(ort).tokPerSec,
    meanNllAbsDiff: diff,
    pass: diff <= TOLERANCE,
  };
}
