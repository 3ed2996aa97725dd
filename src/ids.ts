/**
 * The ids the service hands out, shared by the API, the queue, the worker, inference and
 * storage. Every id is checked against its pattern before it is used in a key or a path.
 */

/** Job ids as the job service makes them (`job_` + 26 base32 characters); checked before any use. */
export const JOB_ID_PATTERN = /^job_[a-z0-9]{26}$/;
/** Model ids: `mdl_` + the suffix of the job that trained the model. */
export const MODEL_ID_PATTERN = /^mdl_[a-z0-9]{26}$/;

/** Handles of kept recurrent states (`st_` + 26 base32 characters), as the state store makes them. */
export const STATE_ID_PATTERN = /^st_[a-z0-9]{26}$/;

/** Whether `id` is one this service could have generated (checked before any use). */
export function isJobId(id: string): boolean {
  return JOB_ID_PATTERN.test(id);
}

export function isModelId(id: string): boolean {
  return MODEL_ID_PATTERN.test(id);
}

/** The model job `jobId` publishes: named after the job, so a retry cannot publish twice. */
export function modelIdOfJob(jobId: string): string {
  return `mdl_${jobId.slice('job_'.length)}`;
}

/** The job that trains model `modelId`; undefined when `modelId` is not a model id. */
export function jobIdOfModel(modelId: string): string | undefined {
  return isModelId(modelId) ? `job_${modelId.slice('mdl_'.length)}` : undefined;
}

export function isStateId(id: string): boolean {
  return STATE_ID_PATTERN.test(id);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 26 base32 characters: 130 random bits, lowercase, safe in paths, keys and URLs. */
function randomBase32(): string {
  // Web Crypto, not node:crypto: the dashboard bundle reads these patterns too.
  const bytes = crypto.getRandomValues(new Uint8Array(26));
  let out = '';
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

export function newJobId(): string {
  return `job_${randomBase32()}`;
}

export function newModelId(): string {
  return `mdl_${randomBase32()}`;
}

export function newStateId(): string {
  return `st_${randomBase32()}`;
}
