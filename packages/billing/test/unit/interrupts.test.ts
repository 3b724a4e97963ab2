import { describe, expect, it } from 'vitest';
import { onInterrupt } from '../../src/io/process/interrupts.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('onInterrupt', () => {
  it('removed after a signal, it swallows late copies of that signal (past the window) for lateCopyMs, then goes', async () => {
    const before = process.listenerCount('SIGINT');
    const calls: string[] = [];
    const remove = onInterrupt({
      onStop: (signal) => calls.push(`stop ${signal}`),
      onForce: (signal) => calls.push(`force ${signal}`),
      sameSignalMs: 20,
      lateCopyMs: 120,
    });
    process.emit('SIGINT', 'SIGINT');
    remove();
    // npm's forwarded copy arrives after the work was done, later than the same-signal window (a loaded
    // machine delays npm's event loop): handled (ignored), not the default action that kills the process.
    await sleep(40);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('SIGINT', 'SIGINT');
    expect(calls).toEqual(['stop SIGINT']);
    await sleep(160);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('removed before any signal it is gone at once; while the work runs, a signal after the window forces', async () => {
    const before = process.listenerCount('SIGTERM');
    const calls: string[] = [];
    const handlers = {
      onStop: (signal: NodeJS.Signals) => calls.push(`stop ${signal}`),
      onForce: (signal: NodeJS.Signals) => calls.push(`force ${signal}`),
      signals: ['SIGTERM'] as NodeJS.Signals[],
      sameSignalMs: 20,
      lateCopyMs: 0,
    };
    onInterrupt(handlers)();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const remove = onInterrupt(handlers);
    process.emit('SIGTERM', 'SIGTERM');
    await sleep(40);
    // A later signal is a second request: stop now.
    process.emit('SIGTERM', 'SIGTERM');
    remove();
    await sleep(5);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(calls).toEqual(['stop SIGTERM', 'force SIGTERM']);
  });
});
