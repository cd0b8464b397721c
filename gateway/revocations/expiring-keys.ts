// Compact storage for the denylist, which may hold a million revoked sessions.
//
// ExpiringKeys: revoked keys (sids, jtis), each with the second until which it
// must be kept. Keys in canonical UUID form (lower-case hex, as every sid and
// jti our token service issues) live in an open-addressing table over typed
// arrays: 16 bytes of key and 4 of expiry per slot, 27–53 bytes per entry at
// load factors between 3/4 and 3/8, against ~100 for a Map of strings to numbers. Any
// other key goes to a plain Map, so nothing is lost. docs/BENCHMARKS.md
// (denylist-scale) has the figures.
//
// AppliedIds: the set of log entry ids applied, as sorted intervals: the log's
// ids arrive in order, so a million ids are usually a handful of intervals.

const EMPTY = 0;
/** A deleted slot: probing goes on past it. Real expiries are epoch seconds, far above. */
const TOMBSTONE = 1;
const MIN_CAPACITY = 16;

/** 36-character lower-case UUID → 4 words, or false. */
function parseUuid(key: string, words: Uint32Array): boolean {
  if (key.length !== 36) return false;
  let word = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < 36; i += 1) {
    const c = key.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45 /* - */) return false;
      continue;
    }
    let nibble: number;
    if (c >= 48 && c <= 57) nibble = c - 48;
    else if (c >= 97 && c <= 102) nibble = c - 87;
    else return false;
    value = (value << 4) | nibble;
    digits += 1;
    if (digits === 8) {
      words[word++] = value >>> 0;
      value = 0;
      digits = 0;
    }
  }
  return true;
}

function hashWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class ExpiringKeys {
  #capacity = MIN_CAPACITY;
  #keys = new Uint32Array(MIN_CAPACITY * 4);
  #until = new Uint32Array(MIN_CAPACITY);
  #used = 0; // live entries in the table
  #tombstones = 0;
  readonly #other = new Map<string, number>();
  readonly #words = new Uint32Array(4);

  get size(): number {
    return this.#used + this.#other.size;
  }

  /** Keeps `key` until `untilSec` (epoch seconds), or until its current expiry if later. */
  set(key: string, untilSec: number): void {
    const words = this.#words;
    if (untilSec <= TOMBSTONE || untilSec > 0xffffffff || !parseUuid(key, words)) {
      this.#other.set(key, Math.max(untilSec, this.#other.get(key) ?? 0));
      return;
    }
    const slot = this.#find(words[0]!, words[1]!, words[2]!, words[3]!);
    if (slot >= 0) {
      if (untilSec > this.#until[slot]!) this.#until[slot] = untilSec;
      return;
    }
    if ((this.#used + this.#tombstones + 1) * 4 > this.#capacity * 3) this.#resize(this.#used + 1);
    this.#insert(words[0]!, words[1]!, words[2]!, words[3]!, untilSec);
    this.#used += 1;
  }

  /** The second until which `key` is kept, or undefined. */
  get(key: string): number | undefined {
    const words = this.#words;
    if (!parseUuid(key, words)) return this.#other.get(key);
    const slot = this.#find(words[0]!, words[1]!, words[2]!, words[3]!);
    return slot >= 0 ? this.#until[slot] : undefined;
  }

  /** Forgets every key kept only until `nowSec` or before; returns how many. */
  prune(nowSec: number): number {
    let removed = 0;
    const until = this.#until;
    for (let slot = 0; slot < this.#capacity; slot += 1) {
      const value = until[slot]!;
      if (value > TOMBSTONE && value <= nowSec) {
        until[slot] = TOMBSTONE;
        removed += 1;
      }
    }
    this.#used -= removed;
    this.#tombstones += removed;
    // Rebuilt smaller once mostly empty (and rid of tombstones).
    if (this.#capacity > MIN_CAPACITY && this.#used + this.#tombstones > 0 && this.#used * 8 < this.#capacity) this.#resize(this.#used);
    for (const [key, value] of this.#other) {
      if (value <= nowSec) {
        this.#other.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Slot of the key, or -1. */
  #find(a: number, b: number, c: number, d: number): number {
    const mask = this.#capacity - 1;
    const keys = this.#keys;
    const until = this.#until;
    for (let slot = hashWords(a, b, c, d) & mask; ; slot = (slot + 1) & mask) {
      const value = until[slot]!;
      if (value === EMPTY) return -1;
      if (value !== TOMBSTONE) {
        const at = slot * 4;
        if (keys[at] === a && keys[at + 1] === b && keys[at + 2] === c && keys[at + 3] === d) return slot;
      }
    }
  }

  /** Into the first free slot (the key is known to be absent). */
  #insert(a: number, b: number, c: number, d: number, untilSec: number): void {
    const mask = this.#capacity - 1;
    let slot = hashWords(a, b, c, d) & mask;
    while (this.#until[slot]! > TOMBSTONE) slot = (slot + 1) & mask;
    if (this.#until[slot] === TOMBSTONE) this.#tombstones -= 1;
    const at = slot * 4;
    this.#keys[at] = a;
    this.#keys[at + 1] = b;
    this.#keys[at + 2] = c;
    this.#keys[at + 3] = d;
    this.#until[slot] = untilSec;
  }

  /** Rebuilds the table for `entries` at a load factor of at most 1/2 (it grows again at 3/4). */
  #resize(entries: number): void {
    let capacity = MIN_CAPACITY;
    while (entries * 2 > capacity) capacity *= 2;
    const oldKeys = this.#keys;
    const oldUntil = this.#until;
    const oldCapacity = this.#capacity;
    this.#capacity = capacity;
    this.#keys = new Uint32Array(capacity * 4);
    this.#until = new Uint32Array(capacity);
    this.#tombstones = 0;
    for (let slot = 0; slot < oldCapacity; slot += 1) {
      const value = oldUntil[slot]!;
      if (value <= TOMBSTONE) continue;
      const at = slot * 4;
      this.#insert(oldKeys[at]!, oldKeys[at + 1]!, oldKeys[at + 2]!, oldKeys[at + 3]!, value);
    }
  }
}

/** A set of non-negative integer ids as sorted, disjoint, non-adjacent intervals [start, end]. */
export class AppliedIds {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /** Index of the last interval starting at or before `id`, or -1. */
  #floor(id: number): number {
    let low = 0;
    let high = this.#starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.#starts[mid]! <= id) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  has(id: number): boolean {
    const last = this.#ends.length - 1;
    if (last < 0 || id > this.#ends[last]!) return false;
    const i = this.#floor(id);
    return i >= 0 && id <= this.#ends[i]!;
  }

  /** Adds `id`; false when it was already there. */
  add(id: number): boolean {
    const starts = this.#starts;
    const ends = this.#ends;
    const last = ends.length - 1;
    // The usual case: the next id of the log.
    if (last >= 0 && id === ends[last]! + 1) {
      ends[last] = id;
      return true;
    }
    if (last < 0 || id > ends[last]! + 1) {
      starts.push(id);
      ends.push(id);
      return true;
    }
    const i = this.#floor(id);
    if (i >= 0 && id <= ends[i]!) return false;
    const joinsLeft = i >= 0 && ends[i]! + 1 === id;
    const joinsRight = i + 1 < starts.length && starts[i + 1]! - 1 === id;
    if (joinsLeft && joinsRight) {
      ends[i] = ends[i + 1]!;
      starts.splice(i + 1, 1);
      ends.splice(i + 1, 1);
    } else if (joinsLeft) {
      ends[i] = id;
    } else if (joinsRight) {
      starts[i + 1] = id;
    } else {
      starts.splice(i + 1, 0, id);
      ends.splice(i + 1, 0, id);
    }
    return true;
  }

  /** Number of intervals (memory is two numbers per interval). */
  get intervals(): number {
    return this.#starts.length;
  }
}
