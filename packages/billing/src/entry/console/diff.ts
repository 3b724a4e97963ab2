/** One changed leaf of an audit snapshot, e.g. `features.max_users: 10 → 50`. */
export interface DiffLine {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  before: unknown;
  after: unknown;
}

/**
 * The leaves that differ between two audit snapshots (JSON values), objects flattened to dotted
 * paths so `features.sso` reads as one line. Arrays and scalars are compared as a whole.
 */
export function diffSnapshots(before: unknown, after: unknown): DiffLine[] {
  const lines: DiffLine[] = [];
  walk('', before, after, lines);
  return lines.sort((a, b) => a.path.localeCompare(b.path));
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function walk(path: string, before: unknown, after: unknown, out: DiffLine[]): void {
  if (isObject(before) && isObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const sub = path ? `${path}.${key}` : key;
      if (!Object.hasOwn(after, key)) collect(sub, before[key], 'removed', out);
      else if (!Object.hasOwn(before, key)) collect(sub, after[key], 'added', out);
      else walk(sub, before[key], after[key], out);
    }
    return;
  }
  if (before === undefined || before === null) {
    if (after !== undefined && after !== null) collect(path, after, 'added', out);
    return;
  }
  if (after === undefined || after === null) {
    collect(path, before, 'removed', out);
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after))
    out.push({ path: path || '(value)', kind: 'changed', before, after });
}

/** A whole object added or removed shows as one line per leaf, like the changed case. */
function collect(path: string, value: unknown, kind: 'added' | 'removed', out: DiffLine[]): void {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [key, v] of Object.entries(value)) collect(path ? `${path}.${key}` : key, v, kind, out);
    return;
  }
  out.push({
    path: path || '(value)',
    kind,
    before: kind === 'removed' ? value : undefined,
    after: kind === 'added' ? value : undefined,
  });
}

export function formatJsonValue(v: unknown): string {
  if (v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
