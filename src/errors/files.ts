import { coded } from './coded.js';

/**
 * Failures of the files the service keeps: models, checkpoints, corpora and the texts the CLI
 * reads. A path in a message is cut to its last part before a client sees it (redactPaths).
 */
export const fileErrors = {
  /**
   * No model of that id, or in that directory where one is read by path (a client sees the
   * directory's last part, its id): one message wherever a model is looked up.
   */
  modelNotFound: (modelId: string) =>
    coded('RNNLM_MODEL_NOT_FOUND', `model ${modelId} not found`, { modelId }),
  modelMetaMissing: (modelId: string) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `model ${modelId} has no meta.json`, { modelId }),
  modelMetaInvalid: (modelId: string, at: string) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `model ${modelId}: meta.json is not a model description (${at})`, {
      modelId,
    }),
  weightsNonfinite: (model: string, file: string, weight: string, index: number, value: number) =>
    coded(
      'RNNLM_MODEL_NONFINITE',
      `model ${model} cannot be used: its weights hold ${String(value)} (in ${weight}, ` +
        `element ${index}); it was saved from a training run that diverged. Train it again`,
      { file, weight, index },
    ),
  /** A file of a verified directory that is missing, malformed or does not match its hash. */
  corrupt: (path: string, file: string, problem: string) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `${path}: ${problem}`, { path, file }),
  checkpointNotFound: (path: string) =>
    coded('RNNLM_CHECKPOINT_NOT_FOUND', `no checkpoint at ${path}`, { path }),
  pathExists: (path: string) =>
    coded('RNNLM_INVALID_CONFIG', `${path} already exists; refusing to replace it`, { path }),
  fileNotFound: (what: string, path: string) =>
    coded('RNNLM_FILE_NOT_FOUND', `${what} not found: ${path}`, { path }),
  fileNotUtf8: (what: string, path: string, cause: unknown) =>
    coded('RNNLM_INVALID_TEXT', `${what} ${path} is not valid UTF-8 text`, { path }, cause),
  corpusRefInvalid: (ref: string) =>
    coded('RNNLM_FILE_NOT_FOUND', `not a corpus reference: ${JSON.stringify(ref)}`),
  corpusMissing: (sha256: string, path: string) =>
    coded('RNNLM_FILE_NOT_FOUND', `corpus ${sha256} not found: ${path}`, { path }),
  corpusHashMismatch: (path: string, actual: string) =>
    coded('RNNLM_ARTIFACT_CORRUPT', `corpus ${path} does not hash to its name (${actual})`, { path }),
  /** A full disk, reported with the code and a message about space, without paths. */
  diskFull: (cause?: unknown) =>
    coded(
      'RNNLM_DISK_FULL',
      'no space left on the data volume; free disk space (or grow the volume) and it carries on',
      undefined,
      cause,
    ),
};
