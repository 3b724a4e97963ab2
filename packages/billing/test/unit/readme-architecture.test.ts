import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The README's architecture tree names every folder of packages/billing/src and nothing that is not
// there, so a new folder (or a removed one) cannot leave the map behind.
const repo = new URL('../../../../', import.meta.url);

describe('README architecture tree', () => {
  it('lists exactly the folders of packages/billing/src', () => {
    const readme = readFileSync(new URL('README.md', repo), 'utf8');
    const section = readme.slice(readme.indexOf('## Architecture'));
    const tree = section.slice(
      section.indexOf('```') + 3,
      section.indexOf('```', section.indexOf('```') + 3),
    );
    const listed = [...tree.matchAll(/^\s+src\/([a-z-]+)\/\s/gm)].map((m) => m[1]!).sort();
    const folders = readdirSync(new URL('packages/billing/src/', repo), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(listed).toEqual(folders);
  });
});
