// Marathon app definitions (marathon.md §3, §6, §7): parse untrusted JSON into a
// normalized AppDefinition (deprecated fields migrated, defaults filled), reporting
// every violation at once in Marathon's 422 shape; partial updates and their merge.
import { compileJavaRegex, validateConstraint } from './constraints.ts';
import { MarathonValidationError, Violations, type ViolationPath } from './errors.ts';
import { marathonTimestamp, parseMarathonTimestamp } from './ids.ts';
import { canonicalPath, isRoot, notChildMessage, parentOf, pathIdErrors, pathSegments } from './pathid.ts';
import { given, isObject, Msg, Reader, type JsonObject } from './read.ts';

// ─── Types (normalized: defaults filled, deprecated fields migrated) ─────────

export type NetworkProtocol = 'tcp' | 'udp' | 'udp,tcp';
export type PortDefinition = { port: number; protocol: NetworkProtocol; name?: string; labels?: Record<string, string> };
export type PortMapping = {
  containerPort: number;
  /** Absent = no host port; 0 = a random host port. */
  hostPort?: number;
  servicePort: number;
  protocol: NetworkProtocol;
  name?: string;
  labels?: Record<string, string>;
  networkNames?: string[];
};
export type NetworkMode = 'host' | 'container' | 'container/bridge';
export type Network = { mode: NetworkMode; name?: string; labels?: Record<string, string> };
export type FetchUri = { uri: string; extract: boolean; executable: boolean; cache: boolean; destPath?: string };
export type EnvValue = string | { secret: string };

export const HEALTH_CHECK_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP'] as const;
export type HealthCheckProtocol = (typeof HEALTH_CHECK_PROTOCOLS)[number];
/** Checks Marathon runs itself (leader → task). */
export const MARATHON_HEALTH_PROTOCOLS: readonly HealthCheckProtocol[] = ['HTTP', 'HTTPS', 'TCP'];
/** Checks Mesos runs on the agent (reported via TaskStatus.healthy). */
export const MESOS_HEALTH_PROTOCOLS: readonly HealthCheckProtocol[] = ['COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP'];

export type HealthCheck = {
  protocol: HealthCheckProtocol;
  gracePeriodSeconds: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
  delaySeconds: number;
  portIndex?: number;
  port?: number;
  path?: string;
  ignoreHttp1xx?: boolean;
  command?: { value: string };
  ipProtocol?: 'IPv4' | 'IPv6';
};

export type ReadinessCheck = {
  name: string;
  protocol: 'HTTP' | 'HTTPS';
  path: string;
  portName: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  httpStatusCodesForReady: number[];
  preserveLastResponse: boolean;
};

export type DockerContainer = {
  image: string;
  privileged: boolean;
  parameters: { key: string; value: string }[];
  forcePullImage: boolean;
  credential?: { principal: string; secret?: string };
  pullConfig?: { secret: string };
};

export type PersistentVolumeInfo = {
  type: 'root' | 'path' | 'mount';
  size: number;
  maxSize?: number;
  profileName?: string;
  constraints?: string[][];
};
export type Volume = {
  containerPath: string;
  mode?: 'RO' | 'RW';
  hostPath?: string;
  persistent?: PersistentVolumeInfo;
  external?: { name?: string; provider?: string; options?: Record<string, string>; size?: number };
  secret?: string;
};

export type Container = {
  type: 'DOCKER' | 'MESOS';
  docker?: DockerContainer;
  appc?: Record<string, unknown>;
  volumes: Volume[];
  /** Present with container/bridge networking only. */
  portMappings?: PortMapping[];
  linuxInfo?: Record<string, unknown>;
};

export type UpgradeStrategy = { minimumHealthCapacity: number; maximumOverCapacity: number };
export type UnreachableStrategy = { inactiveAfterSeconds: number; expungeAfterSeconds: number } | 'disabled';
export type KillSelection = 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
export type Residency = { relaunchEscalationTimeoutSeconds: number; taskLostBehavior: 'WAIT_FOREVER' | 'RELAUNCH_AFTER_TIMEOUT' };
export type ResourceLimit = number | 'unlimited';
export type VersionInfo = { lastScalingAt: string; lastConfigChangeAt: string };

/** A normalized Marathon app definition (what is stored and echoed back). */
export type AppDefinition = {
  id: string;
  cmd?: string;
  args?: string[];
  user?: string;
  env: Record<string, EnvValue>;
  instances: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  executor: string;
  constraints: string[][];
  acceptedResourceRoles?: string[];
  role?: string;
  labels: Record<string, string>;
  fetch: FetchUri[];
  storeUrls?: string[];
  /** Host networking only (absent with container networks). */
  portDefinitions?: PortDefinition[];
  requirePorts: boolean;
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  container?: Container;
  networks: Network[];
  healthChecks: HealthCheck[];
  readinessChecks: ReadinessCheck[];
  check?: Record<string, unknown>;
  dependencies: string[];
  upgradeStrategy: UpgradeStrategy;
  killSelection: KillSelection;
  unreachableStrategy: UnreachableStrategy;
  taskKillGracePeriodSeconds?: number;
  residency?: Residency;
  secrets: Record<string, { source: string }>;
  tty?: boolean;
  resourceLimits?: { cpus?: ResourceLimit; mem?: ResourceLimit };
  executorResources?: { cpus: number; mem: number; disk: number };
  version?: string;
  versionInfo?: VersionInfo;
};

/** Any app definition: the parser's AppDefinition or a stored/loose one (missing fields = defaults). */
export type AppLike = { id: string; [key: string]: unknown };

/** A parsed partial update (PUT partialUpdate=true / PATCH): only the given fields, deprecated ones migrated. */
export type AppUpdate = Partial<Omit<AppDefinition, 'upgradeStrategy' | 'portDefinitions'>> & {
  upgradeStrategy?: Partial<UpgradeStrategy>;
  portDefinitions?: PortDefinition[];
};

// ─── Defaults (marathon.md §3.1, §6) ─────────────────────────────────────────

export const AppDefaults = {
  instances: 1,
  cpus: 1,
  mem: 128,
  disk: 0,
  gpus: 0,
  executor: '',
  backoffSeconds: 1,
  backoffFactor: 1.15,
  maxLaunchDelaySeconds: 300,
  requirePorts: false,
  killSelection: 'YOUNGEST_FIRST' as KillSelection,
  upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 } as UpgradeStrategy,
  residentUpgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } as UpgradeStrategy,
  unreachableStrategy: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 } as UnreachableStrategy,
  residency: { relaunchEscalationTimeoutSeconds: 3600, taskLostBehavior: 'WAIT_FOREVER' } as Residency,
  networks: [{ mode: 'host' }] as Network[],
  portDefinitions: [{ port: 0, protocol: 'tcp', name: 'default' }] as PortDefinition[],
  portMappings: [{ containerPort: 0, servicePort: 0, protocol: 'tcp', name: 'default' }] as PortMapping[],
  executorResources: { cpus: 0.1, mem: 32, disk: 10 },
} as const;

export const HealthCheckDefaults = {
  protocol: 'HTTP' as HealthCheckProtocol,
  gracePeriodSeconds: 300,
  intervalSeconds: 60,
  timeoutSeconds: 20,
  maxConsecutiveFailures: 3,
  delaySeconds: 15,
  path: '/',
  ignoreHttp1xx: false,
  ipProtocol: 'IPv4' as const,
} as const;

export const ReadinessCheckDefaults = {
  name: 'readinessCheck',
  protocol: 'HTTP' as const,
  path: '/',
  portName: 'http-api',
  intervalSeconds: 30,
  timeoutSeconds: 10,
  httpStatusCodesForReady: [200] as readonly number[],
  preserveLastResponse: false,
} as const;

