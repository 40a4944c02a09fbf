// Issue 10's performance goals, read as ratios from one run's results: which hold, which do not, and
// which this run could not measure (a peer missing, the fallback upstream, a scenario not run).

/** One target's figures in one scenario, as bench/results/latest.json has them. */
export interface Figures {
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  /** 0 for direct (no proxy), as the JSON's shape has it; the table shows '-'. */
  cpu_ms_per_1k: number;
  rss_mb: number;
  errors: number;
  loadgen_cpu_pct: number;
  /** fixed-rate only: how late sends left after their due time, median and latest (the generator's own precision). */
  loadgen_send_lag_p50_ms?: number;
  loadgen_send_lag_max_ms?: number;
}

export type Results = ReadonlyMap<string, Readonly<Record<string, Figures>>>;

export interface Goal {
  /** What is compared, e.g. `max-throughput rps meshlight / nginx`. */
  goal: string;
  /** The ratio (or, for RSS, the MB) measured; null when not measured. */
  value: number | null;
  /** `>= 0.5`, `<= 60`. */
  limit: string;
  held: boolean | null;
  /** How the value was reached (the figures it divides), or why it was not measured. */
  detail: string;
}

type Need = { scenario: string; target: string };

interface GoalDef {
  goal: string;
  op: '>=' | '<=';
  limit: number;
  needs: Need[];
  /** The value and how it was reached, from the figures of `needs` (in that order). */
  value(f: Figures[]): { value: number | null; detail: string };
}

const MAX = 'max-throughput';
const FIXED = 'fixed-rate';
const at = (scenario: string, ...targets: string[]): Need[] => targets.map((target) => ({ scenario, target }));
const fmt = (n: number, d: number): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function ratio(key: keyof Figures, d: number, unit = ''): GoalDef['value'] {
  return ([a, b]) => {
    const x = a![key] as number;
    const y = b![key] as number;
    return { value: y > 0 ? x / y : null, detail: `${fmt(x, d)}${unit} / ${fmt(y, d)}${unit}` };
  };
}

/** (meshlight - direct) / (nginx - direct) of a latency percentile: what each adds over no proxy. */
function added(key: 'p50_ms' | 'p99_ms'): GoalDef['value'] {
  return ([mesh, nginx, direct]) => {
    const ours = mesh![key] - direct![key];
    const theirs = nginx![key] - direct![key];
    const signed = (n: number): string => `${n >= 0 ? '+' : ''}${fmt(n, 3)} ms`;
    const detail = `${signed(ours)} / ${signed(theirs)} (direct ${fmt(direct![key], 3)} ms)`;
    // nginx adding nothing measurable leaves no ratio to read, not a pass or a fail.
    return { value: theirs > 0 ? ours / theirs : null, detail: theirs > 0 ? detail : `${detail}: nginx added nothing measurable` };
  };
}

const GOALS: GoalDef[] = [
  { goal: `${MAX} rps meshlight / nginx`, op: '>=', limit: 0.5, needs: at(MAX, 'meshlight', 'nginx'), value: ratio('rps', 0) },
  { goal: `${MAX} rps meshlight / http-proxy`, op: '>=', limit: 2.5, needs: at(MAX, 'meshlight', 'http-proxy'), value: ratio('rps', 0) },
  { goal: `${MAX} rps meshlight / node-l4`, op: '>=', limit: 0.75, needs: at(MAX, 'meshlight', 'node-l4'), value: ratio('rps', 0) },
  { goal: `${MAX} CPU per 1k meshlight / nginx`, op: '<=', limit: 2, needs: at(MAX, 'meshlight', 'nginx'), value: ratio('cpu_ms_per_1k', 1, ' ms') },
  {
    goal: `${MAX} RSS MB meshlight`,
    op: '<=',
    limit: 60,
    needs: at(MAX, 'meshlight'),
    value: ([m]) => ({ value: m!.rss_mb, detail: `peak VmRSS ${fmt(m!.rss_mb, 1)} MB` }),
  },
  { goal: `${MAX} rps meshlight-2hop / meshlight`, op: '>=', limit: 0.45, needs: at(MAX, 'meshlight-2hop', 'meshlight'), value: ratio('rps', 0) },
  { goal: `${FIXED} added p50 meshlight / nginx`, op: '<=', limit: 1.5, needs: at(FIXED, 'meshlight', 'nginx', 'direct'), value: added('p50_ms') },
  { goal: `${FIXED} added p99 meshlight / nginx`, op: '<=', limit: 1.5, needs: at(FIXED, 'meshlight', 'nginx', 'direct'), value: added('p99_ms') },
  { goal: `${FIXED} CPU per 1k meshlight / nginx`, op: '<=', limit: 1.5, needs: at(FIXED, 'meshlight', 'nginx'), value: ratio('cpu_ms_per_1k', 1, ' ms') },
];

/**
 * Every goal against `results` (scenario -> target -> figures). `unmeasured` says why no goal can be read
 * at all (a smoke run, the fallback upstream); `missing` maps a target that did not run to why.
 */
export function evaluateGoals(results: Results, missing: ReadonlyMap<string, string>, unmeasured?: string): Goal[] {
  return GOALS.map((g) => {
    const limit = `${g.op} ${g.limit}`;
    if (unmeasured !== undefined) return { goal: g.goal, value: null, limit, held: null, detail: `not measured: ${unmeasured}` };
    const figures: Figures[] = [];
    for (const n of g.needs) {
      const f = results.get(n.scenario)?.[n.target];
      if (f === undefined) {
        const why = missing.get(n.target) ?? (results.has(n.scenario) ? `${n.target} did not run` : `scenario ${n.scenario} did not run`);
        return { goal: g.goal, value: null, limit, held: null, detail: `not measured: ${why}` };
      }
      figures.push(f);
    }
    const { value: exact, detail } = g.value(figures);
    // Judged on the value as shown (0.3 / 0.2 is 1.5000000000000002 in floating point).
    const value = exact === null ? null : Number(exact.toFixed(3));
    const held = value === null ? null : g.op === '>=' ? value >= g.limit : value <= g.limit;
    return { goal: g.goal, value, limit, held, detail };
  });
}

export function goalsTable(goals: readonly Goal[]): string {
  const lines = ['| goal | measured | limit | held? | from |', '| --- | --- | --- | --- | --- |'];
  for (const g of goals) {
    const held = g.held === null ? 'NOT MEASURED' : g.held ? 'held' : 'not held';
    lines.push(`| ${g.goal} | ${g.value === null ? '-' : fmt(g.value, 2)} | ${g.limit} | ${held} | ${g.detail} |`);
  }
  return lines.join('\n') + '\n';
}
