/**
 * What an Idempotency-Key stands for: the job its first request created and a fingerprint of
 * that request, so a retry can be told from a different request sent with the same key (the
 * IETF Idempotency-Key draft and Stripe answer the latter 422).
 */
import { createHash } from 'node:crypto';

import type { SubmitInput } from './types.js';

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted, so the same request always yields the same text. */
function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return { sha256: sha256(value) };
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

/**
 * A digest of everything a submission asks for. A corpus counts by its bytes, so the same
 * text sent as JSON or as a file upload is the same request.
 */
export function requestFingerprint(input: SubmitInput): string {
  const bytesOf = (source: SubmitInput['corpus']) =>
    'text' in source ? Buffer.from(source.text, 'utf8') : source.bytes;
  const validation =
    input.validation === undefined || 'fraction' in input.validation
      ? input.validation
      : bytesOf(input.validation);
  return sha256(JSON.stringify(canonical({ ...input, corpus: bytesOf(input.corpus), validation })));
}

/** The value stored under an idempotency key. */
export function idempotencyClaim(jobId: string, fingerprint: string): string {
  return `${jobId} ${fingerprint}`;
}

/** An idempotency key's value; keys stored before fingerprints hold the job id alone. */
export function parseIdempotencyClaim(
  value: string | null,
): { id: string; fingerprint: string | undefined } | undefined {
  if (value === null) return undefined;
  const [id = '', fingerprint] = value.split(' ');
  return { id, fingerprint };
}