/** Validation messages clients may match on (marathon.md §2). */
export const AppMessages = {
  cmdArgsOrContainer: "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
  portNamesUnique: 'Port names must be unique.',
  portDefinitionPortsUnique: 'Ports must be unique.',
  portsUnique: 'ports must be unique',
  portsAndPortDefinitions: 'cannot specify both ports and port definitions',
  portMappingsWithHost: 'portMappings are not allowed with host-networking',
  portDefinitionsNotHost: 'portDefinitions are only allowed with host-networking',
  mustNotBeRoot: 'must not be root',
  pathNotEmpty: 'Path must contain at least one path element',
  healthPortIndex: 'Health check port indices must address an element of the ports array or container port mappings.',
  oneMesosHealthCheck: 'AppDefinition can contain at most one Mesos health check',
  mixedHealthChecks: 'AppDefinition can not mix Mesos and Marathon health checks',
  healthIpv6: 'IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks',
  versionOnlyWithId: "The 'version' field may only be combined with the 'id' field.",
  unreachableResident: 'unreachableStrategy must be disabled for resident tasks',
  gpusMesosOnly: 'GPU resources only work with the Mesos containerizer',
  dockerSingleNetwork: 'may only specify a single container network when using the Docker container engine',
  residency: 'App must contain persistent volumes and define residency',
  singleInstance: 'Single instance app may only have one instance',
  urisWithFetch: 'may not be set in conjunction with fetch',
  undefinedSecret: 'references an undefined secret',
  hostNetworkNamed: 'Host networks may not have names or labels',
  bridgeNetworkNamed: 'Bridge networks may not have names',
  duplicateNetworks: 'Duplicate networks are not allowed',
  networkModes: 'May specify a single host network, single bridge network, or else 1-to-n container networks',
  networkNameRequired: 'Network name must be specified when container network is selected.',
  networkAndIpAddress: 'must not specify both networks and ipAddress',
  dockerNetworkAndNetworks: 'must not specify both container.docker.network and networks',
  ipAddressAndPorts: 'cannot specify both an IP address and port',
  pullConfigDocker: 'pullConfig is not supported with Docker containerizer',
  pullConfigSecret: 'pullConfig.secret must refer to an existing secret',
  volumeSecret: 'volume.secret must refer to an existing secret',
  bothPortMappings: 'cannot specify both portMappings and docker.portMappings',
  uriSyntax: 'URI has invalid syntax.',
  invalidRegex: 'is not a valid regular expression',
  portNameNotFound: (name: string) => `No port definition reference for portName ${name}`,
} as const;

const PORT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const PORT_NAME_RE = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const NETWORK_NAME_PATTERN = '^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$';
const NETWORK_NAME_RE = /^[a-z0-9](?:[-a-z0-9_]*[a-z0-9])?$/;
const EXECUTOR_PATTERN = '^(//cmd)|(/?[^/]+(/[^/]+)*)|$';
const EXECUTOR_RE = /^(?:\/\/cmd|\/?[^/]+(?:\/[^/]+)*|)$/;
const EXTRACT_SUFFIXES = ['.tgz', '.tar.gz', '.tbz2', '.tar.bz2', '.txz', '.tar.xz', '.zip'];
const PROTOCOLS: readonly NetworkProtocol[] = ['tcp', 'udp', 'udp,tcp'];
const SINGLE_INSTANCE_LABEL = 'MARATHON_SINGLE_INSTANCE_APP';

/** Marathon's FetchUri.isExtract: archives are extracted, other downloads are not. */
export const isExtractUri = (uri: string): boolean => EXTRACT_SUFFIXES.some((s) => uri.endsWith(s));

/** Top-level fields the parser understands (anything else is ignored, as Marathon does). */
export const APP_INPUT_FIELDS = [
  'id', 'cmd', 'args', 'user', 'env', 'instances', 'cpus', 'mem', 'disk', 'gpus', 'executor', 'constraints',
  'acceptedResourceRoles', 'role', 'labels', 'uris', 'fetch', 'storeUrls', 'ports', 'portDefinitions', 'requirePorts',
  'backoffSeconds', 'backoffFactor', 'maxLaunchDelaySeconds', 'container', 'networks', 'ipAddress', 'healthChecks',
  'readinessChecks', 'check', 'dependencies', 'upgradeStrategy', 'killSelection', 'unreachableStrategy',
  'taskKillGracePeriodSeconds', 'residency', 'secrets', 'tty', 'resourceLimits', 'executorResources', 'version',
  'versionInfo',
] as const;

// ─── Reading (types, per-field ranges, item defaults) ───────────────────────

type RawDocker = Partial<DockerContainer> & { network?: 'BRIDGE' | 'HOST' | 'NONE' | 'USER'; portMappings?: PortMapping[] };
type RawContainer = { type: 'DOCKER' | 'MESOS'; docker?: RawDocker; appc?: Record<string, unknown>; volumes?: Volume[]; portMappings?: PortMapping[]; linuxInfo?: Record<string, unknown> };
type RawIpAddress = { groups?: string[]; labels?: Record<string, string>; networkName?: string; discovery?: { ports?: { number: number; name: string; protocol: NetworkProtocol; labels?: Record<string, string> }[] } };
type RawHealthCheck = Omit<HealthCheck, 'path' | 'ignoreHttp1xx' | 'ipProtocol'> & { path?: string; ignoreHttp1xx?: boolean; ipProtocol?: 'IPv4' | 'IPv6' };

type RawApp = Omit<AppUpdate, 'container' | 'healthChecks'> & {
  uris?: string[];
  ports?: number[];
  container?: RawContainer;
  ipAddress?: RawIpAddress;
  healthChecks?: RawHealthCheck[];
};

interface ReadResult {
  raw: RawApp;
  obj: JsonObject;
  /** Top-level fields that had violations (cross-field checks skip them to avoid cascades). */
  broken: Set<string>;
}

const portRange = { min: 0, max: 65535 };

function readPortDefinition(r: Reader, x: unknown, p: ViolationPath): PortDefinition | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: PortDefinition = {
    port: r.int(o.port, [...p, 'port'], portRange) ?? 0,
    protocol: r.enumOf(o.protocol, [...p, 'protocol'], PROTOCOLS) ?? 'tcp',
  };
  const name = r.matching(o.name, [...p, 'name'], PORT_NAME_RE, PORT_NAME_PATTERN);
  if (name !== undefined) out.name = name;
  const labels = r.stringMap(o.labels, [...p, 'labels']);
  if (labels && Object.keys(labels).length) out.labels = labels;
  return out;
}

function readPortMapping(r: Reader, x: unknown, p: ViolationPath): PortMapping | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: PortMapping = { containerPort: r.int(o.containerPort, [...p, 'containerPort'], portRange) ?? 0, servicePort: 0, protocol: 'tcp' };
  const hostPort = r.int(o.hostPort, [...p, 'hostPort'], portRange);
  if (hostPort !== undefined) out.hostPort = hostPort;
  out.servicePort = r.int(o.servicePort, [...p, 'servicePort'], portRange) ?? 0;
  out.protocol = r.enumOf(o.protocol, [...p, 'protocol'], PROTOCOLS) ?? 'tcp';
  const name = r.matching(o.name, [...p, 'name'], PORT_NAME_RE, PORT_NAME_PATTERN);
  if (name !== undefined) out.name = name;
  const labels = r.stringMap(o.labels, [...p, 'labels']);
  if (labels && Object.keys(labels).length) out.labels = labels;
  const nets = r.stringArray(o.networkNames, [...p, 'networkNames']);
  if (nets && nets.length) out.networkNames = nets;
  return out;
}

function readEnv(r: Reader, x: unknown, p: ViolationPath): Record<string, EnvValue> | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: Record<string, EnvValue> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val === 'string') out[k] = val;
    else if (isObject(val) && typeof val.secret === 'string') out[k] = { secret: val.secret };
    else r.fail([...p, k], Msg.string);
  }
  return out;
}

function readFetch(r: Reader, x: unknown, p: ViolationPath): FetchUri | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const uri = r.required(o, 'uri', p, (v, q) => r.string(v, q, { maxLength: 1024 }));
  if (uri !== undefined && /[\s<>"{}|\\^`]/.test(uri)) r.fail([...p, 'uri'], AppMessages.uriSyntax);
  const out: FetchUri = {
    uri: uri ?? '',
    extract: r.bool(o.extract, [...p, 'extract']) ?? true,
    executable: r.bool(o.executable, [...p, 'executable']) ?? false,
    cache: r.bool(o.cache, [...p, 'cache']) ?? false,
  };
  const dest = r.string(o.destPath, [...p, 'destPath']) ?? r.string(o.outputFile, [...p, 'outputFile']);
  if (dest !== undefined) out.destPath = dest;
  return uri === undefined ? undefined : out;
}

function readNetwork(r: Reader, x: unknown, p: ViolationPath): Network | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: Network = { mode: r.enumOf(o.mode, [...p, 'mode'], ['host', 'container', 'container/bridge'] as const) ?? 'container' };
  const name = r.matching(o.name, [...p, 'name'], NETWORK_NAME_RE, NETWORK_NAME_PATTERN);
  if (name !== undefined) out.name = name;
  const labels = r.stringMap(o.labels, [...p, 'labels']);
  if (labels && Object.keys(labels).length) out.labels = labels;
  return out;
}

