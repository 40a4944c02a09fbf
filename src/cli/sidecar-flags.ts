// The flags `inject` and `webhook` share: what the injected sidecar runs and where it finds its control plane.
import { DEFAULT_CONTROL_PLANE, DEFAULT_IMAGE } from '../kube/names.js';
import type { SidecarSettings } from '../kube/sidecar-template.js';
import { stringFlag, UsageError, type FlagSpecs, type Parsed } from './args.js';

export const SIDECAR_FLAGS: FlagSpecs = {
  image: { type: 'string', help: 'image of the injected sidecar and init container', default: DEFAULT_IMAGE },
  'image-pull-policy': { type: 'string', help: 'Always|IfNotPresent|Never (default: the cluster\'s)' },
  'control-plane': { type: 'string', help: 'the control plane the sidecars connect to, HOST:PORT', default: DEFAULT_CONTROL_PLANE },
};

export function sidecarSettings(parsed: Parsed): SidecarSettings {
  const controlPlane = stringFlag(parsed, 'control-plane')!;
  if (!/^[^:\s/]+:\d{1,5}$/.test(controlPlane)) throw new UsageError(`--control-plane must be HOST:PORT, got '${controlPlane}'`);
  const pull = stringFlag(parsed, 'image-pull-policy');
  if (pull !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(pull)) throw new UsageError(`--image-pull-policy must be Always, IfNotPresent or Never, got '${pull}'`);
  return { image: stringFlag(parsed, 'image')!, controlPlane, ...(pull !== undefined ? { imagePullPolicy: pull } : {}) };
}
