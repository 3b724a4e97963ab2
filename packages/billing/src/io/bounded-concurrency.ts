/**
 * Runs `task(0)` … `task(total - 1)` with at most `concurrency` (at least 1) in flight, starting them
 * in index order. Once `signal` is aborted no new task starts; those in flight finish. Rejects with
 * the first failure, as Promise.all does (tasks already running still run to their end).
 */
export async function forEachBounded(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<unknown>,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total && !options.signal?.aborted) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), total) }, worker));
}
