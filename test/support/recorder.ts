// A writable stream that records what is written to it, posing as a terminal or not; and the count of
// pending timers (a progress bar left running keeps one).
import { Writable } from 'node:stream';

export function recorder(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = 120;
  return { stream, chunks, text: () => chunks.join('') };
}

export const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