function readVolume(r: Reader, x: unknown, p: ViolationPath): Volume | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const containerPath = r.required(o, 'containerPath', p, (v, q) => r.string(v, q, { nonEmpty: true }));
  const out: Volume = { containerPath: containerPath ?? '' };
  const secret = r.string(o.secret, [...p, 'secret'], { nonEmpty: true });
  if (secret !== undefined) out.secret = secret;
  else out.mode = r.enumOf(o.mode, [...p, 'mode'], ['RO', 'RW'] as const) ?? 'RW';
  const hostPath = r.string(o.hostPath, [...p, 'hostPath'], { nonEmpty: true });
  if (hostPath !== undefined) out.hostPath = hostPath;
  const per = r.object(o.persistent, [...p, 'persistent']);
  if (per) {
    const pp = [...p, 'persistent'];
    const info: PersistentVolumeInfo = {
      type: r.enumOf(per.type, [...pp, 'type'], ['root', 'path', 'mount'] as const) ?? 'root',
      size: r.required(per, 'size', pp, (v, q) => r.int(v, q, { gt: 0 })) ?? 0,
    };
    const maxSize = r.int(per.maxSize, [...pp, 'maxSize'], { gt: 0 });
    if (maxSize !== undefined) {
      info.maxSize = maxSize;
      if (info.type !== 'mount') r.fail(pp, 'Only mount volumes can have maxSize');
      else if (maxSize <= info.size) r.fail(pp, 'Max size must be larger than size');
    }
    const profile = r.string(per.profileName, [...pp, 'profileName']);
    if (profile !== undefined) info.profileName = profile;
    const cons = r.array(per.constraints, [...pp, 'constraints'], (el, q) => r.stringArray(el, q));
    if (cons && cons.length) info.constraints = cons;
    out.persistent = info;
    if (containerPath !== undefined && containerPath.includes('/')) r.fail([...p, 'containerPath'], 'value must not contain "/"');
    if (out.mode !== 'RW') r.fail([...p, 'mode'], 'got RO, expected RW');
  }
  const ext = r.object(o.external, [...p, 'external']);
  if (ext) {
    const ep = [...p, 'external'];
    const e: NonNullable<Volume['external']> = {};
    const name = r.string(ext.name, [...ep, 'name'], { nonEmpty: true });
    if (name !== undefined) e.name = name;
    const provider = r.string(ext.provider, [...ep, 'provider'], { nonEmpty: true });
    if (provider !== undefined) e.provider = provider;
    const options = r.stringMap(ext.options, [...ep, 'options']);
    if (options) e.options = options;
    const size = r.int(ext.size, [...ep, 'size'], { gt: 0 });
    if (size !== undefined) e.size = size;
    out.external = e;
  }
  return containerPath === undefined ? undefined : out;
}

function readContainer(r: Reader, x: unknown, p: ViolationPath): RawContainer | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: RawContainer = { type: r.enumOf(o.type, [...p, 'type'], ['DOCKER', 'MESOS'] as const) ?? 'DOCKER' };
  const d = r.object(o.docker, [...p, 'docker']);
  if (d) {
    const dp = [...p, 'docker'];
    const docker: RawDocker = {};
    const image = r.string(d.image, [...dp, 'image']);
    if (image !== undefined) docker.image = image;
    const network = r.enumOf(d.network, [...dp, 'network'], ['BRIDGE', 'HOST', 'NONE', 'USER'] as const);
    if (network !== undefined) docker.network = network;
    const pms = r.array(d.portMappings, [...dp, 'portMappings'], (el, q) => readPortMapping(r, el, q));
    if (pms) docker.portMappings = pms;
    docker.privileged = r.bool(d.privileged, [...dp, 'privileged']) ?? false;
    docker.parameters =
      r.array(d.parameters, [...dp, 'parameters'], (el, q) => {
        const po = r.object(el, q);
        if (!po) return undefined;
        const key = r.required(po, 'key', q, (v, s) => r.string(v, s));
        const value = r.required(po, 'value', q, (v, s) => r.string(v, s));
        return key === undefined || value === undefined ? undefined : { key, value };
      }) ?? [];
    docker.forcePullImage = r.bool(d.forcePullImage, [...dp, 'forcePullImage']) ?? false;
    const cred = r.object(d.credential, [...dp, 'credential']);
    if (cred) {
      const principal = r.required(cred, 'principal', [...dp, 'credential'], (v, q) => r.string(v, q));
      const secret = r.string(cred.secret, [...dp, 'credential', 'secret']);
      if (principal !== undefined) docker.credential = secret === undefined ? { principal } : { principal, secret };
    }
    const pull = r.object(d.pullConfig, [...dp, 'pullConfig']);
    if (pull) {
      const secret = r.required(pull, 'secret', [...dp, 'pullConfig'], (v, q) => r.string(v, q, { nonEmpty: true }));
      if (secret !== undefined) docker.pullConfig = { secret };
    }
    out.docker = docker;
  }
  const appc = r.object(o.appc, [...p, 'appc']);
  if (appc) out.appc = appc;
  const vols = r.array(o.volumes, [...p, 'volumes'], (el, q) => readVolume(r, el, q));
  if (vols) out.volumes = vols;
  const pms = r.array(o.portMappings, [...p, 'portMappings'], (el, q) => readPortMapping(r, el, q));
  if (pms) out.portMappings = pms;
  const linux = r.object(o.linuxInfo, [...p, 'linuxInfo']);
  if (linux) out.linuxInfo = linux;
  return out;
}

function readIpAddress(r: Reader, x: unknown, p: ViolationPath): RawIpAddress | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const out: RawIpAddress = {};
  const groups = r.stringArray(o.groups, [...p, 'groups']);
  if (groups) out.groups = groups;
  const labels = r.stringMap(o.labels, [...p, 'labels']);
  if (labels) out.labels = labels;
  const networkName = r.string(o.networkName, [...p, 'networkName']);
  if (networkName !== undefined) out.networkName = networkName;
  const disc = r.object(o.discovery, [...p, 'discovery']);
  if (disc) {
    const ports = r.array(disc.ports, [...p, 'discovery', 'ports'], (el, q) => {
      const po = r.object(el, q);
      if (!po) return undefined;
      const number = r.required(po, 'number', q, (v, s) => r.int(v, s, portRange));
      const name = r.required(po, 'name', q, (v, s) => r.matching(v, s, PORT_NAME_RE, PORT_NAME_PATTERN));
      const protocol = r.enumOf(po.protocol, [...q, 'protocol'], PROTOCOLS) ?? 'tcp';
      const pl = r.stringMap(po.labels, [...q, 'labels']);
      if (number === undefined || name === undefined) return undefined;
      return pl && Object.keys(pl).length ? { number, name, protocol, labels: pl } : { number, name, protocol };
    });
    out.discovery = ports ? { ports } : {};
  }
  return out;
}

function readHealthCheck(r: Reader, x: unknown, p: ViolationPath): RawHealthCheck | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const nonNeg = { min: 0 };
  const out: RawHealthCheck = {
    protocol: r.enumOf(o.protocol, [...p, 'protocol'], HEALTH_CHECK_PROTOCOLS) ?? HealthCheckDefaults.protocol,
    gracePeriodSeconds: r.int(o.gracePeriodSeconds, [...p, 'gracePeriodSeconds'], nonNeg) ?? HealthCheckDefaults.gracePeriodSeconds,
    intervalSeconds: r.int(o.intervalSeconds, [...p, 'intervalSeconds'], nonNeg) ?? HealthCheckDefaults.intervalSeconds,
    timeoutSeconds: r.int(o.timeoutSeconds, [...p, 'timeoutSeconds'], nonNeg) ?? HealthCheckDefaults.timeoutSeconds,
    maxConsecutiveFailures: r.int(o.maxConsecutiveFailures, [...p, 'maxConsecutiveFailures'], nonNeg) ?? HealthCheckDefaults.maxConsecutiveFailures,
    delaySeconds: r.int(o.delaySeconds, [...p, 'delaySeconds'], nonNeg) ?? HealthCheckDefaults.delaySeconds,
  };
  const portIndex = r.int(o.portIndex, [...p, 'portIndex'], nonNeg);
  if (portIndex !== undefined) out.portIndex = portIndex;
  const port = r.int(o.port, [...p, 'port'], portRange);
  if (port !== undefined) out.port = port;
  const path = r.string(o.path, [...p, 'path']);
  if (path !== undefined) out.path = path;
  const ignore = r.bool(o.ignoreHttp1xx, [...p, 'ignoreHttp1xx']);
  if (ignore !== undefined) out.ignoreHttp1xx = ignore;
  if (given(o.command)) {
    // {"value": "..."}; a bare string is accepted too (old clients).
    if (typeof o.command === 'string') out.command = { value: o.command };
    else {
      const c = r.object(o.command, [...p, 'command']);
      const value = c && r.required(c, 'value', [...p, 'command'], (v, q) => r.string(v, q, { nonEmpty: true }));
      if (value !== undefined && value !== null) out.command = { value };
    }
  }
  const ip = r.enumOf(o.ipProtocol, [...p, 'ipProtocol'], ['IPv4', 'IPv6'] as const);
  if (ip !== undefined) out.ipProtocol = ip;
  return out;
}

