import shapes from './fixtures/stripe-shapes.json' with { type: 'json' };

/**
 * Compares emulator objects with the field lists in fixtures/stripe-shapes.json (derived from
 * Stripe's published definitions by scripts/derive-stripe-shapes.ts). Reports fields Stripe
 * defines that are missing, fields Stripe does not define, null where Stripe never sends null,
 * and primitives of the wrong type; nested objects and lists are checked the same way.
 */
type Shapes = { objects: Record<string, string>; types: Record<string, Record<string, string>> };
const { objects, types } = shapes as Shapes;

const PRIMITIVES = new Set(['string', 'number', 'boolean']);

export function shapeProblems(value: unknown, path = '$'): string[] {
  const problems: string[] = [];
  checkValue(value, null, path, problems);
  return problems;
}

function typeOfObject(value: Record<string, unknown>): string | undefined {
  if (typeof value.object !== 'string') return undefined;
  if (value.deleted === true) return objects[`${value.object}:deleted`];
  return objects[value.object];
}

function checkObject(
  value: Record<string, unknown>,
  typeName: string,
  path: string,
  problems: string[],
): void {
  const fields = types[typeName];
  if (!fields) return;
  for (const [field, spec] of Object.entries(fields)) {
    if (!(field in value)) {
      if (!spec.startsWith('?')) problems.push(`${path}.${field}: missing (Stripe's ${typeName} defines it)`);
      continue;
    }
    checkValue(value[field], spec, `${path}.${field}`, problems);
  }
  for (const field of Object.keys(value))
    if (!(field in fields)) problems.push(`${path}.${field}: not a field of Stripe's ${typeName}`);
}

/** `spec` is the field's descriptor ("string | Customer | null", "ApiList<X>", "Array<Y>"), or null at the root. */
function checkValue(value: unknown, spec: string | null, path: string, problems: string[]): void {
  const alternatives = spec === null ? [] : splitTop(spec.replace(/^\?/, ''));
  if (value === null) {
    if (spec !== null && !alternatives.includes('null'))
      problems.push(`${path}: null, but Stripe never sends null here`);
    return;
  }
  if (spec === null || alternatives.includes('opaque') || alternatives.includes('map')) {
    if (spec === null && value && typeof value === 'object') {
      const own = typeOfObject(value as Record<string, unknown>);
      if (own) checkObject(value as Record<string, unknown>, own, path, problems);
      else if ((value as { object?: unknown }).object === 'list')
        for (const [i, item] of ((value as { data: unknown[] }).data ?? []).entries())
          checkValue(item, null, `${path}.data[${i}]`, problems);
    }
    return;
  }
  if (Array.isArray(value)) {
    const array = alternatives.find((a) => a.startsWith('Array<'));
    if (!array) return void problems.push(`${path}: an array, Stripe defines ${spec}`);
    const inner = array.slice('Array<'.length, -1);
    value.forEach((item, i) => checkValue(item, inner, `${path}[${i}]`, problems));
    return;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const list = alternatives.find((a) => a.startsWith('ApiList<'));
    if (record.object === 'list' && list) {
      const inner = list.slice('ApiList<'.length, -1);
      for (const key of Object.keys(record))
        if (!['object', 'data', 'has_more', 'url', 'total_count'].includes(key))
          problems.push(`${path}.${key}: not a field of a Stripe list`);
      (record.data as unknown[]).forEach((item, i) =>
        checkValue(item, inner, `${path}.data[${i}]`, problems),
      );
      return;
    }
    const own = typeOfObject(record);
    const named = alternatives.find((a) => types[a]);
    const typeName = own && alternatives.some((a) => a === own || !types[a]) ? own : named;
    if (typeName) checkObject(record, typeName, path, problems);
    else if (!alternatives.some((a) => !PRIMITIVES.has(a)))
      problems.push(`${path}: an object, Stripe defines ${spec}`);
    return;
  }
  const kind = typeof value;
  if (!alternatives.includes(kind) && alternatives.every((a) => PRIMITIVES.has(a) || a === 'null'))
    problems.push(`${path}: a ${kind}, Stripe defines ${spec}`);
}

/** Splits "A | Array<B | C> | null" at top-level bars only. */
function splitTop(spec: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of spec) {
    if (ch === '<') depth += 1;
    if (ch === '>') depth -= 1;
    if (ch === '|' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  out.push(current.trim());
  return out;
}
