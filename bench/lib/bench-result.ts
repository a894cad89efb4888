// The one machine-readable line every benchmark prints last, for `npm run bench` (bench/run-all.ts).

export interface BenchMetric {
  metric: string;
  value: number;
  /** e.g. "≤ 1.10" */
  goal: string;
  pass: boolean;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

/** Prints `BENCH_RESULT {"bench":…,"results":[…]}` on stdout. */
export function emitBenchResult(bench: string, results: BenchMetric[]): void {
  console.log(`${RESULT_PREFIX}${JSON.stringify({ bench, results })}`);
}
