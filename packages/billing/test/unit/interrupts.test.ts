import { describe, expect, it } from 'vitest';
import { onInterrupt } from '../../src/process/interrupts.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('onInterrupt', () => {
  it('removed right after the first signal, it still swallows the copies of that signal until its window closes', async () => {
    const before = process.listenerCount('SIGINT');
    const calls: string[] = [];
    const remove = onInterrupt({
      onStop: (signal) => calls.push(`stop ${signal}`),
      onForce: (signal) => calls.push(`force ${signal}`),
      sameSignalMs: 60,
    });
    process.emit('SIGINT', 'SIGINT');
    remove();
    // npm's forwarded copy arrives after the work was done: handled (ignored), not the default action.
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('SIGINT', 'SIGINT');
    expect(calls).toEqual(['stop SIGINT']);
    await sleep(120);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('removed before any signal, or after the window, it is gone at once', async () => {
    const before = process.listenerCount('SIGTERM');
    const calls: string[] = [];
    const handlers = {
      onStop: (signal: NodeJS.Signals) => calls.push(`stop ${signal}`),
      onForce: (signal: NodeJS.Signals) => calls.push(`force ${signal}`),
      signals: ['SIGTERM'] as NodeJS.Signals[],
      sameSignalMs: 20,
    };
    onInterrupt(handlers)();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const remove = onInterrupt(handlers);
    process.emit('SIGTERM', 'SIGTERM');
    await sleep(40);
    // A later signal is a second request: stop now.
    process.emit('SIGTERM', 'SIGTERM');
    remove();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(calls).toEqual(['stop SIGTERM', 'force SIGTERM']);
  });
});
