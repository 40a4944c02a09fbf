// The names and numbers injection, the webhook, the iptables init container and deploy/kubernetes/ share:
// Istio's ports and uid, so habits carry over, under meshlight's own label and annotation names.

export const PROXY_UID = 1337;
export const PORTS = { outbound: 15001, inbound: 15006, admin: 15000, stats: 15020, controlPlane: 15010, webhook: 15017 } as const;

export const PROXY_CONTAINER = 'meshlight-proxy';
export const INIT_CONTAINER = 'meshlight-init';

/** Namespace label: `enabled` injects every pod in it (unless the pod opts out), `disabled` none. */
export const NAMESPACE_LABEL = 'meshlight-injection';
/** Pod label or annotation, `"true"` or `"false"`: a pod's own opt-in or opt-out (Istio: sidecar.istio.io/inject). */
export const INJECT_KEY = 'sidecar.meshlight.dev/inject';
/** Set on an injected pod: what was added, so a second injection changes nothing. */
export const STATUS_ANNOTATION = 'sidecar.meshlight.dev/status';
/** The app's HTTP/TCP probes the stats port answers for, by path (env of the sidecar; Istio: ISTIO_KUBE_APP_PROBERS). */
export const APP_PROBES_ENV = 'MESHLIGHT_APP_PROBES';

/** Pod annotations a user may set to change what is injected (Istio's names, meshlight's prefix). */
export const ANNOTATIONS = {
  service: 'meshlight.dev/service',
  appPort: 'meshlight.dev/app-port',
  proxyCPU: 'sidecar.meshlight.dev/proxyCPU',
  proxyMemory: 'sidecar.meshlight.dev/proxyMemory',
  proxyCPULimit: 'sidecar.meshlight.dev/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.meshlight.dev/proxyMemoryLimit',
  rewriteProbes: 'sidecar.meshlight.dev/rewriteAppHTTPProbers',
  includeInboundPorts: 'traffic.sidecar.meshlight.dev/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.meshlight.dev/excludeInboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.meshlight.dev/excludeOutboundPorts',
  excludeOutboundIPRanges: 'traffic.sidecar.meshlight.dev/excludeOutboundIPRanges',
} as const;

export const DEFAULT_IMAGE = 'ghcr.io/meshlight/meshlight:0.1.0';
export const DEFAULT_CONTROL_PLANE = `meshlight-control-plane.meshlight-system.svc:${PORTS.controlPlane}`;
