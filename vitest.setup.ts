import { afterAll } from 'vitest';

// Test files share their worker's process (isolate: false in vitest.config.ts). Whatever a file sets
// in process.env is undone when it ends, so the next file in that worker starts from the same place.
const before = { ...process.env };

afterAll(() => {
  for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
  Object.assign(process.env, before);
});
