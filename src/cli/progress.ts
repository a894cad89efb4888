// Progress of long work on stderr: bars on a terminal, a heartbeat line at most every 10 s otherwise.
import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressListener } from '../logger.js';
import type { InterruptScope } from './interrupt.js';
import type { Output } from './output.js';

/** How often, at most, a progress line is logged when stderr is not a terminal (CI logs). */
export const HEARTBEAT_MS = 10_000;

export interface ProgressOptions {
  /** --json: neither bars nor heartbeat (quiet mode keeps stderr to warnings and errors). */
  json?: boolean;
  /** Heartbeat interval; tests shorten it. */
  heartbeatMs?: number;
  /** The command's Ctrl-C scope: the bars are stopped before its line, and it sees every event. */
  interrupt?: InterruptScope;
}

export interface Progress {
  listener: ProgressListener;
  /** Nothing is shown (--json, quiet). */
  silent?: boolean;
  /** Stops the bars (their redraw timer) or the heartbeat; safe to call twice. */
  stop(): void;
}

/** Each kind of work draws its own bar; one bar per key. */
const KINDS: Record<ProgressEvent['kind'], { format: string; key: (e: ProgressEvent) => string; unit: string; width: number }> = {
  backfill: {
    format: ' {task} |{bar}| {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}',
    key: (e) => `backfill ${e.task}`,
    unit: 'rows',
    width: 24,
  },
  'migrate-file': { format: ' {task} |{bar}| {value}/{total} statements', key: (e) => `file ${e.task}`, unit: 'statements', width: 40 },
  // One bar for index builds: the next index takes it over.
  'index-build': { format: ' {task} |{bar}| {value}/{total} {unit} {phase}', key: () => 'index-build', unit: 'blocks', width: 40 },
  verify: { format: 'verify {bar} {value}/{total} {task}', key: () => 'verify', unit: 'probes', width: 0 },
  dedupe: { format: ' {task} |{bar}| {value}/{total} groups', key: (e) => `dedupe ${e.task}`, unit: 'groups', width: 24 },
  audit: { format: ' {task} |{bar}| {value}/{total} queries', key: () => 'audit', unit: 'queries', width: 24 },
};

function payload(e: ProgressEvent): Record<string, string | number> {
  const width = KINDS[e.kind].width;
  return {
    task: width > 0 ? e.task.slice(0, width).padEnd(width) : e.task,
    rate: e.detail?.rowsPerSec ?? 0,
    unit: e.detail?.unit ?? KINDS[e.kind].unit,
    phase: e.detail?.phase ?? '',
  };
}

/** One line describing an event, for logs: `backfill public.deals: 1200/5000 rows (24%), 800 rows/s`. */
export function describeProgress(e: ProgressEvent): string {
  const unit = String(e.detail?.unit ?? KINDS[e.kind].unit);
  const total = e.total !== undefined && e.total > 0 ? `/${e.total} ${unit} (${Math.floor((100 * e.done) / e.total)}%)` : ` ${unit}`;
  const extra = [
    e.detail?.phase ? String(e.detail.phase) : '',
    e.detail?.rowsPerSec !== undefined ? `${e.detail.rowsPerSec} rows/s` : '',
  ].filter(Boolean);
  const label = e.kind === 'index-build' || e.kind === 'verify' ? e.task : `${e.kind} ${e.task}`;
  return `${label}: ${e.done}${total}${extra.length ? `, ${extra.join(', ')}` : ''}`;
}

/** Bars on an interactive terminal; while they are drawn, every message goes through them. */
function bars(output: Output): Progress {
  const multi = new cliProgress.MultiBar(
    // gracefulExit off: on Ctrl-C the command's interrupt handler stops the bars (and says what stopped).
    { hideCursor: true, clearOnComplete: false, gracefulExit: false, stream: output.stderr, format: KINDS.backfill.format },
    cliProgress.Presets.shades_classic,
  );
  const active = new Map<string, cliProgress.SingleBar>();
  // cli-progress writes logged lines above the bars on its next redraw; before the first bar there
  // is nothing to overwrite, so lines go straight out.
  output.routeLines((text) => {
    if ((multi as unknown as { isActive: boolean }).isActive) multi.log(text);
    else output.stderr.write(text);
  });
  let stopped = false;
  return {
    listener: (e) => {
      if (stopped) return;
      const key = KINDS[e.kind].key(e);
      let bar = active.get(key);
      if (!bar) {
        bar = multi.create(e.total ?? e.done, e.done, payload(e), { format: KINDS[e.kind].format });
        active.set(key, bar);
      }
      if (e.total !== undefined) bar.setTotal(e.total);
      bar.update(e.done, payload(e));
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      // Flush lines logged since the last redraw, then stop the redraw timer (a live timer keeps
      // the process from exiting).
      if ((multi as unknown as { isActive: boolean }).isActive) multi.update();
      multi.stop();
      output.routeLines(undefined);
    },
  };
}

/** Without a terminal: the latest event, logged at most every `heartbeatMs`, so CI logs show life. */
function heartbeat(output: Output, everyMs: number): Progress {
  let latest: ProgressEvent | undefined;
  let logged: ProgressEvent | undefined;
  const started = Date.now();
  const timer = setInterval(() => {
    if (!latest) return;
    const seconds = Math.round((Date.now() - started) / 1000);
    const still = latest === logged ? ' (still running)' : '';
    output.stderr.write(`progress: ${describeProgress(latest)}${still} · ${seconds} s\n`);
    logged = latest;
  }, everyMs);
  // The heartbeat alone must never keep the process alive.
  timer.unref();
  return {
    listener: (e) => {
      latest = e;
    },
    stop: () => clearInterval(timer),
  };
}

/** Bars or heartbeat, as the output allows. Prefer withProgress, which always stops them. */
export function createProgress(output: Output, options: ProgressOptions = {}): Progress {
  if (options.json || output.quiet) return { listener: () => {}, stop: () => {}, silent: true };
  if (output.interactive) return bars(output);
  return heartbeat(output, options.heartbeatMs ?? HEARTBEAT_MS);
}

/**
 * Runs `fn` with a progress listener and stops the bars however fn ends: a bar left running after a
 * throw keeps its redraw timer alive and the process never exits.
 *
 * @example const result = await withProgress(ctx.output, { json }, (onProgress) => runBackfill({ …, onProgress }));
 */
export async function withProgress<T>(
  output: Output,
  options: ProgressOptions,
  fn: (onProgress: ProgressListener | undefined) => Promise<T>,
): Promise<T> {
  const progress = createProgress(output, options);
  const scope = options.interrupt;
  scope?.onStopDisplay(() => progress.stop());
  const listener: ProgressListener = scope
    ? (event) => {
        scope.record(event);
        progress.listener(event);
      }
    : progress.listener;
  try {
    // No listener when nothing is shown: core code then skips the work of measuring (migrate's
    // index-progress connection).
    return await fn(progress.silent ? undefined : listener);
  } finally {
    progress.stop();
  }
}
