import { errors } from '../../errors.js';
import { CURRENT_NORMALIZATION, normalizeText, type Normalization } from './normalize.js';
import type { BpeTokenizerJSON, Tokenizer } from './types.js';

/** Vocabulary size a bpe tokenizer is trained to when none is asked for. */
export const BPE_DEFAULT_VOCAB_SIZE = 512;
/** Largest bpe vocabulary: ids stay below it so a pair of ids packs into one exact number. */
export const BPE_MAX_VOCAB_SIZE = 1 << 20;

/**
 * GPT-2's pre-tokenization: contractions, letter runs, digit runs and other-symbol runs, each
 * with at most one leading space, and whitespace runs. Merges never cross these chunks, so a
 * token never spans a word boundary, and every code point falls in some alternative, so the
 * chunks always concatenate back to the input.
 */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Distinct chunks whose encodings {@link BpeTokenizer} keeps before it starts the cache over. */
const CHUNK_CACHE_LIMIT = 65_536;

/** Splits text into the chunks that bpe merges stay within; they concatenate to `text`. */
export function preTokenize(text: string): string[] {
  return text.match(PRETOKENIZE) ?? [];
}

function pairKey(left: number, right: number): number {
  return left * BPE_MAX_VOCAB_SIZE + right;
}

/**
 * Max-heap of (count, pair key), highest count first and on equal counts the lowest key,
 * i.e. the lowest (left, right): that order is the merge tie-break. Entries may be stale;
 * the trainer checks them against the live counts when it pops them.
 */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top entry and returns it as [count, key]; only call when size > 0. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0] ?? 0, this.keys[0] ?? 0];
    const lastCount = this.counts.pop() ?? 0;
    const lastKey = this.keys.pop() ?? 0;
    const n = this.keys.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.before(l, best)) best = l;
        if (r < n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const ca = this.counts[a] ?? 0;
    const cb = this.counts[b] ?? 0;
    return ca > cb || (ca === cb && (this.keys[a] ?? 0) < (this.keys[b] ?? 0));
  }

  private swap(a: number, b: number): void {
    const c = this.counts[a] ?? 0;
    this.counts[a] = this.counts[b] ?? 0;
    this.counts[b] = c;
    const k = this.keys[a] ?? 0;
    this.keys[a] = this.keys[b] ?? 0;
    this.keys[b] = k;
  }
}

/** Replaces every non-overlapping (left, right), scanning left to right, with `merged`. */
function mergePair(ids: readonly number[], left: number, right: number, merged: number): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < ids.length) {
    if (ids[i] === left && ids[i + 1] === right) {
      out.push(merged);
      i += 2;
    } else {
      out.push(ids[i] ?? 0);
      i += 1;
    }
  }
  return out;
}

/** Options of {@link BpeTokenizer.train}. */
export interface BpeTrainOptions {
  /** Target vocabulary size, 256 bytes plus the merges; default 512, at least 257. */
  vocabSize?: number | undefined;
}

/**
 * Byte-level BPE: ids 0..255 are the bytes of the UTF-8 encoding, and merge i makes id
 * 256 + i. Any text is encodable without an unknown token, and decoding the ids of a
 * well-formed string gives it back exactly. Lone surrogates are not well-formed: TextEncoder
 * turns them into U+FFFD, so those (and only those) do not round-trip.
 */
