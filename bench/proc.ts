// /proc readings for the processes under test: CPU time (utime+stime) and resident memory (VmRSS).
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep 100, Linux's usual value
}

/** A process and all its descendants (nginx's master and workers, for example). */
export function withDescendants(pids: readonly number[]): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined) parentOf.set(Number(entry), Number(stat[1]));
  }
  const all = new Set(pids);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!all.has(pid) && all.has(ppid)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all];
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, ...]; undefined once the process is gone. */
function readStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU milliseconds (user + system) used so far by these processes. */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = readStat(pid);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / clkTck;
}

/** Summed VmRSS of these processes, in MB. */
export function rssMb(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** Samples the summed RSS every 100 ms until stopped; returns the peak. */
export function rssSampler(pids: readonly number[]): { stop(): number } {
  let peak = rssMb(pids);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(pids));
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb(pids));
    },
  };
}
