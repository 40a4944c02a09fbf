// The two containers injection adds: the iptables init container and the sidecar itself, a native
// sidecar (an init container with restartPolicy Always: it starts before the app and stops after it).
import { ANNOTATIONS, APP_PROBES_ENV, INIT_CONTAINER, PORTS, PROXY_CONTAINER, PROXY_UID } from './names.js';
import type { Container } from './pod.js';

export interface SidecarSettings {
  /** The meshlight image (sidecar and init container). */
  readonly image: string;
  /** The control plane's gRPC address, HOST:PORT. */
  readonly controlPlane: string;
  readonly imagePullPolicy?: string;
}

export interface PodFacts {
  readonly service: string | undefined;
  readonly appPort: number | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  /** Rewritten app probes, by stats-port path (empty when there are none). */
  readonly probes: Readonly<Record<string, object>>;
}

/** Istio's defaults for its sidecar, scaled to what one meshlight worker uses (bench/README.md: ~0.2 vCPU, ~90 MB). */
const RESOURCES = { cpu: '100m', memory: '128Mi', memoryLimit: '256Mi' };

export function proxyContainer(s: SidecarSettings, pod: PodFacts): Container {
  const a = pod.annotations;
  const args = ['proxy', '--control-plane', s.controlPlane, '--namespace', '$(POD_NAMESPACE)', '--stats-port', String(PORTS.stats)];
  if (pod.service !== undefined) args.push('--service', pod.service);
  if (pod.appPort !== undefined) args.push('--app-port', String(pod.appPort));
  const env: NonNullable<Container['env']> = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ];
  if (Object.keys(pod.probes).length > 0) env.push({ name: APP_PROBES_ENV, value: JSON.stringify(pod.probes) });
  const limits: Record<string, string> = { memory: a[ANNOTATIONS.proxyMemoryLimit] ?? RESOURCES.memoryLimit };
  const cpuLimit = a[ANNOTATIONS.proxyCPULimit];
  if (cpuLimit !== undefined) limits['cpu'] = cpuLimit;
  const ready = { httpGet: { path: '/healthz/ready', port: PORTS.stats } };
  return {
    name: PROXY_CONTAINER,
    image: s.image,
    ...(s.imagePullPolicy !== undefined ? { imagePullPolicy: s.imagePullPolicy } : {}),
    restartPolicy: 'Always',
    args,
    env,
    ports: [{ containerPort: PORTS.stats, name: 'http-stats', protocol: 'TCP' }],
    // The app starts once this passes: a sidecar is ready when its first config is in (Istio waits up to 10 min).
    startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 600, timeoutSeconds: 3 },
    readinessProbe: { ...ready, periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 3 },
    resources: {
      requests: { cpu: a[ANNOTATIONS.proxyCPU] ?? RESOURCES.cpu, memory: a[ANNOTATIONS.proxyMemory] ?? RESOURCES.memory },
      limits,
    },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** `meshlight iptables` as root with NET_ADMIN (and NET_RAW for iptables' own sockets), then gone. */
export function initContainer(s: SidecarSettings, pod: PodFacts): Container {
  const a = pod.annotations;
  const include = a[ANNOTATIONS.includeInboundPorts] ?? (pod.appPort !== undefined ? String(pod.appPort) : '');
  const args = ['iptables', '--proxy-uid', String(PROXY_UID), '--include-inbound-ports', include];
  // The kubelet's probes and Prometheus reach the stats port directly.
  args.push('--exclude-inbound-ports', [String(PORTS.stats), a[ANNOTATIONS.excludeInboundPorts]].filter(Boolean).join(','));
  const ports = a[ANNOTATIONS.excludeOutboundPorts];
  const cidrs = a[ANNOTATIONS.excludeOutboundIPRanges];
  if (ports !== undefined) args.push('--exclude-outbound-ports', ports);
  if (cidrs !== undefined) args.push('--exclude-outbound-cidrs', cidrs);
  return {
    name: INIT_CONTAINER,
    image: s.image,
    ...(s.imagePullPolicy !== undefined ? { imagePullPolicy: s.imagePullPolicy } : {}),
    args,
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      // iptables takes its lock in /run.
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}
