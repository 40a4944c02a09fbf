// The Debian packages that real components come from, installed when missing: `npm test`'s pretest
// (`node test/setup/packages.mjs`: Prometheus, Chromium for the dashboard, and wrk, nginx and haproxy for
// the bench's smoke run) and
// `npm run bench` (`node test/setup/packages.mjs bench`: the peers it compares against). Installs what is
// missing when it can (root with apt-get); otherwise prints the exact command. It never fails the run
// itself: a test whose component is missing fails and says why, and the bench says which rows it lacks.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** binary -> Debian package that provides it, and who needs it. iptables joins later. */
const NEEDED = [
  { binary: '/usr/bin/prometheus', pkg: 'prometheus', for: ['test'] },
  { binary: '/usr/bin/promtool', pkg: 'prometheus', for: ['test'] },
  { binary: '/usr/bin/wrk', pkg: 'wrk', for: ['test', 'bench'] },
  { binary: '/usr/sbin/nginx', pkg: 'nginx', for: ['test', 'bench'] },
  { binary: '/usr/sbin/haproxy', pkg: 'haproxy', for: ['test', 'bench'] },
  { binary: '/usr/bin/chromium', pkg: 'chromium', for: ['test'] }, // the dashboard, driven by playwright-core (test/dashboard.test.ts)
];

const who = process.argv[2] ?? 'test';
if (who !== 'test' && who !== 'bench') {
  process.stderr.write(`packages: unknown set '${who}' (test or bench)\n`);
  process.exit(2);
}
const label = who === 'test' ? 'pretest' : 'bench';
const missing = [...new Set(NEEDED.filter((n) => n.for.includes(who) && !existsSync(n.binary)).map((n) => n.pkg))];
if (missing.length > 0) {
  const command = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    process.stderr.write(`${label}: missing ${missing.join(', ')}; what needs them will fail or be left out. Install with:\n  sudo ${command.join(' ')}\n`);
  } else {
    const run = (args) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    process.stderr.write(`${label}: installing ${missing.join(', ')} (${command.join(' ')})\n`);
    try {
      run(command);
    } catch {
      // A fresh machine's package lists may be empty or stale: refresh once and retry.
      process.stderr.write(`${label}: apt-get update, then retrying\n`);
      try {
        run(['apt-get', 'update']);
        run(command);
      } catch (err) {
        process.stderr.write(`${label}: could not install ${missing.join(', ')}: ${err.message}\n`);
      }
    }
  }
}
