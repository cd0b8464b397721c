// scrypt password hashing (node:crypto, async: it runs on libuv's thread pool
// and never blocks the event loop). Parameters follow OWASP: N=2^17, r=8, p=1.
// Hashes are self-describing, so the cost can be raised without a migration.
import crypto from 'node:crypto';
import os from 'node:os';
import { promisify } from 'node:util';
import { ServiceUnavailable, TooManyRequests } from '../errors.ts';

const scryptOnPool = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

// libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default) also runs the RS256
// signing of every token (helpers/access-tokens.ts signs there). A login storm
// that filled it with second-long scrypt jobs queued every refresh behind them:
// refreshes stalled completely while 20 clients logged in (docs/BENCHMARKS.md,
// event-loop scenario). So at most min(pool - 2, cores - 1) hashes run at once:
// two threads stay free for signing and one core for the event loop.
// At cost 17 scrypt is memory-bound: more parallel hashes did not raise logins/s.
//
// The rest wait here, by source (client address or known device), and a freed
// place goes to the waiting source that started a hash least recently: a
// burst from one address waits behind itself, not in front of everyone else
// (unknown users too, so waiting reveals nothing). Only hashes holding a
// HashSlot may wait, so this is as bounded as the slots.
const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
export const MAX_CONCURRENT_HASHES = Math.max(1, Math.min(poolSize - 2, os.availableParallelism() - 1));
let running = 0;
let starts = 0;
/** Sources with hashes running or waiting; `lastStart` orders their turns (0: none started yet). */
const sources = new Map<string, { running: number; lastStart: number; waiting: Array<() => void> }>();

function sourceState(source: string) {
  let state = sources.get(source);
  if (!state) {
    state = { running: 0, lastStart: 0, waiting: [] };
    sources.set(source, state);
  }
  return state;
}

function start(state: { running: number; lastStart: number }): void {
  state.running += 1;
  starts += 1;
  state.lastStart = starts;
}

/** The next waiting hash: of the source served least recently (first come among equals). */
function nextInTurn(): (() => void) | undefined {
  let chosen: { running: number; lastStart: number; waiting: Array<() => void> } | undefined;
  for (const state of sources.values()) {
    if (state.waiting.length > 0 && (!chosen || state.lastStart < chosen.lastStart)) chosen = state;
  }
  if (!chosen) return undefined;
  start(chosen);
  return chosen.waiting.shift();
}

async function scrypt(
  source: string,
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
): Promise<Buffer> {
  const state = sourceState(source);
  if (running < MAX_CONCURRENT_HASHES) {
    running += 1;
    start(state);
  } else {
    // A finishing hash hands its place over (nextInTurn).
    await new Promise<void>((resolve) => state.waiting.push(resolve));
  }
  try {
    return await scryptOnPool(password, salt, keylen, options);
  } finally {
    state.running -= 1;
    if (state.running === 0 && state.waiting.length === 0) sources.delete(source);
    const next = nextInTurn();
    if (next) next();
    else running -= 1;
  }
}

const KEY_LENGTH = 32;

export interface HashLimits {
  /** Hashes admitted (waiting or running) at once, overall. */
  pendingMax: number;
  /** Hashes admitted at once for one source (a client address, or a known device). */
  pendingPerSource: number;
}

/** A place in the hashing queue, held from admission until the caller has its answer. */
export interface HashSlot {
  readonly source: string;
  readonly held: boolean;
  release(): void;
}

export class HashingOverloaded extends ServiceUnavailable {
  constructor() {
    super('too many password checks are in progress; try again shortly', 1);
  }
}

export class HashingBusy extends TooManyRequests {
  constructor() {
    super(1, 'too many password checks in progress from this client; try again shortly');
  }
}

export class PasswordHasher {
  private readonly dummyHash: Promise<string>;
  private pendingTotal = 0;
  private readonly pendingBySource = new Map<string, number>();
  /** scrypt computations started by this hasher (hashes and verifications). */
  computed = 0;

  constructor(
    private readonly logCost: number,
    private readonly limits: HashLimits,
  ) {
    // Verified against when the account does not exist, so that an unknown
    // user costs the same time as a wrong password.
    this.dummyHash = this.compute(crypto.randomBytes(16).toString('hex'), 'startup');
  }

  /** Hashes admitted and not yet released. */
  get pending(): number {
    return this.pendingTotal;
  }

  /**
   * Admits one hash for `source`, or refuses at once: 503 when the process has
   * `pendingMax` hashes pending, 429 when this source has `pendingPerSource`.
   * Nothing waits without bound, and no one source can fill the queue.
   */
  admit(source: string): HashSlot {
    const ofSource = this.pendingBySource.get(source) ?? 0;
    if (ofSource >= this.limits.pendingPerSource) throw new HashingBusy();
    if (this.pendingTotal >= this.limits.pendingMax) throw new HashingOverloaded();
    this.pendingTotal += 1;
    this.pendingBySource.set(source, ofSource + 1);
    const slot = {
      source,
      held: true,
      release: () => {
        if (!slot.held) return;
        slot.held = false;
        this.pendingTotal -= 1;
        const left = (this.pendingBySource.get(source) ?? 1) - 1;
        if (left > 0) this.pendingBySource.set(source, left);
        else this.pendingBySource.delete(source);
      },
    };
    return slot;
  }

  /** Runs `work` holding a slot for `source` (refused at once as admit() says). */
  async withSlot<T>(source: string, work: (slot: HashSlot) => Promise<T>): Promise<T> {
    const slot = this.admit(source);
    try {
      return await work(slot);
    } finally {
      slot.release();
    }
  }

  /** Hashes a new password; `slot` is the admission from admit(). */
  async hash(password: string, slot: HashSlot): Promise<string> {
    assertHeld(slot);
    return this.compute(password, slot.source);
  }

  /** Verifies against `encoded`, or against a dummy hash when it is undefined. */
  async verify(password: string, encoded: string | undefined, slot: HashSlot): Promise<boolean> {
    assertHeld(slot);
    const target = encoded ?? (await this.dummyHash);
    const [scheme, logN, r, p, salt, expected] = target.split('$');
    if (scheme !== 'scrypt' || !logN || !r || !p || !salt || !expected) return false;
    const expectedKey = Buffer.from(expected, 'base64');
    this.computed += 1;
    const key = await scrypt(
      slot.source,
      password.normalize('NFKC'),
      Buffer.from(salt, 'base64'),
      expectedKey.length,
      options(2 ** Number(logN), Number(r), Number(p)),
    );
    return crypto.timingSafeEqual(key, expectedKey) && encoded !== undefined;
  }

  private async compute(password: string, source: string): Promise<string> {
    const salt = crypto.randomBytes(16);
    const N = 2 ** this.logCost;
    this.computed += 1;
    const key = await scrypt(source, password.normalize('NFKC'), salt, KEY_LENGTH, options(N, 8, 1));
    return `scrypt$${this.logCost}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
  }
}

function assertHeld(slot: HashSlot): void {
  if (!slot.held) throw new Error('password hashing without an admitted slot');
}

function options(N: number, r: number, p: number): crypto.ScryptOptions {
  // scrypt needs 128 * N * r bytes; leave headroom above Node's 32 MiB default.
  return { N, r, p, maxmem: 256 * N * r };
}
