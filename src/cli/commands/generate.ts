import { once } from 'node:events';

import { loadConfig } from '../../config.js';
import { isRnnlmError } from '../../errors.js';
import { generate } from '../../ml/generate/generate.js';
import { modelFromArtifacts } from '../../ml/load-model.js';
import { readModelDir } from '../../storage/artifacts.js';
import type { GenerateArgs } from '../args.js';
import { startBackend, withInterrupt, writeJson, type CliIo } from '../io.js';

/** Exit status of a run stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const EXIT_INTERRUPTED = 130;

/**
 * `rnnlm generate`: samples from a stored model, streaming the text to stdout as it becomes
 * final, or printing one --json line at the end. Returns the exit code.
 */
export async function runGenerate(args: GenerateArgs, io: CliIo): Promise<number> {
  const env = loadConfig();
  const artifacts = await readModelDir(args.model);
  await startBackend(env, io);
  const { model, tokenizer } = modelFromArtifacts(artifacts);
  // Waiting for 'drain' keeps a slow reader (a pager, a pipe) from buffering the whole text.
  const stream = async (delta: string): Promise<void> => {
    if (!io.stdout.write(delta)) await once(io.stdout, 'drain');
  };
  // Whether streamed text awaits a final line break.
  let lineOpen = false;
  try {
    const result = await withInterrupt(
      () => undefined,
      (signal) =>
        generate(model, tokenizer, { ...args.options, signal }, async (delta) => {
          if (args.json) return;
          lineOpen = !delta.endsWith('\n');
          await stream(delta);
        }),
    );
    if (args.json) {
      writeJson(io, {
        text: result.text,
        tokens: result.tokens,
        finishReason: result.finishReason,
        unknownTokens: result.unknownTokens,
      });
    } else if (lineOpen) {
      io.stdout.write('\n');
    }
    if (!args.json && result.unknownTokens > 0) {
      io.stderr.write(
        `note: ${result.unknownTokens} of the prompt's ${result.promptTokens} tokens are not in the model's vocabulary and were read as <unk>\n`,
      );
    }
    return 0;
  } catch (err) {
    if (!isRnnlmError(err, 'RNNLM_ABORTED')) throw err;
    if (lineOpen) io.stdout.write('\n');
    io.stderr.write('generation interrupted\n');
    return EXIT_INTERRUPTED;
  } finally {
    model.dispose();
  }
}
