/**
 * Ids (Stripe customer ids, tenant ids) to a number each, held in typed arrays rather than as a
 * JS Map of strings: a run that remembers something for every one of a million customers then holds
 * ~45 bytes a customer outside the collected heap, instead of ~100 inside it, where the collector's
 * headroom (V8 lets the heap grow to a few times what survived its last full collection) multiplies
 * them. Open addressing (linear probing, at most 70 % full) over an arena of the ids' bytes; ids with a character
 * beyond Latin-1 (no Stripe id has one) go to a plain Map beside it.
 */
export interface IdMap {
  get(id: string): number | undefined;
  /** `value`: any number a Float64Array holds exactly (integers up to 2^53). */
  set(id: string, value: number): void;
  readonly size: number;
}

const EMPTY = 0;

export function createIdMap(initialCapacity = 1024): IdMap {
  let capacity = 1;
  while (capacity * 7 < initialCapacity * 10) capacity *= 2;
  // slots[i]: 1 + the arena offset of the id stored there (EMPTY: none); values[i]: its number.
  let slots = new Int32Array(capacity);
  let values = new Float64Array(capacity);
  // Each id as its length (one byte, ids up to 255 characters) and its Latin-1 bytes.
  let arena = new Uint8Array(16 * 1024);
  let used = 0;
  let count = 0;
  const wide = new Map<string, number>();

  const storable = (id: string) => {
    if (id.length > 255) return false;
    for (let i = 0; i < id.length; i += 1) if (id.charCodeAt(i) > 255) return false;
    return true;
  };
  // FNV-1a over the characters (the same bytes the arena holds, so a rehash reads them back).
  const hashOf = (id: string) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i += 1) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    return h >>> 0;
  };
  const hashAt = (offset: number) => {
    let h = 0x811c9dc5;
    const end = offset + 1 + arena[offset]!;
    for (let i = offset + 1; i < end; i += 1) h = Math.imul(h ^ arena[i]!, 0x01000193);
    return h >>> 0;
  };
  const equalAt = (offset: number, id: string) => {
    if (arena[offset] !== id.length) return false;
    for (let i = 0; i < id.length; i += 1) if (arena[offset + 1 + i] !== id.charCodeAt(i)) return false;
    return true;
  };
  /** The slot holding `id`, or the empty slot where it belongs. */
  const find = (id: string) => {
    const mask = capacity - 1;
    for (let i = hashOf(id) & mask; ; i = (i + 1) & mask) {
      const slot = slots[i]!;
      if (slot === EMPTY || equalAt(slot - 1, id)) return i;
    }
  };
  const grow = () => {
    const oldSlots = slots;
    const oldValues = values;
    capacity *= 2;
    slots = new Int32Array(capacity);
    values = new Float64Array(capacity);
    const mask = capacity - 1;
    for (let j = 0; j < oldSlots.length; j += 1) {
      const slot = oldSlots[j]!;
      if (slot === EMPTY) continue;
      let i = hashAt(slot - 1) & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = slot;
      values[i] = oldValues[j]!;
    }
  };
  const append = (id: string) => {
    if (used + 1 + id.length > arena.length) {
      const bigger = new Uint8Array(Math.max(arena.length * 2, used + 1 + id.length));
      bigger.set(arena.subarray(0, used));
      arena = bigger;
    }
    const offset = used;
    arena[offset] = id.length;
    for (let i = 0; i < id.length; i += 1) arena[offset + 1 + i] = id.charCodeAt(i);
    used += 1 + id.length;
    return offset;
  };

  return {
    get(id) {
      if (!storable(id)) return wide.get(id);
      const i = find(id);
      return slots[i] === EMPTY ? undefined : values[i];
    },
    set(id, value) {
      if (!storable(id)) {
        if (!wide.has(id)) count += 1;
        wide.set(id, value);
        return;
      }
      let i = find(id);
      if (slots[i] === EMPTY) {
        // At most 70 % full: probes stay short.
        if ((count - wide.size + 1) * 10 > capacity * 7) {
          grow();
          i = find(id);
        }
        slots[i] = append(id) + 1;
        count += 1;
      }
      values[i] = value;
    },
    get size() {
      return count;
    },
  };
}
