export interface ProgressWriter {
  write(chunk: string): unknown;
}

export interface Progress {
  update(done: number, total: number, label?: string | null): void;
  /** Removes a TTY bar so the next output starts on a clean line. */
  finish(): void;
}

/**
 * On a terminal: one self-overwriting bar. Elsewhere (CI logs, pipes) carriage returns turn into
 * garbage, so plain lines are written instead, about every 5% to keep big runs' logs short.
 */
export function createProgress(
  out: ProgressWriter,
  options: { isTTY: boolean; columns?: number; now?: () => number },
): Progress {
  const now = options.now ?? Date.now;
  let drawn = false;
  let lastLine = -1;
  let lastDrawAt = 0;

  return {
    update(done, total, label) {
      if (options.isTTY) {
        // Redrawing more than ~20 times a second only costs terminal time.
        const t = now();
        if (done < total && t - lastDrawAt < 50) return;
        lastDrawAt = t;
        out.write(`\r\x1b[2K${renderBar(done, total, label ?? null, options.columns ?? 80)}`);
        drawn = true;
        return;
      }
      const step = Math.max(1, Math.ceil(total / 20));
      if (done === total || done - lastLine >= step || lastLine < 0) {
        lastLine = done;
        out.write(`progress: ${done}/${total} (${percent(done, total)}%)\n`);
      }
    },
    finish() {
      if (drawn) out.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

export function renderBar(done: number, total: number, label: string | null, columns: number): string {
  const counter = `${done}/${total} ${String(percent(done, total)).padStart(3)}%`;
  const width = Math.max(10, Math.min(40, columns - counter.length - 30));
  const filled = total === 0 ? width : Math.min(width, Math.round((done / total) * width));
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const room = columns - bar.length - counter.length - 3;
  const tail = label && room > 3 ? ` ${label.length > room ? `${label.slice(0, room - 1)}…` : label}` : '';
  return `${bar} ${counter}${tail}`;
}

function percent(done: number, total: number): number {
  return total === 0 ? 100 : Math.floor((done / total) * 100);
}
