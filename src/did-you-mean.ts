// "Did you mean …?" for names the user typed (check ids, option values, manifest tables and columns), the way commander does it for options.

/** Optimal-string-alignment distance: edits, plus a swap of two neighbours counted as one (typos). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidates closest to `input`, best first: within 40 % of the input's length in edits (the
 * threshold commander uses), or containing it as a whole word part (`tenant` → `null-tenant`).
 *
 * @example suggest('nul-tenant', ['null-tenant', 'rls-disabled']) // => ['null-tenant']
 */
export function suggest(input: string, candidates: readonly string[]): string[] {
  const typed = input.toLowerCase();
  const scored: { name: string; distance: number }[] = [];
  for (const name of new Set(candidates)) {
    const distance = editDistance(typed, name.toLowerCase());
    if (distance <= Math.max(1, Math.floor(typed.length * 0.4))) scored.push({ name, distance });
    else if (typed.length >= 4 && name.toLowerCase().split(/[-_.]/).includes(typed)) scored.push({ name, distance: typed.length });
  }
  scored.sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name));
  const best = scored[0]?.distance;
  return scored.filter((s) => s.distance === best || s.distance <= 2).map((s) => s.name).slice(0, 3);
}

/** " (did you mean X?)" — or "" when nothing is close. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const names = suggest(input, candidates);
  return names.length === 0 ? '' : ` (did you mean ${names.join(' or ')}?)`;
}
