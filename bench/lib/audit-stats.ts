// Alternating timed runs and medians for the audit benchmark (the machine is shared: interleave, never batch).
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Contender {
  name: string;
  /** One timed run; returns ms. */
  run: () => Promise<number>;
}

/**
 * Runs the contenders round-robin (A B C, B C A, C A B, … so none always goes first), `runs`
 * rounds, and returns every contender's times and median.
 */
export async function alternate(
  contenders: Contender[],
  runs: number,
  onRun?: (name: string, ms: number, round: number) => void,
): Promise<Map<string, { times: number[]; median: number }>> {
  const times = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length];
      const ms = await c.run();
      times.get(c.name)!.push(ms);
      onRun?.(c.name, ms, round);
    }
  }
  return new Map([...times].map(([name, t]) => [name, { times: t, median: median(t) }]));
}