function readReadinessCheck(r: Reader, x: unknown, p: ViolationPath): ReadinessCheck | undefined {
  const o = r.object(x, p);
  if (!o) return undefined;
  const d = ReadinessCheckDefaults;
  return {
    name: r.string(o.name, [...p, 'name'], { nonEmpty: true }) ?? d.name,
    protocol: r.enumOf(o.protocol, [...p, 'protocol'], ['HTTP', 'HTTPS'] as const) ?? d.protocol,
    path: r.string(o.path, [...p, 'path']) ?? d.path,
    portName: r.string(o.portName, [...p, 'portName'], { nonEmpty: true }) ?? d.portName,
    intervalSeconds: r.int(o.intervalSeconds, [...p, 'intervalSeconds'], { min: 1 }) ?? d.intervalSeconds,
    timeoutSeconds: r.int(o.timeoutSeconds, [...p, 'timeoutSeconds'], { min: 1 }) ?? d.timeoutSeconds,
    httpStatusCodesForReady: r.intArray(o.httpStatusCodesForReady, [...p, 'httpStatusCodesForReady'], { min: 100, max: 999 }) ?? [...d.httpStatusCodesForReady],
    preserveLastResponse: r.bool(o.preserveLastResponse, [...p, 'preserveLastResponse']) ?? d.preserveLastResponse,
  };
}

function readTimestamp(r: Reader, x: unknown, p: ViolationPath): string | undefined {
  const s = r.string(x, p);
  if (s === undefined) return undefined;
  const ms = parseMarathonTimestamp(s);
  return ms === undefined ? r.fail(p, Msg.date) : marathonTimestamp(ms);
}

function readResourceLimit(r: Reader, x: unknown, p: ViolationPath): ResourceLimit | undefined {
  if (x === 'unlimited') return 'unlimited';
  if (typeof x === 'string') return r.fail(p, `got ${x}, expected one of: [unlimited]`);
  return r.number(x, p, { min: 0, double: true });
}

function readApp(r: Reader, json: unknown, path: ViolationPath, opts: { base: string; groupBase?: string }): ReadResult | undefined {
  if (!isObject(json)) {
    r.fail(path, Msg.object);
    return undefined;
  }
  const o = json;
  const raw: Record<string, unknown> = {};
  const broken = new Set<string>();
  const f = (key: string, read: (x: unknown, p: ViolationPath) => unknown) => {
    const before = r.v.size;
    const val = read(o[key], [...path, key]);
    if (r.v.size !== before) broken.add(key);
    if (val !== undefined) raw[key] = val;
  };
  const dbl = { min: 0, double: true };
  const nonNegInt = { min: 0 };

  f('id', (x, p) => {
    const id = r.string(x, p);
    if (id === undefined) return undefined;
    const canonical = canonicalPath(id, opts.base);
    validateId(r.v, canonical, path, opts.groupBase);
    return canonical;
  });
  f('cmd', (x, p) => r.string(x, p, { nonEmpty: true }));
  f('args', (x, p) => r.stringArray(x, p));
  f('user', (x, p) => r.string(x, p));
  f('env', (x, p) => readEnv(r, x, p));
  f('instances', (x, p) => r.int(x, p, nonNegInt));
  f('cpus', (x, p) => r.number(x, p, dbl));
  f('mem', (x, p) => r.number(x, p, dbl));
  f('disk', (x, p) => r.number(x, p, dbl));
  f('gpus', (x, p) => r.int(x, p, nonNegInt));
  f('executor', (x, p) => r.matching(x, p, EXECUTOR_RE, EXECUTOR_PATTERN));
  f('constraints', (x, p) => r.array(x, p, (el, q) => validateConstraint(el, q, r.v)));
  f('acceptedResourceRoles', (x, p) => {
    const roles = r.stringArray(x, p, { nonEmptyItems: true });
    if (roles && roles.length === 0) return r.fail(p, Msg.notEmpty);
    return roles && [...new Set(roles)];
  });
  f('role', (x, p) => r.string(x, p, { nonEmpty: true }));
  f('labels', (x, p) => r.stringMap(x, p));
  f('uris', (x, p) => r.stringArray(x, p));
  f('fetch', (x, p) => r.array(x, p, (el, q) => readFetch(r, el, q)));
  f('storeUrls', (x, p) => r.stringArray(x, p));
  f('ports', (x, p) => r.intArray(x, p, portRange));
  f('portDefinitions', (x, p) => r.array(x, p, (el, q) => readPortDefinition(r, el, q)));
  f('requirePorts', (x, p) => r.bool(x, p));
  f('backoffSeconds', (x, p) => r.int(x, p, nonNegInt));
  f('backoffFactor', (x, p) => r.number(x, p, { min: 1, double: true }));
  f('maxLaunchDelaySeconds', (x, p) => r.int(x, p, nonNegInt));
  f('container', (x, p) => readContainer(r, x, p));
  f('networks', (x, p) => r.array(x, p, (el, q) => readNetwork(r, el, q)));
  f('ipAddress', (x, p) => readIpAddress(r, x, p));
  f('healthChecks', (x, p) => r.array(x, p, (el, q) => readHealthCheck(r, el, q)));
  f('readinessChecks', (x, p) => r.array(x, p, (el, q) => readReadinessCheck(r, el, q)));
  f('check', (x, p) => r.object(x, p));
  f('dependencies', (x, p) => r.stringArray(x, p, { nonEmptyItems: true }));
  f('upgradeStrategy', (x, p) => {
    const u = r.object(x, p);
    if (!u) return undefined;
    const out: Partial<UpgradeStrategy> = {};
    const rule = { min: 0, max: 1, double: true };
    const mh = r.number(u.minimumHealthCapacity, [...p, 'minimumHealthCapacity'], rule);
    if (mh !== undefined) out.minimumHealthCapacity = mh;
    const mo = r.number(u.maximumOverCapacity, [...p, 'maximumOverCapacity'], rule);
    if (mo !== undefined) out.maximumOverCapacity = mo;
    return out;
  });
  f('killSelection', (x, p) => r.enumOf(x, p, ['YOUNGEST_FIRST', 'OLDEST_FIRST'] as const));
  f('unreachableStrategy', (x, p) => {
    if (x === 'disabled') return 'disabled';
    if (typeof x === 'string') return r.fail(p, `got ${x}, expected one of: [disabled]`);
    const u = r.object(x, p);
    if (!u) return undefined;
    const inactive = r.int(u.inactiveAfterSeconds, [...p, 'inactiveAfterSeconds'], nonNegInt) ?? 0;
    // A missing expungeAfterSeconds never undercuts the given inactiveAfterSeconds.
    const expunge = r.int(u.expungeAfterSeconds, [...p, 'expungeAfterSeconds'], nonNegInt) ?? inactive;
    if (inactive > expunge) return r.fail([...p, 'inactiveAfterSeconds'], `got ${inactive}, expected ${expunge} or less`);
    return { inactiveAfterSeconds: inactive, expungeAfterSeconds: expunge };
  });
  f('taskKillGracePeriodSeconds', (x, p) => r.int(x, p, nonNegInt));
  f('residency', (x, p) => {
    const u = r.object(x, p);
    if (!u) return undefined;
    return {
      relaunchEscalationTimeoutSeconds:
        r.int(u.relaunchEscalationTimeoutSeconds, [...p, 'relaunchEscalationTimeoutSeconds'], nonNegInt) ??
        AppDefaults.residency.relaunchEscalationTimeoutSeconds,
      taskLostBehavior:
        r.enumOf(u.taskLostBehavior, [...p, 'taskLostBehavior'], ['WAIT_FOREVER', 'RELAUNCH_AFTER_TIMEOUT'] as const) ??
        AppDefaults.residency.taskLostBehavior,
    };
  });
  f('secrets', (x, p) => {
    const s = r.object(x, p);
    if (!s) return undefined;
    const out: Record<string, { source: string }> = {};
    for (const [name, def] of Object.entries(s)) {
      const d = r.object(def, [...p, name]) ?? (given(def) ? undefined : r.fail([...p, name], Msg.object));
      if (!d) continue;
      const source = r.required(d, 'source', [...p, name], (v, q) => r.string(v, q, { nonEmpty: true }));
      if (source !== undefined) out[name] = { source };
    }
    return out;
  });
  f('tty', (x, p) => r.bool(x, p));
  f('resourceLimits', (x, p) => {
    const u = r.object(x, p);
    if (!u) return undefined;
    const out: { cpus?: ResourceLimit; mem?: ResourceLimit } = {};
    const c = readResourceLimit(r, u.cpus, [...p, 'cpus']);
    if (c !== undefined) out.cpus = c;
    const m = readResourceLimit(r, u.mem, [...p, 'mem']);
    if (m !== undefined) out.mem = m;
    return out;
  });
  f('executorResources', (x, p) => {
    const u = r.object(x, p);
    if (!u) return undefined;
    const d = AppDefaults.executorResources;
    return {
      cpus: r.number(u.cpus, [...p, 'cpus'], dbl) ?? d.cpus,
      mem: r.number(u.mem, [...p, 'mem'], dbl) ?? d.mem,
      disk: r.number(u.disk, [...p, 'disk'], dbl) ?? d.disk,
    };
  });
  f('version', (x, p) => readTimestamp(r, x, p));
  f('versionInfo', (x, p) => {
    const u = r.object(x, p);
    if (!u) return undefined;
    const a = readTimestamp(r, u.lastScalingAt, [...p, 'lastScalingAt']);
    const b = readTimestamp(r, u.lastConfigChangeAt, [...p, 'lastConfigChangeAt']);
    return a !== undefined && b !== undefined ? { lastScalingAt: a, lastConfigChangeAt: b } : undefined;
  });

  return { raw: raw as RawApp, obj: o, broken };
}

