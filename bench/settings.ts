/**
 * A peer (PyTorch, onnxruntime) runs each measure at several thread settings; its figure for
 * a measure is the best setting's, and every setting's figure is kept beside it.
 */

/** One figure per setting that was run, and the setting that did best. */
export interface PerSetting<T, S extends string = string> {
  settings: Partial<Record<S, T>>;
  winner: S;
}

/** The winning setting's figure. */
export function best<T, S extends string>(p: PerSetting<T, S>): T {
  const figure = p.settings[p.winner];
  if (figure === undefined) throw new Error(`no figure for the winning setting ${p.winner}`);
  return figure;
}

/** The setting with the best score (`better(a, b)` true when a beats b), in the settings' order. */
export function pickWinner<T, S extends string>(
  settings: Partial<Record<S, T>>,
  score: (v: T) => number,
  better: (a: number, b: number) => boolean,
): PerSetting<T, S> {
  let winner: S | undefined;
  let top = Number.NaN;
  for (const [s, v] of Object.entries(settings) as [S, T | undefined][]) {
    if (v === undefined) continue;
    const cur = score(v);
    if (winner === undefined || (Number.isFinite(cur) && (!Number.isFinite(top) || better(cur, top)))) {
      winner = s;
      top = cur;
    }
  }
  if (winner === undefined) throw new Error('no setting was run');
  return { settings, winner };
}

/** `figure(s)` at every setting of `order`, and the best of them by `score`. */
export function bestOf<T, S extends string>(
  order: readonly S[],
  figure: (s: S) => T,
  score: (v: T) => number,
  better: (a: number, b: number) => boolean,
): PerSetting<T, S> {
  return pickWinner(Object.fromEntries(order.map((s) => [s, figure(s)])) as Record<S, T>, score, better);
}

export const higher = (a: number, b: number): boolean => a > b;
export const lower = (a: number, b: number): boolean => a < b;

/** "1x1 14,200 · 1x2 3,100 …": every setting's figure in `order`, for the JSON-less reader. */
export function allSettings<T, S extends string>(
  order: readonly S[],
  p: PerSetting<T, S>,
  figure: (v: T) => string,
): string {
  return order
    .flatMap((s) => {
      const v = p.settings[s];
      return v === undefined ? [] : [`${s} ${figure(v)}`];
    })
    .join(' · ');
}