export class BpeTokenizer implements Tokenizer {
  readonly type = 'bpe' as const;
  readonly unkId = undefined;
  readonly eosId = undefined;
  readonly vocabSize: number;
  readonly boundaryIds: readonly number[];
  readonly suppressIds: readonly number[];
  readonly normalization: Normalization | undefined;
  /** The characters of the training text (see BpeTokenizerJSON.alphabet); undefined for older tokenizers. */
  readonly alphabet: string | undefined;
  /** Byte values of the training text; undefined for a tokenizer saved before they were kept. */
  private readonly seenBytes: readonly number[] | undefined;
  private readonly merges: readonly (readonly [number, number])[];
  /** Pair key → merge rank; the merged id is 256 + rank. */
  private readonly ranks: ReadonlyMap<number, number>;
  private readonly bytes: readonly Uint8Array[];
  private readonly cache = new Map<string, readonly number[]>();
  private readonly encoder = new TextEncoder();
  // ignoreBOM keeps a leading U+FEFF, which the default decoder would silently drop.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /**
   * @param merges merge i joins [left, right] into id 256 + i; both must be ids that exist
   *   before it. Trusted as is, so untrusted JSON goes through `tokenizerFromJSON`.
   * @param seenBytes the byte values the training text contained; generation never emits the
   *   other byte tokens. Undefined (a tokenizer saved before they were kept): none suppressed.
   */
  constructor(
    merges: readonly (readonly [number, number])[],
    seenBytes?: readonly number[],
    recorded: { alphabet?: string | undefined; normalization?: Normalization | undefined } = {},
  ) {
    this.alphabet = recorded.alphabet;
    this.normalization = recorded.normalization;
    this.merges = merges.map(([left, right]) => [left, right] as const);
    this.seenBytes = seenBytes === undefined ? undefined : [...new Set(seenBytes)].sort((a, b) => a - b);
    const seen = new Set(this.seenBytes ?? Array.from({ length: 256 }, (_, b) => b));
    this.suppressIds = Array.from({ length: 256 }, (_, b) => b).filter((b) => !seen.has(b));
    this.vocabSize = 256 + this.merges.length;
    this.ranks = new Map(this.merges.map(([left, right], rank) => [pairKey(left, right), rank] as const));
    const bytes: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    for (const [left, right] of this.merges) {
      const a = bytes[left] ?? new Uint8Array();
      const b = bytes[right] ?? new Uint8Array();
      const joined = new Uint8Array(a.length + b.length);
      joined.set(a);
      joined.set(b, a.length);
      bytes.push(joined);
    }
    this.bytes = bytes;
    this.boundaryIds = this.encode('\n');
  }