// ─── Normalization (deprecated → canonical, defaults) ────────────────────────

function dockerNetworkToNetworks(n: RawDocker['network'], ip: RawIpAddress | undefined): Network[] | undefined {
  switch (n) {
    case 'BRIDGE':
      return [{ mode: 'container/bridge' }];
    case 'HOST':
      return [{ mode: 'host' }];
    case 'USER':
      return [ip?.networkName ? { mode: 'container', name: ip.networkName } : { mode: 'container' }];
    case 'NONE':
      return [];
    default:
      return undefined;
  }
}

/** Effective networks of a raw app: canonical `networks`, else from ipAddress / docker.network, else host. */
function effectiveNetworks(raw: RawApp, defaultNetworkName: string | undefined): Network[] {
  let nets: Network[] | undefined = raw.networks;
  if (!nets?.length && raw.ipAddress) {
    const n: Network = { mode: 'container' };
    if (raw.ipAddress.networkName) n.name = raw.ipAddress.networkName;
    if (raw.ipAddress.labels && Object.keys(raw.ipAddress.labels).length) n.labels = raw.ipAddress.labels;
    nets = [n];
  }
  if (!nets?.length) nets = dockerNetworkToNetworks(raw.container?.docker?.network, raw.ipAddress);
  if (!nets?.length) return AppDefaults.networks.map((n) => ({ ...n }));
  return nets.map((n) => (n.mode === 'container' && n.name === undefined && defaultNetworkName ? { ...n, name: defaultNetworkName } : { ...n }));
}

const isHostNetworking = (nets: readonly Network[]) => !nets.some((n) => n.mode !== 'host');
const isBridgeNetworking = (nets: readonly Network[]) => nets.some((n) => n.mode === 'container/bridge');
const hasPersistentVolumes = (c: { volumes?: Volume[] } | undefined) => !!c?.volumes?.some((v) => v.persistent);

function normalizeHealthCheck(h: RawHealthCheck): HealthCheck {
  const out: HealthCheck = {
    protocol: h.protocol,
    gracePeriodSeconds: h.gracePeriodSeconds,
    intervalSeconds: h.intervalSeconds,
    timeoutSeconds: h.timeoutSeconds,
    maxConsecutiveFailures: h.maxConsecutiveFailures,
    delaySeconds: h.delaySeconds,
  };
  if (h.protocol === 'COMMAND') {
    if (h.command) out.command = h.command;
    return out;
  }
  if (h.port !== undefined) out.port = h.port;
  if (h.portIndex !== undefined) out.portIndex = h.portIndex;
  else if (h.port === undefined) out.portIndex = 0;
  if (h.protocol === 'HTTP' || h.protocol === 'HTTPS' || h.protocol === 'MESOS_HTTP' || h.protocol === 'MESOS_HTTPS')
    out.path = h.path ?? HealthCheckDefaults.path;
  if (h.protocol === 'HTTP' || h.protocol === 'HTTPS') out.ignoreHttp1xx = h.ignoreHttp1xx ?? HealthCheckDefaults.ignoreHttp1xx;
  if (h.protocol.startsWith('MESOS_')) out.ipProtocol = h.ipProtocol ?? HealthCheckDefaults.ipProtocol;
  else if (h.ipProtocol !== undefined) out.ipProtocol = h.ipProtocol;
  if (h.command) out.command = h.command;
  return out;
}

function normalizeContainer(raw: RawApp, networks: Network[], migratedPortDefs: PortDefinition[] | undefined): Container | undefined {
  const host = isHostNetworking(networks);
  let rc = raw.container;
  if (!rc && raw.ipAddress) rc = { type: 'MESOS' };
  if (!rc && !host) rc = { type: 'MESOS' };
  if (!rc) return undefined;
  const c: Container = { type: rc.type, volumes: rc.volumes ?? [] };
  if (rc.docker) {
    const { network: _n, portMappings: _pm, ...rest } = rc.docker;
    const docker: DockerContainer = { image: rest.image ?? '', privileged: rest.privileged ?? false, parameters: rest.parameters ?? [], forcePullImage: rest.forcePullImage ?? false };
    if (rest.credential) docker.credential = rest.credential;
    if (rest.pullConfig) docker.pullConfig = rest.pullConfig;
    c.docker = docker;
  }
  if (rc.appc) c.appc = rc.appc;
  if (rc.linuxInfo) c.linuxInfo = rc.linuxInfo;
  // docker.portMappings (deprecated location) and ipAddress.discovery.ports migrate to container.portMappings.
  let pms = rc.portMappings?.length ? rc.portMappings : rc.docker?.portMappings;
  if (!pms?.length && raw.ipAddress?.discovery?.ports?.length)
    pms = raw.ipAddress.discovery.ports.map((d) => {
      const m: PortMapping = { containerPort: d.number, servicePort: 0, protocol: d.protocol, name: d.name };
      if (d.labels) m.labels = d.labels;
      return m;
    });
  if (host) return c; // port mappings only apply to container networking
  pms = pms?.length ? pms.map((m) => ({ ...m })) : AppDefaults.portMappings.map((m) => ({ ...m }));
  // More port definitions than mappings (deprecated API): add mappings for them.
  const missing = (migratedPortDefs?.length ?? 0) - pms.length;
  for (let i = 0; i < missing; i++) pms.push({ containerPort: 0, servicePort: 0, protocol: 'tcp' });
  if (isBridgeNetworking(networks)) pms = pms.map((m) => (m.hostPort === undefined ? { ...m, hostPort: 0 } : m));
  c.portMappings = pms;
  return c;
}

