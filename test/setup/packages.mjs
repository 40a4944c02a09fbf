// `npm test`'s pretest step: the Debian packages the real-component tests start (Prometheus, wrk, Chromium).
// Installs what is missing when it can (root with apt-get); otherwise prints the exact command. It never
// fails the run itself: a test whose component is missing fails and says why.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** binary the tests run -> Debian package that provides it. iptables joins later. */
const NEEDED = [
  { binary: '/usr/bin/prometheus', pkg: 'prometheus' },
  { binary: '/usr/bin/promtool', pkg: 'prometheus' },
  { binary: '/usr/bin/wrk', pkg: 'wrk' }, // the bench's smoke run (test/bench-smoke.test.ts)
  { binary: '/usr/bin/chromium', pkg: 'chromium' }, // the dashboard, driven by playwright-core (test/dashboard.test.ts)
];

const missing = [...new Set(NEEDED.filter((n) => !existsSync(n.binary)).map((n) => n.pkg))];
if (missing.length > 0) {
  const command = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    process.stderr.write(`pretest: missing ${missing.join(', ')}; the tests that need them will fail. Install with:\n  sudo ${command.join(' ')}\n`);
  } else {
    const run = (args) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    process.stderr.write(`pretest: installing ${missing.join(', ')} (${command.join(' ')})\n`);
    try {
      run(command);
    } catch {
      // A fresh machine's package lists may be empty or stale: refresh once and retry.
      process.stderr.write('pretest: apt-get update, then retrying\n');
      try {
        run(['apt-get', 'update']);
        run(command);
      } catch (err) {
        process.stderr.write(`pretest: could not install ${missing.join(', ')}: ${err.message}\n`);
      }
    }
  }
}
