// The interrupt handler on its own: bars stopped before the line, output silenced, cleanups run, one line, 130; and the lines each command composes.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { watchInterrupts } from '../../src/cli/interrupt.js';
import { createOutput } from '../../src/cli/output.js';
import { withProgress } from '../../src/cli/progress.js';
import { describeInterruptedBackfill } from '../../src/cli/actions/backfill.js';
import { describeInterruptedMigrate } from '../../src/cli/actions/migrate.js';
import type { ProgressEvent } from '../../src/logger.js';
import { recorder, timers } from '../support/recorder.js';

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('watchInterrupts', () => {
  it('Ctrl-C during a bar: bar stopped, later output dropped, cleanups run, one line last, exit 130; a second Ctrl-C exits at once', async () => {
    const tty = recorder(true);
    const stdout = recorder(false);
    const output = createOutput({ stderr: tty.stream, stdout: stdout.stream, env: { NO_COLOR: '1' } });
    const signals = new EventEmitter();
    const exits: number[] = [];
    const watch = watchInterrupts(output, 'backfill', { signals, exit: (code) => exits.push(code) });
    const order: string[] = [];
    watch.scope.describe((progress) => {
      const e = [...progress.values()][0];
      return `backfill stopped at ${e.done}/${e.total}`;
    });
    watch.scope.onCleanup(async () => {
      await tick();
      order.push('cleanup');
    });
    const before = timers();
    let release!: () => void;
    const work = withProgress(output, { interrupt: watch.scope }, async (onProgress) => {
      onProgress!({ kind: 'backfill', task: 'public.deals', done: 50, total: 100 });
      expect(timers()).toBe(before + 1); // the bar's redraw timer
      await new Promise<void>((r) => (release = r));
    });
    signals.emit('SIGINT');
    expect(watch.interrupted).toBe(true);
    output.data('a table printed by the work being torn down');
    output.warn('a warning from the work being torn down');
    await watch.finished;
    expect(timers()).toBe(before); // the bar's redraw timer is gone: stopped (and no cleanup timer left)
    expect(exits).toEqual([130]);
    expect(order).toEqual(['cleanup']);
    const text = tty.text();
    expect(text).toContain('public.deals');
    expect(text.endsWith('interrupted: backfill stopped at 50/100\n')).toBe(true);
    expect(text).not.toContain('torn down');
    expect(stdout.text()).toBe('');
    signals.emit('SIGINT');
    expect(exits).toEqual([130, 130]);
    release();
    await work;
    watch.dispose();
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });

  it('SIGTERM exits 143; without a description the line names the command; a dispose()d watch ignores signals', async () => {
    const err = recorder(false);
    const output = createOutput({ stderr: err.stream, stdout: recorder(false).stream, env: {} });
    const signals = new EventEmitter();
    const exits: number[] = [];
    const watch = watchInterrupts(output, 'policies apply', { signals, exit: (code) => exits.push(code) });
    signals.emit('SIGTERM');
    await watch.finished;
    expect(exits).toEqual([143]);
    expect(err.text()).toBe('interrupted: policies apply stopped; run the same command again\n');
    watch.dispose();
    const other = watchInterrupts(output, 'audit', { signals, exit: (code) => exits.push(code) });
    other.dispose();
    signals.emit('SIGINT');
    await tick();
    expect(exits).toEqual([143]);
  });
});

describe('the lines commands compose', () => {
  const log = (...events: ProgressEvent[]) => new Map(events.map((e) => [`${e.kind} ${e.task}`, e]));

  it('backfill: the run and the rows filled over every table; before its run: nothing written', () => {
    const progress = log(
      { kind: 'backfill', task: 'deals', done: 9000, total: 9000, detail: { changed: 4500 } },
      { kind: 'backfill', task: 'activities', done: 8000, total: 20000, detail: { changed: 7500 } },
    );
    expect(describeInterruptedBackfill('backfill-1', progress)).toBe('backfill run backfill-1 stopped after 12,000 rows filled; run the same command again to resume');
    expect(describeInterruptedBackfill('backfill-1', new Map())).toBe('backfill run backfill-1 stopped; run the same command again to resume');
    expect(describeInterruptedBackfill(undefined, progress)).toMatch(/^backfill stopped before its run started \(nothing was written\)/);
  });

  it('migrate: during a file (index phase: the INVALID index note), after a finished file, before any', () => {
    const partway = log({ kind: 'migrate-file', task: '0002_tenancy-index', done: 3, total: 29 });
    expect(describeInterruptedMigrate('up', '0002_tenancy-index', partway)).toBe(
      'migrate up stopped during 0002_tenancy-index; rerun `crm-tenancy migrate` (an INVALID index left by the interrupted build is dropped and rebuilt)',
    );
    expect(describeInterruptedMigrate('up', '0003_tenancy-validate', new Map())).toBe(
      'migrate up stopped during 0003_tenancy-validate; rerun `crm-tenancy migrate` (the file runs again from its start)',
    );
    const finished = log({ kind: 'migrate-file', task: '0001_tenancy-expand', done: 29, total: 29 });
    expect(describeInterruptedMigrate('down', '0001_tenancy-expand', finished)).toBe('migrate down stopped after 0001_tenancy-expand; rerun `crm-tenancy migrate down` to continue');
    expect(describeInterruptedMigrate('up', undefined, new Map())).toBe('migrate up stopped before any migration ran; rerun `crm-tenancy migrate`');
  });
});
