/**
 * Batch-1 sampled generation, ms per token: the engine's `generate()` on the served model (what
 * `rnnlm generate` runs), onnxruntime on the export driven by the engine's own `GenerationRow`
 * (the same priming, sampler and decoding, so only the forward pass differs), and torch's
 * forward + softmax + `multinomial` at every thread setting. Every side warms up on whole
 * generations first: V8 had not finished optimising rnnlm's token loop after one (measured on
 * fresh processes, 0.134, 0.101, 0.087, 0.082 ms/token for the first four, ~0.070 after).
 */
import { generate } from '../../src/ml/generate/generate.js';
import { GenerationRow } from '../../src/ml/generate/row.js';
import { fmt, interleave, median, type BenchContext } from '../common.js';
import { ORT_SETTINGS, type OrtModel, type OrtSetting } from '../ort.js';
import type { GenerateResult } from '../result.js';
import { modelArgs } from '../rnnlm-side.js';
import type { ServedModel } from '../served-model.js';
import { best, bestOf, lower } from '../settings.js';
import { TORCH_SETTINGS, torchAll } from '../torch.js';

const TOKENS = 500;
const WARMUP = 4;

type Side = 'rnnlm' | `ort ${OrtSetting}`;

/** One generation on onnxruntime; returns the tokens sampled. */
async function ortGenerate(model: OrtModel, served: ServedModel, seed: number): Promise<number> {
  const row = new GenerationRow(served.tokenizer, { maxTokens: TOKENS, seed });
  let out = await model.forward(row.prime, row.prime.length, 1, model.zeroState(1));
  const vocab = model.vocab;
  for (;;) {
    const id = row.next(out.logits.subarray(out.logits.length - vocab));
    row.takeText();
    if (id === undefined) break;
    out = await model.forward(Int32Array.of(id), 1, 1, out.state);
  }
  return row.result().tokens;
}

/** A side that runs one whole generation and answers its ms per token. */
function side(run: () => Promise<number>): () => Promise<number[]> {
  return async () => {
    const t0 = performance.now();
    const tokens = await run();
    return [(performance.now() - t0) / tokens];
  };
}

/** rnnlm and onnxruntime, interleaved: ms per token of each measured generation, per side. */
async function inProcess(
  ctx: BenchContext,
  served: ServedModel,
  ortModels: Record<OrtSetting, OrtModel>,
  reps: number,
): Promise<Record<Side, number[][]>> {
  let seed = 100;
  const sides = {
    rnnlm: side(
      async () => (await generate(served.model, served.tokenizer, { maxTokens: TOKENS, seed })).tokens,
    ),
    ...Object.fromEntries(
      ORT_SETTINGS.map((s) => [`ort ${s}`, side(() => ortGenerate(ortModels[s], served, seed))]),
    ),
  } as Record<Side, () => Promise<number[]>>;
  // Every side draws with the same seed in a round, a new one each round.
  for (let r = 0; r < WARMUP; r++, seed++) await interleave(1, sides, () => undefined);
  return interleave(reps, sides, (r, m) => {
    seed++;
    ctx.log(
      `generate round ${r + 1}/${reps}: ${Object.entries(m)
        .map(([k, v]) => `${k} ${fmt(v[0] ?? NaN, 3)}`)
        .join(', ')} ms/token`,
    );
  });
}

export async function generateMeasure(
  ctx: BenchContext,
  served: ServedModel,
  ortModels: Record<OrtSetting, OrtModel>,
): Promise<GenerateResult> {
  const reps = ctx.opts.quick ? 3 : 5;
  ctx.log(`generate: ${TOKENS} tokens, batch 1, ${WARMUP} warm-up and ${reps} measured generations a side`);
  const ms = await inProcess(ctx, served, ortModels, reps);
  const t = await torchAll<{ msPerToken: number[] }>([
    'generate',
    ...modelArgs(served.config, served.tokenizer.vocabSize),
    ...['--count', `${TOKENS}`, '--reps', `${reps}`, '--warmup-reps', `${WARMUP}`],
    ...['--start', `${served.tokenizer.boundaryIds[0] ?? 0}`],
  ]);
  const rnnlmMs = median(ms.rnnlm.flat());
  const torch = bestOf(
    TORCH_SETTINGS,
    (s) => ({ msPerToken: median(t[s].msPerToken) }),
    (g) => g.msPerToken,
    lower,
  );
  const ort = bestOf(
    ORT_SETTINGS,
    (s) => ({ msPerToken: median(ms[`ort ${s}`].flat()) }),
    (g) => g.msPerToken,
    lower,
  );
  return {
    config: `H${served.config.hidden} E${served.config.embedding}, ${TOKENS} tokens, sampled`,
    rnnlmMsPerToken: rnnlmMs,
    torch,
    ratio: best(torch).msPerToken / rnnlmMs,
    ort,
    ortRatio: best(ort).msPerToken / rnnlmMs,
  };
}
