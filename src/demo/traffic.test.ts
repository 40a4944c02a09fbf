import { describe, expect, it } from 'vitest';
import { TrafficCounts } from './traffic.js';

describe("the demo's traffic line", () => {
  it('shows the orders split since the last line beside the total, so a weight edit shows at once', () => {
    const c = new TrafficCounts();
    for (let i = 0; i < 9; i++) c.record(200, 'v1');
    c.record(200, 'v2');
    c.sent = 10;
    expect(c.summary()).toBe('sent 10, answered 10 | 200: 10 | orders v1 9 (90%), v2 1 (10%); last 5 s: v1 9 (90%), v2 1 (10%)');
    for (let i = 0; i < 10; i++) c.record(200, 'v2'); // the weights moved to v2
    c.sent = 20;
    expect(c.summary()).toBe('sent 20, answered 20 | 200: 20 | orders v1 9 (45%), v2 11 (55%); last 5 s: v1 0 (0%), v2 10 (100%)');
    expect(c.summary()).toMatch(/; last 5 s: -$/); // no calls since
  });
});
