import { loadConfig } from '../../config.js';
import { score } from '../../ml/eval/score.js';
import { modelFromArtifacts } from '../../ml/load-model.js';
import { readModelDir } from '../../storage/artifacts.js';
import type { ScoreArgs } from '../args.js';
import { finiteOrNull, readTextFile, startBackend, writeJson, type CliIo } from '../io.js';

/**
 * `rnnlm score`: how well a stored model predicts a text, as a small table or one --json
 * line. Returns the exit code.
 */
export async function runScore(args: ScoreArgs, io: CliIo): Promise<number> {
  const env = loadConfig();
  const text = 'file' in args.input ? await readTextFile(args.input.file, 'file') : args.input.text;
  const artifacts = await readModelDir(args.model);
  await startBackend(env, io);
  const { model, tokenizer } = modelFromArtifacts(artifacts);
  try {
    const r = await score(model, tokenizer, text, { context: args.context });
    const result = {
      tokens: r.tokens,
      characters: r.characters,
      unknownTokens: r.unknownTokens,
      nll: finiteOrNull(r.nll),
      meanNll: finiteOrNull(r.meanNll),
      perplexity: finiteOrNull(r.perplexity),
      bitsPerChar: finiteOrNull(r.bitsPerChar),
    };
    if (args.json) {
      writeJson(io, result);
    } else {
      const num = (x: number | null, digits: number) => (x === null ? '-' : x.toFixed(digits));
      const rows: [string, string][] = [
        ['tokens', String(result.tokens)],
        ['characters', String(result.characters)],
        ['unknown', `${result.unknownTokens} tokens not in the vocabulary (scored as <unk>)`],
        ['nll', `${num(result.nll, 4)} nats`],
        ['mean nll', `${num(result.meanNll, 4)} nats/token`],
        ['perplexity', num(result.perplexity, 3)],
        ['bits/char', num(result.bitsPerChar, 4)],
      ];
      io.stdout.write(rows.map(([k, v]) => `${k.padEnd(12)}${v}\n`).join(''));
    }
    return 0;
  } finally {
    model.dispose();
  }
}