function normalizeApp(raw: RawApp, opts: ParseAppOptions): AppDefinition {
  const id = raw.id ?? '/';
  const networks = effectiveNetworks(raw, opts.defaultNetworkName);
  const host = isHostNetworking(networks);
  const migratedPortDefs = raw.portDefinitions ?? raw.ports?.map((port): PortDefinition => ({ port, protocol: 'tcp' }));
  const container = normalizeContainer(raw, networks, migratedPortDefs);
  const resident = hasPersistentVolumes(container);
  const fetch = raw.fetch?.length
    ? raw.fetch
    : (raw.uris ?? []).map((uri): FetchUri => ({ uri, extract: isExtractUri(uri), executable: false, cache: false }));

  const app: AppDefinition = { id } as AppDefinition;
  if (raw.cmd !== undefined) app.cmd = raw.cmd;
  if (raw.args !== undefined && raw.args.length) app.args = raw.args;
  if (raw.user !== undefined) app.user = raw.user;
  app.env = raw.env ?? {};
  app.instances = raw.instances ?? AppDefaults.instances;
  app.cpus = raw.cpus ?? AppDefaults.cpus;
  app.mem = raw.mem ?? AppDefaults.mem;
  app.disk = raw.disk ?? AppDefaults.disk;
  app.gpus = raw.gpus ?? AppDefaults.gpus;
  app.executor = raw.executor ?? AppDefaults.executor;
  app.constraints = raw.constraints ?? [];
  if (raw.acceptedResourceRoles !== undefined) app.acceptedResourceRoles = raw.acceptedResourceRoles;
  const role = raw.role ?? opts.defaultRole;
  if (role !== undefined) app.role = role;
  app.labels = raw.labels ?? {};
  app.fetch = fetch;
  if (raw.storeUrls?.length) app.storeUrls = raw.storeUrls;
  if (host) app.portDefinitions = (migratedPortDefs ?? AppDefaults.portDefinitions).map((d) => ({ ...d }));
  app.requirePorts = host ? (raw.requirePorts ?? AppDefaults.requirePorts) : false;
  app.backoffSeconds = raw.backoffSeconds ?? AppDefaults.backoffSeconds;
  app.backoffFactor = raw.backoffFactor ?? AppDefaults.backoffFactor;
  app.maxLaunchDelaySeconds = raw.maxLaunchDelaySeconds ?? AppDefaults.maxLaunchDelaySeconds;
  if (container) app.container = container;
  app.networks = networks;
  app.healthChecks = (raw.healthChecks ?? []).map(normalizeHealthCheck);
  app.readinessChecks = raw.readinessChecks ?? [];
  if (raw.check !== undefined) app.check = raw.check;
  const parent = isRoot(id) ? '/' : parentOf(id);
  app.dependencies = [...new Set((raw.dependencies ?? []).map((d) => canonicalPath(d, parent)))];
  const defaultUpgrade = resident ? AppDefaults.residentUpgradeStrategy : AppDefaults.upgradeStrategy;
  app.upgradeStrategy = {
    minimumHealthCapacity: raw.upgradeStrategy?.minimumHealthCapacity ?? defaultUpgrade.minimumHealthCapacity,
    maximumOverCapacity: raw.upgradeStrategy?.maximumOverCapacity ?? defaultUpgrade.maximumOverCapacity,
  };
  app.killSelection = raw.killSelection ?? AppDefaults.killSelection;
  app.unreachableStrategy = raw.unreachableStrategy ?? (resident ? 'disabled' : { ...(AppDefaults.unreachableStrategy as object) } as UnreachableStrategy);
  if (raw.taskKillGracePeriodSeconds !== undefined) app.taskKillGracePeriodSeconds = raw.taskKillGracePeriodSeconds;
  const residency = raw.residency ?? (resident ? { ...AppDefaults.residency } : undefined);
  if (residency) app.residency = residency;
  app.secrets = raw.secrets ?? {};
  if (raw.tty !== undefined) app.tty = raw.tty;
  if (raw.resourceLimits !== undefined) app.resourceLimits = raw.resourceLimits;
  if (raw.executorResources !== undefined) app.executorResources = raw.executorResources;
  if (raw.version !== undefined) app.version = raw.version;
  if (raw.versionInfo !== undefined) app.versionInfo = raw.versionInfo;
  return app;
}

// ─── Validation ──────────────────────────────────────────────────────────────

function validateId(v: Violations, id: string | undefined, path: ViolationPath, groupBase: string | undefined): void {
  if (id === undefined) return;
  const idPath = [...path, 'id'];
  if (pathSegments(id).length === 0) {
    v.add(idPath, AppMessages.pathNotEmpty);
    v.add(path, AppMessages.mustNotBeRoot);
    return;
  }
  for (const m of pathIdErrors(id)) v.add(idPath, m);
  if (groupBase !== undefined && parentOf(id) !== canonicalPath(groupBase)) v.add(idPath, notChildMessage(groupBase));
}

function uniqueBy<T, K>(items: readonly T[], key: (t: T) => K | undefined): boolean {
  const keys = items.map(key).filter((k): k is K => k !== undefined);
  return new Set(keys).size === keys.length;
}

/** Canonical-API and deprecated-API rules that look at the request as given (not the normalized result). */
function validateRawShape(v: Violations, raw: RawApp, path: ViolationPath, broken: Set<string>): void {
  if (raw.ports && !broken.has('ports')) {
    const nonRandom = raw.ports.filter((p) => p !== 0);
    if (new Set(nonRandom).size !== nonRandom.length) v.add(path, AppMessages.portsUnique);
  }
  if (raw.ports && raw.portDefinitions) {
    const same = raw.ports.length === raw.portDefinitions.length && raw.ports.every((p, i) => raw.portDefinitions![i]!.port === p);
    if (!same) v.add(path, AppMessages.portsAndPortDefinitions);
  }
  if (raw.uris?.length && raw.fetch?.length) v.add([...path, 'uris'], AppMessages.urisWithFetch);
  if (raw.ipAddress && raw.networks?.length) v.add(path, AppMessages.networkAndIpAddress);
  if (raw.container?.docker?.network !== undefined && raw.networks?.length) v.add(path, AppMessages.dockerNetworkAndNetworks);
  if (raw.ipAddress && (raw.ports?.length || raw.portDefinitions?.length)) v.add(path, AppMessages.ipAddressAndPorts);
  if (raw.container?.portMappings?.length && raw.container.docker?.portMappings?.length)
    v.add([...path, 'container'], AppMessages.bothPortMappings);
  if (raw.portDefinitions && !broken.has('portDefinitions')) {
    if (!uniqueBy(raw.portDefinitions, (d) => d.name)) v.add([...path, 'portDefinitions'], AppMessages.portNamesUnique);
    if (!uniqueBy(raw.portDefinitions, (d) => (d.port === 0 ? undefined : d.port)))
      v.add([...path, 'portDefinitions'], AppMessages.portDefinitionPortsUnique);
  }
  for (const [where, pms] of [
    [['container', 'portMappings'], raw.container?.portMappings],
    [['container', 'docker', 'portMappings'], raw.container?.docker?.portMappings],
  ] as const) {
    if (pms && !uniqueBy(pms, (m) => m.name)) v.add([...path, ...where], AppMessages.portNamesUnique);
  }
  // Only the canonical `networks` field is checked against explicit port settings; the deprecated
  // docker.network / ipAddress forms are migrated silently, as Marathon does.
  if (raw.networks?.length) {
    const host = raw.networks.some((n) => n.mode === 'host');
    const nonHost = raw.networks.some((n) => n.mode !== 'host');
    if (host && (raw.container?.portMappings?.length || raw.container?.docker?.portMappings?.length)) v.add(path, AppMessages.portMappingsWithHost);
    if (nonHost && raw.portDefinitions?.length) v.add(path, AppMessages.portDefinitionsNotHost);
  }
}

function validateNetworks(v: Violations, nets: Network[], path: ViolationPath): void {
  const p = [...path, 'networks'];
  if (nets.some((n) => n.mode === 'host' && (n.name || (n.labels && Object.keys(n.labels).length)))) v.add(p, AppMessages.hostNetworkNamed);
  if (nets.some((n) => n.mode === 'container/bridge' && n.name)) v.add(p, AppMessages.bridgeNetworkNamed);
  const unnamed = nets.filter((n) => n.mode === 'container' && n.name === undefined).length;
  const names = nets.flatMap((n) => (n.name ? [n.name] : []));
  if (unnamed > 1 || new Set(names).size !== names.length) v.add(p, AppMessages.duplicateNetworks);
  const count = (m: NetworkMode) => nets.filter((n) => n.mode === m).length;
  const [h, b, c] = [count('host'), count('container/bridge'), count('container')];
  if (!((h <= 1 && b === 0 && c === 0) || (h === 0 && b <= 1 && c === 0) || (h === 0 && b === 0 && c > 0))) v.add(p, AppMessages.networkModes);
  if (nets.some((n) => n.mode === 'container' && n.name === undefined)) v.add(p, AppMessages.networkNameRequired);
}

