/**
 * The published model directories, as files: one sub-directory per model under the models
 * directory. Model ids are checked against a strict pattern before any path is built from
 * them, so a request can only ever reach a directory directly under the models directory.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { isModelId } from '../ids.js';
import { errors, isRnnlmError } from '../errors.js';
import { readModelDir, readModelMeta, type ModelArtifacts } from './artifacts.js';
import { isNotFound } from './fs-atomic.js';

export class ModelDirs {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** The directory of model `id`; undefined when `id` is not a model id. */
  dirOf(id: string): string | undefined {
    return isModelId(id) ? join(this.dir, id) : undefined;
  }

  /** The ids of the model directories (a missing models directory holds none). */
  async ids(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter(isModelId);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /**
   * The raw meta.json of model `id`; undefined when there is no such model.
   * @throws RnnlmError `RNNLM_ARTIFACT_CORRUPT` when the directory exists without meta.json.
   */
  async meta(id: string): Promise<Record<string, unknown> | undefined> {
    const dir = this.dirOf(id);
    if (dir === undefined) return undefined;
    try {
      return await readModelMeta(dir);
    } catch (err) {
      if (!isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND')) throw err;
      // Published directories always hold meta.json; one without it is damaged.
      if (await isDirectory(dir)) throw errors.modelMetaMissing(id);
      return undefined;
    }
  }

  /**
   * Everything a model is loaded from.
   * @throws RnnlmError `RNNLM_MODEL_NOT_FOUND` when there is no such model,
   * `RNNLM_ARTIFACT_CORRUPT` when its files are damaged or incomplete.
   */
  async read(id: string): Promise<ModelArtifacts> {
    const dir = this.dirOf(id);
    if (dir === undefined) throw errors.modelNotFound(id);
    try {
      return await readModelDir(dir);
    } catch (err) {
      if (isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND')) {
        if (await isDirectory(dir)) throw errors.modelMetaMissing(id);
        throw errors.modelNotFound(id);
      }
      throw err;
    }
  }

  /** Removes model `id`'s directory; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const dir = this.dirOf(id);
    if (dir === undefined || !(await isDirectory(dir))) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