  /**
   * Learns merges from `text`: counts each distinct pre-tokenized chunk once with its
   * frequency, then repeatedly merges the most frequent adjacent pair (ties: lowest
   * (left, right)) until `vocabSize` is reached or no pair occurs twice. Pair counts are
   * updated only in the chunks that hold the merged pair, so a megabyte corpus trains in
   * well under a second where a recount per merge would take minutes.
   */
  static train(text: string, options: BpeTrainOptions = {}): BpeTokenizer {
    const { vocabSize = BPE_DEFAULT_VOCAB_SIZE } = options;
    if (!(Number.isInteger(vocabSize) && vocabSize >= 257 && vocabSize <= BPE_MAX_VOCAB_SIZE)) {
      throw errors.outOfRange(
        'vocabSize',
        `of a bpe tokenizer must be an integer from 257 to ${BPE_MAX_VOCAB_SIZE}`,
        vocabSize,
      );
    }

    const normalized = normalizeText(text, CURRENT_NORMALIZATION);
    const chunkCounts = new Map<string, number>();
    for (const chunk of preTokenize(normalized)) chunkCounts.set(chunk, (chunkCounts.get(chunk) ?? 0) + 1);
    const encoder = new TextEncoder();
    const words: number[][] = [];
    const freqs: number[] = [];
    const seenBytes = new Set<number>();
    for (const [chunk, count] of chunkCounts) {
      const ids = Array.from(encoder.encode(chunk));
      for (const byte of ids) seenBytes.add(byte);
      // A one-byte chunk has no pair and can never change.
      if (ids.length < 2) continue;
      words.push(ids);
      freqs.push(count);
    }

    const pairCounts = new Map<number, number>();
    // Pair key → chunks that hold (or once held) it; stale members just merge nothing.
    const where = new Map<number, Set<number>>();
    const addPairs = (w: number, delta: number, track: boolean): void => {
      const ids = words[w] ?? [];
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = pairKey(ids[i] ?? 0, ids[i + 1] ?? 0);
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + delta);
        if (track) {
          let set = where.get(key);
          if (set === undefined) where.set(key, (set = new Set()));
          set.add(w);
        }
      }
    };
    for (let w = 0; w < words.length; w++) addPairs(w, freqs[w] ?? 0, true);

    const heap = new PairHeap();
    for (const [key, count] of pairCounts) heap.push(count, key);

    const merges: [number, number][] = [];
    while (256 + merges.length < vocabSize && heap.size > 0) {
      const [count, key] = heap.pop();
      const live = pairCounts.get(key) ?? 0;
      // Counts of existing pairs only ever fall (new pairs all contain the new id), so a
      // stale entry overstates: requeue it at its live count and look again.
      if (count !== live) {
        if (live > 0) heap.push(live, key);
        continue;
      }
      if (live < 2) break;

      const left = Math.floor(key / BPE_MAX_VOCAB_SIZE);
      const right = key % BPE_MAX_VOCAB_SIZE;
      const merged = 256 + merges.length;
      merges.push([left, right]);
      // The pairs that contain the new id are the only ones whose counts grow, so they are
      // the only ones the heap needs new entries for.
      const fresh = new Set<number>();
      for (const w of where.get(key) ?? []) {
        const ids = words[w] ?? [];
        const next = mergePair(ids, left, right, merged);
        if (next.length === ids.length) continue;
        const freq = freqs[w] ?? 0;
        addPairs(w, -freq, false);
        words[w] = next;
        addPairs(w, freq, true);
        for (let i = 0; i + 1 < next.length; i++) {
          if (next[i] === merged || next[i + 1] === merged)
            fresh.add(pairKey(next[i] ?? 0, next[i + 1] ?? 0));
        }
      }
      where.delete(key);
      pairCounts.delete(key);
      for (const k of fresh) heap.push(pairCounts.get(k) ?? 0, k);
    }
    const alphabet = [...new Set(normalized)].sort(
      (a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0),
    );
    return new BpeTokenizer(merges, [...seenBytes], {
      alphabet: alphabet.join(''),
      normalization: CURRENT_NORMALIZATION,
    });
  }

  normalize(text: string): string {
    return normalizeText(text, this.normalization);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of preTokenize(this.normalize(text))) {
      for (const id of this.encodeChunk(chunk)) out.push(id);
    }
    return out;
  }

  /** Concatenates the tokens' bytes and decodes them, with U+FFFD for any broken sequence. */
  decode(ids: readonly number[]): string {
    const parts = ids.map((id) => this.entry(id));
    const buffer = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      buffer.set(part, offset);
      offset += part.length;
    }
    return this.decoder.decode(buffer);
  }

  /** The token's bytes as text; a token that ends mid-character shows U+FFFD for the rest. */
  tokenText(id: number): string {
    return this.decoder.decode(this.entry(id));
  }

  /** A copy of the UTF-8 bytes token `id` stands for, for decoding a token stream. */
  tokenBytes(id: number): Uint8Array {
    return this.entry(id).slice();
  }

  toJSON(): BpeTokenizerJSON {
    return {
      type: 'bpe',
      merges: this.merges.map(([left, right]) => [left, right]),
      ...(this.seenBytes === undefined ? {} : { seenBytes: [...this.seenBytes] }),
      ...(this.alphabet === undefined ? {} : { alphabet: this.alphabet }),
      ...(this.normalization === undefined ? {} : { normalize: this.normalization }),
    };
  }

  /**
   * Applies merges by rank, lowest first, which gives the same ids as replaying them in
   * training order: a merge can only create pairs that contain its new id, and those rank
   * after it.
   */
  private encodeChunk(chunk: string): readonly number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    let ids = Array.from(this.encoder.encode(chunk));
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.ranks.get(pairKey(ids[i] ?? 0, ids[i + 1] ?? 0));
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      const merge = this.merges[bestRank];
      if (merge === undefined) break;
      ids = mergePair(ids, merge[0], merge[1], 256 + bestRank);
    }
    // A service encodes unbounded distinct text; starting over keeps memory bounded.
    if (this.cache.size >= CHUNK_CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, ids);
    return ids;
  }

  private entry(id: number): Uint8Array {
    const bytes = this.bytes[id];
    if (bytes === undefined)
      throw new RangeError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    return bytes;
  }
}