function validateApp(v: Violations, app: AppDefinition, read: ReadResult, path: ViolationPath): void {
  const { raw, broken } = read;
  if (raw.id === undefined && !broken.has('id')) v.add([...path, 'id'], Msg.missing);
  validateRawShape(v, raw, path, broken);

  // cmd / args / container
  const hasCmd = app.cmd !== undefined || broken.has('cmd');
  const hasArgs = (app.args?.length ?? 0) > 0 || broken.has('args');
  const c = app.container;
  const hasImage = !!c && ((c.docker !== undefined && (c.type === 'DOCKER' || c.type === 'MESOS')) || (c.appc !== undefined && c.type === 'MESOS'));
  if (!((hasCmd !== hasArgs) || (!(hasCmd && hasArgs) && hasImage)) && !broken.has('container')) v.add(path, AppMessages.cmdArgsOrContainer);

  // container
  if (c && !broken.has('container')) {
    const cp = [...path, 'container'];
    if (c.type === 'DOCKER') {
      if (!c.docker) v.add([...cp, 'docker'], Msg.notDefined);
      else {
        if (!c.docker.image) v.add([...cp, 'docker', 'image'], Msg.notEmpty);
        if (c.docker.pullConfig) v.add([...cp, 'docker', 'pullConfig'], AppMessages.pullConfigDocker);
      }
    } else {
      if (c.docker && c.appc) v.add(cp, 'mesos containers should specify, at most, a single image type');
      if (c.docker) {
        if (!c.docker.image) v.add([...cp, 'docker', 'image'], Msg.notEmpty);
        if (c.docker.parameters.length) v.add([...cp, 'docker', 'parameters'], 'must be empty');
        if (c.docker.pullConfig && !app.secrets[c.docker.pullConfig.secret]) v.add([...cp, 'docker', 'pullConfig'], AppMessages.pullConfigSecret);
      }
    }
    c.volumes.forEach((vol, i) => {
      if (vol.secret !== undefined && !app.secrets[vol.secret]) v.add([...cp, 'volumes', i], AppMessages.volumeSecret);
      if (vol.secret === undefined && !vol.persistent && !vol.external && vol.hostPath === undefined) v.add([...cp, 'volumes', i, 'hostPath'], Msg.notDefined);
    });
    const extNames = c.volumes.flatMap((vol) => (vol.external?.name ? [vol.external.name] : []));
    if (new Set(extNames).size !== extNames.length) v.add([...cp, 'volumes'], 'Volume names must be unique');
    if (c.type === 'DOCKER' && app.networks.filter((n) => n.mode === 'container').length > 1) v.add(path, AppMessages.dockerSingleNetwork);
    if (c.portMappings) {
      const netNames = app.networks.flatMap((n) => (n.name ? [n.name] : []));
      const multi = app.networks.filter((n) => n.mode === 'container').length > 1;
      c.portMappings.forEach((m, i) => {
        const mp = [...cp, 'portMappings', i];
        for (const nn of m.networkNames ?? []) if (!netNames.includes(nn)) v.add([...mp, 'networkNames'], `is not one of (${netNames.join(',')})`);
        if (multi && m.hostPort !== undefined && (m.networkNames?.length ?? 0) !== 1)
          v.add(mp, 'networkNames must be a single item list when hostPort is specified and more than 1 container network is defined');
      });
    }
  }
  if (!broken.has('networks')) validateNetworks(v, app.networks, path);

  // health checks
  if (!broken.has('healthChecks') && !broken.has('portDefinitions') && !broken.has('ports') && !broken.has('container')) {
    const portCount = c?.portMappings?.length ? c.portMappings.length : (app.portDefinitions?.length ?? 0);
    app.healthChecks.forEach((h, i) => {
      const hp = [...path, 'healthChecks', i];
      if (h.protocol === 'COMMAND' && !h.command) v.add([...hp, 'command'], Msg.notDefined);
      if (MARATHON_HEALTH_PROTOCOLS.includes(h.protocol) && !h.command) {
        const ok = h.portIndex !== undefined ? h.portIndex < portCount : h.port !== undefined || portCount === 1;
        if (!ok) v.add(hp, AppMessages.healthPortIndex);
      }
      const mesosHttp = h.protocol === 'MESOS_HTTP' || h.protocol === 'MESOS_HTTPS' || h.protocol === 'MESOS_TCP';
      if ((h.ipProtocol ?? 'IPv4') !== 'IPv4' && !(mesosHttp && c?.type === 'DOCKER')) v.add(hp, AppMessages.healthIpv6);
    });
    const isMesos = (h: HealthCheck) => h.command !== undefined || MESOS_HEALTH_PROTOCOLS.includes(h.protocol);
    const mesos = app.healthChecks.filter(isMesos);
    // Stricter than Marathon (which tolerates several COMMAND checks for old stored apps): a Mesos
    // task carries exactly one health check, so any two Mesos-level checks are rejected.
    if (mesos.length > 1) v.add(path, AppMessages.oneMesosHealthCheck);
    if (mesos.length > 0 && mesos.length < app.healthChecks.length) v.add(path, AppMessages.mixedHealthChecks);
  }

  // readiness checks
  if (!broken.has('readinessChecks')) {
    if (app.readinessChecks.length > 1) v.add([...path, 'readinessChecks'], `got ${app.readinessChecks.length}, expected 1 or less`);
    const names = new Set((c?.portMappings ?? app.portDefinitions ?? []).flatMap((d) => (d.name ? [d.name] : [])));
    app.readinessChecks.forEach((rc, i) => {
      const rp = [...path, 'readinessChecks', i];
      if (!names.has(rc.portName)) v.add([...rp, 'portName'], AppMessages.portNameNotFound(rc.portName));
      if (rc.timeoutSeconds >= rc.intervalSeconds) v.add([...rp, 'timeoutSeconds'], `got ${rc.timeoutSeconds}, expected less than ${rc.intervalSeconds}`);
    });
  }

  // dependencies
  app.dependencies.forEach((d, i) => {
    for (const m of pathIdErrors(d, { reserved: false })) v.add([...path, 'dependencies', i], m);
    if (d === app.id) v.add([...path, 'dependencies', i], 'an app must not depend on itself');
  });

  // env secret references
  for (const [k, val] of Object.entries(app.env)) {
    if (typeof val !== 'string' && !app.secrets[val.secret]) v.add([...path, 'env', k, 'secret'], AppMessages.undefinedSecret);
  }

  // gpus, residency, single-instance apps, resource limits
  if (app.gpus > 0 && c?.type === 'DOCKER') v.add(path, AppMessages.gpusMesosOnly);
  const resident = hasPersistentVolumes(c);
  if (!broken.has('container') && !broken.has('residency') && (app.residency !== undefined) !== resident) v.add(path, AppMessages.residency);
  if (resident) {
    if (app.unreachableStrategy !== 'disabled') v.add(path, AppMessages.unreachableResident);
    if (app.upgradeStrategy.maximumOverCapacity !== 0)
      v.add([...path, 'upgradeStrategy', 'maximumOverCapacity'], `got ${fmtDouble(app.upgradeStrategy.maximumOverCapacity)}, expected 0.0`);
  }
  if (app.labels[SINGLE_INSTANCE_LABEL] === 'true') {
    if (app.instances > 1) v.add(path, AppMessages.singleInstance);
    if (app.upgradeStrategy.minimumHealthCapacity !== 0)
      v.add([...path, 'upgradeStrategy', 'minimumHealthCapacity'], `got ${fmtDouble(app.upgradeStrategy.minimumHealthCapacity)}, expected 0.0`);
    if (app.upgradeStrategy.maximumOverCapacity !== 0)
      v.add([...path, 'upgradeStrategy', 'maximumOverCapacity'], `got ${fmtDouble(app.upgradeStrategy.maximumOverCapacity)}, expected 0.0`);
  }
  const lim = app.resourceLimits;
  if (lim && !broken.has('cpus') && typeof lim.cpus === 'number' && lim.cpus < app.cpus)
    v.add([...path, 'resourceLimits', 'cpus'], `got ${fmtDouble(lim.cpus)}, expected ${fmtDouble(app.cpus)} or more`);
  if (lim && !broken.has('mem') && typeof lim.mem === 'number' && lim.mem < app.mem)
    v.add([...path, 'resourceLimits', 'mem'], `got ${fmtDouble(lim.mem)}, expected ${fmtDouble(app.mem)} or more`);
}

