// One /metrics for a sidecar run as --concurrency N processes: merges the expositions (Prometheus text
// 0.0.4 or OpenMetrics, all in the same format) of every worker and of the primary into one, as if one
// process had served all the traffic. Works on the text, so the hand-rendered RED metrics and prom-client's
// registry merge alike. Runs once per scrape, never per request.

/**
 * Samples that do not add up across processes: the worst or newest value is the sidecar's.
 * - `*_info` (nodejs_version_info): the same label set and value 1 in every process; one is kept.
 * - process_start_time_seconds: the newest start, so a restarted worker (whose counters began again
 *   from 0, lowering the sums) shows as a restart, as one process's start time would.
 * - process_max_fds: a per-process limit, the same in every process.
 * - nodejs_eventloop_lag_*: a summed lag means nothing; the slowest worker's is what requests wait on.
 * Everything else sums: counters, histogram buckets, sums and counts, and the gauges here (memory, open
 * fds, handles, in-flight requests, connections) are totals of the sidecar.
 */
const TAKE_MAX = /(_info$|^process_start_time_seconds$|^process_max_fds$|^nodejs_eventloop_lag_)/;

interface Sample {
  /** `name{labels}`, as written. */
  readonly series: string;
  value: number;
  /** OpenMetrics exemplar text after ` # `, e.g. `{trace_id="..."} 0.01 1700000000.123`. */
  exemplar: string | undefined;
  exemplarTime: number;
}

interface Family {
  readonly meta: string[];
  readonly samples: Map<string, Sample>;
}

/** Index of the `}` that closes the label set opening at `open`, skipping quoted values. */
function labelsEnd(line: string, open: number): number {
  let quoted = false;
  for (let i = open + 1; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '}') return i;
  }
  return -1;
}

function parseValue(v: string): number {
  return v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
}

function formatValue(n: number): string {
  return n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(n);
}

/** Splits `name{labels} value [timestamp] [# exemplar]` into its series, value and exemplar. */
function parseSample(line: string): { series: string; name: string; value: number; exemplar: string | undefined } | undefined {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  let end: number;
  if (brace !== -1 && (space === -1 || brace < space)) {
    end = labelsEnd(line, brace);
    if (end === -1) return undefined;
    end++;
  } else {
    end = space;
  }
  if (end <= 0) return undefined;
  const series = line.slice(0, end);
  const rest = line.slice(end).trim();
  const hash = rest.indexOf(' # ');
  const value = (hash === -1 ? rest : rest.slice(0, hash)).split(' ')[0]!;
  return { series, name: line.slice(0, brace !== -1 && brace < end ? brace : end), value: parseValue(value), exemplar: hash === -1 ? undefined : rest.slice(hash + 3) };
}

function exemplarTime(exemplar: string): number {
  const parts = exemplar.slice(labelsEnd(exemplar, 0) + 1).trim().split(' ');
  return parts.length > 1 ? Number(parts[1]) : 0;
}

/**
 * Merges expositions in one format. Families and series keep the order of their first appearance; an
 * exemplar is kept per series, the newest. An OpenMetrics `# EOF` stays last.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  let openMetrics = false;
  for (const text of texts) {
    let family: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line === '# EOF') {
        openMetrics = true;
        continue;
      }
      if (line.startsWith('#')) {
        // `# HELP name ...` / `# TYPE name ...` / `# UNIT name ...`: a new family starts at its first meta line.
        const name = line.split(' ')[2] ?? '';
        family = families.get(name);
        if (family === undefined) {
          family = { meta: [], samples: new Map() };
          families.set(name, family);
        }
        if (!family.meta.includes(line)) family.meta.push(line);
        continue;
      }
      const s = parseSample(line);
      if (s === undefined) continue;
      if (family === undefined) {
        // A sample before any metadata: its own family, named by the sample.
        family = families.get(s.name) ?? { meta: [], samples: new Map() };
        families.set(s.name, family);
      }
      const prev = family.samples.get(s.series);
      const time = s.exemplar === undefined ? 0 : exemplarTime(s.exemplar);
      if (prev === undefined) {
        family.samples.set(s.series, { series: s.series, value: s.value, exemplar: s.exemplar, exemplarTime: time });
        continue;
      }
      prev.value = TAKE_MAX.test(s.name) ? Math.max(prev.value, s.value) : prev.value + s.value;
      if (s.exemplar !== undefined && time >= prev.exemplarTime) {
        prev.exemplar = s.exemplar;
        prev.exemplarTime = time;
      }
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.meta);
    for (const s of f.samples.values()) out.push(`${s.series} ${formatValue(s.value)}${s.exemplar === undefined ? '' : ` # ${s.exemplar}`}`);
  }
  if (openMetrics) out.push('# EOF');
  return `${out.join('\n')}\n`;
}
