import { describe, expect, it } from 'vitest';
import { evaluateGoals, goalsTable, type Figures, type Results } from './goals.js';

const f = (over: Partial<Figures>): Figures => ({ rps: 0, p50_ms: 0, p90_ms: 0, p99_ms: 0, p999_ms: 0, cpu_ms_per_1k: 0, rss_mb: 0, errors: 0, loadgen_cpu_pct: 0, ...over });

const results: Results = new Map<string, Record<string, Figures>>([
  [
    'max-throughput',
    {
      meshlight: f({ rps: 20_000, cpu_ms_per_1k: 40, rss_mb: 55 }),
      'meshlight-2hop': f({ rps: 8_000 }),
      nginx: f({ rps: 38_000, cpu_ms_per_1k: 25 }),
      'http-proxy': f({ rps: 9_000 }),
      'node-l4': f({ rps: 28_000 }),
    },
  ],
  [
    'fixed-rate',
    {
      direct: f({ p50_ms: 0.1, p99_ms: 0.3 }),
      meshlight: f({ p50_ms: 0.4, p99_ms: 1.3, cpu_ms_per_1k: 120 }),
      nginx: f({ p50_ms: 0.3, p99_ms: 0.9, cpu_ms_per_1k: 70 }),
    },
  ],
]);

describe('the goals table', () => {
  it('reads each goal as a ratio within the run and says whether it holds', () => {
    const goals = evaluateGoals(results, new Map());
    const by = Object.fromEntries(goals.map((g) => [g.goal, g]));
    expect(by['max-throughput rps meshlight / nginx']).toMatchObject({ value: 0.526, held: true, limit: '>= 0.5' });
    expect(by['max-throughput rps meshlight / http-proxy']).toMatchObject({ value: 2.222, held: false });
    expect(by['max-throughput rps meshlight / node-l4']).toMatchObject({ value: 0.714, held: false });
    expect(by['max-throughput CPU per 1k meshlight / nginx']).toMatchObject({ value: 1.6, held: true });
    expect(by['max-throughput RSS MB meshlight']).toMatchObject({ value: 55, held: true });
    expect(by['max-throughput rps meshlight-2hop / meshlight']).toMatchObject({ value: 0.4, held: false });
    // Added over direct: (0.4 - 0.1) / (0.3 - 0.1) and (1.3 - 0.3) / (0.9 - 0.3).
    expect(by['fixed-rate added p50 meshlight / nginx']).toMatchObject({ value: 1.5, held: true });
    expect(by['fixed-rate added p99 meshlight / nginx']).toMatchObject({ value: 1.667, held: false });
    expect(by['fixed-rate CPU per 1k meshlight / nginx']).toMatchObject({ value: 1.714, held: false });
    expect(goalsTable(goals)).toContain('| max-throughput rps meshlight / nginx | 0.53 | >= 0.5 | held | 20,000 / 38,000 |');
  });

  it('never reads a goal whose peer did not run, and says why', () => {
    const withoutNginx = new Map([...results].map(([name, targets]) => [name, Object.fromEntries(Object.entries(targets).filter(([t]) => t !== 'nginx'))]));
    const goals = evaluateGoals(withoutNginx, new Map([['nginx', 'nginx is not installed: apt-get install -y nginx']]));
    const nginxGoals = goals.filter((g) => g.goal.includes('nginx'));
    expect(nginxGoals).toHaveLength(5);
    for (const g of nginxGoals) expect(g).toMatchObject({ value: null, held: null, detail: 'not measured: nginx is not installed: apt-get install -y nginx' });
    expect(goals.find((g) => g.goal.includes('http-proxy'))?.held).toBe(false);
    expect(goalsTable(goals)).toContain('NOT MEASURED');
  });

  it('measures nothing on the fallback upstream or in a smoke run', () => {
    for (const g of evaluateGoals(results, new Map(), 'the upstream is the raw Node fallback, not nginx')) {
      expect(g).toMatchObject({ value: null, held: null, detail: 'not measured: the upstream is the raw Node fallback, not nginx' });
    }
  });

  it('gives no ratio when nginx added nothing over direct', () => {
    const flat = new Map(results);
    flat.set('fixed-rate', { ...results.get('fixed-rate')!, nginx: f({ p50_ms: 0.1, p99_ms: 0.2, cpu_ms_per_1k: 70 }) });
    const g = evaluateGoals(flat, new Map()).find((x) => x.goal === 'fixed-rate added p50 meshlight / nginx');
    expect(g).toMatchObject({ value: null, held: null });
    expect(g?.detail).toContain('nginx added nothing measurable');
  });
});
