import { resolve } from 'node:path';

import { loadConfig } from '../../config.js';
import { isRnnlmError } from '../../errors.js';
import { baseModelFromArtifacts, fineTuneConfig, type BaseModel } from '../../ml/fine-tune.js';
import { fitRunConfig } from '../../ml/fit.js';
import { shortfallNote } from '../../ml/train/shortfall.js';
import { trainFromText, type TrainerCheckpoint } from '../../ml/training.js';
import type { TrainerState } from '../../ml/train/trainer.js';
import { readModelDir, writeModelDir } from '../../storage/artifacts.js';
import { readCheckpoint, removeCheckpoint, writeCheckpoint } from '../../storage/checkpoints.js';
import type { TrainArgs } from '../args.js';
import { finiteOrNull, readTextFile, startBackend, withInterrupt, writeJson, type CliIo } from '../io.js';
import { ProgressReporter, formatDuration } from '../progress.js';
import { resumeCommand } from '../resume-hint.js';

/** Exit status of a run stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const EXIT_INTERRUPTED = 130;

async function loadResume(dir: string): Promise<TrainerCheckpoint> {
  const stored = await readCheckpoint(dir);
  // The store keeps the trainer's state opaque; the trainer checks it before it uses it.
  return { ...stored, state: stored.state as unknown as TrainerState };
}

async function loadBase(dir: string): Promise<BaseModel> {
  const artifacts = await readModelDir(dir);
  return baseModelFromArtifacts(
    typeof artifacts.meta.id === 'string' ? artifacts.meta.id : resolve(dir),
    artifacts,
  );
}

const fixed = (x: number | null, digits: number): string => (x === null ? '-' : x.toFixed(digits));

/**
 * `rnnlm train`: trains on the corpus with progress on stderr, writes the model directory and
 * prints a summary (or the --json line). With --checkpoint-every or --resume, checkpoints go
 * to the resumed directory or `<out>.checkpoint`, are written on Ctrl-C too, and are removed
 * once the model is safely written. Returns the exit code.
 */
export async function runTrain(args: TrainArgs, io: CliIo): Promise<number> {
  const env = loadConfig();
  // Inputs first: a wrong path should fail before the backend takes its second to start.
  const corpus = await readTextFile(args.corpus, 'corpus');
  const validationText =
    args.valFile === undefined ? undefined : await readTextFile(args.valFile, 'validation file');
  const resume = args.resume === undefined ? undefined : await loadResume(args.resume);
  const base = args.initFrom === undefined ? undefined : await loadBase(args.initFrom);
  // A resumed run keeps its checkpoint's settings; any other is fitted to its corpus and budget.
  const fitted =
    resume !== undefined
      ? args.config
      : fitRunConfig(
          args.config,
          {
            corpus,
            budgetMinutes: env.RNNLM_TRAIN_MINUTES,
            validationFraction: args.valFile === undefined ? args.valFraction : 0,
          },
          { fineTune: base !== undefined },
        );
  const config = base === undefined ? fitted : fineTuneConfig(base, fitted);
  if (args.ignoredOnResume.length > 0) {
    io.stderr.write(
      `note: ${args.ignoredOnResume.join(', ')} ignored: a resumed run keeps the checkpoint's settings\n`,
    );
  }
  const backend = await startBackend(env, io);

  const outDir = resolve(args.out);
  const checkpointDir = args.resume !== undefined ? resolve(args.resume) : `${outDir}.checkpoint`;
  const checkpointing = args.config.training?.checkpointEvery !== undefined || resume !== undefined;
  const reporter = new ProgressReporter(io.stderr);
  let savedStep: number | undefined;
  const saveCheckpoint = async (c: TrainerCheckpoint): Promise<void> => {
    await writeCheckpoint(checkpointDir, { ...c, state: { ...c.state } });
    savedStep = c.state.step;
    reporter.log(`checkpoint at step ${c.state.step} saved to ${checkpointDir}`);
  };

  let trained: Awaited<ReturnType<typeof trainFromText>>;
  try {
    trained = await withInterrupt(
      () => reporter.log('stopping after this step (Ctrl-C again to quit at once)'),
      (signal) =>
        trainFromText({
          corpus,
          validationText,
          validationFraction: args.valFraction,
          config,
          backend,
          resume,
          base,
          onPrepared: ({ tokens, unknownTokens }) => {
            if (base === undefined) return;
            const share = ((100 * unknownTokens) / Math.max(1, tokens)).toFixed(2);
            reporter.log(
              `fine-tuning ${base.id}: ${unknownTokens} of ${tokens} tokens (${share}%) map to <unk>`,
            );
          },
          signal,
          onProgress: (p) => reporter.update(p),
          onEval: (e) => reporter.evaluation(e),
          onCheckpoint: checkpointing ? saveCheckpoint : undefined,
        }),
    );
  } catch (err) {
    reporter.finish();
    const resumeHint =
      savedStep === undefined
        ? ''
        : `the checkpoint at step ${savedStep} is in ${checkpointDir}; continue with:\n  ${resumeCommand(args, checkpointDir)}\n`;
    if (isRnnlmError(err, 'RNNLM_ABORTED')) {
      io.stderr.write(`${err.message}\n${resumeHint}`);
      return EXIT_INTERRUPTED;
    }
    io.stderr.write(resumeHint);
    throw err;
  }
  reporter.finish();

  const { result, artifacts } = trained;
  try {
    await writeModelDir(outDir, { ...artifacts, meta: { ...artifacts.meta } }, { overwrite: true });
  } finally {
    result.model.dispose();
  }
  if (checkpointing) await removeCheckpoint(checkpointDir);

  const best = artifacts.meta.metrics.best;
  const note = shortfallNote(artifacts.meta.config.training.maxSteps, result);
  if (note !== undefined) io.stderr.write(`note: ${note}\n`);
  const tokensPerSecond = finiteOrNull(result.tokensPerSecond);
  if (args.json) {
    writeJson(io, {
      modelDir: outDir,
      steps: result.steps,
      trainLoss: best.trainLoss,
      valLoss: best.valLoss,
      valPerplexity: best.valPerplexity,
      valBitsPerChar: best.valBitsPerChar,
      tokensPerSecond,
      backend: backend.name,
    });
  } else {
    io.stdout.write(
      [
        `model saved to ${outDir}`,
        `  steps       ${result.steps} (${result.stopReason}) in ${formatDuration(result.elapsedMs / 1000)}, ${Math.round(tokensPerSecond ?? 0)} tokens/s`,
        `  train loss  ${fixed(best.trainLoss, 4)}`,
        best.valLoss === null
          ? '  val loss    - (no validation text)'
          : `  val loss    ${best.valLoss.toFixed(4)}  perplexity ${fixed(best.valPerplexity, 2)}  ${fixed(best.valBitsPerChar, 3)} bits/char`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}
