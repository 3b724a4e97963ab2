import { ValidationError } from '../../core/errors.js';
import type { FeatureMap, FeatureValue } from '../../core/types.js';

/** A urlencoded form body; a repeated name (checkbox lists) becomes an array. */
export type FormBody = Record<string, string | string[]>;

export function parseFormBody(text: string): FormBody {
  const out: FormBody = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** One field as a string ('' when absent); a repeated field is refused rather than guessed. */
export function field(body: FormBody | undefined, name: string): string {
  const v = body?.[name];
  if (Array.isArray(v))
    throw new ValidationError(`Field "${name}" was sent more than once`, [
      { path: name, message: 'sent more than once' },
    ]);
  return (v ?? '').trim();
}

export function fields(body: FormBody | undefined, name: string): string[] {
  const v = body?.[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** `true`, `false`, `on`, `off` or a finite number: what an operator types as a feature value. */
export function parseFeatureValue(text: string, path = 'value'): FeatureValue {
  const t = text.trim().toLowerCase();
  if (t === 'true' || t === 'on') return true;
  if (t === 'false' || t === 'off') return false;
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  throw new ValidationError(`"${text}" is not a feature value`, [
    { path, message: 'expected true, false or a number' },
  ]);
}

/** `key=value` lines (blank lines ignored) → a feature map; the service checks the keys against the catalog. */
export function parseFeatureLines(text: string, path = 'overrides'): FeatureMap {
  const out: FeatureMap = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0)
      throw new ValidationError(`Line ${i + 1} of the overrides is not key=value`, [
        { path: `${path}[${i}]`, message: 'expected key=value' },
      ]);
    const key = line.slice(0, eq).trim();
    out[key] = parseFeatureValue(line.slice(eq + 1), `${path}.${key}`);
  });
  return out;
}