const fmtDouble = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n));

// ─── Public API ──────────────────────────────────────────────────────────────

export interface ParseAppOptions {
  /** Group that a relative `id` (and dependencies) are resolved against; default `/`. */
  base?: string;
  /** Parse a partial update (PUT partialUpdate / PATCH): no defaults, `id` optional. */
  partial?: boolean;
  /** Name given to unnamed container networks (Marathon's --default_network_name); without it they are invalid. */
  defaultNetworkName?: string;
  /** Filled into `role` when the body has none (--mesos_role or the enforced group role). */
  defaultRole?: string;
}

/** Parses a full app definition; throws MarathonValidationError (422) listing every violation. */
export function parseAppDefinition(json: unknown, opts?: ParseAppOptions & { partial?: false }): AppDefinition;
/** Parses a partial update (see parseAppUpdate). */
export function parseAppDefinition(json: unknown, opts: ParseAppOptions & { partial: true }): AppUpdate;
export function parseAppDefinition(json: unknown, opts: ParseAppOptions = {}): AppDefinition | AppUpdate {
  if (opts.partial) return parseAppUpdate(json, opts);
  const v = new Violations();
  const app = readAppDefinitionInto(v, json, [], opts);
  v.throwIfAny();
  return app!;
}

/**
 * Reads and validates one full app into a shared violation list (paths prefixed by `path`).
 * `groupBase` (group parsing) additionally requires the id to be a direct child of that group.
 * @internal used by group parsing
 */
export function readAppDefinitionInto(
  v: Violations,
  json: unknown,
  path: ViolationPath,
  opts: ParseAppOptions & { groupBase?: string },
): AppDefinition | undefined {
  const r = new Reader(v);
  const read = readApp(r, json, path, { base: opts.base ?? '/', groupBase: opts.groupBase });
  if (!read) return undefined;
  const app = normalizeApp(read.raw, opts);
  validateApp(v, app, read, path);
  return app;
}

/**
 * Parses a partial update body: only given fields (null = not given), deprecated fields migrated
 * (`ports` → portDefinitions, `uris` → fetch), item defaults filled (health checks, port definitions…).
 * Enforces "The 'version' field may only be combined with the 'id' field." — a body with `version`
 * (and optionally `id`) is a rollback request the caller handles.
 */
export function parseAppUpdate(json: unknown, opts: Omit<ParseAppOptions, 'partial'> = {}): AppUpdate {
  const v = new Violations();
  const r = new Reader(v);
  const read = readApp(r, json, [], { base: opts.base ?? '/' });
  if (!read) {
    v.throwIfAny();
    return {};
  }
  const { raw, obj, broken } = read;
  if (given(obj.version)) {
    const others = APP_INPUT_FIELDS.filter((k) => k !== 'version' && k !== 'id' && given(obj[k]));
    if (others.length) v.add([], AppMessages.versionOnlyWithId);
  }
  validateRawShape(v, raw, [], broken);
  if (raw.networks && !broken.has('networks')) validateNetworks(v, raw.networks.map((n) => (n.mode === 'container' && !n.name && opts.defaultNetworkName ? { ...n, name: opts.defaultNetworkName } : n)), []);
  v.throwIfAny();

  const { ports, uris, ipAddress: _ip, container, healthChecks, ...rest } = raw;
  const update: AppUpdate = { ...rest } as AppUpdate;
  if (ports && !raw.portDefinitions) update.portDefinitions = ports.map((port) => ({ port, protocol: 'tcp' as const }));
  if (uris?.length && !raw.fetch?.length) update.fetch = uris.map((uri) => ({ uri, extract: isExtractUri(uri), executable: false, cache: false }));
  if (healthChecks) update.healthChecks = healthChecks.map(normalizeHealthCheck);
  if (container) update.container = { ...container, volumes: container.volumes ?? [] } as Container;
  if (raw.dependencies && raw.id) update.dependencies = raw.dependencies.map((d) => canonicalPath(d, parentOf(raw.id!)));
  return update;
}

/** True when an update body asks for a rollback to a stored version (`{"version": …}`). */
export const isRollback = (update: AppUpdate): update is AppUpdate & { version: string } => update.version !== undefined;

/** Keys that, when present in a patch, replace the listed keys of the existing definition. */
const REPLACES: Record<string, readonly string[]> = {
  ports: ['portDefinitions'],
  portDefinitions: ['ports'],
  uris: ['fetch'],
  fetch: ['uris'],
  ipAddress: ['networks'],
  networks: ['ipAddress'],
};

/**
 * PUT /v2/apps/{id} with partialUpdate=true and PATCH: the patch's top-level fields replace the
 * existing definition's (objects are not deep-merged), then the result is re-normalized and
 * re-validated as a whole. `id`, `version` and `versionInfo` of the patch are ignored (the URL's
 * id wins; a body with `version` is a rollback — check `isRollback(parseAppUpdate(body))` first).
 * Networking changes drop port settings that no longer apply; setting `cmd` drops the old
 * `args` and vice versa. Throws MarathonValidationError (422).
 */
export function mergeAppUpdate(existing: AppLike, patchJson: unknown, opts: Omit<ParseAppOptions, 'partial' | 'base'> = {}): AppDefinition {
  parseAppUpdate(patchJson, { ...opts, base: parentOf(existing.id) }); // type/field errors of the patch itself
  const patch = patchJson as JsonObject;
  const merged: JsonObject = { ...(existing as unknown as JsonObject) };
  for (const [k, val] of Object.entries(patch)) {
    if (!given(val) || k === 'id' || k === 'version' || k === 'versionInfo') continue;
    merged[k] = val;
    for (const dropped of REPLACES[k] ?? []) if (!given(patch[dropped])) delete merged[dropped];
  }
  if (given(patch.cmd) && !given(patch.args)) delete merged.args;
  if (given(patch.args) && !given(patch.cmd)) delete merged.cmd;
  const dockerNet = isObject(patch.container) && isObject(patch.container.docker) ? patch.container.docker.network : undefined;
  if (given(dockerNet) && !given(patch.networks)) delete merged.networks;
  // When the networking mode changes, port settings of the old mode no longer apply.
  if (given(patch.networks) || given(patch.ipAddress) || given(dockerNet)) {
    const probe = readApp(new Reader(new Violations()), merged, [], { base: '/' });
    const nets = probe ? effectiveNetworks(probe.raw, opts.defaultNetworkName) : [];
    if (!isHostNetworking(nets) && !given(patch.portDefinitions) && !given(patch.ports)) delete merged.portDefinitions;
    if (isHostNetworking(nets) && !given(patch.container) && isObject(merged.container)) {
      const { portMappings: _pm, ...rest } = merged.container;
      merged.container = rest;
    }
  }
  merged.id = existing.id;
  return parseAppDefinition(merged, { ...opts, base: '/' });
}

/** Bulk PUT/PATCH /v2/apps body: an array of updates, each with an `id`; errors at `/(i)/field`. */
export function parseAppUpdateList(json: unknown, opts: Omit<ParseAppOptions, 'partial'> = {}): (AppUpdate & { id: string })[] {
  const v = new Violations();
  if (!Array.isArray(json)) {
    v.add([], Msg.array);
    v.throwIfAny();
  }
  const out: (AppUpdate & { id: string })[] = [];
  (json as unknown[]).forEach((item, i) => {
    try {
      const u = parseAppUpdate(item, opts);
      if (u.id === undefined) v.add([i, 'id'], Msg.missing);
      else out.push(u as AppUpdate & { id: string });
    } catch (err) {
      if (!(err instanceof MarathonValidationError)) throw err;
      for (const viol of err.violations) for (const e of viol.errors) v.add([i, ...pathFromRendered(viol.path)], e);
    }
  });
  v.throwIfAny();
  return out;
}

/** Inverse of renderViolationPath for re-prefixing (segments may contain `(i)` indices). */
function pathFromRendered(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/\/([^/(]+)|\((\d+)\)/g)) out.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return out;
}

/** Compiles the LIKE/UNLIKE regex of a constraint for evaluation (full match, Java semantics approximated). */
export const constraintRegex = compileJavaRegex;
