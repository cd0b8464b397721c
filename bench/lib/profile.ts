// CPU profile of a benchmark child, with the inspector's Profiler (what
// `node --cpu-prof` records, but started and stopped around the load window
// only, so start-up and shutdown do not drown the steady state). The full
// profile is written as a .cpuprofile (open it in Chrome DevTools); the
// summary is self time by function and by file/package.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { printTable, type Cell } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileItem {
  name: string;
  /** Self time, ms. */
  selfMs: number;
  /** Share of the non-idle samples, %. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle, ms. */
  busyMs: number;
  byFunction: ProfileItem[];
  byFile: ProfileItem[];
  /** ours (repo code), dependencies, node core, GC, native/program. */
  byCategory: ProfileItem[];
}

let session: Session | undefined;

export async function startProfile(): Promise<boolean> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return true;
}

export async function stopProfile(label: string, top: number): Promise<ProfileSummary> {
  if (!session) throw new Error('no profile running');
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  session.disconnect();
  session = undefined;
  const file = path.join(os.tmpdir(), `bench-${label}-${process.pid}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return summarizeProfile(profile, file, top);
}

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** `node_modules/@scope/pkg/…` → `@scope/pkg`; repo files relative; node internals as `node:…`. */
export function fileOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  // PGlite in the token service; undici's HTTP parser (llhttp) in a gateway.
  if (url.startsWith('wasm://')) return '(wasm: PGlite or llhttp)';
  const filePath = url.startsWith('file://') ? new URL(url).pathname : url;
  return filePath.startsWith(REPO) ? path.relative(REPO, filePath) : filePath;
}

function categoryOf(frame: CallFrame): string {
  const file = fileOf(frame);
  if (file === '(garbage collector)') return 'GC';
  if (file === '(idle)') return 'idle';
  if (file === '(wasm: PGlite or llhttp)') return 'dependencies';
  if (file.startsWith('(')) return 'native / program';
  if (file.startsWith('node:')) return 'node core';
  if (!frame.url.includes('/node_modules/') && !frame.url.startsWith('node:')) return 'ours (repo code)';
  return 'dependencies';
}

export function summarizeProfile(profile: CpuProfile, file: string, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the interval after a sample belongs to it.
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i] as number;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  const categories = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    totalUs += us;
    const category = categoryOf(frame);
    if (category === 'idle') {
      idleUs += us;
      continue;
    }
    const where = fileOf(frame);
    // (Line numbers are left out: under tsx they are those of the transpiled code.)
    const name = frame.url ? `${frame.functionName || '(anonymous)'}  ${where}` : where;
    functions.set(name, (functions.get(name) ?? 0) + us);
    files.set(where, (files.get(where) ?? 0) + us);
    categories.set(category, (categories.get(category) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rank = (map: Map<string, number>, limit: number): ProfileItem[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: (100 * us) / (busyUs || 1) }));
  return {
    file,
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    byFunction: rank(functions, top),
    byFile: rank(files, top),
    byCategory: rank(categories, 10),
  };
}

// ---- allocation sampling -----------------------------------------------------
// Where the garbage comes from: the inspector's sampling heap profiler, keeping
// the samples of objects that were already collected, so the totals are bytes
// allocated (not bytes still alive) per function.

interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

let heapSession: Session | undefined;

/** `survivorsOnly`: keep only objects no GC has collected yet (what survives and gets promoted). */
export async function startAllocationProfile(survivorsOnly = false): Promise<boolean> {
  heapSession = new Session();
  heapSession.connect();
  await heapSession.post('HeapProfiler.enable');
  await heapSession.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: !survivorsOnly,
    includeObjectsCollectedByMinorGC: !survivorsOnly,
  } as never);
  return true;
}

export interface AllocationSummary {
  totalBytes: number;
  byFunction: Array<{ name: string; bytes: number; percent: number }>;
}

export async function stopAllocationProfile(top: number): Promise<AllocationSummary> {
  if (!heapSession) throw new Error('no allocation profile running');
  const { profile } = (await heapSession.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SamplingNode } };
  heapSession.disconnect();
  heapSession = undefined;
  const byFunction = new Map<string, number>();
  let totalBytes = 0;
  const walk = (node: SamplingNode) => {
    if (node.selfSize > 0) {
      const frame = node.callFrame;
      const name = frame.url ? `${frame.functionName || '(anonymous)'}  ${fileOf(frame)}` : fileOf(frame);
      byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
      totalBytes += node.selfSize;
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return {
    totalBytes,
    byFunction: [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, bytes, percent: (100 * bytes) / (totalBytes || 1) })),
  };
}

export function printProfile(title: string, profile: ProfileSummary): void {
  const rows = (items: ProfileSummary['byFunction']): Cell[][] =>
    items.map((item) => [item.name, item.selfMs, `${item.percent.toFixed(1)}%`]);
  console.log(
    `\n${title}: ${Math.round(profile.busyMs)} ms busy of ${Math.round(profile.totalMs)} ms sampled; full profile: ${profile.file}`,
  );
  printTable('  by category (self time)', ['category', 'self ms', 'share'], rows(profile.byCategory));
  printTable('  by file / package (self time)', ['file or package', 'self ms', 'share'], rows(profile.byFile));
  printTable('  by function (self time)', ['function  location', 'self ms', 'share'], rows(profile.byFunction));
}
