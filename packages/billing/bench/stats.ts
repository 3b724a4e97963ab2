/** Small helpers shared by the benchmarks: percentiles, timing, memory sampling, table printing. */
import { forEachBounded } from '../src/io/bounded-concurrency.js';

/** The middle value (the mean of the two middle ones for an even count); 0 for none. */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}

/** Runs `task` `total` times with at most `concurrency` in flight; returns per-call latencies (ms, sorted) and wall time. */
export async function runConcurrently(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
) {
  const latencies: number[] = [];
  const started = performance.now();
  await forEachBounded(total, concurrency, async (i) => {
    const t0 = performance.now();
    await task(i);
    latencies.push(performance.now() - t0);
  });
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { latencies, wallMs };
}

/** Samples RSS every 50 ms while `fn` runs and reports the peak in MiB. */
export async function withPeakMemory<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssMiB: Math.round(peak / 1024 / 1024) };
  } finally {
    clearInterval(timer);
  }
}

/** `a / b` as "1.42×" (two significant decimals). */
export function ratio(a: number, b: number): string {
  if (!(b > 0)) return 'n/a';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** "met (goal)" / "NOT met (goal)": the targets column. */
export function verdict(met: boolean, goal: string): string {
  return `${met ? 'met' : 'NOT met'}: ${goal}`;
}

export interface BenchRow {
  benchmark: string;
  [metric: string]: string | number;
}

export function printTable(rows: BenchRow[]): void {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === undefined ? '' : typeof v === 'number' ? formatNumber(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(columns));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (n >= 100) return n.toFixed(0);
  // Sub-millisecond latencies keep two significant digits (0.0031), larger ones two decimals.
  return Math.abs(n) < 0.1 ? n.toPrecision(2) : n.toFixed(2);
}
