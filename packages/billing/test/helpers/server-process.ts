import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('../../src/entry/server/main.ts', import.meta.url));

/** A `npm start` server run from the sources as a child process, once it listens. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** The tail of what it printed (stdout and stderr). */
  output: () => string;
}

/**
 * Starts src/entry/server/main.ts with `env` on PORT=0 and resolves with the port it says it listens on.
 * The OS picks the port at bind time, so two suites on one machine never collide: a port found free
 * beforehand (and bound a moment later) can be taken by another suite's server in between, and the
 * health check then reaches that server (with its own tokens) instead of this one.
 */
export async function startServerProcess(
  env: NodeJS.ProcessEnv,
  options: { deadlineMs?: number; track?: Set<ChildProcess> } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.track?.add(child);
  let output = '';
  let port: number | undefined;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    // The listening line is read as it arrives: only the tail is kept (a line per request at info).
    port ??= portIn(output.slice(-200) + text);
    output = (output + text).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const deadline = Date.now() + (options.deadlineMs ?? 150_000);
  for (;;) {
    if (port !== undefined) return { child, port, output: () => output };
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`server did not listen in time:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function portIn(text: string): number | undefined {
  const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}
