// Podman for the image test. No registry is reachable here, so the base image is made on the machine:
// this node binary, the libraries `ldd` lists for it, npm (for the build stage), and a shell (dash) for
// the Dockerfile's RUN steps, imported with `podman import`.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PODMAN = '/usr/bin/podman';

export async function podman(args: readonly string[], timeoutMs = 300_000): Promise<string> {
  const { stdout } = await run(PODMAN, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function librariesOf(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  return [...stdout.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!);
}

/** Builds `tag` from this machine's node; returns the tag. */
export async function importNodeBase(tag: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'meshlight-base-'));
  try {
    const binaries = [process.execPath, '/bin/dash', '/usr/bin/env'];
    const files = new Set(binaries);
    for (const b of binaries) for (const lib of await librariesOf(b)) files.add(lib);
    for (const f of files) {
      await mkdir(join(root, dirname(f)), { recursive: true });
      await cp(f, join(root, f), { dereference: true });
    }
    await cp('/bin/dash', join(root, 'bin/sh'), { dereference: true });
    const npm = join(dirname(process.execPath), '../lib/node_modules/npm');
    await cp(npm, join(root, 'usr/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/bin/npx'));
    if (process.execPath !== '/usr/bin/node') await symlink(process.execPath, join(root, 'usr/bin/node'));
    for (const d of ['tmp', 'root', 'etc']) await mkdir(join(root, d), { recursive: true, mode: d === 'tmp' ? 0o1777 : 0o755 });
    await run('tar', ['-C', root, '-cf', join(root, '..', `${tag.replace(/\W/g, '_')}.tar`), '.']);
    await podman(['import', '--change', 'ENV=PATH=/usr/local/bin:/usr/bin:/bin', join(root, '..', `${tag.replace(/\W/g, '_')}.tar`), tag]);
    await rm(join(root, '..', `${tag.replace(/\W/g, '_')}.tar`));
    return tag;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
