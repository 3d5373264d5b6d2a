// Docker image names and the registry each one is pulled from. Pure.
//
// Names follow Docker's reference grammar: [registry/]repository[:tag][@digest]. The first component is a
// registry host only when it looks like one (has a '.' or a ':', or is 'localhost'), as Docker decides;
// otherwise the image comes from --docker-registry (Docker Hub by default, where one-component names live
// under 'library/'). A registry is spoken to over plain HTTP (or HTTPS without certificate checks) only
// when it is named in --docker-insecure-registries, is a loopback address (Docker treats 127.0.0.0/8 the
// same way), or --docker-registry itself says http://.
import { ValidationError } from '../../protocol/errors.ts';

export const DEFAULT_DOCKER_REGISTRY = 'https://registry-1.docker.io';
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'docker.io', 'index.docker.io']);

export interface ImageReference {
  /** host[:port] of the registry. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  /** Canonical name: registry/repository:tag (or @digest): the cache key. */
  canonical: string;
}

export interface RegistryEndpoint {
  host: string;
  /** For messages: http://host or https://host. */
  url: string;
  /** false: plain HTTP allowed / certificates not checked (skopeo's --src-tls-verify=false). */
  tlsVerify: boolean;
}

export interface RegistryConfig {
  /** --docker-registry: a URL (http:// or https://). */
  defaultRegistry: string;
  /** --docker-insecure-registries: host[:port] entries. */
  insecure: ReadonlySet<string>;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;

/** Parses --docker-registry; throws ValidationError. */
export function parseRegistryUrl(text: string): { host: string; secure: boolean } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ValidationError(`'${text}' is not a URL (expected e.g. https://registry-1.docker.io or http://127.0.0.1:5000)`, 'docker_registry');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ValidationError(`'${text}': only http:// and https:// registries are supported`, 'docker_registry');
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.username) throw new ValidationError(`'${text}': give the registry's base URL only`, 'docker_registry');
  return { host: u.host, secure: u.protocol === 'https:' };
}

/** Parses --docker-insecure-registries (comma-separated host[:port]); throws ValidationError. */
export function parseInsecureRegistries(text: string): string[] {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const h of out) if (!HOST.test(h)) throw new ValidationError(`'${h}' is not a registry host[:port]`, 'docker_insecure_registries');
  return out;
}

const looksLikeHost = (c: string): boolean => c.includes('.') || c.includes(':') || c === 'localhost';

/** Parses an image name; throws ValidationError saying what is wrong with it. */
export function parseImageReference(name: string, defaultRegistryHost: string): ImageReference {
  const fail = (why: string): never => {
    throw new ValidationError(`invalid image name '${name}': ${why}`, 'image');
  };
  if (!name || name.length > 512 || /\s/.test(name)) fail('it must be a non-empty name without spaces');
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`'${digest}' is not a sha256 digest`);
  }
  const parts = rest.split('/');
  let registry = defaultRegistryHost;
  if (parts.length > 1 && looksLikeHost(parts[0]!)) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) fail(`'${registry}' is not a registry host`);
  }
  let tag: string | undefined;
  const last = parts[parts.length - 1]!;
  const colon = last.lastIndexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) fail(`'${tag}' is not a valid tag`);
  }
  for (const c of parts) if (!COMPONENT.test(c)) fail(`'${c}' is not a valid repository name component (lowercase letters, digits, '.', '_', '-')`);
  if (DOCKER_HUB_HOSTS.has(registry) && parts.length === 1) parts.unshift('library');
  if (!tag && !digest) tag = 'latest';
  const repository = parts.join('/');
  const canonical = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), canonical };
}

const isLoopback = (host: string): boolean => {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
};

export function registryEndpoint(ref: ImageReference, c: RegistryConfig): RegistryEndpoint {
  const def = parseRegistryUrl(c.defaultRegistry);
  const host = ref.registry;
  const insecure = c.insecure.has(host) || isLoopback(host) || (host === def.host && !def.secure);
  return { host, url: `${insecure ? 'http' : 'https'}://${host}`, tlsVerify: !insecure };
}

/** skopeo's name of the image in its registry. */
export const dockerTransportName = (ref: ImageReference): string =>
  `docker://${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`;
