// `npm test`'s pretest step: the Debian packages the real-component tests start (Prometheus, wrk).
// Installs what is missing when it can (root with apt-get); otherwise prints the exact command. It never
// fails the run itself: a test whose component is missing fails and says why.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** binary the tests run -> Debian package that provides it. Chromium joins later. */
const NEEDED = [
  { binary: '/usr/bin/prometheus', pkg: 'prometheus' },
  { binary: '/usr/bin/promtool', pkg: 'prometheus' },
  { binary: '/usr/bin/wrk', pkg: 'wrk' }, // the bench's smoke run (test/bench-smoke.test.ts)
  // The image build and run (test/image.test.ts); podman runs containers with runc here.
  { binary: '/usr/bin/podman', pkg: 'podman' },
  { binary: '/usr/sbin/runc', pkg: 'runc' },
  { binary: '/usr/bin/buildah', pkg: 'buildah' },
  // Transparent interception in network namespaces (test/iptables.test.ts), and the webhook's certificate.
  { binary: '/usr/sbin/iptables-restore', pkg: 'iptables' },
  { binary: '/usr/sbin/ip', pkg: 'iproute2' },
  { binary: '/usr/bin/openssl', pkg: 'openssl' },
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
