// The image, built for real: deploy/docker/Dockerfile with podman on a base made from this machine's
// node (no registry is reachable), then run: `--help`, a sidecar in it proxying one request, and the
// control plane in it serving its API and the dashboard.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { configDir, eventually, meshService } from './helpers/processes.js';
import { importNodeBase, podman, PODMAN } from './helpers/podman.js';

const ROOT = resolve(import.meta.dirname, '..');
const BASE = `localhost/meshlight-ci-base:node${process.versions.node}`;
const IMAGE = 'localhost/meshlight:ci';
/** The machine's trust store, for npm inside the build (the registry may be reached through a TLS proxy). */
const CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
// A sandbox without a systemd user session: runc, and limits set here rather than inherited.
const LABEL = 'meshlight-test=image';
const RUN = ['run', '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'host', '--label', LABEL];

describe('the image (deploy/docker/Dockerfile)', () => {
  let upstream: Upstream | undefined;
  const containers: string[] = [];

  beforeAll(async () => {
    if (!existsSync(PODMAN)) throw new Error('podman is missing: apt-get install -y --no-install-recommends podman runc buildah (npm test\'s pretest does this as root)');
    // A container left by a run that died would hold its ports.
    for (const id of (await podman(['ps', '-aq', '--filter', `label=${LABEL}`])).split('\n').filter(Boolean)) await podman(['rm', '-f', '-t', '0', id]);
    if ((await podman(['images', '-q', BASE])).trim() === '') await importNodeBase(BASE);
    // The npm cache is mounted so that `npm ci --prefer-offline` fetches little (only from the registry, as
    // npm ci does), with the machine's trust store; the build caches its layers.
    const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
    const trust = existsSync(CA_FILE) ? ['-v', `${CA_FILE}:${CA_FILE}:ro`] : [];
    await podman(['build', '--runtime', 'runc', '--network', 'host', '-f', 'deploy/docker/Dockerfile', '--build-arg', `BASE=${BASE}`,
      '--build-arg', `NPM_FLAGS=--prefer-offline --cache=/npm-cache${trust.length > 0 ? ` --cafile=${CA_FILE}` : ''}`, '-v', `${cache}:/npm-cache`,
      ...trust, '-t', IMAGE, ROOT], 600_000).catch((err: Error & { stderr?: string }) => {
      throw new Error(`podman build failed: ${err.stderr?.slice(-3000) ?? err.message}`);
    });
  }, 600_000);

  /** Runs the image in the background with `yaml` mounted at /config, readable by uid 1337. */
  async function runWithConfig(yaml: string, args: readonly string[]): Promise<void> {
    const dir = await configDir({ 'svc.yaml': yaml });
    await chmod(dir, 0o755);
    await chmod(resolve(dir, 'svc.yaml'), 0o644);
    containers.push((await podman([...RUN, '-d', '-v', `${dir}:/config:ro`, IMAGE, ...args])).trim());
  }

  afterAll(async () => {
    for (const c of containers) await podman(['rm', '-f', '-t', '0', c]).catch(() => undefined);
    await upstream?.close();
  });

  test('runs as uid 1337 with meshlight as its entrypoint', async () => {
    const [config] = JSON.parse(await podman(['image', 'inspect', IMAGE])) as { Config: { User: string; Entrypoint: string[] } }[];
    expect(config!.Config.User).toBe('1337:1337');
    expect(config!.Config.Entrypoint).toEqual(['node', '/app/dist/src/cli/main.js']);
    const help = await podman([...RUN, '--rm', IMAGE, '--help']);
    expect(help).toMatch(/^usage: meshlight <command>/);
    expect(help).toContain('inject');
    const size = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).trim());
    process.stderr.write(`image ${IMAGE}: ${(size / 1e6).toFixed(0)} MB on a base of node alone\n`);
  });

  test('a sidecar in the container proxies a request to an upstream on the host', async () => {
    upstream = await startUpstream('from-the-host');
    const [outbound, admin] = [await freePort(), await freePort()];
    await runWithConfig(meshService('hello', [upstream.port]), ['proxy', '--config', '/config', '--service', 'client', '--outbound-port', String(outbound), '--admin-port', String(admin)]);
    await eventually(async () => (await fetch(`http://127.0.0.1:${admin}/healthz/ready`).catch(() => undefined))?.status === 200, 20_000, 'the containerised sidecar to be ready');
    const res = await call(outbound, 'hello');
    expect([res.status, res.body]).toEqual([200, 'from-the-host']);
    expect(upstream.seen[0]!.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('the control plane in the container serves its config and the dashboard', async () => {
    const [grpc, http] = [await freePort(), await freePort()];
    await runWithConfig(meshService('hello', [1]), ['control-plane', '--config', '/config', '--bind-address', '127.0.0.1', '--grpc-port', String(grpc), '--http-port', String(http)]);
    await eventually(async () => (await fetch(`http://127.0.0.1:${http}/api/v1/config`).catch(() => undefined))?.status === 200, 20_000, 'the containerised control plane');
    const config = (await (await fetch(`http://127.0.0.1:${http}/api/v1/config`)).json()) as { services: string[] };
    expect(config.services).toEqual(['hello.default']);
    const page = await fetch(`http://127.0.0.1:${http}/`, { headers: { accept: 'text/html' } });
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
  });
});
